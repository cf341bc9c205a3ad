"""The ``policies:`` section of a spec (and of ``--policy FILE``): rules a plan must pass.

Each rule has a name (what an exit message, the plan and ``--approve NAME`` call it) and
exactly one check: a built-in (minimum replication factor, minimum ``min.insync.replicas``,
retention floor, maximum partitions, protected topics, no data loss) or a CEL
``expression`` over each change's JSON. ``environments`` limits a rule to some ``--env``
names. The engine evaluates the rules (:mod:`reconciler.engine.policies`); this module
only describes them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from reconciler.model_defaults import new_list
from reconciler.spec.base import SpecModel
from reconciler.spec.limits import INT32_MAX
from reconciler.spec.units import parse_duration_ms

#: The checks a rule may hold; exactly one per rule.
CHECKS = (
    "min_replication_factor",
    "min_insync_replicas",
    "min_retention",
    "max_partitions",
    "protected_topics",
    "no_data_loss",
    "expression",
)
#: Checks that cannot be approved unless the rule says ``approvable: true``.
NOT_APPROVABLE_BY_DEFAULT = frozenset({"protected_topics"})


def _duration_ms(value: Any) -> Any:
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        return parse_duration_ms(value)
    if isinstance(value, str):
        return int(value.strip())
    return value


DurationMs = Annotated[int, BeforeValidator(_duration_ms)]


class PolicyRule(SpecModel):
    """One named rule with exactly one check."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    """What the plan, the exit message and ``--approve NAME`` call this rule."""
    description: str | None = None
    environments: list[str] = Field(default_factory=new_list)
    """Only with these ``--env`` names (empty: always)."""
    resource_types: list[str] = Field(default_factory=new_list)
    """Only changes of these resource types (empty: the check's own; expressions: all)."""
    approvable: bool | None = None
    """Whether ``--approve NAME`` may let a violation through (default: yes, except for
    ``protectedTopics``)."""

    min_replication_factor: int | None = Field(default=None, ge=1, le=32767)
    """Topics created or changed keep at least this replication factor."""
    min_insync_replicas: int | None = Field(default=None, ge=1, le=INT32_MAX)
    """Topics created or changed set ``min.insync.replicas`` to at least this."""
    min_retention: DurationMs | None = Field(default=None, ge=0)
    """``retention.ms`` set by a change is at least this (``-1``, unlimited, passes)."""
    max_partitions: int | None = Field(default=None, ge=1, le=INT32_MAX)
    """Topics created or changed have at most this many partitions."""
    protected_topics: list[str] | None = None
    """Topic names or globs (``audit-*``) never deleted or replaced."""
    no_data_loss: bool | None = None
    """``true``: a change flagged ``data-loss`` needs an approval."""
    expression: str | None = Field(default=None, min_length=1)
    """A CEL expression that must be true for every change it applies to; it sees
    ``change`` (the change's JSON), ``before`` and ``after`` (attribute path → value) and
    ``env`` (the ``--env`` name or "")."""
    message: str | None = None
    """What a violation says (default: the check's own words)."""

    @model_validator(mode="after")
    def _one_check(self) -> PolicyRule:
        given = [check for check in CHECKS if getattr(self, check) is not None]
        if len(given) != 1:
            names = ", ".join(_camel(c) for c in CHECKS)
            found = f" (found {', '.join(_camel(c) for c in given)})" if given else ""
            raise ValueError(f"a policy rule has exactly one of: {names}{found}")
        return self

    @property
    def check(self) -> str:
        """The name of the rule's one check (snake_case, one of :data:`CHECKS`)."""
        return next(check for check in CHECKS if getattr(self, check) is not None)

    @property
    def can_be_approved(self) -> bool:
        if self.approvable is not None:
            return self.approvable
        return self.check not in NOT_APPROVABLE_BY_DEFAULT

    def applies_in(self, env: str | None) -> bool:
        return not self.environments or (env is not None and env in self.environments)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class PolicyFile(SpecModel):
    """A ``--policy FILE``: ``policies:`` and nothing else."""

    policies: list[PolicyRule] = Field(default_factory=new_list)
