"""Benchmark: plan and apply wall time and admin request count for many Kafka topics.

Runs against the real single-node sandbox (or the cluster in LLM_ANALYTICS_BOOTSTRAP_SERVERS)
and prints a Markdown table; ``--out FILE`` also writes it there.

    python bench/kafka_topics.py --sizes 14,1000,5000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Iterator

from _procs import markdown_table, publish

from reconciler.engine.applying import apply_plan
from reconciler.engine.planning import build_plan
from reconciler.engine.providers import ApplyOptions, PlanOptions, ResultStatus
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.providers.kafka.topics import KafkaTopicsProvider
from reconciler.spec.models import TopicOwnership
from reconciler.spec.resolving import DesiredTopic


@contextlib.contextmanager
def bootstrap() -> Iterator[str]:
    external = os.environ.get("LLM_ANALYTICS_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    from reconciler.sandbox.kafka import KafkaSandbox

    with KafkaSandbox("single") as sandbox:
        yield sandbox.bootstrap_servers


async def plan_once(servers: str, desired: list[DesiredTopic]) -> tuple[float, int, object]:
    """Wall time and request count of one complete plan on a fresh connection."""
    started = time.perf_counter()
    async with KafkaAdmin({"bootstrap_servers": servers}) as admin:
        provider = KafkaTopicsProvider(admin, desired, TopicOwnership())
        plan = await build_plan([provider], PlanOptions())
        requests = sum(admin.requests.values())
    return time.perf_counter() - started, requests, plan


async def measure(servers: str, size: int) -> dict[str, object]:
    run_id = uuid.uuid4().hex[:6]
    desired = [
        DesiredTopic(
            name=f"bench-{run_id}-{i:05d}",
            partitions=1,
            replication_factor=1,
            config={"retention.ms": "86400000", "compression.type": "lz4"},
        )
        for i in range(size)
    ]
    plan_seconds, plan_requests, plan = await plan_once(servers, desired)
    started = time.perf_counter()
    async with KafkaAdmin({"bootstrap_servers": servers}) as admin:
        provider = KafkaTopicsProvider(admin, desired, TopicOwnership())
        results = await apply_plan(plan, [provider], ApplyOptions())  # type: ignore[arg-type]
        apply_requests = sum(admin.requests.values())
    apply_seconds = time.perf_counter() - started
    failed = [r for r in results if r.status is not ResultStatus.APPLIED]
    assert not failed, failed[:3]
    noop_seconds, noop_requests, noop_plan = await plan_once(servers, desired)
    leftover = noop_plan.actionable  # type: ignore[attr-defined]
    assert not leftover, f"{len(leftover)} change(s) left after apply, e.g. {leftover[0]}"
    return {
        "topics": size,
        "plan (create) s": plan_seconds,
        "plan requests": plan_requests,
        "apply s": apply_seconds,
        "apply requests": apply_requests,
        "plan (no changes) s": noop_seconds,
        "no-change requests": noop_requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="14,1000,5000")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with bootstrap() as servers:
        rows = [asyncio.run(measure(servers, size)) for size in sizes]
    publish(markdown_table(rows), args.out)


if __name__ == "__main__":
    main()
