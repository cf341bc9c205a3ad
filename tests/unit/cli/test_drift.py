"""``drift`` without a cluster: reading a plan as drift, the JSON form, the Prometheus file
(parsed with prometheus_client's own parser), and the failure path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.cli.drift import (
    DRIFT_FORMAT_VERSION,
    drift_report,
    metrics_text,
    report_text,
    write_metrics,
)
from reconciler.engine.plan import Action, AttributeChange, Change, Notice, NoticeLevel, Plan


def change(address: str, action: Action, *paths: str) -> Change:
    rtype, name = address.split(".", 1)
    return Change(
        address=address,
        provider=rtype,
        resource_type=rtype,
        name=name,
        action=action,
        attributes=tuple(AttributeChange(path=p, before=1, after=2) for p in paths),
    )


DRIFTED = Plan(
    changes=(
        change("kafka_topic.orders", Action.UPDATE, "config.retention.ms"),
        change("kafka_topic.events", Action.CREATE, "partitions"),
        change("kafka_acl.User:bob/TOPIC:LITERAL:orders/READ/ALLOW@*", Action.CREATE),
        change("kafka_topic.same", Action.NOOP),
    ),
    notices=(
        Notice(
            level=NoticeLevel.WARNING,
            address="kafka_topic.legacy",
            kind="unmanaged",
            message="in the ownership scope but not in the spec; kept (deletion: never)",
        ),
        Notice(
            level=NoticeLevel.INFO,
            address="kafka_topic.orders",
            kind="unmanaged",
            message="config segment.ms=1000 is set on the topic but not in the spec; kept",
            attribute="config.segment.ms",
            before="1000",
        ),
        Notice(
            level=NoticeLevel.ERROR,
            address="kafka_topic.clicks",
            kind="refused",
            message="partitions cannot decrease from 12 to 6: Kafka only adds partitions.",
            attribute="partitions",
            before=12,
            after=6,
        ),
        Notice(level=NoticeLevel.INFO, address="kafka_acl.*", kind="note", message="fyi"),
    ),
)


def test_plan_read_as_drift() -> None:
    report = drift_report(
        DRIFTED, checked_at="2024-05-01T12:00:00Z", resource_types=["kafka_topic", "kafka_acl"]
    )
    assert report.drifted and not report.errors
    by_address = {r.address: r for r in report.resources}
    assert set(by_address) == {
        "kafka_topic.orders",
        "kafka_topic.events",
        "kafka_acl.User:bob/TOPIC:LITERAL:orders/READ/ALLOW@*",
        "kafka_topic.legacy",
        "kafka_topic.clicks",
    }
    assert by_address["kafka_topic.orders"].kind == "changed"
    assert by_address["kafka_topic.orders"].attributes == [
        "config.retention.ms",
        "config.segment.ms",
    ]
    assert by_address["kafka_topic.events"].kind == "missing"
    assert by_address["kafka_topic.legacy"].kind == "unmanaged"
    assert by_address["kafka_topic.clicks"].kind == "changed"
    assert "12 to 6" in by_address["kafka_topic.clicks"].details[0]
    # Ordered by kind, then address.
    assert [r.kind for r in report.resources] == [
        "changed",
        "changed",
        "missing",
        "missing",
        "unmanaged",
    ]


def test_the_json_form() -> None:
    report = drift_report(DRIFTED, checked_at="2024-05-01T12:00:00Z")
    body = json.loads(json.dumps(report.to_json()))
    assert set(body) == {"format_version", "drifted", "resources", "checked_at"}
    assert body["format_version"] == DRIFT_FORMAT_VERSION and body["drifted"] is True
    for resource in body["resources"]:
        assert {"address", "kind", "attributes"} <= set(resource)
        assert resource["kind"] in ("changed", "missing", "unmanaged")


def test_no_drift() -> None:
    report = drift_report(
        Plan(changes=(change("kafka_topic.same", Action.NOOP),)),
        checked_at="t",
        resource_types=["kafka_topic"],
    )
    assert not report.drifted
    assert report.to_json()["resources"] == []
    assert report_text(report).startswith("No drift")


def test_errors_that_are_not_drift_make_the_check_incomplete() -> None:
    plan = Plan(
        notices=(
            Notice(
                level=NoticeLevel.ERROR,
                address="kafka_acl.*",
                kind="refused",
                message="the cluster has no authorizer",
            ),
        )
    )
    report = drift_report(plan, checked_at="t")
    assert not report.drifted
    assert report.errors == ["kafka_acl.*: the cluster has no authorizer"]


def test_text_lists_each_resource_with_its_kind() -> None:
    text = report_text(drift_report(DRIFTED, checked_at="2024-05-01T12:00:00Z"))
    assert text.startswith("Drift: 5 resources differ from the spec")
    assert "~ kafka_topic.orders: changed (config.retention.ms, config.segment.ms)" in text
    assert "+ kafka_topic.events: missing" in text
    assert "? kafka_topic.legacy: unmanaged" in text


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_metrics_parse_and_count_by_type_and_kind() -> None:
    report = drift_report(
        DRIFTED, checked_at="t", resource_types=["kafka_topic", "kafka_acl", "redis_cluster"]
    )
    text = metrics_text(
        report,
        success=True,
        timestamp=1714564800.5,
        duration=1.25,
        labels={"spec": 'odd "name"\\x', "env": "prod"},
    )
    parsed = families(text)
    resources = parsed["llm_analytics_drift_resources"]
    assert resources.type == "gauge" and resources.documentation
    values = {(s.labels["kind"], s.labels["drift"]): s.value for s in resources.samples}
    assert values[("kafka_topic", "changed")] == 2
    assert values[("kafka_topic", "missing")] == 1
    assert values[("kafka_topic", "unmanaged")] == 1
    assert values[("kafka_acl", "missing")] == 1
    assert values[("redis_cluster", "changed")] == 0  # every known series exists
    assert all(s.labels["spec"] == 'odd "name"\\x' for s in resources.samples)
    assert parsed["llm_analytics_drift_last_check_success"].samples[0].value == 1
    assert parsed["llm_analytics_drift_last_check_timestamp_seconds"].samples[
        0
    ].value == pytest.approx(1714564800.5)
    assert "# HELP llm_analytics_drift_last_check_success" in text
    assert "# TYPE llm_analytics_drift_resources gauge" in text


def test_failure_metrics_say_so_and_leave_counts_out() -> None:
    parsed = families(
        metrics_text(
            None, success=False, timestamp=1.0, duration=0.1, labels={"spec": "s", "env": ""}
        )
    )
    assert "llm_analytics_drift_resources" not in parsed
    assert parsed["llm_analytics_drift_last_check_success"].samples[0].value == 0


def test_metrics_are_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "drift.prom"
    target.write_text("old\n")
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        replaced.append((str(src), str(dst)))
        assert Path(dst).read_text() == "old\n"  # the old file stays whole until the swap
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_metrics(str(target), "new 1\n")
    assert target.read_text() == "new 1\n"
    ((source, destination),) = replaced
    assert Path(source).parent == tmp_path and not source.endswith(".prom")
    assert destination == str(target)
    assert [p.name for p in tmp_path.iterdir()] == ["drift.prom"]


def run_cli(*args: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "reconciler.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def test_a_failed_check_exits_1_and_still_writes_metrics(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text("apiVersion: llm-analytics/v1\nkind: ClusterSpec\n")
    metrics = tmp_path / "drift.prom"
    code, _, err = run_cli("drift", "-f", str(spec), "--metrics-file", str(metrics))
    assert code == 1 and "Error" in err
    parsed = families(metrics.read_text())
    success = parsed["llm_analytics_drift_last_check_success"].samples[0]
    assert success.value == 0 and success.labels == {"spec": "broken.yaml", "env": ""}


def test_an_unreachable_cluster_exits_1_with_metrics(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "apiVersion: llm-analytics/v1\nkind: ClusterSpec\nmetadata: {name: t}\n"
        "kafka:\n  connection: {bootstrapServers: '127.0.0.1:1'}\n"
        "  topics: [{name: t1}]\n"
    )
    metrics = tmp_path / "drift.prom"
    code, out, _ = run_cli("drift", "-f", str(spec), "-o", "json", "--metrics-file", str(metrics))
    assert code == 1 and out == ""
    assert "llm_analytics_drift_last_check_success" in metrics.read_text()


def test_changed_configs_are_detailed_in_humane_units() -> None:
    plan = Plan(
        changes=(
            Change(
                address="kafka_topic.t",
                provider="kafka_topic",
                resource_type="kafka_topic",
                name="t",
                action=Action.UPDATE,
                attributes=(
                    AttributeChange(
                        path="config.retention.ms", before="1209600000", after="2592000000"
                    ),
                ),
            ),
        )
    )
    report = drift_report(plan, checked_at="2024-05-01T12:00:00Z")
    assert report.resources[0].details == [
        "config.retention.ms: 14d in the cluster, 30d in the spec"
    ]
