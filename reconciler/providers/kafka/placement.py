"""Pure replica placement for replication-factor changes: balanced, rack-aware."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from reconciler.providers.kafka.state import Broker, LiveTopic


def broker_load(topics: Mapping[str, LiveTopic]) -> Counter[int]:
    """How many replicas each broker holds across the given topics."""
    load: Counter[int] = Counter()
    for topic in topics.values():
        for partition in topic.partitions:
            load.update(partition.replicas)
    return load


def reassign_replication(
    topic: LiveTopic,
    replication_factor: int,
    brokers: Sequence[Broker],
    load: Counter[int] | None = None,
) -> dict[int, list[int]]:
    """New replica lists giving every partition ``replication_factor`` replicas.

    Existing replicas are kept in order (the preferred leader stays first), so only the
    difference moves. Added replicas go to the least-loaded broker, preferring racks the
    partition does not use yet; removed replicas are taken from the end, keeping the leader.
    ``load`` is updated in place so consecutive topics spread evenly.
    """
    if replication_factor > len(brokers):
        raise ValueError(
            f"replication factor {replication_factor} is larger than the {len(brokers)} brokers"
        )
    load = load if load is not None else Counter()
    racks = {b.node_id: b.rack for b in brokers}
    broker_ids = sorted(racks)
    assignment: dict[int, list[int]] = {}
    for partition in topic.partitions:
        replicas = [r for r in partition.replicas if r in racks]
        while len(replicas) > replication_factor:
            removed = replicas.pop()
            load[removed] -= 1
        while len(replicas) < replication_factor:
            used_racks = {racks[r] for r in replicas if racks[r] is not None}
            candidates = [b for b in broker_ids if b not in replicas]
            candidates.sort(
                key=lambda b: (racks[b] is not None and racks[b] in used_racks, load[b], b)
            )
            chosen = candidates[0]
            replicas.append(chosen)
            load[chosen] += 1
        assignment[partition.partition] = replicas
    return assignment
