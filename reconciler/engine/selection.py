"""Resource targeting, like Terraform's ``-target``: ``--target`` and ``--exclude``.

A selector is a target family (``kafka``, ``redis``), a resource type (``kafka_acl``), a
resource address (``kafka_topic.llm-events``) or a glob over addresses
(``kafka_topic.llm-*``, ``kafka_acl.*``). ``--target`` keeps what matches any of its
selectors (all when none is given); ``--exclude`` then leaves out what matches any of its.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from msgspec import Struct

from reconciler.engine.plan import Plan

# Which address prefixes each target family owns.
FAMILIES: dict[str, tuple[str, ...]] = {
    "kafka": ("kafka_",),
    "redis": ("redis_",),
}


def family_of(address: str) -> str | None:
    for family, prefixes in FAMILIES.items():
        if address.startswith(prefixes):
            return family
    return None


def _matches(selector: str, address: str) -> bool:
    if selector in FAMILIES:
        return family_of(address) == selector
    if "." not in selector and not any(ch in selector for ch in "*?["):
        return address.split(".", 1)[0] == selector  # a resource type
    return fnmatchcase(address, selector)


class Selection(Struct, frozen=True):
    """What a run works on: ``targets`` (empty: everything) minus ``excludes``."""

    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    @classmethod
    def of(cls, targets: Iterable[str] = (), excludes: Iterable[str] = ()) -> Selection:
        def split(values: Iterable[str]) -> tuple[str, ...]:
            return tuple(v.strip() for value in values for v in value.split(",") if v.strip())

        return cls(split(targets), split(excludes))

    @property
    def is_everything(self) -> bool:
        return not self.targets and not self.excludes

    def families(self, available: Sequence[str]) -> list[str]:
        """The target families a run must open (a family is opened when any selector could
        match one of its addresses)."""
        if not self.targets:
            return list(available)
        wanted: list[str] = []
        for family in available:
            prefixes = FAMILIES.get(family, ())
            for selector in self.targets:
                if selector == family or selector.startswith(prefixes) or selector[:1] in "*?[":
                    wanted.append(family)
                    break
        return wanted

    def selects(self, address: str) -> bool:
        if self.targets and not any(_matches(s, address) for s in self.targets):
            return False
        return not any(_matches(s, address) for s in self.excludes)

    def apply_to(self, plan: Plan) -> Plan:
        """``plan`` with only the selected changes and notices."""
        if self.is_everything:
            return plan
        return plan.model_copy(
            update={
                "changes": tuple(c for c in plan.changes if self.selects(c.address)),
                "notices": tuple(n for n in plan.notices if self.selects(n.address)),
            }
        )

    def describe(self) -> str:
        parts = []
        if self.targets:
            parts.append("target " + ", ".join(self.targets))
        if self.excludes:
            parts.append("exclude " + ", ".join(self.excludes))
        return "; ".join(parts) or "everything"
