"""The pure health judgement of ``kafka verify``."""

from __future__ import annotations

from reconciler.providers.kafka.health import judge_health, listed, spec_drift
from reconciler.providers.kafka.state import (
    Broker,
    ConfigSource,
    KafkaClusterState,
    LiveConfig,
    LiveTopic,
    PartitionState,
)
from reconciler.spec.resolving import DesiredTopic

BROKERS = (Broker(1, "h", 1), Broker(2, "h", 2), Broker(3, "h", 3))


def topic(
    name: str,
    partitions: int = 2,
    *,
    isr: tuple[int, ...] = (1, 2, 3),
    leader: int = 1,
    min_isr: str | None = "2",
    internal: bool = False,
    **configs: str,
) -> LiveTopic:
    live_configs = {
        k.replace("_", "."): LiveConfig(v, ConfigSource.DYNAMIC_TOPIC_CONFIG)
        for k, v in configs.items()
    }
    if min_isr is not None:
        live_configs["min.insync.replicas"] = LiveConfig(min_isr, ConfigSource.DEFAULT_CONFIG)
    return LiveTopic(
        name=name,
        internal=internal,
        configs=live_configs,
        partitions=tuple(
            PartitionState(partition=i, leader=leader, replicas=(1, 2, 3), isr=isr)
            for i in range(partitions)
        ),
    )


def cluster(
    *topics: LiveTopic, brokers: tuple[Broker, ...] = BROKERS, controller: int = 1
) -> KafkaClusterState:
    return KafkaClusterState(
        cluster_id="c",
        controller_id=controller,
        brokers=brokers,
        topics={t.name: t for t in topics},
    )


def failed(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {c.name: c.message for c in report.checks if not c.ok}


def test_healthy_cluster() -> None:
    report = judge_health(
        cluster(topic("a"), topic("b"), topic("__consumer_offsets", internal=True, min_isr=None)),
        ["a", "b"],
    )
    assert report.healthy, failed(report)
    messages = [c.message for c in report.checks]
    assert "Found 3 brokers" in messages
    assert "Found 2 total topics" in messages  # internal topics are not counted
    assert "Found 2 LLM Analytics topics" in messages
    assert dict(report.rows)["LLM Topics"] == "2/2"
    assert report.to_json_dict()["format_version"] == "1.0"


def test_missing_topics_are_named() -> None:
    report = judge_health(cluster(topic("a")), ["a", "llm-x", "llm-y"])
    assert failed(report) == {
        "expected_topics": "Missing 2 of 3 LLM Analytics topics: llm-x, llm-y"
    }
    assert report.metrics["missing_topics"] == ["llm-x", "llm-y"]
    assert dict(report.rows)["LLM Topics"] == "1/3"


def test_under_replicated_partitions_are_named() -> None:
    report = judge_health(cluster(topic("a", isr=(1, 2)), topic("b")), [])
    assert failed(report) == {"under_replicated": "2 under-replicated partitions: a-0, a-1"}
    assert report.metrics["under_replicated_partitions"] == 2


def test_long_lists_are_cut_with_a_count() -> None:
    report = judge_health(cluster(topic("t", 25, isr=(1, 2))), [])
    message = failed(report)["under_replicated"]
    assert message.startswith("25 under-replicated partitions: t-0, t-1")
    assert message.endswith("(and 5 more)")
    assert len(report.metrics["under_replicated"]) == 25  # JSON keeps everything
    assert listed(["a", "b"], limit=1) == "a (and 1 more)"


def test_offline_and_below_min_isr() -> None:
    report = judge_health(
        cluster(topic("down", 1, isr=(), leader=-1), topic("thin", 1, isr=(3,))), []
    )
    problems = failed(report)
    assert problems["offline"] == "1 offline partition: down-0"
    assert problems["min_isr"] == (
        "2 partitions below min.insync.replicas: down-0 (ISR 0 < 2), thin-0 (ISR 1 < 2)"
    )
    # min.insync.replicas unknown (not described): not judged
    assert (
        judge_health(cluster(topic("x", 1, isr=(1,), min_isr=None)), []).metrics[
            "below_min_isr_partitions"
        ]
        == 0
    )


def test_broker_count_against_expected() -> None:
    two = cluster(topic("a"), brokers=BROKERS[:2])
    assert judge_health(two, []).healthy  # no expectation: only reported
    report = judge_health(two, [], expected_brokers=3)
    assert failed(report) == {"brokers": "Found 2 brokers, expected 3 (live: 1, 2)"}
    assert dict(report.rows)["Brokers"] == "2/3"


def test_no_controller_is_unhealthy() -> None:
    report = judge_health(cluster(controller=-1), [])
    assert failed(report) == {"controller": "No active controller"}


def test_spec_drift_reuses_the_plan_diff() -> None:
    state = cluster(topic("a", retention_ms="1000"), topic("b"), topic("c", 4))
    desired = [
        DesiredTopic("a", 2, 3, {"retention.ms": "2000"}),
        DesiredTopic("b", 2, 3, {}),
        DesiredTopic("c", 2, 3, {}),  # fewer partitions than live: a refused change
        DesiredTopic("missing", 1, 3, {}),  # reported as missing, not as drift
    ]
    drift = spec_drift(desired, state)
    assert drift == {"a": ["config.retention.ms"], "c": ["partitions"]}
    report = judge_health(state, [t.name for t in desired], drift=drift, topics_label="spec")
    problems = failed(report)
    assert problems["spec_drift"] == (
        "2 topics differ from the spec: a (config.retention.ms), c (partitions)"
    )
    assert problems["expected_topics"] == "Missing 1 of 4 spec topics: missing"
    assert dict(report.rows)["Spec Topics"] == "3/4"
