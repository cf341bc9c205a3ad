"""Pure diff of desired topics against live topics: (desired, live) -> changes and notices.

No I/O and no client library: everything here is decided from plain data, so it is tested
without a cluster and the plan it produces can be reviewed before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.engine.payloads import change_from_payload
from reconciler.engine.plan import (
    Action,
    Change,
    Notice,
    NoticeLevel,
    Risk,
    unmanaged_notice,
)
from reconciler.engine.providers import ProviderPlan
from reconciler.providers.kafka.placement import broker_load, reassign_replication
from reconciler.providers.kafka.state import KafkaClusterState, LiveTopic
from reconciler.providers.kafka.throttling import REPLICA_KEYS, lists_replicas
from reconciler.providers.kafka.topic_payloads import (
    TopicCreate,
    TopicDelete,
    TopicPayload,
    TopicUpdate,
)
from reconciler.spec.models import ConfigOwnership, DeletionPolicy, TopicOwnership
from reconciler.spec.resolving import DesiredTopic

PROVIDER = "kafka_topic"

# Config keys whose value is a comma-separated list compared as a set.
LIST_CONFIGS = frozenset(
    {
        "cleanup.policy",
        "leader.replication.throttled.replicas",
        "follower.replication.throttled.replicas",
    }
)
# Config keys where a smaller value (or -1 -> finite) removes stored data.
RETENTION_CONFIGS = frozenset(
    {"retention.ms", "retention.bytes", "local.retention.ms", "local.retention.bytes"}
)
# Config keys where a stricter value makes some clients fail.
STRICTER_IS_DISRUPTIVE = {"min.insync.replicas": 1, "max.message.bytes": -1}


def topic_address(name: str) -> str:
    return f"{PROVIDER}.{name}"


def in_ownership(name: str, ownership: TopicOwnership, listed: set[str]) -> bool:
    return (
        name in listed
        or name in ownership.names
        or any(name.startswith(prefix) for prefix in ownership.prefixes)
    )


def places_replicas(desired: Sequence[DesiredTopic], state: KafkaClusterState) -> bool:
    """Whether planning ``desired`` places replicas (a replication factor changes), which
    weighs the replicas of every topic in the cluster, not only of those in ``state``."""
    return any(
        (live := state.topics.get(topic.name)) is not None
        and topic.replication_factor != live.replication_factor
        for topic in desired
    )


def same_config_value(key: str, desired: str | None, live: str | None) -> bool:
    if desired is None or live is None:
        return desired == live
    if key in LIST_CONFIGS:
        return {v.strip() for v in desired.split(",")} == {v.strip() for v in live.split(",")}
    return desired == live


def _as_number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def config_risks(key: str, before: str | None, after: str | None) -> set[Risk]:
    """Risks of changing one config key from ``before`` to ``after`` (None: broker default)."""
    risks: set[Risk] = set()
    old, new = _as_number(before), _as_number(after)
    if key in RETENTION_CONFIGS:
        unlimited_before = old is not None and old < 0
        if after is None or (
            new is not None and new >= 0 and (unlimited_before or (old is not None and new < old))
        ):
            risks.add(Risk.DATA_LOSS)
    elif key == "cleanup.policy":
        risks.add(Risk.DATA_LOSS)  # switching between delete and compact drops records
    elif key in STRICTER_IS_DISRUPTIVE and old is not None and new is not None:
        direction = STRICTER_IS_DISRUPTIVE[key]
        if (new - old) * direction > 0:
            risks.add(Risk.DISRUPTIVE)
    if after is None:
        risks.add(Risk.DESTRUCTIVE)  # an override removed: the broker default applies again
    return risks


def _topic_change(name: str, action: Action, payload: TopicPayload, **fields: Any) -> Change:
    return change_from_payload(
        payload,
        address=topic_address(name),
        provider=PROVIDER,
        resource_type=PROVIDER,
        name=name,
        action=action,
        **fields,
    )


def _create(topic: DesiredTopic) -> Change:
    payload = TopicCreate(
        partitions=topic.partitions,
        replication_factor=topic.replication_factor,
        config=dict(sorted(topic.config.items())),
    )
    return _topic_change(topic.name, Action.CREATE, payload)


def delete_change(live: LiveTopic, reason: str) -> Change:
    """The deletion of a live topic (destructive; its data is lost)."""
    return _topic_change(
        live.name,
        Action.DELETE,
        TopicDelete(),
        before={"partitions": live.partition_count, "replication_factor": live.replication_factor},
        risks=frozenset({Risk.DESTRUCTIVE, Risk.DATA_LOSS}),
        reason=reason,
    )


def _update(
    topic: DesiredTopic,
    live: LiveTopic,
    state: KafkaClusterState,
    ownership: TopicOwnership,
    load: dict[int, int],
    notices: list[Notice],
    at_rest: bool = False,
) -> Change | None:
    address = topic_address(topic.name)
    before: dict[str, Any] = {}
    risks: set[Risk] = set()
    steps: list[str] = []
    partitions: int | None = None
    reassignment: dict[int, list[int]] = {}

    if topic.partitions < live.partition_count:
        notices.append(
            Notice(
                level=NoticeLevel.ERROR,
                address=address,
                kind="refused",
                message=(
                    f"partitions cannot decrease from {live.partition_count} to "
                    f"{topic.partitions}: Kafka only adds partitions. Keep {live.partition_count} "
                    "in the spec, or create a new topic and migrate its data."
                ),
                attribute="partitions",
                before=live.partition_count,
                after=topic.partitions,
            )
        )
    elif topic.partitions > live.partition_count:
        partitions, before["partitions"] = topic.partitions, live.partition_count
        risks.add(Risk.KEY_REMAPPING)

    if topic.replication_factor != live.replication_factor:
        try:
            assignment = reassign_replication(live, topic.replication_factor, state.brokers, load)  # type: ignore[arg-type]
        except ValueError as problem:
            notices.append(
                Notice(
                    level=NoticeLevel.ERROR,
                    address=address,
                    kind="refused",
                    message=str(problem),
                    attribute="replication_factor",
                    before=live.replication_factor,
                    after=topic.replication_factor,
                )
            )
        else:
            current = {p.partition: list(p.replicas) for p in live.partitions}
            reassignment = {p: r for p, r in sorted(assignment.items()) if current.get(p) != r}
            before["replication_factor"] = live.replication_factor
            before.update({f"replicas.{p}": current.get(p) for p in reassignment})
            steps.append(
                f"reassign {len(reassignment)} partition(s) to {topic.replication_factor} "
                "replicas (AlterPartitionReassignments), then wait until it completes"
            )
            risks.add(Risk.SLOW)
            if topic.replication_factor < live.replication_factor:
                risks.add(Risk.DISRUPTIVE)

    leftover = _leftover_throttle(topic, live, address, before, notices) if at_rest else {}
    config = _config_changes(topic, live, ownership, address, before, risks, notices, leftover)
    config |= leftover
    payload = TopicUpdate(partitions=partitions, reassignment=reassignment, config=config)
    if not payload.displayed():
        return None
    return _topic_change(
        topic.name,
        Action.UPDATE,
        payload,
        before=before,
        risks=frozenset(risks),
        steps=tuple(steps),
    )


def _config_changes(
    topic: DesiredTopic,
    live: LiveTopic,
    ownership: TopicOwnership,
    address: str,
    before: dict[str, Any],
    risks: set[Risk],
    notices: list[Notice],
    decided: Mapping[str, str | None],
) -> dict[str, str | None]:
    """Config keys to set (or remove: ``None``); fills in their live values and risks.
    Keys already ``decided`` (leftover throttles) are not reported again."""
    config: dict[str, str | None] = {}
    for key, value in sorted(topic.config.items()):
        current = live.configs.get(key)
        current_value = current.value if current is not None else None
        if current is not None and current.sensitive and current_value is None:
            continue  # a sensitive value cannot be read back; never report it as drift
        if not same_config_value(key, value, current_value):
            config[key], before[f"config.{key}"] = value, current_value
            risks |= config_risks(key, current_value, value)
    unmanaged = {
        k: v for k, v in live.overrides().items() if k not in topic.config and k not in decided
    }
    for key, override in sorted(unmanaged.items()):
        if ownership.configs is ConfigOwnership.EXCLUSIVE:
            config[key], before[f"config.{key}"] = None, override
            risks |= config_risks(key, override, None)
        else:
            notices.append(
                Notice(
                    level=NoticeLevel.INFO,
                    address=address,
                    kind="unmanaged",
                    message=(
                        f"config {key}={override} is set on the topic but not in the spec; kept "
                        "(ownership.topics.configs is additive)"
                    ),
                    attribute=f"config.{key}",
                    before=override,
                )
            )
    return config


def held_throttle_lists(topic: DesiredTopic, live: LiveTopic) -> dict[str, str]:
    """The topic's replica throttle lists that its spec does not set (``*`` excluded)."""
    held: dict[str, str] = {}
    for key in REPLICA_KEYS:
        value = live.overrides().get(key)
        if key not in topic.config and value is not None and lists_replicas(value):
            held[key] = value
    return held


