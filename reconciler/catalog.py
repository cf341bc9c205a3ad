"""The 14 built-in LLM analytics topics (the platform's standard set).

Used by ``kafka topics create`` without a spec, by ``kafka topics list --llm-only`` and by
``kafka verify``. ``cluster-spec.example.yaml`` declares the same topics with the reasons
for each setting; a unit test keeps the two identical.
"""

from __future__ import annotations

from reconciler.spec.resolving import DesiredTopic

# Every LLM topic: RF 3, lz4, min.insync.replicas 2 (one broker may be down under acks=all).
_COMMON = {"compression.type": "lz4", "min.insync.replicas": "2"}


def _topic(
    name: str,
    partitions: int,
    *,
    retention_ms: str,
    segment_ms: str,
    segment_bytes: str,
    extra: dict[str, str] | None = None,
) -> DesiredTopic:
    config = {
        **_COMMON,
        "retention.ms": retention_ms,
        "segment.bytes": segment_bytes,
        "segment.ms": segment_ms,
        **(extra or {}),
    }
    return DesiredTopic(name=name, partitions=partitions, replication_factor=3, config=config)


LLM_TOPICS: tuple[DesiredTopic, ...] = (
    _topic(
        "llm-events", 32, retention_ms="604800000", segment_ms="3600000", segment_bytes="1073741824"
    ),
    _topic(
        "llm-metrics",
        32,
        retention_ms="259200000",
        segment_ms="3600000",
        segment_bytes="1073741824",
    ),
    _topic(
        "llm-analytics",
        16,
        retention_ms="2592000000",
        segment_ms="86400000",
        segment_bytes="1073741824",
    ),
    _topic(
        "llm-traces", 32, retention_ms="172800000", segment_ms="3600000", segment_bytes="1073741824"
    ),
    _topic(
        "llm-errors",
        16,
        retention_ms="2592000000",
        segment_ms="86400000",
        segment_bytes="1073741824",
    ),
    _topic(
        "llm-audit",
        8,
        retention_ms="604800000",
        segment_ms="86400000",
        segment_bytes="1073741824",
        extra={
            "cleanup.policy": "compact",
            "min.compaction.lag.ms": "3600000",
            "delete.retention.ms": "86400000",
            "min.cleanable.dirty.ratio": "0.5",
        },
    ),
    _topic(
        "llm-aggregated-metrics",
        16,
        retention_ms="2592000000",
        segment_ms="86400000",
        segment_bytes="1073741824",
    ),
    _topic(
        "llm-alerts", 8, retention_ms="1209600000", segment_ms="86400000", segment_bytes="268435456"
    ),
    _topic(
        "llm-usage-stats",
        16,
        retention_ms="2592000000",
        segment_ms="86400000",
        segment_bytes="1073741824",
    ),
    _topic(
        "llm-model-performance",
        16,
        retention_ms="2592000000",
        segment_ms="86400000",
        segment_bytes="1073741824",
    ),
    _topic(
        "llm-cost-tracking",
        8,
        retention_ms="7776000000",
        segment_ms="86400000",
        segment_bytes="1073741824",
        extra={"retention.bytes": "10737418240"},
    ),
    _topic(
        "llm-session-events",
        16,
        retention_ms="604800000",
        segment_ms="86400000",
        segment_bytes="1073741824",
    ),
    _topic(
        "llm-user-feedback",
        8,
        retention_ms="7776000000",
        segment_ms="86400000",
        segment_bytes="1073741824",
    ),
    _topic(
        "llm-system-health",
        8,
        retention_ms="259200000",
        segment_ms="86400000",
        segment_bytes="134217728",
    ),
)

LLM_TOPIC_NAMES: tuple[str, ...] = tuple(t.name for t in LLM_TOPICS)
