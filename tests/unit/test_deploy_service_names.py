"""Each service's deploy files speak of that service: its ports, and its own variables, comments included.

A manifest copied from another service's kept that service's words: notifications' Deployment said its metrics
were on LOYALTY_TICKETS_METRICS_PORT. Values the code never reads (a comment, an annotation, a port number)
escape tests/unit/test_deploy_environment.py, so they are checked here against the services' defaults.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS, SERVICE_NAMES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICE_VARIABLE = re.compile(rf"LOYALTY_({'|'.join(name.upper() for name in SERVICE_NAMES)})_([A-Z0-9_]+)")
# What one service may name of another: where to call it.
CALLS_ANOTHER = {"GRPC_TARGET", "ADDRESS"}


def _documents(service: str) -> dict[str, Any]:
    documents = yaml.safe_load_all((DEPLOY / "kubernetes" / f"{service}.yaml").read_text())
    return {document["kind"]: document for document in documents if document}


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_a_kubernetes_file_names_no_other_service_s_variables(service: str) -> None:
    text = (DEPLOY / "kubernetes" / f"{service}.yaml").read_text()
    foreign = sorted(
        match[0]
        for match in SERVICE_VARIABLE.finditer(text)
        if match[1] != service.upper() and match[2] not in CALLS_ANOTHER
    )
    assert not foreign, f"deploy/kubernetes/{service}.yaml names {foreign}"


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_a_kubernetes_file_uses_its_service_s_ports(service: str) -> None:
    grpc, metrics = DEFAULT_GRPC_PORTS[service], DEFAULT_METRICS_PORTS[service]
    documents = _documents(service)
    pod = documents["Deployment"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["serve", service]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert (ports["grpc"], ports["metrics"]) == (grpc, metrics)
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(metrics)
    assert container["readinessProbe"]["grpc"]["port"] == container["livenessProbe"]["grpc"]["port"] == grpc
    service_ports = {port["name"]: port["port"] for port in documents["Service"]["spec"]["ports"]}
    assert service_ports["grpc"] == grpc


def test_compose_prometheus_and_the_dockerfile_use_each_service_s_ports() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    # A scrape job per service: `job` names the service in deploy/alerts.yaml.
    jobs = {
        job["job_name"]: job["static_configs"]
        for job in yaml.safe_load((DEPLOY / "prometheus.yaml").read_text())["scrape_configs"]
    }
    exposed = re.search(r"^EXPOSE (.+)$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    assert exposed is not None
    for service in SERVICE_NAMES:
        grpc, metrics = DEFAULT_GRPC_PORTS[service], DEFAULT_METRICS_PORTS[service]
        assert compose[service]["command"] == ["serve", service]
        assert {f"{grpc}:{grpc}", f"{metrics}:{metrics}"} <= set(compose[service]["ports"]), service
        assert jobs[service] == [{"targets": [f"{service}:{metrics}"]}], service
        assert {str(grpc), str(metrics)} <= set(exposed[1].split()), f"deploy/Dockerfile EXPOSE lacks {service}'s"
