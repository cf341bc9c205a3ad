"""How Redis changes are grouped and run together (the steps themselves run against real
Redis in the integration tests)."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.engine.plan import Action, Change
from reconciler.errors import ApplyFailed
from reconciler.providers.redis.applying import StepsFailed, _batches, together


def change(name: str, kind: str) -> Change:
    return Change(
        address=f"redis_node.{name}",
        provider="redis_cluster",
        resource_type="redis_node",
        name=name,
        action=Action.CREATE,
        payload={"kind": kind},
    )


def test_consecutive_joins_and_consecutive_moves_form_batches_others_run_alone() -> None:
    plan = [
        change("a", "join"),
        change("b", "join"),
        change("c", "move_slots"),
        change("d", "move_slots"),
        change("e", "forget"),
        change("f", "forget"),
        change("g", "join"),
    ]
    assert [[c.name for c in batch] for batch in _batches(plan)] == [
        ["a", "b"],
        ["c", "d"],
        ["e"],
        ["f"],
        ["g"],
    ]


async def test_together_runs_every_change_at_once_within_the_limit() -> None:
    running, most = 0, 0

    async def step(c: Change) -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return f"did {c.name}"

    batch = [change(n, "join") for n in "abcd"]
    assert await together(batch, step) == {c.address: f"did {c.name}" for c in batch}
    assert most == 4
    most = 0
    await together(batch, step, limit=2)
    assert most == 2


async def test_a_failed_change_keeps_the_others_outcomes() -> None:
    async def step(c: Change) -> str:
        if c.name == "b":
            raise ApplyFailed("b is no longer a bare empty node")
        return "joined"

    with pytest.raises(StepsFailed) as failed:
        await together([change("a", "join"), change("b", "join")], step, what="join")
    assert failed.value.outcomes == {"redis_node.a": "joined"}
    assert failed.value.failures == {"redis_node.b": "b is no longer a bare empty node"}


async def test_an_unexpected_error_is_named_by_what_failed() -> None:
    async def step(c: Change) -> str:
        raise RuntimeError("boom")

    with pytest.raises(StepsFailed) as failed:
        await together([change("a", "move_slots")], step, what="slot move")
    assert failed.value.failures == {"redis_node.a": "slot move failed: boom"}
