"""Pure health judgement of a Kafka cluster (``kafka verify``): live state -> checks.

Everything is decided from the normalised :class:`KafkaClusterState` (one Metadata and one
DescribeConfigs request), so each verdict is unit-tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from msgspec import Struct, field

from reconciler.engine.plan import Action
from reconciler.providers.kafka.state import KafkaClusterState
from reconciler.providers.kafka.topic_diffs import diff_topics
from reconciler.spec.models import TopicOwnership
from reconciler.spec.resolving import DesiredTopic

HEALTH_FORMAT_VERSION = "1.0"
# Longer lists are cut in messages (the JSON form keeps them whole).
MAX_LISTED = 20
MIN_ISR_KEY = "min.insync.replicas"


class Check(Struct, frozen=True):
    name: str
    ok: bool
    message: str


class HealthReport(Struct, frozen=True):
    """The verdict: every check, and the facts they were drawn from."""

    checks: tuple[Check, ...]
    metrics: dict[str, Any] = field(default_factory=dict)
    rows: tuple[tuple[str, str], ...] = ()  # (metric, value) for the status table

    @property
    def healthy(self) -> bool:
        return all(check.ok for check in self.checks)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "format_version": HEALTH_FORMAT_VERSION,
            "healthy": self.healthy,
            "checks": [{"name": c.name, "ok": c.ok, "message": c.message} for c in self.checks],
            "metrics": self.metrics,
        }


def listed(items: Sequence[str], limit: int = MAX_LISTED) -> str:
    """``a, b, c`` cut after ``limit`` items with a count of the rest."""
    shown = ", ".join(items[:limit])
    rest = len(items) - limit
    return f"{shown} (and {rest} more)" if rest > 0 else shown


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _min_isr(configs: Mapping[str, Any]) -> int | None:
    config = configs.get(MIN_ISR_KEY)
    try:
        return int(config.value) if config is not None and config.value is not None else None
    except ValueError:
        return None


class PartitionProblems(Struct, frozen=True):
    under_replicated: tuple[str, ...]
    offline: tuple[str, ...]
    below_min_isr: tuple[str, ...]  # "topic-partition (ISR 1 < 2)"


def partition_problems(state: KafkaClusterState) -> PartitionProblems:
    """Under-replicated, offline and below-min-ISR partitions, as ``topic-partition``."""
    under, offline, below = [], [], []
    for name in sorted(state.topics):
        topic = state.topics[name]
        min_isr = _min_isr(topic.configs)
        for p in topic.partitions:
            label = f"{name}-{p.partition}"
            if p.offline:
                offline.append(label)
            if p.under_replicated:
                under.append(label)
            if min_isr is not None and len(p.isr) < min_isr:
                below.append(f"{label} (ISR {len(p.isr)} < {min_isr})")
    return PartitionProblems(tuple(under), tuple(offline), tuple(below))


def spec_drift(desired: Sequence[DesiredTopic], state: KafkaClusterState) -> dict[str, list[str]]:
    """Existing topics whose live settings differ from the spec: name -> attribute paths.

    Uses the plan's own diff, so verify and plan never disagree about what differs.
    """
    present = [topic for topic in desired if topic.name in state.topics]
    planned = diff_topics(present, state, TopicOwnership(), allow_delete=False)
    drift = {
        change.name: [a.path for a in change.attributes]
        for change in planned.changes
        if change.action is Action.UPDATE
    }
    for notice in planned.notices:  # refused changes (e.g. fewer partitions) differ too
        name = notice.address.partition(".")[2]
        if notice.kind == "refused" and name not in drift:
            drift[name] = ["partitions" if "partitions" in notice.message else "settings"]
    return dict(sorted(drift.items()))


def _broker_checks(
    state: KafkaClusterState, expected_brokers: int | None
) -> tuple[list[Check], str]:
    broker_ids = state.broker_ids
    brokers = len(broker_ids)
    if expected_brokers is None:
        checks = [Check("brokers", brokers > 0, f"Found {_plural(brokers, 'broker')}")]
        value = str(brokers)
    else:
        ok = brokers >= expected_brokers
        message = f"Found {_plural(brokers, 'broker')}, expected {expected_brokers}"
        if not ok:
            message += f" (live: {', '.join(map(str, broker_ids)) or 'none'})"
        checks, value = [Check("brokers", ok, message)], f"{brokers}/{expected_brokers}"
    has_controller = state.controller_id >= 0
    checks.append(
        Check(
            "controller",
            has_controller,
            f"Controller is broker {state.controller_id}"
            if has_controller
            else "No active controller",
        )
    )
    return checks, value


def _topic_check(state: KafkaClusterState, expected: Sequence[str], label: str) -> Check:
    missing = [name for name in expected if name not in state.topics]
    if missing:
        return Check(
            "expected_topics",
            False,
            f"Missing {len(missing)} of {len(expected)} {label} topics: {listed(missing)}",
        )
    return Check("expected_topics", True, f"Found {len(expected)} {label} topics")


def _partition_checks(problems: PartitionProblems) -> list[Check]:
    # (check, problems, how many are wrong, message when none are)
    table = (
        (
            "under_replicated",
            problems.under_replicated,
            _plural(len(problems.under_replicated), "under-replicated partition"),
            "No under-replicated partitions",
        ),
        (
            "offline",
            problems.offline,
            _plural(len(problems.offline), "offline partition"),
            "No offline partitions",
        ),
        (
            "min_isr",
            problems.below_min_isr,
            f"{_plural(len(problems.below_min_isr), 'partition')} below min.insync.replicas",
            "No partitions below min.insync.replicas",
        ),
    )
    return [
        Check(name, False, f"{count}: {listed(found)}") if found else Check(name, True, fine)
        for name, found, count, fine in table
    ]


def _drift_check(drift: Mapping[str, Sequence[str]]) -> Check:
    if not drift:
        return Check("spec_drift", True, "Live topic settings match the spec")
    described = [f"{topic} ({', '.join(paths)})" for topic, paths in drift.items()]
    return Check(
        "spec_drift",
        False,
        f"{_plural(len(drift), 'topic')} {'differs' if len(drift) == 1 else 'differ'} from "
        f"the spec: {listed(described)}",
    )


def judge_health(
    state: KafkaClusterState,
    expected_topics: Sequence[str],
    *,
    expected_brokers: int | None = None,
    topics_label: str = "LLM Analytics",
    drift: Mapping[str, Sequence[str]] | None = None,
) -> HealthReport:
    """Judge the cluster: brokers, controller, expected topics, partitions, spec drift.

    ``drift`` is given only when checking against a spec (see :func:`spec_drift`).
    """
    expected = list(dict.fromkeys(expected_topics))
    missing = [name for name in expected if name not in state.topics]
    user_topics = [name for name, t in state.topics.items() if not t.internal]
    problems = partition_problems(state)
    broker_checks, broker_value = _broker_checks(state, expected_brokers)
    checks = [
        Check("reachable", True, "Kafka brokers are reachable"),
        *broker_checks,
        Check("topics", True, f"Found {len(user_topics)} total topics"),
        _topic_check(state, expected, topics_label),
        *_partition_checks(problems),
        *([_drift_check(drift)] if drift is not None else []),
    ]
    return HealthReport(
        checks=tuple(checks),
        metrics=_metrics(state, expected_brokers, user_topics, expected, missing, problems, drift),
        rows=_rows(state, broker_value, user_topics, expected, missing, problems, topics_label),
    )


def _metrics(
    state: KafkaClusterState,
    expected_brokers: int | None,
    user_topics: Sequence[str],
    expected: Sequence[str],
    missing: Sequence[str],
    problems: PartitionProblems,
    drift: Mapping[str, Sequence[str]] | None,
) -> dict[str, Any]:
    has_controller = state.controller_id >= 0
    metrics: dict[str, Any] = {
        "brokers": len(state.broker_ids),
        "broker_ids": state.broker_ids,
        "expected_brokers": expected_brokers,
        "controller_id": state.controller_id if has_controller else None,
        "topics": len(user_topics),
        "expected_topics": len(expected),
        "expected_topics_present": len(expected) - len(missing),
        "missing_topics": list(missing),
        "under_replicated_partitions": len(problems.under_replicated),
        "offline_partitions": len(problems.offline),
        "below_min_isr_partitions": len(problems.below_min_isr),
        "under_replicated": list(problems.under_replicated),
        "offline": list(problems.offline),
        "below_min_isr": list(problems.below_min_isr),
    }
    if drift is not None:
        metrics["drifted_topics"] = {topic: list(paths) for topic, paths in drift.items()}
    return metrics


def _rows(
    state: KafkaClusterState,
    broker_value: str,
    user_topics: Sequence[str],
    expected: Sequence[str],
    missing: Sequence[str],
    problems: PartitionProblems,
    topics_label: str,
) -> tuple[tuple[str, str], ...]:
    short_label = (
        "LLM Topics" if topics_label == "LLM Analytics" else f"{topics_label.capitalize()} Topics"
    )
    controller = str(state.controller_id) if state.controller_id >= 0 else "none"
    return (
        ("Brokers", broker_value),
        ("Controller", controller),
        ("Topics", str(len(user_topics))),
        (short_label, f"{len(expected) - len(missing)}/{len(expected)}"),
        ("Under-Replicated Partitions", str(len(problems.under_replicated))),
        ("Offline Partitions", str(len(problems.offline))),
        ("Below Min ISR", str(len(problems.below_min_isr))),
    )
