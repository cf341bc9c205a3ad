"""Golden files of the sample plan in every format.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/unit/rendering``
and review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.rendering import render
from tests.unit.rendering.plans import sample_plan

GOLDEN = Path(__file__).parent / "golden"

CASES: dict[str, Callable[[], str]] = {
    "plan.txt": lambda: render(sample_plan(), "text"),
    "plan.color.txt": lambda: render(sample_plan(), "text", color=True),
    "plan.json": lambda: render(sample_plan(), "json"),
    "plan.md": lambda: render(sample_plan(), "markdown"),
    "empty.txt": lambda: render({"changes": [], "notices": []}, "text"),
    "empty.md": lambda: render({"changes": [], "notices": []}, "markdown"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    actual = CASES[name]()
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    expected = path.read_bytes().decode("utf-8")
    assert actual == expected, f"{name} differs from its golden file; UPDATE_GOLDEN=1 rewrites it"


def test_golden_plan_covers_every_kind() -> None:
    """The sample plan exercises every action, risk and notice level."""
    from reconciler.engine.plan import Action, NoticeLevel, Risk

    plan = sample_plan()
    assert {c.action for c in plan.changes} == set(Action)
    assert set().union(*(c.risks for c in plan.changes)) == set(Risk)
    assert {n.level for n in plan.notices} == set(NoticeLevel)
    assert any(a.sensitive for c in plan.changes for a in c.attributes)
    assert any(c.steps for c in plan.changes)
