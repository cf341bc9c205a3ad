"""What a topic change costs the cluster, from the replica sizes Kafka reports (pure).

- a reassignment (replication-factor change): the bytes each receiving broker copies (the
  partition's size on its leader, per replica it gains), and an ETA at the replication
  throttle (or at :data:`DEFAULT_RATE_BYTES` when none is set);
- a partition increase: the share of keys whose partition changes;
- a cut of ``retention.bytes``: the bytes beyond the new limit, per partition.

Sizes come from DescribeLogDirs (one request per broker that leads a partition concerned).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.providers.kafka.state import LiveTopic
from reconciler.providers.kafka.topic_payloads import TopicUpdate

#: The rate an ETA assumes without a throttle: a conservative share of a broker's
#: replication bandwidth (docs/plan-format.md, "Impact").
DEFAULT_RATE_BYTES = 50 * 1024 * 1024

Sizes = Mapping[tuple[str, int], int]
#: Config keys whose change makes stored data eligible for deletion.
DELETION_KEYS = ("retention.bytes", "retention.ms", "cleanup.policy")


def remapped_key_share(before: int, after: int) -> float:
    """The share of keys (uniformly hashed) whose ``hash % partitions`` changes: a key
    keeps its partition only when ``h % before == h % after``, which holds for
    ``min(before, after)`` of every ``lcm(before, after)`` hash values."""
    if before <= 0 or after <= 0 or before == after:
        return 0.0
    return 1.0 - min(before, after) / math.lcm(before, after)


def reassignment_impact(
    live: LiveTopic, reassignment: Mapping[int, list[int]], sizes: Sizes, rate: int | None
) -> dict[str, Any]:
    """Bytes to copy per partition, per receiving broker, and the ETA at ``rate``."""
    current = {p.partition: p for p in live.partitions}
    moving: dict[str, dict[str, Any]] = {}
    incoming: dict[int, int] = {}
    outgoing: dict[int, int] = {}
    for partition, target in sorted(reassignment.items()):
        state = current.get(partition)
        if state is None:
            continue
        adding = sorted(set(target) - set(state.replicas))
        size = sizes.get((live.name, partition), 0)
        moving[str(partition)] = {"bytes": size, "receiving": adding}
        for broker in adding:
            incoming[broker] = incoming.get(broker, 0) + size
        if adding and state.leader is not None and state.leader >= 0:
            outgoing[state.leader] = outgoing.get(state.leader, 0) + size * len(adding)
    busiest = max([*incoming.values(), *outgoing.values(), 0])
    impact: dict[str, Any] = {
        "bytes_to_move": sum(incoming.values()),
        "receiving_brokers": {str(b): n for b, n in sorted(incoming.items())},
        "partitions_moving": moving,
    }
    if rate:
        impact["throttle_bytes_per_second"] = rate
    impact["eta_seconds"] = round(busiest / (rate or DEFAULT_RATE_BYTES), 1)
    return impact


def retention_bytes_impact(live: LiveTopic, new_limit: str | None, sizes: Sizes) -> int | None:
    """Bytes beyond a new ``retention.bytes`` (per partition; Kafka deletes whole segments,
    so a little less goes in practice), or ``None`` when the change sets no finite limit."""
    try:
        limit = int(new_limit) if new_limit is not None else -1
    except ValueError:
        return None
    if limit < 0:
        return None
    return sum(max(0, sizes.get((live.name, p.partition), 0) - limit) for p in live.partitions)


def topic_impact(
    update: TopicUpdate, live: LiveTopic, sizes: Sizes, rate: int | None
) -> dict[str, Any]:
    """The impact of one topic update (empty when it moves, remaps and removes nothing)."""
    impact: dict[str, Any] = {}
    if update.reassignment:
        impact.update(reassignment_impact(live, update.reassignment, sizes, rate))
    if update.partitions is not None:
        share = remapped_key_share(live.partition_count, update.partitions)
        impact["remapped_key_share"] = round(share, 4)
    if "retention.bytes" in update.config:
        eligible = retention_bytes_impact(live, update.config["retention.bytes"], sizes)
        if eligible is not None:
            impact["bytes_eligible_for_deletion"] = eligible
    if any(key in update.config for key in DELETION_KEYS):
        stored = sum(sizes.get((live.name, p.partition), 0) for p in live.partitions)
        impact["bytes_stored"] = stored
        estimate = _retention_ms_estimate(live, update.config.get("retention.ms"), stored)
        if estimate is not None and "bytes_eligible_for_deletion" not in impact:
            impact["bytes_eligible_for_deletion"] = estimate
    return impact


def _retention_ms_estimate(live: LiveTopic, new_value: str | None, stored: int) -> int | None:
    """A retention.ms cut from a finite value: the share of the stored bytes older than the
    new limit, assuming the topic holds its full old retention window of evenly produced
    data (``stored * (1 - new / old)``); ``None`` when either value is not finite."""
    current = live.configs.get("retention.ms")
    try:
        old = int(current.value) if current is not None and current.value is not None else -1
        new = int(new_value) if new_value is not None else -1
    except ValueError:
        return None
    if old <= 0 or new < 0 or new >= old:
        return None if old <= 0 or new < 0 else 0
    return int(stored * (1 - new / old))


def partitions_to_size(
    changes: Sequence[tuple[object, TopicUpdate, LiveTopic]],
) -> dict[int, dict[str, list[int]]]:
    """Leader broker -> topic -> partitions whose size the impact needs (one
    DescribeLogDirs request per broker)."""
    wanted: dict[int, dict[str, list[int]]] = {}
    for _change, update, live in changes:
        needs_sizes = update.reassignment or any(key in update.config for key in DELETION_KEYS)
        if not needs_sizes:
            continue
        for partition in live.partitions:
            if partition.leader is None or partition.leader < 0:
                continue
            wanted.setdefault(partition.leader, {}).setdefault(live.name, []).append(
                partition.partition
            )
    return wanted
