"""Resharding throughput: our pipelined rebalance versus ``redis-cli --cluster rebalance``.

Both tools get the same job in the same run, on fresh sandboxes of real redis-server
processes: a 3-master cluster (one replica each) holding N keys spread over all slots gets a
fourth, empty master and is rebalanced (3→4), then the fourth master is emptied again (4→3).
Only the slot moves are timed (the new node joins, and the cluster settles, beforehand).
After each step every key is counted on the masters and a sample of values is read back.

    python bench/redis_reshard.py [--keys 200000] [--value-size 64]

Prints a Markdown table (keys/s = keys moved / seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import load_keys

from reconciler.engine.polling import retries
from reconciler.engine.providers import ApplyOptions, PlanOptions, ResultStatus
from reconciler.providers.redis.layout import DesiredLayout
from reconciler.providers.redis.provider import RedisClusterProvider
from reconciler.providers.redis.resharding import ReshardSettings
from reconciler.providers.redis.steps import MoveSlots
from reconciler.providers.redis.transports import DirectTransport
from reconciler.sandbox import RedisSandbox


@dataclass
class Row:
    tool: str
    step: str
    slots: int
    keys: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.keys / self.seconds if self.seconds else 0.0


def masters(address: str) -> dict[str, tuple[str, int]]:
    """node id -> (address, slot count) of every master with slots."""
    out = subprocess.run(
        ["redis-cli", "-h", address.split(":")[0], "-p", address.split(":")[1], "cluster", "nodes"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if "master" in parts[2] and "fail" not in parts[2] and len(parts) > 8:
            slots = 0
            for item in parts[8:]:
                if item.startswith("["):
                    continue
                a, _, b = item.partition("-")
                slots += int(b or a) - int(a) + 1
            found[parts[0]] = (parts[1].split("@")[0], slots)
    return found


def dbsize(address: str) -> int:
    host, port = address.split(":")
    out = subprocess.run(
        ["redis-cli", "-h", host, "-p", port, "dbsize"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.strip())


def verify(address: str, values: dict[str, str]) -> None:
    from redis.cluster import RedisCluster

    from reconciler.providers.redis.journal import RATE_KEY
    from reconciler.providers.redis.locking import TOKEN_KEY

    host, port = address.split(":")
    client = RedisCluster(host=host, port=int(port))
    # The tool's own keys (the measured move rate, the lock's fencing token) are not data.
    total = sum(dbsize(a) for a, _ in masters(address).values()) - int(
        client.exists(RATE_KEY, TOKEN_KEY)
    )
    if total != len(values):
        raise SystemExit(f"KEY COUNT MISMATCH: {total} != {len(values)}")
    sample = random.Random(1).sample(sorted(values), 2000)
    got = client.mget_nonatomic(sample)
    client.close()
    if [g.decode() if g else None for g in got] != [values[k] for k in sample]:
        raise SystemExit("VALUE MISMATCH after resharding")
    check = subprocess.run(
        ["redis-cli", "--cluster", "check", address], capture_output=True, text=True
    )
    if "[ERR]" in check.stdout or "[WARNING]" in check.stdout:
        raise SystemExit("redis-cli --cluster check failed:\n" + check.stdout[-2000:])


def settle(address: str, everyone: list[str] | None = None, timeout: float = 30) -> None:
    """Wait until every node knows every other and all agree (what redis-cli's rebalance
    needs: run earlier, it fails with 'Unknown node' or CLUSTERDOWN mid-move)."""
    everyone = everyone or []
    for _ in retries(timeout=timeout, interval=0.3):
        check = subprocess.run(
            ["redis-cli", "--cluster", "check", address], capture_output=True, text=True
        )
        views_ok = True
        for node in everyone:
            host, port = node.split(":")
            known = subprocess.run(
                ["redis-cli", "-h", host, "-p", port, "cluster", "nodes"],
                capture_output=True,
                text=True,
            ).stdout
            joined = sum(
                1 for line in known.splitlines() if "handshake" not in line and "noaddr" not in line
            )
            info = subprocess.run(
                ["redis-cli", "-h", host, "-p", port, "cluster", "info"],
                capture_output=True,
                text=True,
            ).stdout
            views_ok = views_ok and joined >= len(everyone) and "cluster_state:ok" in info
        if "[ERR]" not in check.stdout and "[WARNING]" not in check.stdout and views_ok:
            return
    raise SystemExit("cluster did not settle:\n" + check.stdout[-2000:])


def prepare(keys: int, value_size: int) -> tuple[RedisSandbox, str, dict[str, str]]:
    sandbox = RedisSandbox(6, formed=True, replicas=1)
    sandbox.start()
    values = load_keys(sandbox.addresses[0], keys, value_size)
    (new,) = sandbox.add_nodes(1)
    subprocess.run(
        ["redis-cli", "--cluster", "add-node", new, sandbox.addresses[0]],
        capture_output=True,
        text=True,
        check=True,
    )
    settle(sandbox.addresses[0], list(sandbox.addresses))
    return sandbox, new, values


def run_redis_cli(keys: int, value_size: int) -> list[Row]:
    sandbox, new, values = prepare(keys, value_size)
    rows = []
    try:
        entry = sandbox.addresses[0]
        started = time.monotonic()
        done = subprocess.run(
            ["redis-cli", "--cluster", "rebalance", entry, "--cluster-use-empty-masters"],
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])
        moved = dbsize(new)
        slots = next((s for a, s in masters(entry).values() if a == new), 0)
        if not slots:
            raise SystemExit("redis-cli moved nothing:\n" + done.stdout[-3000:])
        rows.append(Row("redis-cli --cluster rebalance", "3→4 masters", slots, moved, seconds))
        settle(entry)
        verify(entry, values)
        new_id = subprocess.run(
            ["redis-cli", "-h", new.split(":")[0], "-p", new.split(":")[1], "cluster", "myid"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        moved = dbsize(new)
        started = time.monotonic()
        done = subprocess.run(
            ["redis-cli", "--cluster", "rebalance", entry, "--cluster-weight", f"{new_id}=0"],
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])
        rows.append(Row("redis-cli --cluster rebalance", "4→3 masters", slots, moved, seconds))
        settle(entry)
        verify(entry, values)
    finally:
        sandbox.stop()
    return rows


async def _ours(
    sandbox: RedisSandbox, new: str, values: dict[str, str], settings: ReshardSettings
) -> list[Row]:
    rows = []
    entry = sandbox.addresses[0]
    for step, count, allow_delete in (("3→4 masters", 4, False), ("4→3 masters", 3, True)):
        provider = RedisClusterProvider(
            DirectTransport(sandbox.addresses), DesiredLayout(count, 1), reshard=settings
        )
        try:
            plan = await provider.plan(PlanOptions(allow_delete=allow_delete))
            moves = [c for c in plan.changes if c.resource_type == "redis_slots"]
            others = [c for c in plan.changes if c.resource_type != "redis_slots"]
            sources = {c.payload["source"]["name"] for c in moves}
            targets = {c.payload["target"]["name"] for c in moves}
            before = {a: dbsize(a) for a in sources | targets}
            started = time.monotonic()
            results = await provider.apply(moves, ApplyOptions())
            seconds = time.monotonic() - started
            failed = [r for r in results if r.status is not ResultStatus.APPLIED]
            if failed:
                raise SystemExit(f"apply failed: {failed}")
            # Keys that arrived on the targets (equal to those that left the sources).
            moved = sum(dbsize(t) - before[t] for t in targets)
            if others:  # removing the emptied node is not part of the timing
                await provider.apply(others, ApplyOptions())
        finally:
            await provider.close()
        slots = sum(MoveSlots.model_validate(c.payload).count for c in moves)
        rows.append(Row("llm-analytics (pipelined)", step, slots, moved, seconds))
        # The node the 4→3 step removed may be the first address: check from a member.
        entry = next(
            iter(
                masters(
                    next(a for a in sandbox.addresses if a not in sources or count == 4)
                ).values()
            )
        )[0]
        settle(entry)
        verify(entry, values)
    return rows


def run_ours(keys: int, value_size: int, settings: ReshardSettings) -> list[Row]:
    sandbox, new, values = prepare(keys, value_size)
    try:
        return asyncio.run(_ours(sandbox, new, values, settings))
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--value-size", type=int, default=64)
    defaults = ReshardSettings()
    parser.add_argument("--slots-per-group", type=int, default=defaults.slots_per_group)
    parser.add_argument("--parallel-groups", type=int, default=defaults.parallel_groups)
    parser.add_argument("--parallel-moves", type=int, default=defaults.parallel_moves)
    parser.add_argument("--batch-keys", type=int, default=defaults.batch_keys)
    parser.add_argument("--skip-redis-cli", action="store_true")
    args = parser.parse_args()
    settings = ReshardSettings(
        batch_keys=args.batch_keys,
        slots_per_group=args.slots_per_group,
        parallel_groups=args.parallel_groups,
        parallel_moves=args.parallel_moves,
    )
    rows = [] if args.skip_redis_cli else run_redis_cli(args.keys, args.value_size)
    rows += run_ours(args.keys, args.value_size, settings)
    baseline = {r.step: r.rate for r in rows if r.tool.startswith("redis-cli")}
    print(
        f"\nResharding {args.keys:,} keys ({args.value_size}-byte values), 3 masters × 1 "
        "replica, real redis-server processes; keys and values verified after each step.\n"
    )
    print("| tool | step | slots moved | keys moved | seconds | keys/s | speed-up |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        speedup = row.rate / baseline[row.step] if baseline.get(row.step) else 0.0
        print(
            f"| {row.tool} | {row.step} | {row.slots:,} | {row.keys:,} | "
            f"{row.seconds:.1f} | {row.rate:,.0f} | {speedup:.1f}× |"
        )


if __name__ == "__main__":
    main()
