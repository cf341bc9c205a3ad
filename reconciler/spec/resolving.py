"""Pure resolution of the spec into desired resources: topic inheritance and config units."""

from __future__ import annotations

from msgspec import Struct, field

from reconciler.spec.models import KafkaSpec, TopicSettings
from reconciler.spec.units import normalize_topic_config

DEFAULT_PARTITIONS = 1
DEFAULT_REPLICATION_FACTOR = 3


class DesiredTopic(Struct, frozen=True):
    """A topic as the spec wants it, after defaults ← profile ← topic inheritance.

    ``config`` values are in Kafka's own string form (``7d`` → ``"604800000"``).
    """

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


def _layer(
    base: TopicSettings, *overlays: TopicSettings | None
) -> tuple[int | None, int | None, dict[str, object]]:
    partitions, replication = base.partitions, base.replication_factor
    config: dict[str, object] = dict(base.config)
    for overlay in overlays:
        if overlay is None:
            continue
        partitions = overlay.partitions if overlay.partitions is not None else partitions
        replication = (
            overlay.replication_factor if overlay.replication_factor is not None else replication
        )
        config.update(overlay.config)
    return partitions, replication, config


def resolve_topics(kafka: KafkaSpec) -> list[DesiredTopic]:
    """Every topic of the spec with inherited settings and normalised config, in spec order."""
    topics = []
    for topic in kafka.topics:
        profile = kafka.profiles.get(topic.profile) if topic.profile else None
        partitions, replication, config = _layer(kafka.defaults, profile, topic)
        topics.append(
            DesiredTopic(
                name=topic.name,
                partitions=partitions if partitions is not None else DEFAULT_PARTITIONS,
                replication_factor=replication
                if replication is not None
                else DEFAULT_REPLICATION_FACTOR,
                config={key: normalize_topic_config(key, value) for key, value in config.items()},
            )
        )
    return topics
