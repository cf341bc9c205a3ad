"""The cost of a Redis slot move on real servers: keys and bytes to move, and a move into a
master without the memory for it refused at plan time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reconciler.engine.plan import NoticeLevel
from reconciler.engine.providers import ApplyOptions, PlanOptions, ResultStatus
from reconciler.providers.redis.steps import MoveSlots
from tests.integration.redis.keys import user_key_count
from tests.integration.redis.test_cluster_lifecycle import load_keys, provider_for

pytestmark = pytest.mark.integration


def _config(address: str, *args: str) -> None:
    import redis

    host, port = address.split(":")
    with redis.Redis(host=host, port=int(port)) as node:
        node.execute_command("CONFIG", "SET", *args)


def _dbsize(address: str) -> int:
    import redis

    host, port = address.split(":")
    with redis.Redis(host=host, port=int(port)) as node:
        return user_key_count(node)


async def test_3_to_4_masters_keys_bytes_and_maxmemory(redis_factory: Any) -> None:
    sandbox = redis_factory(nodes=6)
    init = provider_for(sandbox.addresses)
    try:
        plan = await init.plan(PlanOptions())
        await init.apply(plan.changes, ApplyOptions())
    finally:
        await init.close()
    await asyncio.to_thread(load_keys, sandbox.addresses[0], 50_000)
    sandbox.add_nodes(2)
    new = list(sandbox.addresses[-2:])
    for address in new:
        _config(address, "maxmemory", "1mb")
    grow = provider_for(sandbox.addresses, masters=4)
    try:
        refused = await grow.plan(PlanOptions())
        errors = [n for n in refused.notices if n.level is NoticeLevel.ERROR]
        assert len(errors) == 3 and all("over its maxmemory" in n.message for n in errors)
        for address in new:
            _config(address, "maxmemory", "0")
        plan = await grow.plan(PlanOptions())
        warnings = [n for n in plan.notices if "no maxmemory" in n.message]
        assert len(warnings) == 3 and not [n for n in plan.notices if n.level is NoticeLevel.ERROR]
        moves = [c for c in plan.changes if c.resource_type == "redis_slots"]
        planned_keys = sum(c.impact["keys_to_move"] for c in moves)
        assert all(c.impact["bytes_to_move"] > 0 for c in moves)
        target = MoveSlots.model_validate(moves[0].payload).target.address
        results = await grow.apply(plan.changes, ApplyOptions())
        assert all(r.status is ResultStatus.APPLIED for r in results), results
    finally:
        await grow.close()
    moved = await asyncio.to_thread(_dbsize, target)
    assert abs(planned_keys - moved) <= 0.05 * moved, (planned_keys, moved)
