"""Kafka's topic-level configs: the kind of value each key takes and its legal range.

Taken from Kafka's ``LogConfig`` / ``TopicConfig`` (3.x and 4.x). The kind decides which humane
units a value may use (``ms`` keys take durations, ``bytes`` keys take sizes) and how it is checked.
"""

from __future__ import annotations

from enum import StrEnum

from msgspec import Struct

from reconciler.spec.limits import INT32_MAX, INT64_MAX

#: Kafka's ConfigDef type of each bound: an ``int`` (32 bits) or a ``long`` (64 bits).
KAFKA_TYPE_OF_MAXIMUM = {INT32_MAX: "int", INT64_MAX: "long"}


class ConfigKind(StrEnum):
    MS = "ms"  # a duration in milliseconds (long)
    BYTES = "bytes"  # a size in bytes
    INT = "int"  # a count
    RATIO = "ratio"  # a double between 0 and 1
    BOOL = "bool"
    ENUM = "enum"  # one of ``choices``
    LIST = "list"  # a comma-separated subset of ``choices``
    REPLICA_LIST = "replica-list"  # ``*`` or ``partition:broker,...`` (throttled replicas)
    STRING = "string"


class TopicConfigDef(Struct, frozen=True):
    """How one topic-level config key is typed and bounded."""

    key: str
    kind: ConfigKind
    minimum: int | float | None = None
    maximum: int | float | None = None
    choices: tuple[str, ...] = ()
    infinite: bool = False  # accepts -1 / infinite / unlimited
    also_allowed: tuple[int, ...] = ()  # values outside [minimum, maximum] Kafka accepts
    deprecated: str | None = None  # why, when Kafka deprecated or removed the key


def _ms(
    key: str,
    minimum: int = 0,
    *,
    infinite: bool = False,
    deprecated: str | None = None,
    also_allowed: tuple[int, ...] = (),
) -> TopicConfigDef:
    return TopicConfigDef(
        key,
        ConfigKind.MS,
        minimum,
        INT64_MAX,
        infinite=infinite,
        deprecated=deprecated,
        also_allowed=also_allowed,
    )


def _bytes(
    key: str,
    minimum: int = 0,
    maximum: int = INT32_MAX,
    *,
    infinite: bool = False,
    also_allowed: tuple[int, ...] = (),
) -> TopicConfigDef:
    return TopicConfigDef(
        key, ConfigKind.BYTES, minimum, maximum, infinite=infinite, also_allowed=also_allowed
    )


def _bool(key: str, deprecated: str | None = None) -> TopicConfigDef:
    return TopicConfigDef(key, ConfigKind.BOOL, deprecated=deprecated)


_DEFINITIONS = (
    TopicConfigDef("cleanup.policy", ConfigKind.LIST, choices=("delete", "compact")),
    TopicConfigDef(
        "compression.type",
        ConfigKind.ENUM,
        choices=("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
    ),
    TopicConfigDef("compression.gzip.level", ConfigKind.INT, 1, 9, also_allowed=(-1,)),
    TopicConfigDef("compression.lz4.level", ConfigKind.INT, 1, 17),
    TopicConfigDef("compression.zstd.level", ConfigKind.INT, -131072, 22),
    _ms("delete.retention.ms"),
    _ms("file.delete.delay.ms"),
    TopicConfigDef("flush.messages", ConfigKind.INT, 1, INT64_MAX),
    _ms("flush.ms"),
    TopicConfigDef("follower.replication.throttled.replicas", ConfigKind.REPLICA_LIST),
    TopicConfigDef("leader.replication.throttled.replicas", ConfigKind.REPLICA_LIST),
    _bytes("index.interval.bytes"),
    # -2: "use retention.bytes / retention.ms" (tiered storage)
    _bytes("local.retention.bytes", -2, INT64_MAX, infinite=True),
    _ms("local.retention.ms", -2, infinite=True),
    _ms("max.compaction.lag.ms", 1),
    _bytes("max.message.bytes"),
    _bool("message.downconversion.enable", deprecated="removed in Kafka 4.0"),
    TopicConfigDef("message.format.version", ConfigKind.STRING, deprecated="removed in Kafka 4.0"),
    _ms("message.timestamp.after.max.ms"),
    _ms("message.timestamp.before.max.ms"),
    _ms(
        "message.timestamp.difference.max.ms",
        deprecated="deprecated since Kafka 3.6: use message.timestamp.before.max.ms and "
        "message.timestamp.after.max.ms",
    ),
    TopicConfigDef(
        "message.timestamp.type", ConfigKind.ENUM, choices=("CreateTime", "LogAppendTime")
    ),
    TopicConfigDef("min.cleanable.dirty.ratio", ConfigKind.RATIO, 0, 1),
    _ms("min.compaction.lag.ms"),
    TopicConfigDef("min.insync.replicas", ConfigKind.INT, 1, INT32_MAX),
    _bool("preallocate"),
    _bool("remote.log.copy.disable"),
    _bool("remote.log.delete.on.disable"),
    _bool("remote.storage.enable"),
    _bytes("retention.bytes", -1, INT64_MAX, infinite=True),
    _ms("retention.ms", -1, infinite=True),
    _bytes("segment.bytes", 14),
    _bytes("segment.index.bytes", 4),
    _ms("segment.jitter.ms"),
    _ms("segment.ms", 1),
    _bool("unclean.leader.election.enable"),
)

TOPIC_CONFIGS: dict[str, TopicConfigDef] = {
    definition.key: definition for definition in _DEFINITIONS
}
"""Every topic-level config key Kafka knows, by key."""
