"""Nested before/after values as attribute changes, with deepdiff.

One helper for every place that compares two JSON-like values leaf by leaf: a saved plan's
payload against what it displays, an ACL binding against its displayed fields. Kept off the
plan's hot paths (topic configs are compared with their own rules in the Kafka diff):
deepdiff is imported on first use only.
"""

from __future__ import annotations

from collections.abc import Mapping
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
