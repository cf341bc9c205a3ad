"""The replication throttle of a reassignment (pure): what to set before, what to clear after.

Kafka throttles only the replicas listed in a topic's ``leader.replication.throttled.replicas``
(the replicas that send: the current ones) and ``follower.replication.throttled.replicas`` (the
ones that receive: the added ones), at the per-broker rates
``leader.replication.throttled.rate`` / ``follower.replication.throttled.rate``. The tool sets
them for the partitions it moves and clears them when the reassignment is done. A run that
stops before (stalled, interrupted) leaves them while the reassignment goes on in the cluster;
the rerun that resumes it sets them again and clears them when it is done. Lists left on a
topic that no reassignment moves any more are removed by its next plan
(``topic_diffs._leftover_throttle``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

LEADER_REPLICAS = "leader.replication.throttled.replicas"
FOLLOWER_REPLICAS = "follower.replication.throttled.replicas"
REPLICA_KEYS = (LEADER_REPLICAS, FOLLOWER_REPLICAS)
RATE_KEYS = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")

# topic -> partition -> (current replicas, target replicas)
Moves = Mapping[str, Mapping[int, tuple[Sequence[int], Sequence[int]]]]


def throttle_settings(
    moves: Moves, rate: int
) -> tuple[dict[str, dict[str, str | None]], dict[int, dict[str, str | None]]]:
    """(topic configs, broker configs) that throttle ``moves`` at ``rate`` bytes/s."""
    topics: dict[str, dict[str, str | None]] = {}
    brokers: set[int] = set()
    for topic, partitions in sorted(moves.items()):
        leaders: list[str] = []
        followers: list[str] = []
        for partition, (current, target) in sorted(partitions.items()):
            leaders += [f"{partition}:{b}" for b in current]
            followers += [f"{partition}:{b}" for b in target if b not in current]
            brokers |= {*current, *target}
        topics[topic] = {LEADER_REPLICAS: ",".join(leaders), FOLLOWER_REPLICAS: ",".join(followers)}
    return topics, {b: dict.fromkeys(RATE_KEYS, str(rate)) for b in sorted(brokers)}


def lists_replicas(value: str | None) -> bool:
    """Whether a throttled-replicas value lists ``partition:broker`` entries, as a
    reassignment's throttle does (not unset, not an operator's standing ``*``)."""
    return bool(value) and value != "*"


def cleared(
    topics: Collection[str], brokers: Collection[int]
) -> tuple[dict[str, dict[str, str | None]], dict[int, dict[str, str | None]]]:
    """(topic configs, broker configs) that remove the throttle again."""
    return (
        {t: dict.fromkeys(REPLICA_KEYS) for t in sorted(topics)},
        {b: dict.fromkeys(RATE_KEYS) for b in sorted(brokers)},
    )
