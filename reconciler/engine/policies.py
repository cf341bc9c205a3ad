"""Policy checks of a plan: the spec's ``policies:`` rules evaluated on each change (pure).

A rule judges what a plan *changes*, from each change's JSON form (the values it sets,
its action and risks); a topic the plan does not touch is not judged. A violation becomes
an ``error`` notice of kind ``policy`` naming the rule, so that the one gate
(:mod:`reconciler.engine.risk`) refuses it like any plan error (exit 1); a violation the
run approved (``--approve RULE`` or ``$LLM_ANALYTICS_APPROVE``) becomes a ``warning``.
Either way it is recorded in the plan's ``policy`` report.

CEL (``cel-python``) is imported only when a rule has an ``expression``.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from msgspec import Struct, field

from reconciler.engine.plan import (
    Action,
    Change,
    Notice,
    NoticeLevel,
    Plan,
    PolicyReport,
    PolicyResult,
    Risk,
)
from reconciler.errors import ReconcilerError
from reconciler.spec.policies import PolicyRule
from reconciler.spec.units import format_duration_ms

APPROVE_ENV = "LLM_ANALYTICS_APPROVE"
POLICY_KIND = "policy"
TOPIC = "kafka_topic"


class PolicyCheck(Struct, frozen=True):
    """The rules a run checks its plan against, in the ``env`` it runs for, with the
    approvals it was given."""

    rules: tuple[PolicyRule, ...] = ()
    env: str | None = None
    approvals: frozenset[str] = field(default_factory=frozenset)

    @property
    def applicable(self) -> tuple[PolicyRule, ...]:
        return tuple(r for r in self.rules if r.applies_in(self.env))


def approvals_from(
    flags: Iterable[str], environ: Mapping[str, str] | None = None
) -> frozenset[str]:
    """``--approve`` values and ``$LLM_ANALYTICS_APPROVE`` (both comma-separated)."""
    environ = os.environ if environ is None else environ
    raw = [*flags, environ.get(APPROVE_ENV, "")]
    return frozenset(name.strip() for item in raw for name in item.split(",") if name.strip())


def check_approvals(rule_names: Iterable[str], approvals: Iterable[str]) -> None:
    """Refuse (exit 1) approvals that name no rule: a typo must not pass silently."""
    known = set(rule_names)
    unknown = sorted(set(approvals) - known)
    if not unknown:
        return
    names = ", ".join(unknown)
    exist = (
        f"the rules are: {', '.join(sorted(known))}"
        if known
        else "there is no rule (the spec's `policies:` and the --policy files define none)"
    )
    raise ReconcilerError(
        f"--approve / ${APPROVE_ENV} names no policy rule: {names}; {exist}",
        hint="approve a rule by its `name` exactly as the spec or --policy file spells it",
    )


# --------------------------------------------------------------------------- built-in checks

Check = Callable[[PolicyRule, Change, dict[str, Any]], str | None]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _is_topic_write(change: Change) -> bool:
    return change.resource_type == TOPIC and change.action in (
        Action.CREATE,
        Action.UPDATE,
        Action.REPLACE,
    )


def _min_rf(rule: PolicyRule, change: Change, after: dict[str, Any]) -> str | None:
    rf = _int(after.get("replication_factor"))
    if not _is_topic_write(change) or rf is None or rule.min_replication_factor is None:
        return None
    if rf < rule.min_replication_factor:
        return f"replication factor {rf} is below {rule.min_replication_factor}"
    return None


def _min_isr(rule: PolicyRule, change: Change, after: dict[str, Any]) -> str | None:
    key = "config.min.insync.replicas"
    if not _is_topic_write(change) or rule.min_insync_replicas is None:
        return None
    if key not in after and change.action is Action.UPDATE:
        return None  # not changed by this plan
    isr = _int(after.get(key))
    if isr is None:
        return f"min.insync.replicas is not set (at least {rule.min_insync_replicas} required)"
    if isr < rule.min_insync_replicas:
        return f"min.insync.replicas {isr} is below {rule.min_insync_replicas}"
    return None


def _min_retention(rule: PolicyRule, change: Change, after: dict[str, Any]) -> str | None:
    retention = _int(after.get("config.retention.ms"))
    floor = rule.min_retention
    if not _is_topic_write(change) or retention is None or floor is None or retention < 0:
        return None
    if retention < floor:
        return (
            f"retention.ms {format_duration_ms(retention)} is below the floor "
            f"{format_duration_ms(floor)}"
        )
    return None


def _max_partitions(rule: PolicyRule, change: Change, after: dict[str, Any]) -> str | None:
    partitions = _int(after.get("partitions"))
    if not _is_topic_write(change) or partitions is None or rule.max_partitions is None:
        return None
    if partitions > rule.max_partitions:
        return f"{partitions} partitions is above the maximum {rule.max_partitions}"
    return None


def _protected(rule: PolicyRule, change: Change, after: dict[str, Any]) -> str | None:
    if change.resource_type != TOPIC or change.action not in (Action.DELETE, Action.REPLACE):
        return None
    if any(fnmatch.fnmatchcase(change.name, p) for p in rule.protected_topics or ()):
        return f"the topic is protected and may not be {change.action.value}d"
    return None


def _no_data_loss(rule: PolicyRule, change: Change, after: dict[str, Any]) -> str | None:
    if rule.no_data_loss and Risk.DATA_LOSS in change.risks:
        return "the change loses stored data (data-loss) and needs an approval"
    return None


BUILT_IN: Mapping[str, Check] = {
    "min_replication_factor": _min_rf,
    "min_insync_replicas": _min_isr,
    "min_retention": _min_retention,
    "max_partitions": _max_partitions,
    "protected_topics": _protected,
    "no_data_loss": _no_data_loss,
}


# --------------------------------------------------------------------------- CEL


def change_document(change: Change) -> dict[str, Any]:
    """What an expression sees as ``change``: the change's JSON form without its payload."""
    body = change.model_dump(mode="json", exclude={"payload"})
    body["risks"] = sorted(body["risks"])
    return body


