"""Normalised live state of a Kafka cluster (plain data, no I/O)."""

from __future__ import annotations

from enum import IntEnum

from msgspec import Struct, field


class ConfigSource(IntEnum):
    """Where a config value comes from (DescribeConfigs ``config_source``)."""

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6
    CLIENT_METRICS_CONFIG = 7
    GROUP_CONFIG = 8

    @classmethod
    def of(cls, value: int) -> ConfigSource:
        return _SOURCES.get(value, cls.UNKNOWN)


_SOURCES = {member.value: member for member in ConfigSource}


class LiveConfig(Struct, frozen=True):
    value: str | None
    source: ConfigSource
    sensitive: bool = False
    read_only: bool = False

    @property
    def is_topic_override(self) -> bool:
        """Set on the topic itself (not inherited from a broker or the built-in default)."""
        return self.source is ConfigSource.DYNAMIC_TOPIC_CONFIG


class Broker(Struct, frozen=True):
    node_id: int
    host: str
    port: int
    rack: str | None = None


class PartitionState(Struct, frozen=True):
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline_replicas: tuple[int, ...] = ()
    error_code: int = 0

    @property
    def under_replicated(self) -> bool:
        return len(self.isr) < len(self.replicas)

    @property
    def offline(self) -> bool:
        return self.leader < 0


class LiveTopic(Struct, frozen=True):
    name: str
    partitions: tuple[PartitionState, ...]
    internal: bool = False
    configs: dict[str, LiveConfig] = field(default_factory=dict)

    @property
    def partition_count(self) -> int:
        return len(self.partitions)

    @property
    def replication_factor(self) -> int:
        """The most common replica count (they differ only mid-reassignment)."""
        if not self.partitions:
            return 0
        counts = [len(p.replicas) for p in self.partitions]
        return max(set(counts), key=counts.count)

    def overrides(self) -> dict[str, str | None]:
        return {k: c.value for k, c in self.configs.items() if c.is_topic_override}


class KafkaClusterState(Struct, frozen=True):
    cluster_id: str | None
    controller_id: int
    brokers: tuple[Broker, ...]
    topics: dict[str, LiveTopic]

    def widened(self, wider: KafkaClusterState) -> KafkaClusterState:
        """These topics (with their configs), plus the topics only ``wider`` (a read of
        more topics, later) holds; brokers and controller as ``wider`` saw them."""
        return KafkaClusterState(
            cluster_id=wider.cluster_id,
            controller_id=wider.controller_id,
            brokers=wider.brokers,
            topics={**wider.topics, **self.topics},
        )

    @property
    def broker_ids(self) -> list[int]:
        return sorted(b.node_id for b in self.brokers)
