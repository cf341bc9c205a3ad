"""The engine's plan/apply loop against an in-memory provider (our own interface, faked)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from reconciler.engine.applying import apply_plan, check_applicable
from reconciler.engine.plan import Action, AttributeChange, Change, Notice, NoticeLevel, Plan, Risk
from reconciler.engine.planning import build_plan
from reconciler.engine.providers import (
    ApplyOptions,
    ChangeResult,
    PlanOptions,
    Provider,
    ProviderPlan,
    ResultStatus,
)
from reconciler.errors import PlanRefused, SafetyRefusal


class MemoryProvider:
    """Desired and live state as dicts; a change sets live[name] = desired[name]."""

    def __init__(
        self, name: str, desired: dict[str, int], live: dict[str, int], fail: set[str] | None = None
    ) -> None:
        self.name = name
        self.family = "memory"
        self.resource_types: tuple[str, ...] = (name,)
        self.desired, self.live = desired, live
        self.fail = fail or set()
        self.applied: list[str] = []

    def request_counts(self) -> dict[str, Any]:
        return {"Read": 1}

    async def close(self) -> None:
        pass

    async def plan(self, options: PlanOptions) -> ProviderPlan:
        changes = []
        for key, value in self.desired.items():
            if self.live.get(key) != value:
                action = Action.CREATE if key not in self.live else Action.UPDATE
                changes.append(
                    Change(
                        address=f"{self.name}.{key}",
                        provider=self.name,
                        resource_type=self.name,
                        name=key,
                        action=action,
                        attributes=(
                            AttributeChange(path="value", before=self.live.get(key), after=value),
                        ),
                    )
                )
        return ProviderPlan(changes=tuple(changes))

    async def fingerprints(self, addresses: Sequence[str]) -> dict[str, str]:
        return {a: str(self.live.get(a.split(".", 1)[1])) for a in addresses}

    def check_saved(self, change: Change, redacted: str) -> None:
        pass

    async def apply(self, changes: Sequence[Change], options: ApplyOptions) -> list[ChangeResult]:
        results = []
        for change in changes:
            if change.name in self.fail:
                results.append(ChangeResult(change.address, ResultStatus.FAILED, "boom"))
                continue
            self.live[change.name] = self.desired[change.name]
            self.applied.append(change.address)
            results.append(ChangeResult(change.address, ResultStatus.APPLIED))
        return results


def test_memory_provider_satisfies_the_protocol() -> None:
    assert isinstance(MemoryProvider("x", {}, {}), Provider)


async def test_plan_joins_providers_in_order_and_apply_converges() -> None:
    first = MemoryProvider("a", {"k": 1, "j": 2}, {"k": 0})
    second = MemoryProvider("b", {"z": 1}, {})
    plan = await build_plan([first, second], PlanOptions())
    assert [c.address for c in plan.changes] == ["a.k", "a.j", "b.z"]
    assert plan.summary() == {"add": 2, "change": 1, "destroy": 0, "refused": 0}
    results = await apply_plan(plan, [first, second], ApplyOptions())
    assert all(r.status is ResultStatus.APPLIED for r in results)
    again = await build_plan([first, second], PlanOptions())
    assert not again.has_changes


async def test_failure_stops_later_providers_unless_continue_on_error() -> None:
    first = MemoryProvider("a", {"k": 1}, {}, fail={"k"})
    second = MemoryProvider("b", {"z": 1}, {})
    plan = await build_plan([first, second], PlanOptions())
    results = await apply_plan(plan, [first, second], ApplyOptions())
    assert [r.status for r in results] == [ResultStatus.FAILED, ResultStatus.SKIPPED]
    assert second.applied == []
    results = await apply_plan(plan, [first, second], ApplyOptions(continue_on_error=True))
    assert second.applied == ["b.z"]


async def test_changes_for_a_provider_not_targeted_are_refused() -> None:
    plan = await build_plan([MemoryProvider("a", {"k": 1}, {})], PlanOptions())
    with pytest.raises(PlanRefused):
        await apply_plan(plan, [MemoryProvider("b", {}, {})], ApplyOptions())


def test_destructive_changes_need_the_flag_and_errors_block_apply() -> None:
    delete = Change(
        address="a.k",
        provider="a",
        resource_type="a",
        name="k",
        action=Action.DELETE,
        risks=frozenset({Risk.DESTRUCTIVE}),
    )
    with pytest.raises(SafetyRefusal) as refused:
        check_applicable(Plan(changes=(delete,)), allow_delete=False)
    assert refused.value.exit_code == 3
    check_applicable(Plan(changes=(delete,)), allow_delete=True)
    error = Notice(level=NoticeLevel.ERROR, address="a.k", message="no")
    with pytest.raises(PlanRefused):
        check_applicable(Plan(notices=(error,)), allow_delete=True)


def test_plan_json_round_trip() -> None:
    change = Change(
        address="a.k",
        provider="a",
        resource_type="a",
        name="k",
        action=Action.REPLACE,
        risks=frozenset({Risk.SLOW, Risk.DESTRUCTIVE}),
        payload={"x": [1, 2]},
    )
    plan = Plan(changes=(change,), request_counts={"Metadata": 1})
    data = plan.to_json_dict()
    assert data["changes"][0]["risks"] == ["destructive", "slow"]
    assert data["summary"] == {"add": 1, "change": 0, "destroy": 1, "refused": 0}
    assert Plan.from_json_dict(data) == plan
