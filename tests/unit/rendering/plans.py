"""Plans shared by the rendering tests."""

from __future__ import annotations

from reconciler.engine.plan import (
    Action,
    AttributeChange,
    Change,
    Notice,
    NoticeLevel,
    Plan,
    Risk,
)

SECRETS = ("hunter2-old", "hunter2-new", "jaas-secret-value", "payload-secret-token")


def topic(
    name: str,
    action: Action,
    *,
    attributes: tuple[AttributeChange, ...] = (),
    risks: frozenset[Risk] = frozenset(),
    reason: str | None = None,
    steps: tuple[str, ...] = (),
) -> Change:
    return Change(
        address=f"kafka_topic.{name}",
        provider="kafka",
        resource_type="kafka_topic",
        name=name,
        action=action,
        attributes=attributes,
        risks=risks,
        reason=reason,
        steps=steps,
        payload={"topic": name},
    )


def sample_plan() -> Plan:
    """Every action, every risk, notices of each level, secrets and steps."""
    a = AttributeChange
    return Plan(
        changes=(
            topic(
                "llm-events",
                Action.CREATE,
                attributes=(
                    a(path="partitions", after=32),
                    a(path="replication_factor", after=3),
                    a(path="config.compression.type", after="lz4"),
                    a(path="config.retention.ms", after="604800000"),
                ),
                reason="declared in the spec, missing from the cluster",
                steps=("CreateTopics llm-events (32 partitions, replication factor 3)",),
            ),
            topic(
                "llm-metrics",
                Action.UPDATE,
                attributes=(
                    a(path="partitions", before=16, after=32),
                    a(path="config.retention.ms", before="604800000", after="86400000"),
                    a(path="config.cleanup.policy", before="compact", after=None),
                    a(path="config.message.timestamp.type", before=None, after="LogAppendTime"),
                ),
                risks=frozenset({Risk.KEY_REMAPPING}),
                reason="partitions 16 -> 32; 3 config values differ",
                steps=(
                    "IncrementalAlterConfigs llm-metrics",
                    "CreatePartitions llm-metrics 16 -> 32",
                ),
            ),
            Change(
                address="kafka_user.llm-writer",
                provider="kafka",
                resource_type="kafka_user",
                name="llm-writer",
                action=Action.UPDATE,
                attributes=(
                    a(
                        path="scram.sha-512",
                        before="hunter2-old",
                        after="hunter2-new",
                        sensitive=True,
                    ),
                    a(path="sasl.jaas.config", before=None, after="jaas-secret-value"),
                    a(
                        path="quotas",
                        before={"producer_byte_rate": 1048576},
                        after={"producer_byte_rate": 2097152, "consumer_byte_rate": 4194304},
                    ),
                ),
                reason="credentials rotated",
                payload={"mechanism": "SCRAM-SHA-512", "password": "payload-secret-token"},
            ),
            topic(
                "llm-audit",
                Action.REPLACE,
                attributes=(
                    a(path="partitions", before=8, after=4),
                    a(path="config.cleanup.policy", before="compact", after="compact"),
                ),
                risks=frozenset({Risk.DESTRUCTIVE, Risk.DATA_LOSS, Risk.DISRUPTIVE}),
                reason="partitions cannot be decreased (8 -> 4); the topic is recreated",
                steps=("DeleteTopics llm-audit", "CreateTopics llm-audit (4 partitions)"),
            ),
            topic(
                "llm-legacy",
                Action.DELETE,
                attributes=(
                    a(path="partitions", before=8, after=None),
                    a(path="config.cleanup.policy", before="delete", after=None),
                ),
                risks=frozenset({Risk.DESTRUCTIVE, Risk.DATA_LOSS}),
                reason="managed by this spec and no longer declared",
                steps=("DeleteTopics llm-legacy",),
            ),
            Change(
                address="redis_cluster.llm-analytics-hub",
                provider="redis",
                resource_type="redis_cluster",
                name="llm-analytics-hub",
                action=Action.UPDATE,
                attributes=(
                    a(path="masters", before=3, after=4),
                    a(
                        path="slots_per_master",
                        before=[5462, 5461, 5461],
                        after=[4096, 4096, 4096, 4096],
                    ),
                ),
                risks=frozenset({Risk.SLOW, Risk.DISRUPTIVE}),
                reason="3 masters -> 4 masters",
                steps=(
                    "CLUSTER MEET 10.0.0.7:6379",
                    "migrate 4096 slots to the new master",
                ),
            ),
            topic("llm-traces", Action.NOOP, reason="matches the spec"),
        ),
        notices=(
            Notice(
                level=NoticeLevel.INFO,
                address="kafka_topic.scratch-test",
                message="exists in the cluster but not in the spec",
                kind="unmanaged",
            ),
            Notice(
                level=NoticeLevel.INFO, address="kafka_acl.User:ops", message="matches the spec"
            ),
            Notice(
                level=NoticeLevel.WARNING,
                address="kafka_topic.llm-errors",
                message="min.insync.replicas (3) equals the replication factor",
                kind="validation",
            ),
            Notice(
                level=NoticeLevel.ERROR,
                address="kafka_topic.llm-old",
                message="deletion refused: pass --allow-delete",
                kind="refused",
            ),
        ),
        request_counts={"kafka.DescribeConfigs": 1, "kafka.Metadata": 2},
    )