def _leftover_throttle(
    topic: DesiredTopic,
    live: LiveTopic,
    address: str,
    before: dict[str, Any],
    notices: list[Notice],
) -> dict[str, str | None]:
    """Replica throttle lists left on a topic no reassignment moves any more (an apply
    interrupted mid-reassignment sets them and never clears them): removed, since they
    keep throttling those replicas' catch-up, e.g. after a broker restart. A wildcard
    (``*``) is an operator's standing throttle, never one of a reassignment: kept."""
    removed: dict[str, str | None] = {}
    for key, value in held_throttle_lists(topic, live).items():
        removed[key], before[f"config.{key}"] = None, value
        notices.append(
            Notice(
                level=NoticeLevel.WARNING,
                address=address,
                kind="note",
                message=f"config {key}={value} is a replication throttle left by a "
                "reassignment that no longer runs; removed",
                attribute=f"config.{key}",
                before=value,
            )
        )
    return removed


def _kept_notice(name: str, change: Change | None, found: Sequence[Notice]) -> Notice:
    differing = [a.path for a in change.attributes] if change is not None else []
    differing += [n.attribute for n in found if n.level is NoticeLevel.ERROR and n.attribute]
    message = "exists; kept as it is"
    if differing:
        message += f" (differs from the spec in {', '.join(differing)}: apply -f SPEC changes it)"
    return Notice(level=NoticeLevel.INFO, address=topic_address(name), kind="note", message=message)