class _Expression:
    """A compiled CEL expression (``cel-python``, imported on first use)."""

    def __init__(self, rule: PolicyRule) -> None:
        import celpy

        self.rule = rule
        environment = celpy.Environment()
        try:
            self._program = environment.program(environment.compile(rule.expression or ""))
        except celpy.CELParseError as problem:
            raise ReconcilerError(
                f"policy rule {rule.name!r}: cannot read its expression: {problem}",
                hint="fix the expression (CEL syntax: https://cel.dev)",
            ) from None
        self._celpy = celpy

    def __call__(self, change: Change, env: str | None) -> str | None:
        doc = change_document(change)
        variables: dict[str, Any] = {
            "change": doc,
            "before": {a["path"]: a["before"] for a in doc["attributes"]},
            "after": {a["path"]: a["after"] for a in doc["attributes"]},
            "env": env or "",
        }
        activation = {k: self._celpy.json_to_cel(v) for k, v in variables.items()}
        try:
            result = self._program.evaluate(activation)
        except Exception as problem:  # CELEvalError and friends: the rule cannot judge it
            return f"the expression cannot be evaluated on this change: {problem}"
        if isinstance(result, Exception):
            return f"the expression cannot be evaluated on this change: {result}"
        if not isinstance(result, bool | self._celpy.celtypes.BoolType):
            return f"the expression gave {result!r}, not true or false"
        return None if bool(result) else f"the expression is false: {self.rule.expression}"


# --------------------------------------------------------------------------- evaluation


def _verdicts(
    rules: Sequence[PolicyRule], changes: Sequence[Change], env: str | None
) -> list[tuple[PolicyRule, Change, str]]:
    found: list[tuple[PolicyRule, Change, str]] = []
    for rule in rules:
        expression = _Expression(rule) if rule.expression is not None else None
        for change in changes:
            if rule.resource_types and change.resource_type not in rule.resource_types:
                continue
            if expression is not None:
                problem = expression(change, env)
            else:
                after = {a.path: a.after for a in change.attributes}
                problem = BUILT_IN[rule.check](rule, change, after)
            if problem is not None:
                found.append((rule, change, rule.message or problem))
    return found


def check_plan(plan: Plan, policy: PolicyCheck) -> Plan:
    """``plan`` with its policy report and a notice per violation (an error, or a warning
    when approved); earlier policy notices (of a saved plan) are replaced."""
    rules = policy.applicable
    notices = tuple(n for n in plan.notices if n.kind != POLICY_KIND)
    if not rules:
        return plan.model_copy(update={"notices": notices, "policy": None})
    results: list[PolicyResult] = []
    added: list[Notice] = []
    for rule, change, problem in _verdicts(rules, plan.actionable, policy.env):
        approved = rule.name in policy.approvals and rule.can_be_approved
        status = "approved" if approved else "violated"
        results.append(
            PolicyResult(rule=rule.name, address=change.address, status=status, message=problem)
        )
        added.append(_notice(rule, change, problem, approved, policy.approvals))
    report = PolicyReport(
        rules=tuple(r.name for r in rules),
        approvals=tuple(sorted(policy.approvals)),
        results=tuple(results),
    )
    return plan.model_copy(update={"notices": notices + tuple(added), "policy": report})


def _notice(
    rule: PolicyRule, change: Change, problem: str, approved: bool, approvals: frozenset[str]
) -> Notice:
    message = f"policy rule {rule.name!r}: {problem}"
    if approved:
        message += f" (approved: {rule.name})"
    elif rule.name in approvals:
        message += " (this rule cannot be approved)"
    else:
        message += (
            f"; approve it with --approve {rule.name} or {APPROVE_ENV}={rule.name}"
            if rule.can_be_approved
            else ""
        )
    return Notice(
        level=NoticeLevel.WARNING if approved else NoticeLevel.ERROR,
        address=change.address,
        kind=POLICY_KIND,
        message=message,
    )
