"""The committed JSON Schema matches the models."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.spec.schema import SCHEMA_DIALECT, cluster_spec_schema, main, render_schema

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "schemas" / "cluster-spec.schema.json"


def test_committed_schema_is_up_to_date() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render_schema(), (
        "schemas/cluster-spec.schema.json is stale: run python -m reconciler.spec.schema"
    )


def test_schema_shape() -> None:
    schema = cluster_spec_schema()
    assert schema["$schema"] == SCHEMA_DIALECT
    assert schema["title"] and schema["description"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"apiVersion", "kind", "metadata"}
    topic = schema["$defs"]["TopicSpec"]["properties"]
    assert "replicationFactor" in topic and "replication_factor" not in topic


def test_check_mode(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    assert main([str(target), "--check"]) == 1
    assert main([str(target)]) == 0
    assert main([str(target), "--check"]) == 0
    assert json.loads(target.read_text())["$schema"] == SCHEMA_DIALECT
