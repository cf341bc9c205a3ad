"""The example spec: valid in every environment, the 14 design topics, and a lossless round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.spec.loading import load_spec, load_spec_text
from reconciler.spec.models import AclEntry, ConsumerRole, ProducerRole
from reconciler.spec.resolving import resolve_topics

EXAMPLE = Path(__file__).resolve().parents[3] / "cluster-spec.example.yaml"

DESIGN_TOPICS = {
    "llm-events": 32,
    "llm-metrics": 32,
    "llm-analytics": 16,
    "llm-traces": 32,
    "llm-errors": 16,
    "llm-audit": 8,
    "llm-aggregated-metrics": 16,
    "llm-alerts": 8,
    "llm-usage-stats": 16,
    "llm-model-performance": 16,
    "llm-cost-tracking": 8,
    "llm-session-events": 16,
    "llm-user-feedback": 8,
    "llm-system-health": 8,
}


def test_example_starts_with_the_schema_comment() -> None:
    first_line = EXAMPLE.read_text().splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=schemas/cluster-spec.schema.json"


def test_example_is_valid_without_warnings() -> None:
    loaded = load_spec(EXAMPLE, environ={})
    assert loaded.warnings == ()
    assert loaded.env is None


def test_example_has_the_design_topics() -> None:
    spec = load_spec(EXAMPLE, environ={}).spec
    assert spec.kafka is not None
    topics = {t.name: t for t in resolve_topics(spec.kafka)}
    assert {name: t.partitions for name, t in topics.items()} == DESIGN_TOPICS
    for topic in topics.values():
        assert topic.replication_factor == 3
        assert topic.config["compression.type"] == "lz4"
        assert topic.config["min.insync.replicas"] == "2"
        assert "retention.ms" in topic.config and "segment.bytes" in topic.config
    assert topics["llm-audit"].config["cleanup.policy"] == "compact"
    assert spec.kafka.connection.bootstrap_servers == "kafka:9092"


def test_example_acls_and_ownership() -> None:
    spec = load_spec(EXAMPLE, environ={}).spec
    assert spec.kafka is not None
    rules = spec.kafka.acls
    producers = [r for r in rules if isinstance(r, ProducerRole)]
    consumers = [r for r in rules if isinstance(r, ConsumerRole)]
    entries = [r for r in rules if isinstance(r, AclEntry)]
    assert producers[0].principal == "User:llm-analytics-producer" and producers[0].idempotent
    assert consumers[0].group_prefixes == ["llm-analytics-"]
    assert any(
        e.resource_type.value == "CLUSTER" and e.resource_name == "kafka-cluster" for e in entries
    )
    ownership = spec.kafka.ownership
    assert ownership.topics.prefixes == ["llm-"]
    assert (
        ownership.topics.configs.value == "additive" and ownership.topics.deletion.value == "never"
    )
    assert set(ownership.acls.principals) == {r.principal for r in rules}
    assert spec.redis is not None and spec.redis.connection.kubernetes is not None
    assert spec.redis.connection.kubernetes.namespace == "llm-analytics-hub"
    assert (spec.redis.cluster.masters, spec.redis.cluster.replicas_per_master) == (3, 1)


def test_local_environment() -> None:
    loaded = load_spec(EXAMPLE, env="local", environ={})
    spec = loaded.spec
    assert spec.kafka is not None and spec.redis is not None
    assert spec.kafka.connection.bootstrap_servers == "127.0.0.1:9092"
    assert all(
        t.replication_factor == 1 and t.config["min.insync.replicas"] == "1"
        for t in resolve_topics(spec.kafka)
    )
    assert spec.redis.connection.kubernetes is None
    assert spec.redis.connection.addresses is not None
    assert len(spec.redis.connection.addresses) == spec.redis.cluster.node_count == 6
    assert loaded.warnings == ()


def test_local_environment_reads_the_sandbox_variables() -> None:
    environ = {
        "LLM_ANALYTICS_BOOTSTRAP_SERVERS": "broker:29092",
        "LLM_ANALYTICS_REDIS_ADDRESSES": "r1:7000, r2:7000,r3:7000,r4:7000,r5:7000,r6:7000",
    }
    spec = load_spec(EXAMPLE, env="local", environ=environ).spec
    assert spec.kafka is not None and spec.redis is not None
    assert spec.kafka.connection.bootstrap_list == ["broker:29092"]
    assert spec.redis.connection.addresses == [f"r{i}:7000" for i in range(1, 7)]


@pytest.mark.parametrize("env", [None, "local"])
def test_round_trip_through_yaml(env: str | None) -> None:
    spec = load_spec(EXAMPLE, env=env, environ={}).spec
    dumped = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    text = yaml.safe_dump(dumped, sort_keys=False, allow_unicode=True)
    assert load_spec_text(text, "round-trip.yaml", environ={}).spec == spec
