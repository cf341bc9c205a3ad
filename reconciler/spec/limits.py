"""The bounds every integer of a spec must respect: what the protocols carry, what Kafka takes.

A value beyond these is refused at ``validate`` time with its position, instead of failing
later in a request encoder (``struct.error``) or at the broker.

Kafka's KRaft controller writes one user operation as one atomic batch of metadata records
and refuses larger ones (Kafka 3.6+ and 4.x, checked against 4.4.0's
``ReplicationControlManager`` and ``QuorumController``):

- ``MAX_PARTITIONS_PER_BATCH = 10000``: a CreateTopics request may create at most 10,000
  partitions in total ("Excessively large number of partitions per request."), and a
  CreatePartitions request may add at most 10,000 (KAFKA-17870, KAFKA-19673);
- ``MAX_RECORDS_PER_USER_OP = 10000``: the records of one CreateTopics request (per topic one
  ``TopicRecord``, one ``PartitionRecord`` per partition and one ``ConfigRecord`` per config
  set at creation) must fit in 10,000. Kafka 4.4 has no setting to raise either.

So one topic can be created by one request only when ``1 + partitions + configs <= 10000``,
and a client that creates many topics must split its requests by records, not by topic count
(:func:`create_topics_batches`).
"""

from __future__ import annotations

from collections.abc import Sequence

INT16_MAX = 2**15 - 1
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

#: Partitions one CreateTopics request may create (and one CreatePartitions request may add).
KAFKA_MAX_PARTITIONS_PER_REQUEST = 10_000
#: Metadata records one controller operation (one CreateTopics request) may write.
KAFKA_MAX_RECORDS_PER_REQUEST = 10_000
#: Replication factor: an INT16 in CreateTopics.
KAFKA_MAX_REPLICATION_FACTOR = INT16_MAX
#: Redis Cluster has 16384 hash slots; every master serves at least one.
REDIS_HASH_SLOTS = 16_384
#: Redis Cluster is designed for up to 1000 nodes (its specification's stated goal).
REDIS_DESIGN_MAX_NODES = 1_000
#: Replicas of one master the layout may ask for.
REDIS_MAX_REPLICAS_PER_MASTER = REDIS_DESIGN_MAX_NODES - 1
#: Longest wait for pods the spec may ask for (one day).
MAX_READY_TIMEOUT_SECONDS = 86_400


def topic_creation_records(partitions: int, configs: int) -> int:
    """Metadata records the controller writes to create one topic."""
    return 1 + partitions + configs


def create_topics_batches(
    topics: Sequence[tuple[int, int]],
    *,
    max_topics: int = 1_000,
    max_partitions: int = KAFKA_MAX_PARTITIONS_PER_REQUEST,
    max_records: int = KAFKA_MAX_RECORDS_PER_REQUEST,
) -> list[list[int]]:
    """Split topics to create, given as ``(partitions, configs)``, into CreateTopics requests
    the controller accepts; returns the indices of each request's topics, in order.

    A topic that alone exceeds a limit gets a request of its own (the broker's answer then
    names it); the spec checks refuse such topics before any request is made.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    partitions_in = records_in = 0
    for index, (partitions, configs) in enumerate(topics):
        records = topic_creation_records(partitions, configs)
        if current and (
            len(current) >= max_topics
            or partitions_in + partitions > max_partitions
            or records_in + records > max_records
        ):
            batches.append(current)
            current, partitions_in, records_in = [], 0, 0
        current.append(index)
        partitions_in += partitions
        records_in += records
    if current:
        batches.append(current)
    return batches


__all__ = [
    "INT16_MAX",
    "INT32_MAX",
    "INT64_MAX",
    "KAFKA_MAX_PARTITIONS_PER_REQUEST",
    "KAFKA_MAX_RECORDS_PER_REQUEST",
    "KAFKA_MAX_REPLICATION_FACTOR",
    "MAX_READY_TIMEOUT_SECONDS",
    "REDIS_DESIGN_MAX_NODES",
    "REDIS_HASH_SLOTS",
    "REDIS_MAX_REPLICAS_PER_MASTER",
    "create_topics_batches",
    "topic_creation_records",
]
