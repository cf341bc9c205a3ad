"""The plan: plain, versioned data that every renderer and ``apply`` draw from.

A :class:`Plan` is an ordered list of :class:`Change` objects plus :class:`Notice` lines
(things found but deliberately left alone, such as unmanaged topics). Its JSON form
(:meth:`Plan.to_json_dict`) is the documented machine output (``docs/plan-format.md``);
human renderers read the same structure.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reconciler.model_defaults import new_dict

PLAN_FORMAT_VERSION = "1.1"


class Action(StrEnum):
    """What apply will do to a resource (Terraform's vocabulary)."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    NOOP = "no-op"


class Risk(StrEnum):
    """Flags a reviewer must not miss."""

    DESTRUCTIVE = "destructive"  # removes a resource or a setting
    DATA_LOSS = "data-loss"  # stored data becomes unreachable
    DISRUPTIVE = "disruptive"  # clients see errors, rebalances or re-routing while it runs
    SLOW = "slow"  # moves data (reassignment, resharding); takes time proportional to data
    KEY_REMAPPING = "key-remapping"  # key -> partition mapping changes for keyed producers


class NoticeLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class AttributeChange(_Frozen):
    """One attribute's before/after. ``None`` means absent (not set / not existing)."""

    path: str
    before: Any = None
    after: Any = None
    sensitive: bool = False


class Change(_Frozen):
    """One resource's planned change.

    ``payload`` is provider-private, JSON-serialisable data that lets ``apply`` carry out the
    change exactly as planned (also from a saved plan file); renderers ignore it.
    """

    address: str
    provider: str
    resource_type: str
    name: str
    action: Action
    attributes: tuple[AttributeChange, ...] = ()
    risks: frozenset[Risk] = frozenset()
    reason: str | None = None
    steps: tuple[str, ...] = ()
    # What the change costs the cluster, measured at plan time (docs/plan-format.md,
    # "Impact"): bytes to copy, receiving brokers, an ETA, keys remapped... Empty: unknown.
    impact: dict[str, Any] = Field(default_factory=new_dict)
    payload: dict[str, Any] = Field(default_factory=new_dict)

    @property
    def is_destructive(self) -> bool:
        return bool(self.risks & {Risk.DESTRUCTIVE, Risk.DATA_LOSS})


class Notice(_Frozen):
    """Something the plan found and reports without acting on it."""

    level: NoticeLevel
    address: str
    message: str
    kind: str = "note"  # e.g. "unmanaged", "refused", "drift", "validation"
    # Structured facts behind the message, so that drift and renderers never parse prose:
    # the attribute concerned and its live and wanted values (``None``: not applicable).
    attribute: str | None = None
    before: Any = None
    after: Any = None


class PolicyResult(_Frozen):
    """One rule's verdict on one change: ``violated`` (refused), or ``approved`` (a
    violation let through by ``--approve RULE`` or ``$LLM_ANALYTICS_APPROVE``)."""

    rule: str
    address: str
    status: str  # "violated" | "approved"
    message: str


class PolicyReport(_Frozen):
    """What the policy check of a plan found: the rules that applied, the approvals the run
    was given, and every violation (approved or not). No result: every rule passed."""

    rules: tuple[str, ...] = ()
    approvals: tuple[str, ...] = ()
    results: tuple[PolicyResult, ...] = ()

    @property
    def violations(self) -> tuple[PolicyResult, ...]:
        return tuple(r for r in self.results if r.status == "violated")


class Plan(_Frozen):
    """An ordered set of changes and notices, as computed from (desired, live)."""

    format_version: str = PLAN_FORMAT_VERSION
    changes: tuple[Change, ...] = ()
    notices: tuple[Notice, ...] = ()
    # ``None``: no policy applied (none in the spec, none given with --policy).
    policy: PolicyReport | None = None
    request_counts: dict[str, int] = Field(default_factory=new_dict)

    @property
    def actionable(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    @property
    def has_changes(self) -> bool:
        return bool(self.actionable)

    @property
    def has_errors(self) -> bool:
        return any(n.level is NoticeLevel.ERROR for n in self.notices)

    @property
    def refused_addresses(self) -> frozenset[str]:
        """Resources the plan cannot change as asked (an error notice names them)."""
        return frozenset(n.address for n in self.notices if n.level is NoticeLevel.ERROR)

    def summary(self) -> dict[str, int]:
        """Counts in Terraform's terms: a replace counts as one add and one destroy.

        A resource with an error is counted as ``refused``, not among the planned changes."""
        refused = self.refused_addresses
        counts = Counter(c.action for c in self.changes if c.address not in refused)
        return {
            "add": counts[Action.CREATE] + counts[Action.REPLACE],
            "change": counts[Action.UPDATE],
            "destroy": counts[Action.DELETE] + counts[Action.REPLACE],
            "refused": len(refused),
        }

    def merged(self, other: Plan) -> Plan:
        counts = dict(self.request_counts)
        for key, value in other.request_counts.items():
            counts[key] = counts.get(key, 0) + value
        return Plan(
            changes=self.changes + other.changes,
            notices=self.notices + other.notices,
            policy=self.policy or other.policy,
            request_counts=counts,
        )

    def to_json_dict(self) -> dict[str, Any]:
        """The versioned JSON form (documented in docs/plan-format.md)."""
        body = self.model_dump(mode="json")
        for change in body["changes"]:
            change["risks"] = sorted(change["risks"])
        body["summary"] = self.summary()
        body["has_changes"] = self.has_changes
        return body

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Plan:
        data = {k: v for k, v in data.items() if k not in {"summary", "has_changes"}}
        return cls.model_validate(data)


def unmanaged_notice(address: str, *, deletion_allowed: bool, kept_because: str) -> Notice:
    """The notice for a live resource inside the spec's ownership scope that the spec does
    not list: deleted only with the policy *and* --allow-delete, so without the flag it is
    reported, with what would happen."""
    message = (
        "not in the spec; would be deleted with --allow-delete"
        if deletion_allowed
        else f"{kept_because}; kept (deletion: never)"
    )
    return Notice(level=NoticeLevel.WARNING, address=address, kind="unmanaged", message=message)
