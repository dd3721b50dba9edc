"""Every environment variable the deploy files give the services is one the code reads.

A misspelt or retired variable in a manifest is silently ignored at run time;
this check turns it into a failing test. The variables the code reads are
recorded by running every settings reader on an empty environment (each
reads all of its variables then); OpenTelemetry's own variables are those the
SDK names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from opentelemetry.sdk import environment_variables

from services.common.auth import authorizer_from, caller_interceptors
from services.common.settings import SERVICE_NAMES, service_settings
from services.insights.settings import insights_settings
from services.notifications.settings import notifications_settings
from services.rewards.settings import rewards_settings
from services.tickets.config import tickets_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
OUR_IMAGE = "loyalty"  # the image built from deploy/Dockerfile, under whatever registry

READERS: list[Callable[[Mapping[str, str]], object]] = [
    *(lambda env, name=name: service_settings(name, env) for name in SERVICE_NAMES),
    tickets_settings,
    rewards_settings,
    insights_settings,
    notifications_settings,
    authorizer_from,
    caller_interceptors,
]


class _Recording(Mapping[str, str]):
    """An empty environment that remembers every variable asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def variables_the_code_reads() -> set[str]:
    recording = _Recording()
    for read in READERS:
        read(recording)
    sdk = {value for name, value in vars(environment_variables).items() if name.startswith("OTEL_")}
    return recording.asked | sdk


def _ours(container: Mapping[str, Any]) -> bool:
    image = str(container.get("image", ""))
    return "build" in container or image.rsplit("/", 1)[-1].split(":")[0] == OUR_IMAGE


def compose_variables() -> dict[str, set[str]]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    found: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        if _ours(service):
            environment = service.get("environment") or {}
            keys = environment.keys() if isinstance(environment, dict) else (e.split("=", 1)[0] for e in environment)
            found[f"compose service {name}"] = set(keys)
    return found


def kubernetes_variables() -> dict[str, set[str]]:
    documents = [
        document
        for path in sorted((DEPLOY / "kubernetes").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]
    sources = {
        (document["kind"], document["metadata"]["name"]): {*document.get("data", {}), *document.get("stringData", {})}
        for document in documents
        if document["kind"] in {"ConfigMap", "Secret"}
    }
    found: dict[str, set[str]] = {}
    for document in documents:
        pod = document.get("spec", {}).get("template", {}).get("spec", {})
        pod = pod.get("template", {}).get("spec", pod)  # a CronJob's job template nests one level more
        for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
            if not _ours(container):
                continue
            names = {variable["name"] for variable in container.get("env", [])}
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    names |= sources[("ConfigMap", source["configMapRef"]["name"])]
                if "secretRef" in source:
                    names |= sources[("Secret", source["secretRef"]["name"])]
            found[f"{document['kind']} {document['metadata']['name']}/{container['name']}"] = names
    return found


def dockerfile_variables() -> set[str]:
    text = (DEPLOY / "Dockerfile").read_text()
    return {m[1] for m in re.finditer(r"^ENV\s+([A-Z0-9_]+)[= ]", text, re.MULTILINE)}


def test_the_recorder_sees_the_variables_of_every_service() -> None:
    read = variables_the_code_reads()
    assert {f"LOYALTY_{name.upper()}_DATABASE_URL" for name in SERVICE_NAMES} <= read
    assert {"LOYALTY_KAFKA_BOOTSTRAP", "LOYALTY_GRPC_TLS_CA_FILE", "LOYALTY_TICKETS_SLA_INTERVAL_S"} <= read
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in read


def test_every_variable_the_deploy_files_set_is_read_by_the_code() -> None:
    read = variables_the_code_reads()
    places = {**compose_variables(), **kubernetes_variables(), "deploy/Dockerfile": dockerfile_variables()}
    assert any(name.startswith("compose") for name in places) and any(name.startswith("Deployment") for name in places)
    unread = {place: sorted(names - read) for place, names in places.items() if names - read}
    assert not unread, f"set in deploy files but read by no code: {unread}"


def test_every_deploy_file_is_valid_yaml() -> None:
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert {"compose.yaml", "otel-collector.yaml", "prometheus.yaml"} <= {f.name for f in files}
    for path in files:
        assert all(document is not None for document in yaml.safe_load_all(path.read_text())), path
