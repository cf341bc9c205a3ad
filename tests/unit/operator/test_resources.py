"""The ClusterSpec CRD drawn from the models, and a resource turned into a spec document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import SpecError
from reconciler.operator.manifests import DEFAULT_CRD_PATH, crd_yaml
from reconciler.operator.resources import (
    ReconcileMode,
    SecretKeyRef,
    crd_manifest,
    resource_settings,
    secret_refs,
    spec_document,
    structural_schema,
)

REPO = Path(__file__).resolve().parents[3]


def walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for value in node:
            found += walk(value)
    return found


def test_committed_crd_is_current() -> None:
    assert (REPO / DEFAULT_CRD_PATH).read_text(encoding="utf-8") == crd_yaml(), (
        "examples/operator/crd.yaml is stale: run make schema"
    )


def test_crd_schema_is_structural() -> None:
    schema = crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for node in walk(schema):
        assert "$ref" not in node and "$defs" not in node and "const" not in node
        assert node.get("additionalProperties") is not False
        for key in ("anyOf", "oneOf", "allOf"):
            assert key not in node
        if "properties" in node:
            assert node.get("type") == "object"


def test_optional_and_union_fields() -> None:
    schema = structural_schema(
        {
            "type": "object",
            "properties": {
                "name": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
                "servers": {
                    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
                },
                "port": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                "count": {"type": "integer", "exclusiveMinimum": 0},
                "kind": {"const": "ClusterSpec"},
            },
            "additionalProperties": False,
        }
    )
    properties = schema["properties"]
    assert properties["name"] == {"type": "string", "nullable": True}
    assert properties["servers"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert properties["port"] == {"x-kubernetes-int-or-string": True}
    assert properties["count"] == {"type": "integer", "minimum": 0, "exclusiveMinimum": True}
    assert properties["kind"]["enum"] == ["ClusterSpec"]
    assert "additionalProperties" not in schema


def test_secrets_are_secret_key_refs_in_the_crd() -> None:
    spec = crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    sasl = spec["properties"]["kafka"]["properties"]["connection"]["properties"]["security"][
        "properties"
    ]["sasl"]
    password = sasl["properties"]["password"]
    assert password["required"] == ["secretKeyRef"]
    assert set(password["properties"]["secretKeyRef"]["properties"]) == {"name", "key"}
    assert not any("fromEnv" in node.get("properties", {}) for node in walk(spec))


def resource(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "eu", "namespace": "data", "labels": {"team": "a"}}, "spec": spec}


def test_spec_document_replaces_secret_refs_by_files() -> None:
    password = {"secretKeyRef": {"name": "kafka", "key": "pw"}}
    kafka = {
        "connection": {
            "bootstrapServers": "k:9092",
            "security": {"sasl": {"username": "ops", "password": password}},
        }
    }
    document = spec_document(
        resource({"reconcile": "apply", "kafka": kafka}), lambda ref: f"/private/{ref.key}"
    )
    assert document["metadata"] == {"name": "data/eu", "labels": {"team": "a"}}
    sasl = document["kafka"]["connection"]["security"]["sasl"]
    assert sasl["password"] == {"fromFile": "/private/pw"}
    assert "reconcile" not in document
    assert [ref for _, ref in secret_refs(resource({"kafka": kafka})["spec"])] == [
        SecretKeyRef("kafka", "pw")
    ]


@pytest.mark.parametrize("form", ["fromEnv", "fromFile"])
def test_operator_environment_and_files_are_refused(form: str) -> None:
    kafka = {"connection": {"security": {"sasl": {"password": {form: "X"}}}}}
    with pytest.raises(SpecError) as raised:
        spec_document(resource({"kafka": kafka}), lambda ref: "")
    assert "spec.kafka.connection.security.sasl.password" in str(raised.value)
    assert "secretKeyRef" in str(raised.value)


def test_a_resource_without_sections_is_an_error() -> None:
    with pytest.raises(SpecError, match="neither kafka nor redis"):
        spec_document(resource({"reconcile": "apply"}), lambda ref: "")


def test_settings_defaults_and_errors() -> None:
    settings = resource_settings({})
    assert settings.mode is ReconcileMode.PLAN_ONLY and not settings.allow_delete
    assert resource_settings({"reconcile": "apply", "allowDelete": True}).allow_delete
    with pytest.raises(SpecError, match=r"spec\.reconcile"):
        resource_settings({"reconcile": "sometimes"})
    with pytest.raises(SpecError, match=r"spec\.intervalSeconds"):
        resource_settings({"intervalSeconds": 1})


def test_policies_and_their_settings_come_along() -> None:
    rules = [{"name": "rf", "minReplicationFactor": 3}]
    spec = {"kafka": {"connection": {"bootstrapServers": "k:9092"}}, "policies": rules}
    document = spec_document(resource({**spec, "approve": ["rf"], "environment": "prod"}), str)
    assert document["policies"] == rules
    settings = resource_settings({"approve": ["rf"], "environment": "prod"})
    assert settings.approvals == frozenset({"rf"}) and settings.environment == "prod"
    policies = crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]["properties"]["policies"]
    assert policies["type"] == "array"
