"""Nested before/after values as attribute changes."""

from __future__ import annotations

from reconciler.engine.diffing import attribute_changes


def test_leaves_that_differ_become_dotted_attribute_changes() -> None:
    before = {"a": 1, "b": {"c": [1, 2]}, "gone": "x"}
    after = {"a": 2, "b": {"c": [1, 3]}, "new": True}
    found = {c.path: (c.before, c.after) for c in attribute_changes(before, after, prefix="p")}
    assert found == {
        "p.a": (1, 2),
        "p.b.c.1": (2, 3),
        "p.gone": ("x", None),
        "p.new": (None, True),
    }
    assert attribute_changes(before, dict(before)) == ()
