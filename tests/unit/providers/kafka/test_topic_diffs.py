"""The pure topic diff: every decision it makes, from plain data."""

from __future__ import annotations

from reconciler.engine.plan import Action, NoticeLevel, Risk
from reconciler.providers.kafka.state import (
    Broker,
    ConfigSource,
    KafkaClusterState,
    LiveConfig,
    LiveTopic,
    PartitionState,
)
from reconciler.providers.kafka.topic_diffs import config_risks, diff_topics, places_replicas
from reconciler.spec.models import ConfigOwnership, DeletionPolicy, TopicOwnership
from reconciler.spec.resolving import DesiredTopic

BROKERS = (Broker(1, "h1", 9092, "a"), Broker(2, "h2", 9092, "b"), Broker(3, "h3", 9092, "c"))


def live_topic(
    name: str, partitions: int = 3, rf: int = 1, **configs: tuple[str, ConfigSource]
) -> LiveTopic:
    parts = tuple(
        PartitionState(
            partition=i,
            leader=1 + i % 3,
            replicas=tuple(1 + (i + k) % 3 for k in range(rf)),
            isr=tuple(1 + (i + k) % 3 for k in range(rf)),
        )
        for i in range(partitions)
    )
    return LiveTopic(
        name=name,
        partitions=parts,
        configs={k.replace("_", "."): LiveConfig(v, s) for k, (v, s) in configs.items()},
    )


def state(*topics: LiveTopic) -> KafkaClusterState:
    return KafkaClusterState(
        cluster_id="c", controller_id=1, brokers=BROKERS, topics={t.name: t for t in topics}
    )


def desired(name: str = "t", partitions: int = 3, rf: int = 1, **config: str) -> DesiredTopic:
    return DesiredTopic(
        name=name,
        partitions=partitions,
        replication_factor=rf,
        config={k.replace("_", "."): v for k, v in config.items()},
    )


def test_missing_topic_is_created_with_every_attribute() -> None:
    plan = diff_topics(
        [desired(retention_ms="1000")], state(), TopicOwnership(), allow_delete=False
    )
    (change,) = plan.changes
    assert change.action is Action.CREATE
    assert change.address == "kafka_topic.t"
    assert [a.path for a in change.attributes] == [
        "partitions",
        "replication_factor",
        "config.retention.ms",
    ]
    assert change.payload == {
        "partitions": 3,
        "replication_factor": 1,
        "config": {"retention.ms": "1000"},
    }


def test_matching_topic_gives_no_change() -> None:
    live = live_topic("t", retention_ms=("1000", ConfigSource.DYNAMIC_TOPIC_CONFIG))
    plan = diff_topics(
        [desired(retention_ms="1000")], state(live), TopicOwnership(), allow_delete=False
    )
    assert plan.changes == () and plan.notices == ()


def test_value_from_broker_default_equal_to_spec_is_not_drift() -> None:
    live = live_topic("t", compression_type=("producer", ConfigSource.DEFAULT_CONFIG))
    plan = diff_topics(
        [desired(compression_type="producer")], state(live), TopicOwnership(), allow_delete=False
    )
    assert plan.changes == ()


def test_config_change_has_before_and_after_and_retention_cut_is_data_loss() -> None:
    live = live_topic("t", retention_ms=("604800000", ConfigSource.DYNAMIC_TOPIC_CONFIG))
    plan = diff_topics(
        [desired(retention_ms="86400000")], state(live), TopicOwnership(), allow_delete=False
    )
    (change,) = plan.changes
    assert change.action is Action.UPDATE
    (attr,) = change.attributes
    assert (attr.path, attr.before, attr.after) == ("config.retention.ms", "604800000", "86400000")
    assert Risk.DATA_LOSS in change.risks
    assert change.payload["config"] == {"retention.ms": "86400000"}


def test_unmanaged_override_is_reported_when_additive_and_removed_when_exclusive() -> None:
    live = live_topic("t", segment_ms=("1000", ConfigSource.DYNAMIC_TOPIC_CONFIG))
    additive = diff_topics([desired()], state(live), TopicOwnership(), allow_delete=False)
    assert additive.changes == ()
    assert additive.notices[0].kind == "unmanaged" and "segment.ms" in additive.notices[0].message
    exclusive = diff_topics(
        [desired()],
        state(live),
        TopicOwnership(configs=ConfigOwnership.EXCLUSIVE),
        allow_delete=False,
    )
    (change,) = exclusive.changes
    assert change.payload["config"] == {"segment.ms": None}
    assert Risk.DESTRUCTIVE in change.risks


def test_partition_increase_is_an_update_flagged_key_remapping() -> None:
    plan = diff_topics(
        [desired(partitions=6)], state(live_topic("t")), TopicOwnership(), allow_delete=False
    )
    (change,) = plan.changes
    assert change.payload["partitions"] == 6 and Risk.KEY_REMAPPING in change.risks


