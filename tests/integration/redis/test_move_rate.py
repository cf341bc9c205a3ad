"""The Redis move rate on real servers: a limited move keeps its limit and loses no key; an
apply's measured rate is kept in the cluster and the next plan's ETA uses it."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.engine.plan import Plan
from reconciler.engine.providers import ApplyOptions, PlanOptions, ResultStatus
from reconciler.rendering import render
from reconciler.spec.units import MoveRate
from tests.integration.redis.test_cluster_lifecycle import (
    check_data,
    load_keys,
    masters_of,
    provider_for,
)

pytestmark = pytest.mark.integration

KEYS = 30_000
LIMIT = 2_000.0  # keys/s, for all moves together
MOVED = re.compile(r"moved \d+ slots, (\d+) keys in ([\d.]+)s")


async def test_a_limited_move_keeps_its_rate_and_the_next_plan_uses_the_measured_one(
    redis_factory: Any,
) -> None:
    sandbox = redis_factory(nodes=6)
    init = provider_for(sandbox.addresses)
    try:
        await init.apply((await init.plan(PlanOptions())).changes, ApplyOptions())
    finally:
        await init.close()
    values = await asyncio.to_thread(load_keys, sandbox.addresses[0], KEYS)
    sandbox.add_nodes(2)

    # 3 -> 4 masters at 2,000 keys/s: the plan's ETA is bound by the limit.
    grow = provider_for(sandbox.addresses, masters=4)
    try:
        plan = await grow.plan(PlanOptions(move_rate=MoveRate(LIMIT, "keys")))
        moves = [c for c in plan.changes if c.resource_type == "redis_slots"]
        assert len(moves) == 3
        for move in moves:
            impact = move.impact
            assert impact["rate_source"] == "default"
            assert impact["rate_limit"] == {"per_second": LIMIT, "unit": "keys"}
            assert impact["eta_seconds"] == pytest.approx(impact["keys_to_move"] / LIMIT, abs=0.1)
            assert "at most 2,000 keys/s for all moves" in move.steps[0]
        shared = [n for n in plan.notices if "share the move rate limit" in n.message]
        assert len(shared) == 1 and "2,000 keys/s" in shared[0].message, plan.notices
        started = time.monotonic()
        results = await grow.apply(plan.changes, ApplyOptions())
        elapsed = time.monotonic() - started
        assert all(r.status is ResultStatus.APPLIED for r in results), results
        outcomes = [
            MOVED.search(r.message) for r in results if r.address in {m.address for m in moves}
        ]
        assert all(outcomes), [r.message for r in results]
        moved = sum(int(o.group(1)) for o in outcomes if o)
        longest = max(float(o.group(2)) for o in outcomes if o)
        assert all(
            "limited to 2,000 keys/s" in r.message
            for r in results
            if r.address in {m.address for m in moves}
        )
        # The three moves ran side by side and shared the limit.
        least = moved / LIMIT
        assert moved > 3_000 and longest >= 0.95 * least, (moved, longest)
        assert longest <= 1.5 * least + 5, (moved, longest)
        assert elapsed >= least
        masters = await masters_of(grow)
        # Held back by the limit: that rate is not the cluster's and is not recorded.
        assert await grow.journal.read_rate() is None
    finally:
        await grow.close()
    await asyncio.to_thread(check_data, masters[0], values, masters)

    # 4 -> 3 without a limit: the rate it achieves is kept in the cluster.
    shrink = provider_for(sandbox.addresses, masters=3)
    try:
        plan = await shrink.plan(PlanOptions(allow_delete=True))
        results = await shrink.apply(plan.changes, ApplyOptions())
        assert all(r.status is ResultStatus.APPLIED for r in results), results
        masters = await masters_of(shrink)
    finally:
        await shrink.close()
    await asyncio.to_thread(check_data, masters[0], values, masters)

    # The next plan, by a provider that never applied anything (a fresh pod), uses it.
    sandbox.add_nodes(2)
    fresh = provider_for(sandbox.addresses, masters=4)
    try:
        rate = await fresh.journal.read_rate()
        assert rate is not None and rate.keys >= 1_000 and rate.bytes_per_second
        assert rate.measured_at.startswith(datetime.now(UTC).date().isoformat()[:7])
        plan = await fresh.plan(PlanOptions())
    finally:
        await fresh.close()
    moves = [c for c in plan.changes if c.resource_type == "redis_slots"]
    assert moves
    for move in moves:
        impact = move.impact
        assert impact["rate_source"] == "measured"
        assert impact["rate_measured_at"] == rate.measured_at
        assert impact["keys_per_second"] == round(rate.keys_per_second, 1)
        expected = impact["keys_to_move"] / rate.keys_per_second
        assert impact["eta_seconds"] == pytest.approx(expected, abs=0.1)
        assert "rate_limit" not in impact
    text = render(Plan(changes=plan.changes), "text")
    assert f"(measured on {rate.measured_at[:10]})" in text


async def test_a_move_limited_in_bytes_takes_its_sampled_bytes_over_the_rate(
    redis_factory: Any,
) -> None:
    sandbox = redis_factory(nodes=6)
    init = provider_for(sandbox.addresses)
    try:
        await init.apply((await init.plan(PlanOptions())).changes, ApplyOptions())
    finally:
        await init.close()
    values = await asyncio.to_thread(load_keys, sandbox.addresses[0], KEYS)
    sandbox.add_nodes(2)
    grow = provider_for(sandbox.addresses, masters=4)
    try:
        planned = await grow.plan(PlanOptions())
        moves = [c for c in planned.changes if c.resource_type == "redis_slots"]
        per_key = sum(c.impact["bytes_to_move"] for c in moves) / sum(
            c.impact["keys_to_move"] for c in moves
        )
        limit = round(per_key * LIMIT)  # about 2,000 keys/s, given in bytes
        plan = await grow.plan(PlanOptions(move_rate=MoveRate(limit, "bytes")))
        moves = [c for c in plan.changes if c.resource_type == "redis_slots"]
        assert all(c.impact["rate_limit"] == {"per_second": limit, "unit": "bytes"} for c in moves)
        results = await grow.apply(plan.changes, ApplyOptions())
        assert all(r.status is ResultStatus.APPLIED for r in results), results
        outcomes = [
            MOVED.search(r.message) for r in results if r.address in {m.address for m in moves}
        ]
        moved = sum(int(o.group(1)) for o in outcomes if o)
        longest = max(float(o.group(2)) for o in outcomes if o)
        # Each move paces with its own sampled bytes per key; together about per_key.
        least = moved * per_key / limit
        assert 0.8 * least <= longest <= 1.5 * least + 5, (moved, longest, least)
        masters = await masters_of(grow)
    finally:
        await grow.close()
    await asyncio.to_thread(check_data, masters[0], values, masters)
