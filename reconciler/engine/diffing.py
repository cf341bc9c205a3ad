"""Nested before/after values as attribute changes, with deepdiff.

One helper for every place that compares two JSON-like values leaf by leaf: a saved plan's
payload against what it displays, an ACL binding against its displayed fields, a change's
attributes for drift (which of them really differ, not shown for context only). Kept off the
plan's hot paths (topic configs are compared with their own rules in the Kafka diff):
deepdiff is imported on first use only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.engine.plan import AttributeChange


def _dotted(path: list[Any]) -> str:
    return ".".join(str(part) for part in path)


def attribute_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], *, prefix: str = ""
) -> tuple[AttributeChange, ...]:
    """Every leaf that differs between ``before`` and ``after``, as dotted-path attribute
    changes sorted by path (``None`` on the side where the leaf is absent)."""
    from deepdiff import DeepDiff
    from deepdiff.helper import NotPresent

    def value(raw: Any) -> Any:
        return None if isinstance(raw, NotPresent) else raw

    changes = []
    for levels in DeepDiff(dict(before), dict(after), view="tree").values():
        for level in levels:
            path = _dotted([*([prefix] if prefix else []), *level.path(output_format="list")])
            changes.append(
                AttributeChange(path=path, before=value(level.t1), after=value(level.t2))
            )
    return tuple(sorted(changes, key=lambda c: c.path))


def differing_paths(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The dotted paths at which two nested values differ."""
    return [change.path for change in attribute_changes(before, after)]


def changed_paths(attributes: Iterable[AttributeChange]) -> list[str]:
    """The paths of the attributes whose value really changes, in their order: those shown
    for context only (before equal to after, types included, in depth) are left out; a
    sensitive one always counts (its values are not compared).

    Python's ``!=`` settles most attributes at once; only those it finds equal go through
    deepdiff, which also tells ``1`` from ``1.0`` or ``True`` (deepdiff costs milliseconds
    per call: measured too slow to run on every change of a large plan)."""
    listed = list(attributes)
    alike = {a.path: a for a in listed if not a.sensitive and a.before == a.after}
    differing: set[str] = set()
    if alike:
        from deepdiff import DeepDiff

        before = {path: a.before for path, a in alike.items()}
        after = {path: a.after for path, a in alike.items()}
        differing = {
            str(level.path(output_format="list")[0])
            for levels in DeepDiff(before, after, view="tree").values()
            for level in levels
        }
    return [a.path for a in listed if a.path not in alike or a.path in differing]