def test_partition_decrease_is_refused_never_replaced() -> None:
    plan = diff_topics(
        [desired(partitions=1)], state(live_topic("t")), TopicOwnership(), allow_delete=False
    )
    assert plan.changes == ()
    (notice,) = plan.notices
    assert notice.level is NoticeLevel.ERROR and "cannot decrease" in notice.message


def test_replication_increase_is_a_balanced_reassignment_keeping_leaders() -> None:
    plan = diff_topics(
        [desired(rf=3)], state(live_topic("t", rf=1)), TopicOwnership(), allow_delete=False
    )
    (change,) = plan.changes
    assignment = change.payload["reassignment"]
    assert set(assignment) == {"0", "1", "2"}
    for partition, replicas in assignment.items():
        assert len(set(replicas)) == 3
        assert replicas[0] == 1 + int(partition) % 3  # leader first, unchanged
    assert Risk.SLOW in change.risks


def test_replication_above_broker_count_is_refused() -> None:
    plan = diff_topics(
        [desired(rf=4)], state(live_topic("t")), TopicOwnership(), allow_delete=False
    )
    assert plan.notices[0].level is NoticeLevel.ERROR


def test_deletion_needs_ownership_policy_and_flag() -> None:
    stray = live_topic("llm-old")
    internal = live_topic("__consumer_offsets")
    scope = TopicOwnership(prefixes=["llm-", "__"])
    never = diff_topics([], state(stray, internal), scope, allow_delete=True)
    assert never.changes == () and [n.address for n in never.notices] == ["kafka_topic.llm-old"]
    allowed = TopicOwnership(prefixes=["llm-", "__"], deletion=DeletionPolicy.ALLOW)
    no_flag = diff_topics([], state(stray, internal), allowed, allow_delete=False)
    assert no_flag.changes == () and "--allow-delete" in no_flag.notices[0].message
    both = diff_topics([], state(stray, internal), allowed, allow_delete=True)
    (change,) = both.changes
    assert change.action is Action.DELETE and change.name == "llm-old"
    assert {Risk.DESTRUCTIVE, Risk.DATA_LOSS} <= change.risks


def test_topics_outside_ownership_are_ignored() -> None:
    plan = diff_topics(
        [], state(live_topic("someone-elses")), TopicOwnership(prefixes=["llm-"]), allow_delete=True
    )
    assert plan.changes == () and plan.notices == ()


def test_cleanup_policy_lists_compare_as_sets() -> None:
    live = live_topic("t", cleanup_policy=("compact,delete", ConfigSource.DYNAMIC_TOPIC_CONFIG))
    plan = diff_topics(
        [desired(cleanup_policy="delete,compact")],
        state(live),
        TopicOwnership(),
        allow_delete=False,
    )
    assert plan.changes == ()


def test_config_risks() -> None:
    assert Risk.DATA_LOSS in config_risks("retention.ms", "-1", "1000")
    assert Risk.DATA_LOSS not in config_risks("retention.ms", "1000", "2000")
    assert Risk.DISRUPTIVE in config_risks("min.insync.replicas", "1", "2")
    assert config_risks("compression.type", "lz4", "zstd") == set()


def test_only_a_replication_change_places_replicas() -> None:
    live = state(live_topic("t", rf=1))
    assert not places_replicas([desired("t", rf=1), desired("new", rf=3)], live)
    assert not places_replicas([desired("t", partitions=6, rf=1)], live)
    assert places_replicas([desired("t", rf=2)], live)


def test_a_widened_state_keeps_the_scopes_configs_and_adds_the_other_topics() -> None:
    scoped = state(live_topic("t", retention_ms=("1000", ConfigSource.DYNAMIC_TOPIC_CONFIG)))
    wider = state(live_topic("t"), live_topic("other", partitions=6))
    merged = scoped.widened(wider)
    assert set(merged.topics) == {"t", "other"}
    assert merged.topics["t"].configs["retention.ms"].value == "1000"
    assert merged.topics["other"].partition_count == 6 and merged.brokers == wider.brokers


def test_a_throttle_left_on_a_topic_at_rest_is_removed_and_a_wildcard_kept() -> None:
    left = ("0:1,1:2", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    live = state(
        live_topic(
            "t",
            leader_replication_throttled_replicas=left,
            follower_replication_throttled_replicas=("*", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        )
    )
    moving = diff_topics([desired("t")], live, TopicOwnership(), allow_delete=False)
    assert not moving.changes  # not known to be at rest: kept (reported as unmanaged)
    plan = diff_topics(
        [desired("t")], live, TopicOwnership(), allow_delete=False, at_rest=frozenset({"t"})
    )
    (change,) = plan.changes
    assert change.payload["config"] == {"leader.replication.throttled.replicas": None}
    messages = [n.message for n in plan.notices]
    assert any("left by a reassignment" in m for m in messages)
    assert any("follower.replication.throttled.replicas=*" in m and "kept" in m for m in messages)
