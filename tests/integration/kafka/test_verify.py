"""``kafka verify`` against real clusters: healthy, a stopped broker, missing topics, drift.

The three-node cluster is shared by the session, so every check that judges topics uses a
spec naming this test's own unique topics; the default catalog (the 14 LLM topics) is
checked on the single-node sandbox, where the test creates them first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from reconciler.catalog import LLM_TOPICS
from reconciler.engine.applying import apply_plan
from reconciler.engine.planning import build_plan
from reconciler.engine.providers import ApplyOptions, PlanOptions, ResultStatus
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.providers.kafka.topics import KafkaTopicsProvider
from reconciler.sandbox import KafkaSandbox
from reconciler.spec.loading import load_spec
from reconciler.spec.models import TopicOwnership
from reconciler.spec.resolving import DesiredTopic, resolve_topics
from tests.integration.kafka.commands import cli
from tests.integration.kafka.commands import write_spec as kafka_spec

RECOVERY_SECONDS = 120


def verify_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = cli("kafka", "verify", "-o", "json", *args)
    assert result.returncode in (0, 2), result.stderr
    return result.returncode, json.loads(result.stdout)


def failed_checks(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["message"] for c in report["checks"] if not c["ok"]}


def write_spec(
    path: Path, sandbox: KafkaSandbox, topics: list[str], *, expected_brokers: int = 3
) -> Path:
    kafka = {
        "expectedBrokers": expected_brokers,
        "defaults": {
            "replicationFactor": 3,
            "partitions": 3,
            "config": {"min.insync.replicas": 2, "retention.ms": "1d"},
        },
        "topics": [{"name": name} for name in topics],
    }
    return kafka_spec(path, sandbox, kafka, name="verify-test")


async def create_topics(bootstrap_servers: str, topics: list[DesiredTopic]) -> None:
    async with KafkaAdmin({"bootstrap_servers": bootstrap_servers}) as admin:
        provider = KafkaTopicsProvider(admin, topics, TopicOwnership())
        plan = await build_plan([provider], PlanOptions())
        results = await apply_plan(plan, [provider], ApplyOptions())
        assert all(r.status is ResultStatus.APPLIED for r in results), results


def wait_for(predicate: Callable[[], tuple[bool, Any]], seconds: float) -> Any:
    """Poll ``predicate`` until it holds; returns its last detail (asserted by the caller)."""
    deadline = time.monotonic() + seconds
    while True:
        ok, detail = predicate()
        if ok or time.monotonic() > deadline:
            return detail
        time.sleep(1)


async def test_verify_follows_a_broker_going_down_and_coming_back(
    kafka_cluster: KafkaSandbox, tmp_path: Path, unique_name: Callable[..., str]
) -> None:
    names = [unique_name("verify"), unique_name("verify")]
    spec = write_spec(tmp_path / "spec.yaml", kafka_cluster, names)
    await create_topics(kafka_cluster.bootstrap_servers, resolve_topics(load_spec(spec).spec.kafka))  # type: ignore[arg-type]

    def healthy() -> tuple[bool, Any]:
        code, report = verify_json("-f", str(spec))
        return code == 0, (code, report)

    code, report = wait_for(healthy, 30)
    assert code == 0, failed_checks(report)
    assert report["healthy"] is True
    assert report["metrics"]["brokers"] == 3 and report["metrics"]["expected_topics"] == 2
    assert report["metrics"]["drifted_topics"] == {}

    text = cli("kafka", "verify", "-f", str(spec))
    assert text.returncode == 0, text.stdout
    for line in (
        "=== Kafka Cluster Verification ===",
        "=== Cluster Status ===",
        "=== Health Messages ===",
        "✓ Found 3 brokers, expected 3",
        "✓ No under-replicated partitions",
        "✓ Cluster verification passed",
    ):
        assert line in text.stdout
    assert "│ Spec Topics                 │ 2/2   │" in text.stdout

    victim = kafka_cluster.node_ids[-1]
    kafka_cluster.stop_broker(victim)
    try:
        mine = {f"{name}-{p}" for name in names for p in range(3)}

        def degraded() -> tuple[bool, Any]:
            code, report = verify_json("-f", str(spec))
            return code == 2 and mine <= set(report["metrics"]["under_replicated"]), (code, report)

        code, report = wait_for(degraded, 60)
        assert code == 2
        assert mine <= set(report["metrics"]["under_replicated"])
        problems = failed_checks(report)
        assert problems["brokers"].startswith("Found 2 brokers, expected 3")
        assert "under-replicated partitions" in problems["under_replicated"]
        assert "offline" not in problems and "min_isr" not in problems  # ISR 2 >= min 2

        text = cli("kafka", "verify", "-f", str(spec))
        assert text.returncode == 2
        assert "✗ Cluster verification failed" in text.stdout
        assert "under-replicated partitions:" in text.stdout
    finally:
        kafka_cluster.start_broker(victim)

    code, report = wait_for(healthy, RECOVERY_SECONDS)
    assert code == 0, failed_checks(report)


async def test_verify_names_missing_topics_and_drift(
    kafka_cluster: KafkaSandbox, tmp_path: Path, unique_name: Callable[..., str]
) -> None:
    present, missing = unique_name("here"), unique_name("absent")
    spec = write_spec(tmp_path / "spec.yaml", kafka_cluster, [present, missing])
    desired = resolve_topics(load_spec(spec).spec.kafka)  # type: ignore[arg-type]
    await create_topics(kafka_cluster.bootstrap_servers, [desired[0]])
    async with KafkaAdmin({"bootstrap_servers": kafka_cluster.bootstrap_servers}) as admin:
        assert await admin.alter_topic_configs({present: {"retention.ms": "3600000"}}) == {
            present: None
        }

    code, report = verify_json("-f", str(spec))
    assert code == 2
    problems = failed_checks(report)
    assert problems["expected_topics"] == f"Missing 1 of 2 spec topics: {missing}"
    assert report["metrics"]["missing_topics"] == [missing]
    assert report["metrics"]["drifted_topics"] == {present: ["config.retention.ms"]}
    assert problems["spec_drift"] == (
        f"1 topic differs from the spec: {present} (config.retention.ms)"
    )

    text = cli("kafka", "verify", "-f", str(spec))
    assert text.returncode == 2
    assert f"✗ Missing 1 of 2 spec topics: {missing}" in text.stdout


async def test_verify_default_catalog_on_a_single_broker(kafka_single: KafkaSandbox) -> None:
    # The 14 LLM topics with RF 1 (and min.insync.replicas capped to it) fit one broker.
    catalog = [
        replace(t, replication_factor=1, config={**t.config, "min.insync.replicas": "1"})
        for t in LLM_TOPICS
    ]
    await create_topics(kafka_single.bootstrap_servers, catalog)
    result = cli("kafka", "verify", "--bootstrap-servers", kafka_single.bootstrap_servers)
    assert result.returncode == 0, result.stdout
    assert "✓ Found 14 LLM Analytics topics" in result.stdout
    assert "│ LLM Topics                  │ 14/14 │" in result.stdout

    code, report = verify_json(
        "--bootstrap-servers", kafka_single.bootstrap_servers, "--expected-brokers", "3"
    )
    assert code == 2
    assert failed_checks(report) == {"brokers": "Found 1 broker, expected 3 (live: 1)"}


def test_unreachable_cluster_is_one_clear_error() -> None:
    result = cli("kafka", "verify", "--bootstrap-servers", "127.0.0.1:1", "-o", "json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "cannot reach 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr
