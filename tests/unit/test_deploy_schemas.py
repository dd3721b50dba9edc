"""The deploy files are valid for the tools that run them, checked offline against those tools' published schemas.

No container engine or cluster is needed: the Kubernetes manifests are checked
against the API schemas of the Kubernetes version we document (strict: an
unknown or misspelt field fails), and the compose file against the Compose
Specification's schema (the copy vendored by check-jsonschema).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# The oldest Kubernetes release the manifests target (docs/operations.md, "Checking a deployment").
KUBERNETES_VERSION = "1.30"


def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found.append((f"{path.name}:{document['kind']}/{document['metadata']['name']}", document))
    return found


@pytest.mark.parametrize(("where", "manifest"), manifests(), ids=[where for where, _ in manifests()])
def test_each_kubernetes_manifest_matches_the_api_schema(where: str, manifest: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{where}: {error.message} at {'.'.join(str(p) for p in error.path)}")


def test_the_compose_file_matches_the_compose_specification() -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, [f"{'.'.join(str(p) for p in e.path)}: {e.message}" for e in errors]


def test_a_wrong_field_is_caught() -> None:
    """The checks above can fail: a misspelt field in a copy of a real manifest is reported."""
    _, deployment = next((w, m) for w, m in manifests() if m["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
