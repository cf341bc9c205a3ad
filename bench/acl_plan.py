"""Benchmark: an ACL plan's wall time and admin request count as the binding count grows.

Starts the ``secure`` sandbox (StandardAuthorizer, SASL/PLAIN as the super user), grows its
ACL bindings to each size in turn through the engine (CreateAcls in batches), and plans the
whole set on a fresh connection each time. The plan's request count stays at one
DescribeAcls whatever the number of bindings. Prints a Markdown table; ``--out FILE`` also
writes it there.

    python bench/acl_plan.py --sizes 1000,20000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from _procs import markdown_table, publish

from reconciler.engine.applying import apply_plan
from reconciler.engine.planning import build_plan
from reconciler.engine.providers import ApplyOptions, PlanOptions, ResultStatus
from reconciler.providers.kafka.acls import KafkaAclsProvider
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.spec.models import (
    AclOperation,
    AclOwnership,
    AclPermission,
    AclResourceType,
    PatternType,
)
from reconciler.spec.roles import AclBinding

PRINCIPALS = 50  # bindings are spread over this many principals, all in the ownership scope


def binding(index: int) -> AclBinding:
    return AclBinding(
        principal=f"User:bench-{index % PRINCIPALS:02d}",
        resource_type=AclResourceType.TOPIC if index % 4 else AclResourceType.GROUP,
        pattern_type=PatternType.PREFIXED if index % 3 == 0 else PatternType.LITERAL,
        resource_name=f"bench-{index:06d}",
        operation=AclOperation.READ if index % 2 else AclOperation.DESCRIBE,
        permission=AclPermission.ALLOW,
    )


def ownership() -> AclOwnership:
    return AclOwnership(principals=[f"User:bench-{i:02d}" for i in range(PRINCIPALS)])


async def grow(settings: dict[str, Any], start: int, stop: int) -> tuple[float, int]:
    """Create bindings [start, stop) through the engine; wall time and CreateAcls count."""
    pairs = [(binding(i), "bench") for i in range(start, stop)]
    began = time.perf_counter()
    async with KafkaAdmin(settings) as admin:
        provider = KafkaAclsProvider.from_pairs(admin, pairs)
        plan = await build_plan([provider], PlanOptions())
        results = await apply_plan(plan, [provider], ApplyOptions())
        failed = [r for r in results if r.status is not ResultStatus.APPLIED]
        assert not failed, failed[:3]
        return time.perf_counter() - began, admin.requests["CreateAcls"]


async def plan_all(settings: dict[str, Any], size: int, extra: int, repeat: int) -> dict[str, Any]:
    """Plan the first ``size`` bindings plus ``extra`` new ones, each time on a fresh
    connection; the median wall time of ``repeat`` runs (the sandbox shares the CPU)."""
    pairs = [(binding(i), "bench") for i in range(size + extra)]
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        async with KafkaAdmin(settings) as admin:
            provider = KafkaAclsProvider.from_pairs(admin, pairs, ownership())
            plan = await build_plan([provider], PlanOptions())
            requests = dict(admin.requests)
        timings.append(time.perf_counter() - began)
    return {
        "seconds": statistics.median(timings),
        "requests": requests,
        "changes": len(plan.changes),
        "notices": len(plan.notices),
    }


async def measure(settings: dict[str, Any], sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    live = 0
    for size in sorted(sizes):
        grow_seconds, create_requests = await grow(settings, live, size)
        created = size - live
        live = size
        no_change = await plan_all(settings, size, 0, repeat)
        assert no_change["changes"] == 0 and no_change["notices"] == 0, no_change
        with_new = await plan_all(settings, size, 100, repeat)
        assert with_new["changes"] == 100, with_new
        rows.append(
            {
                "live bindings": size,
                "plan (no changes) s, median": no_change["seconds"],
                "plan requests": ", ".join(f"{k}={v}" for k, v in no_change["requests"].items()),
                "plan (+100 new) s": with_new["seconds"],
                "+100 plan requests": sum(with_new["requests"].values()),
                "bindings created": created,
                "create s": grow_seconds,
                "CreateAcls requests": create_requests,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default="1000,20000",
        help="comma-separated binding counts, measured in ascending order",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="plans per measurement; the median is shown"
    )
    parser.add_argument("--out", default=None, help="also write the table to this file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from reconciler.sandbox.kafka import KafkaSandbox

    with KafkaSandbox("secure") as sandbox:
        rows = asyncio.run(measure(sandbox.client_config(), sizes, args.repeat))
    publish(markdown_table(rows), args.out)


if __name__ == "__main__":
    main()
