"""Building one plan from many providers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from reconciler.engine.plan import Plan
from reconciler.engine.providers import PlanOptions, Provider


def merged_request_counts(providers: Sequence[Provider]) -> dict[str, int]:
    """Requests made so far, by API name. Providers sharing a connection report the same
    counter, so counts are merged by maximum, not summed."""
    counts: dict[str, int] = {}
    for provider in providers:
        for api, count in provider.request_counts().items():
            counts[api] = max(counts.get(api, 0), int(count))
    return dict(sorted(counts.items()))


async def build_plan(providers: Sequence[Provider], options: PlanOptions) -> Plan:
    """Ask every provider for its part of the plan (concurrently) and join them in order."""
    parts = await asyncio.gather(*(provider.plan(options) for provider in providers))
    return Plan(
        changes=tuple(change for part in parts for change in part.changes),
        notices=tuple(notice for part in parts for notice in part.notices),
        request_counts=merged_request_counts(providers),
    )