def missing_topic_notices(names: Sequence[str], state: KafkaClusterState) -> list[Notice]:
    """Errors for topics a command names that do not exist."""
    return [
        Notice(
            level=NoticeLevel.ERROR,
            address=topic_address(name),
            kind="refused",
            message="no such topic",
        )
        for name in names
        if name not in state.topics
    ]


def diff_topics(
    desired: Sequence[DesiredTopic],
    state: KafkaClusterState,
    ownership: TopicOwnership,
    *,
    allow_delete: bool,
    create_only: bool = False,
    at_rest: frozenset[str] = frozenset(),
) -> ProviderPlan:
    """The changes that make ``state`` match ``desired``, within ``ownership``.

    ``create_only`` (``kafka topics create``): existing topics are kept as they are; how
    they differ from ``desired`` is reported, not changed. ``at_rest``: topics known to
    have no reassignment in progress; replica throttle lists the spec does not set are
    leftovers of an interrupted one there, and are removed."""
    changes: list[Change] = []
    notices: list[Notice] = []
    load = broker_load(state.topics)
    listed = {t.name for t in desired}
    for topic in desired:
        live = state.topics.get(topic.name)
        if live is None:
            changes.append(_create(topic))
            continue
        found: list[Notice] = []
        change = _update(topic, live, state, ownership, load, found, topic.name in at_rest)
        if create_only:
            notices.append(_kept_notice(topic.name, change, found))
        else:
            notices.extend(found)
            if change is not None:
                changes.append(change)

    for name in sorted(state.topics):
        live = state.topics[name]
        if (
            name in listed
            or live.internal
            or name.startswith("__")
            or not in_ownership(name, ownership, listed)
        ):
            continue
        address = topic_address(name)
        if ownership.deletion is DeletionPolicy.ALLOW and allow_delete:
            changes.append(delete_change(live, "in the spec's ownership scope but not in the spec"))
        else:
            notices.append(
                unmanaged_notice(
                    address,
                    deletion_allowed=ownership.deletion is DeletionPolicy.ALLOW,
                    kept_because="in the ownership scope but not in the spec",
                )
            )
    return ProviderPlan(changes=tuple(changes), notices=tuple(notices))
