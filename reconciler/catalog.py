"""The 14 built-in LLM analytics topics (the platform's standard set).

Used by ``kafka topics create`` without a spec, by ``kafka topics list --llm-only`` and by
``kafka verify``. ``cluster-spec.example.yaml`` declares the same topics (a test keeps them
in step).
"""

from __future__ import annotations

from reconciler.spec.resolving import DesiredTopic

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
GIB = 1 << 30

_COMMON = {"compression.type": "lz4", "min.insync.replicas": "2"}


def _topic(name: str, partitions: int, retention_days: float, segment_hours: float,
           **extra: str) -> DesiredTopic:
    config = {
        **_COMMON,
        # Negative retention means "keep forever" (Kafka's -1).
        "retention.ms": str(int(retention_days * DAY_MS)) if retention_days >= 0 else "-1",
        "segment.ms": str(int(segment_hours * HOUR_MS)),
        **{key.replace("_", "."): value for key, value in extra.items()},
    }
    return DesiredTopic(name=name, partitions=partitions, replication_factor=3,
                        config=dict(sorted(config.items())))


LLM_TOPICS: tuple[DesiredTopic, ...] = (
    _topic("llm-events", 32, 7, 6),
    _topic("llm-metrics", 32, 7, 6),
    _topic("llm-analytics", 16, 30, 24),
    _topic("llm-traces", 32, 3, 2),
    _topic("llm-errors", 16, 30, 24),
    _topic("llm-audit", 8, -1, 24 * 7, cleanup_policy="compact"),  # kept forever, compacted
    _topic("llm-aggregated-metrics", 16, 90, 24),
    _topic("llm-alerts", 8, 30, 24),
    _topic("llm-usage-stats", 16, 90, 24),
    _topic("llm-model-performance", 16, 90, 24),
    _topic("llm-cost-tracking", 8, 365, 24 * 7),
    _topic("llm-session-events", 16, 7, 6),
    _topic("llm-user-feedback", 8, 180, 24),
    _topic("llm-system-health", 8, 7, 6),
)

LLM_TOPIC_NAMES: tuple[str, ...] = tuple(t.name for t in LLM_TOPICS)
