"""Acceptance: ``drift`` exit codes and its Prometheus file against a real cluster, before and
after changes made behind the spec's back."""

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


def metrics(path: Path) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(path.read_text())}


def counts(path: Path) -> dict[tuple[str, str], float]:
    family = metrics(path)["llm_analytics_drift_resources"]
    return {(s.labels["kind"], s.labels["drift"]): s.value for s in family.samples}


def test_drift_before_and_after_out_of_band_changes(
    kafka_single: Any, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    bootstrap = kafka_single.bootstrap_servers
    config = kafka_single.client_config()
    prefix = unique_name("drift")
    names = [f"{prefix}-{suffix}" for suffix in ("orders", "events", "audit")]
    spec = write_spec(
        tmp_path / "cluster-spec.yaml",
        [{"name": n, "partitions": 2, "config": {"retention.ms": "1d"}} for n in names],
        prefixes=[prefix],
    )
    assert run_cli("apply", "-f", str(spec), "--auto-approve", bootstrap=bootstrap).code == 0
    prom = tmp_path / "textfile" / "llm_analytics_drift.prom"
    prom.parent.mkdir()

    clean = run_cli("drift", "-f", str(spec), "--metrics-file", str(prom), bootstrap=bootstrap)
    assert clean.code == 0, clean.output
    assert clean.stdout.startswith("No drift")
    assert set(counts(prom).values()) == {0}
    assert metrics(prom)["llm_analytics_drift_last_check_success"].samples[0].value == 1

    # Behind the spec's back: a config changed, a topic deleted, an unlisted topic created.
    assert admin_call(config, "alter_topic_configs", {names[0]: {"retention.ms": "3600000"}}) == {
        names[0]: None
    }
    assert admin_call(config, "delete_topics", [names[1]]) == {names[1]: None}
    stray = f"{prefix}-manual"
    assert admin_call(config, "create_topics", [NewTopicRequest(stray, 1, 1, {})]) == {stray: None}

    def drift_json() -> Any:
        result = run_cli(
            "drift", "-f", str(spec), "-o", "json", "--metrics-file", str(prom), bootstrap=bootstrap
        )
        return result, json.loads(result.stdout)

    result, body = drift_json()
    for _ in range(20):  # metadata of the deletion may take a moment to reach every cache
        if {r["kind"] for r in body["resources"]} == {"changed", "missing", "unmanaged"}:
            break
        result, body = drift_json()
    assert result.code == 2, result.output
    assert body["format_version"] == "1.0" and body["drifted"] is True
    assert body["checked_at"].endswith("Z")
    found = {r["address"]: r for r in body["resources"]}
    assert found[f"kafka_topic.{names[0]}"]["kind"] == "changed"
    assert found[f"kafka_topic.{names[0]}"]["attributes"] == ["config.retention.ms"]
    assert found[f"kafka_topic.{names[1]}"]["kind"] == "missing"
    assert found[f"kafka_topic.{stray}"]["kind"] == "unmanaged"
    assert f"kafka_topic.{names[2]}" not in found
    assert counts(prom) == {
        ("kafka_topic", "changed"): 1,
        ("kafka_topic", "missing"): 1,
        ("kafka_topic", "unmanaged"): 1,
    }
    assert metrics(prom)["llm_analytics_drift_last_check_success"].samples[0].value == 1

    text = run_cli("drift", "-f", str(spec), bootstrap=bootstrap)
    assert text.code == 2
    assert f"kafka_topic.{names[0]}: changed (config.retention.ms)" in text.stdout


def test_drift_against_an_unreachable_cluster_exits_1_and_reports_failure(
    tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    spec = write_spec(tmp_path / "cluster-spec.yaml", [{"name": unique_name("t")}])
    prom = tmp_path / "drift.prom"
    result = run_cli("drift", "-f", str(spec), "--metrics-file", str(prom), bootstrap="127.0.0.1:9")
    assert result.code == 1
    parsed = metrics(prom)
    assert parsed["llm_analytics_drift_last_check_success"].samples[0].value == 0
    assert "llm_analytics_drift_resources" not in parsed
