"""The cost of topic changes from replica sizes (pure)."""

from __future__ import annotations

import pytest

from reconciler.providers.kafka.impact import (
    DEFAULT_RATE_BYTES,
    partitions_to_size,
    reassignment_impact,
    remapped_key_share,
    topic_impact,
)
from reconciler.providers.kafka.state import ConfigSource, LiveConfig, LiveTopic, PartitionState
from reconciler.providers.kafka.topic_payloads import TopicUpdate


def live(
    name: str = "t", partitions: int = 2, configs: dict[str, LiveConfig] | None = None
) -> LiveTopic:
    return LiveTopic(
        name=name,
        partitions=tuple(
            PartitionState(partition=p, leader=1 + p % 3, replicas=(1 + p % 3,), isr=(1 + p % 3,))
            for p in range(partitions)
        ),
        configs=configs or {},
    )


@pytest.mark.parametrize(
    ("before", "after", "share"), [(3, 6, 0.5), (3, 4, 0.75), (1, 2, 0.5), (4, 4, 0.0)]
)
def test_remapped_key_share(before: int, after: int, share: float) -> None:
    assert remapped_key_share(before, after) == share
    # The closed form is the share of hash values whose modulus changes.
    span = before * after
    moved = sum(1 for h in range(span) if h % before != h % after)
    assert moved / span == pytest.approx(share)


def test_rf_1_to_3_copies_each_partition_twice() -> None:
    topic = live(partitions=2)
    sizes = {("t", 0): 100 * 2**20, ("t", 1): 50 * 2**20}
    impact = reassignment_impact(topic, {0: [1, 2, 3], 1: [2, 3, 1]}, sizes, None)
    assert impact["bytes_to_move"] == 300 * 2**20
    assert impact["receiving_brokers"] == {"1": 50 * 2**20, "2": 100 * 2**20, "3": 150 * 2**20}
    assert impact["partitions_moving"]["0"] == {"bytes": 100 * 2**20, "receiving": [2, 3]}
    # The busiest broker: leader 1 sends 200 MiB.
    assert impact["eta_seconds"] == round(200 * 2**20 / DEFAULT_RATE_BYTES, 1)
    throttled = reassignment_impact(topic, {0: [1, 2, 3], 1: [2, 3, 1]}, sizes, 10 * 2**20)
    assert throttled["eta_seconds"] == 20.0 and throttled["throttle_bytes_per_second"] == 10 * 2**20


def test_retention_cuts() -> None:
    topic = live(configs={"retention.ms": LiveConfig("86400000", ConfigSource.of(1))})
    sizes = {("t", 0): 1000, ("t", 1): 3000}
    by_bytes = topic_impact(TopicUpdate(config={"retention.bytes": "2000"}), topic, sizes, None)
    assert by_bytes["bytes_eligible_for_deletion"] == 1000 and by_bytes["bytes_stored"] == 4000
    by_time = topic_impact(TopicUpdate(config={"retention.ms": "21600000"}), topic, sizes, None)
    assert by_time["bytes_eligible_for_deletion"] == 3000


def test_sizes_are_asked_of_the_leaders_only_when_needed() -> None:
    topic = live(partitions=3)
    assert partitions_to_size([(None, TopicUpdate(partitions=6), topic)]) == {}  # type: ignore[list-item]
    wanted = partitions_to_size([(None, TopicUpdate(reassignment={0: [1, 2]}), topic)])  # type: ignore[list-item]
    assert wanted == {1: {"t": [0]}, 2: {"t": [1]}, 3: {"t": [2]}}
