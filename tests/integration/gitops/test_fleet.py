"""Acceptance: ``plan`` and ``drift`` over a directory of specs (one document, one exit code)
against real Kafka clusters."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.providers.kafka.client import NewTopicRequest
from tests.integration.gitops.conftest import admin_call, run_cli, write_spec

pytestmark = pytest.mark.integration


def test_plan_and_drift_over_a_directory_of_three_specs(
    kafka_single: Any, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    prefix = unique_name("fleet")
    present = f"{prefix}-present"
    admin_call(kafka_single.client_config(), "create_topics", [NewTopicRequest(present, 1, 1, {})])
    specs = tmp_path / "specs"
    specs.mkdir()
    write_spec(specs / "a-in-sync.yaml", [{"name": present, "partitions": 1}], prefixes=[present])
    write_spec(
        specs / "b-new-topic.yaml",
        [{"name": f"{prefix}-new", "partitions": 1}],
        prefixes=[f"{prefix}-new"],
    )
    write_spec(specs / "c-in-sync.yaml", [{"name": present, "partitions": 1}], prefixes=[present])
    (specs / "notes.txt").write_text("not a spec")
    bootstrap = kafka_single.bootstrap_servers

    planned = run_cli(
        "plan", "-f", str(specs), "-o", "markdown", "--detailed-exitcode", bootstrap=bootstrap
    )
    assert planned.code == 2, planned.output
    sections = [line for line in planned.stdout.splitlines() if line.startswith("#### ")]
    assert sections == ["#### `a-in-sync.yaml`", "#### `b-new-topic.yaml`", "#### `c-in-sync.yaml`"]
    assert "| `b-new-topic.yaml` | 1 | 0 | 0 | 0 |" in planned.stdout
    assert "| `a-in-sync.yaml` | 0 | 0 | 0 | 0 |" in planned.stdout

    as_json = run_cli("plan", "-f", str(specs), "-o", "json", bootstrap=bootstrap)
    assert as_json.code == 0, as_json.output
    plans = json.loads(as_json.stdout)["plans"]
    assert [p["spec"] for p in plans] == ["a-in-sync.yaml", "b-new-topic.yaml", "c-in-sync.yaml"]
    assert [p["plan"]["has_changes"] for p in plans] == [False, True, False]

    prom = tmp_path / "fleet.prom"
    drift = run_cli("drift", "-f", str(specs), "--metrics-file", str(prom), bootstrap=bootstrap)
    assert drift.code == 2, drift.output
    assert "=== b-new-topic.yaml ===\nDrift: 1 resource" in drift.stdout
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    success = families["llm_analytics_drift_last_check_success"].samples
    assert sorted(s.labels["spec"] for s in success) == [
        "a-in-sync.yaml",
        "b-new-topic.yaml",
        "c-in-sync.yaml",
    ]

    # One broken spec: reported in its section, the others still planned, exit 1.
    (specs / "d-broken.yaml").write_text("apiVersion: llm-analytics/v1\nkind: ClusterSpec\n")
    broken = run_cli("plan", "-f", str(specs), bootstrap=bootstrap)
    assert broken.code == 1, broken.output
    assert "=== d-broken.yaml ===\nError:" in broken.stdout
    assert "=== b-new-topic.yaml ===" in broken.stdout
