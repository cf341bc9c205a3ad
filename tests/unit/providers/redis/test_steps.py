"""Typed Redis steps: the payload is the only source of what a change shows and does."""

from __future__ import annotations

import asyncio
import json

import pytest

from reconciler.engine.plan import Change, Plan
from reconciler.errors import ApplyFailed, SafetyRefusal
from reconciler.providers.redis.layout import DesiredLayout, plan_layout
from reconciler.providers.redis.provider import RedisClusterProvider
from reconciler.providers.redis.steps import MoveSlots, NodeRef, to_change
from reconciler.providers.redis.waiting import Pending, poll
from tests.unit.providers.redis.builders import N, even, nid, observe


def ref(n: int) -> NodeRef:
    return NodeRef(node_id=nid(n), address=f"10.0.0.{n}:6379", name=f"10.0.0.{n}:6379")


def provider() -> RedisClusterProvider:
    return RedisClusterProvider(transport=None, desired=DesiredLayout())  # type: ignore[arg-type]


def saved(change: Change) -> Change:
    """The change as a saved plan file holds it (JSON round trip)."""
    body = json.loads(json.dumps(Plan(changes=(change,)).to_json_dict()))
    return Plan.from_json_dict(body).changes[0]


def test_every_planned_change_passes_the_saved_plan_check() -> None:
    nodes = [N(i + 1, slots=s, host=f"h{i}") for i, s in enumerate(even(3))]
    nodes += [N(4 + i, role="replica", master=i + 1, host=f"h{(i + 1) % 3}") for i in range(3)]
    nodes += [N(7, role="bare", host="h0"), N(8, role="bare", host="h1")]
    changes = plan_layout(observe(nodes), DesiredLayout(4, 1)).changes()
    assert [c.payload["kind"] for c in changes] == ["join", "join"] + ["move_slots"] * 3
    for change in changes:
        provider().check_saved(saved(change), "(sensitive value)")


def test_an_edited_payload_is_refused() -> None:
    move = to_change(MoveSlots(source=ref(1), target=ref(2), slots=[(0, 99)]))
    body = move.model_dump(mode="json")
    body["payload"]["slots"] = [[0, 4095]]  # more slots than the plan shows
    with pytest.raises(SafetyRefusal, match="differs from what it would execute"):
        provider().check_saved(Change.model_validate(body), "(sensitive value)")


def test_an_edited_address_or_unknown_kind_is_refused() -> None:
    move = to_change(MoveSlots(source=ref(1), target=ref(2), slots=[(0, 99)]))
    body = move.model_dump(mode="json")
    body["address"] = "redis_slots.elsewhere"
    with pytest.raises(SafetyRefusal, match="address, action or risks"):
        provider().check_saved(Change.model_validate(body), "(sensitive value)")
    body = move.model_dump(mode="json")
    body["payload"]["kind"] = "flushall"
    with pytest.raises(SafetyRefusal, match="not valid"):
        provider().check_saved(Change.model_validate(body), "(sensitive value)")


def test_one_address_per_node_in_changes_and_notices() -> None:
    nodes = [N(i + 1, slots=s, host=f"h{i}") for i, s in enumerate(even(3))]
    nodes += [N(4 + i, role="replica", master=i + 1, host=f"h{(i + 1) % 3}") for i in range(3)]
    nodes[3].flags.add("fail")
    plan = plan_layout(observe(nodes, down=[4]), DesiredLayout(3, 1))
    addresses = {n.address for n in plan.notices if not n.address.startswith("redis_cluster.")}
    # The endpoint that does not answer, and the dead node's entry in the others' tables.
    assert addresses == {"redis_node.10.0.0.4:6379", f"redis_repair.forget_{nid(4)[:12]}"}


async def test_poll_names_what_it_waited_for() -> None:
    async def never() -> Pending:
        return Pending("node x disagrees")

    heard: list[str] = []
    with pytest.raises(ApplyFailed, match="waiting until it settles: node x disagrees"):
        await poll(
            never,
            what="it settles",
            timeout=0.3,
            interval=0.05,
            report=heard.append,
            report_every=0.1,
        )
    assert heard and "node x disagrees" in heard[0]


def test_poll_returns_the_value() -> None:
    answers = iter([Pending(), Pending(), 42])

    async def check() -> int | Pending:
        return next(answers)

    assert asyncio.run(poll(check, what="x", timeout=5, interval=0.01)) == 42
