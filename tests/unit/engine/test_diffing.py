"""Nested before/after values as attribute changes."""

from __future__ import annotations

from reconciler.engine.diffing import attribute_changes, changed_paths
from reconciler.engine.plan import AttributeChange


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


def test_changed_paths_leave_out_context_attributes_and_keep_sensitive_ones() -> None:
    attributes = [
        AttributeChange(path="replication_factor", before=3, after=3),  # context
        AttributeChange(path="replicas.0", before=[1, 2, 3], after=[2, 3, 4]),
        AttributeChange(path="replicas.1", before=[1, 2, 3], after=[1, 2, 3]),
        AttributeChange(path="config.retention.ms", before="1", after=None),
        AttributeChange(path="config.x", before={"a": [1]}, after={"a": [1]}),
        AttributeChange(path="password", before=None, after=None, sensitive=True),
    ]
    assert changed_paths(attributes) == ["replicas.0", "config.retention.ms", "password"]
    assert changed_paths([AttributeChange(path="partitions", after=6)]) == ["partitions"]
    # Equal to Python, not the same value: an int that became a bool or a float.
    typed = [
        AttributeChange(path="a", before=1, after=True),
        AttributeChange(path="b", before=2, after=2.0),
    ]
    assert changed_paths(typed) == ["a", "b"]
