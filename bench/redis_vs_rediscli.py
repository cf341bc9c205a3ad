"""Side by side, end to end: Redis Cluster 3→4 masters with redis-cli vs one llm-analytics apply.

Each trial starts a fresh sandbox of real redis-server processes: 3 masters × 1 replica
holding N keys spread over all slots, plus two new bare nodes (started untimed, and left to
run ``--settle`` seconds, default 3, as pods that already run: Redis holds a master's cluster
state back for two seconds after it starts). Then, timed as whole processes:

- **redis-cli**: ``redis-cli --cluster add-node NEW1 ENTRY``; wait until every node knows
  NEW1 (no handshake, same node set everywhere, ``cluster_state:ok``); ``redis-cli --cluster
  add-node NEW2 ENTRY --cluster-slave --cluster-master-id <NEW1>``; wait likewise; then
  ``redis-cli --cluster rebalance ENTRY --cluster-use-empty-masters``. The waits poll every
  0.1 s over direct connections (what a careful script does; rebalance started earlier fails
  with "Unknown node" or CLUSTERDOWN).
- **llm-analytics**: ``llm-analytics apply -f <spec: 8 addresses, masters 4, replicasPerMaster
  1> -y`` (lock, plan, join both nodes, reshard, verify), or with ``--ours init``:
  ``llm-analytics redis init --addresses <8> --nodes 8 --replicas 1 -y``.

After each procedure (untimed) the bench waits until every node agrees, counts every ``user:*``
key on the masters (the apply lock's own ``{llm-analytics}:*`` keys are excluded), reads a
sample of values back and runs ``redis-cli --cluster check``. Trials alternate which tool goes
first. Prints a Markdown table with medians, the ratio and the load average.

    python bench/redis_vs_rediscli.py [--keys 100000] [--trials 2] [--ours apply|init]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import (
    Run,
    compile_package,
    cpu_count,
    llm_analytics_argv,
    load_keys,
    loadavg,
    median,
    publish,
    run,
)

from reconciler.engine.polling import retries
from reconciler.sandbox import RedisSandbox

KEY_PREFIX = "user:"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()}] {text}", file=sys.stderr, flush=True)


def client(address: str):  # type: ignore[no-untyped-def]
    from redis import Redis

    host, port = address.split(":")
    return Redis(host=host, port=int(port), socket_timeout=10)


def _command(address: str, *args: str) -> Any:
    """One command on one node, on a connection of its own (bytes replies decoded)."""
    conn = client(address)
    try:
        reply = conn.execute_command(*args)
    finally:
        conn.close()
    return reply.decode() if isinstance(reply, bytes) else reply


def raw_nodes(address: str) -> list[list[str]]:
    """CLUSTER NODES as split lines, read with redis-cli's parser-free connection."""
    reply = _command(address, "CLUSTER", "NODES")
    return [line.split() for line in str(reply).splitlines() if line.strip()]


def cluster_state(address: str) -> str:
    reply = _command(address, "CLUSTER", "INFO")
    if isinstance(reply, dict):
        return str(reply.get("cluster_state", ""))
    for line in str(reply).splitlines():
        if line.startswith("cluster_state:"):
            return line.split(":", 1)[1].strip()
    return ""


def myid(address: str) -> str:
    host, port = address.split(":")
    return subprocess.run(
        ["redis-cli", "-h", host, "-p", port, "cluster", "myid"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def agreed(addresses: list[str], *, slots_too: bool = False) -> bool:
    """Every node lists the same node ids (none in handshake/noaddr/fail), sees
    cluster_state:ok, and (with slots_too) the same slot owners."""
    views = []
    for address in addresses:
        try:
            lines = raw_nodes(address)
            if cluster_state(address) != "ok":
                return False
        except Exception:
            return False
        if any(any(flag in line[2] for flag in ("handshake", "noaddr", "fail")) for line in lines):
            return False
        ids = frozenset(line[0] for line in lines)
        slots = frozenset((line[0], " ".join(line[8:])) for line in lines) if slots_too else None
        views.append((ids, slots))
    return (
        len({v[0] for v in views}) == 1
        and len(next(iter(views))[0]) == len(addresses)
        and (not slots_too or len({v[1] for v in views}) == 1)
    )


def wait_agreed(addresses: list[str], timeout: float = 120, *, slots_too: bool = False) -> float:
    started = time.monotonic()
    for _ in retries(timeout=timeout, interval=0.1):
        if agreed(addresses, slots_too=slots_too):
            return time.monotonic() - started
    raise SystemExit(f"nodes did not agree within {timeout} s: {addresses}")


def masters(addresses: list[str]) -> dict[str, tuple[str, int]]:
    """node id -> (address, slot count) of the masters with slots."""
    found = {}
    for line in raw_nodes(addresses[0]):
        if "master" in line[2] and len(line) > 8:
            count = 0
            for item in line[8:]:
                if item.startswith("["):
                    continue
                a, _, b = item.partition("-")
                count += int(b or a) - int(a) + 1
            found[line[0]] = (line[1].split("@")[0], count)
    return found


def count_keys(address: str) -> tuple[int, int]:
    """(user:* keys, other keys) on one node."""
    conn = client(address)
    try:
        total = int(conn.dbsize())
        others = sum(1 for _ in conn.scan_iter(match="{llm-analytics}*", count=1000))
    finally:
        conn.close()
    return total - others, others


def verify(addresses: list[str], values: dict[str, str], want_masters: int) -> dict[str, int]:
    from redis.cluster import RedisCluster

    wait_agreed(addresses, slots_too=True)
    owners = masters(addresses)
    if len(owners) != want_masters:
        raise SystemExit(f"expected {want_masters} masters with slots, found {len(owners)}")
    if sum(s for _, s in owners.values()) != 16384:
        raise SystemExit("not every slot is assigned")
    per_master = {a: count_keys(a)[0] for a, _ in owners.values()}
    total = sum(per_master.values())
    if total != len(values):
        raise SystemExit(f"KEY COUNT MISMATCH: {total:,} on the masters, {len(values):,} written")
    host, port = addresses[0].split(":")
    cluster = RedisCluster(host=host, port=int(port))
    sample = random.Random(1).sample(sorted(values), min(2000, len(values)))
    got = cluster.mget_nonatomic(sample)
    cluster.close()
    if [g.decode() if g else None for g in got] != [values[k] for k in sample]:
        raise SystemExit("VALUE MISMATCH after resharding")
    check = subprocess.run(
        ["redis-cli", "--cluster", "check", addresses[0]], capture_output=True, text=True
    )
    if "[ERR]" in check.stdout or "[WARNING]" in check.stdout:
        raise SystemExit("redis-cli --cluster check failed:\n" + check.stdout[-2000:])
    return per_master


@dataclass
class Trial:
    tool: str
    seconds: float  # wall, whole procedure
    cpu: float  # CPU of the tool's own processes (the waits' polling not included)
    steps: str
    keys_moved: int
    keys_total: int
    slots_new: int


def prepare(
    keys: int, value_size: int, settle: float
) -> tuple[RedisSandbox, list[str], dict[str, str]]:
    sandbox = RedisSandbox(6, formed=True, replicas=1)
    sandbox.start()
    try:
        values = load_keys(sandbox.addresses[0], keys, value_size, KEY_PREFIX)
        sandbox.add_nodes(2)
        # As pods that already run: a master's first two seconds differ (Redis holds back
        # its cluster state after start-up, CLUSTER_WRITABLE_DELAY), for either tool.
        time.sleep(settle)
    except BaseException:
        sandbox.stop()
        raise
    return sandbox, list(sandbox.addresses), values


def trial_rediscli(keys: int, value_size: int, settle: float) -> Trial:
    sandbox, addresses, values = prepare(keys, value_size, settle)
    try:
        entry, new_master, new_replica = addresses[0], addresses[6], addresses[7]
        old = addresses[:6]
        runs: list[Run] = []
        log("redis-cli: add-node, wait, add-node --cluster-slave, wait, rebalance")
        started = time.perf_counter()
        runs.append(run(["redis-cli", "--cluster", "add-node", new_master, entry]).check())
        t_add = time.perf_counter() - started
        wait1 = wait_agreed([*old, new_master])
        master_id = myid(new_master)
        runs.append(
            run(
                [
                    "redis-cli", "--cluster", "add-node", new_replica, entry,
                    "--cluster-slave", "--cluster-master-id", master_id,
                ]
            ).check()
        )  # fmt: skip
        wait2 = wait_agreed(addresses)
        mark = time.perf_counter()
        runs.append(
            run(["redis-cli", "--cluster", "rebalance", entry, "--cluster-use-empty-masters"])
            .check()
        )  # fmt: skip
        t_rebalance = time.perf_counter() - mark
        seconds = time.perf_counter() - started
        per_master = verify(addresses, values, 4)
        slots = next((s for a, s in masters(addresses).values() if a == new_master), 0)
        return Trial(
            "redis-cli add-node + wait + add-node --cluster-slave + wait + rebalance",
            seconds,
            sum(r.cpu for r in runs),
            f"add-node {t_add:.1f} s, waits {wait1:.1f} + {wait2:.1f} s, rebalance "
            f"{t_rebalance:.1f} s",
            per_master.get(new_master, 0),
            sum(per_master.values()),
            slots,
        )
    finally:
        sandbox.stop()


def trial_ours(keys: int, value_size: int, mode: str, workdir: Path, settle: float) -> Trial:
    sandbox, addresses, values = prepare(keys, value_size, settle)
    try:
        new_nodes = set(addresses[6:])
        if mode == "init":
            argv = [
                *llm_analytics_argv(), "redis", "init", "--addresses", ",".join(addresses),
                "--nodes", "8", "--replicas", "1", "-y", "-o", "json",
            ]  # fmt: skip
        else:
            spec = workdir / "redis-spec.yaml"
            spec.write_text(
                "apiVersion: llm-analytics/v1\nkind: ClusterSpec\nmetadata: {name: bench-redis}\n"
                f'redis:\n  connection: {{addresses: "{",".join(addresses)}"}}\n'
                "  cluster: {masters: 4, replicasPerMaster: 1, placement: none}\n"
            )
            argv = [*llm_analytics_argv(), "apply", "-f", str(spec), "-y", "-o", "json"]
        log(f"llm-analytics: {' '.join(argv[1:3])} (whole process)")
        done = run(argv).check()
        per_master = verify(addresses, values, 4)
        owners = masters(addresses)
        new_master = next((a for a, _ in owners.values() if a in new_nodes), "")
        slots = next((s for a, s in owners.values() if a == new_master), 0)
        steps = ""
        try:
            body = json.loads(done.stdout)
            steps = f"{len(body.get('results', body.get('changes', [])))} result(s)"
        except (ValueError, AttributeError):
            pass
        return Trial(
            f"llm-analytics {'redis init' if mode == 'init' else 'apply'} (one process)",
            done.wall,
            done.cpu,
            steps or "—",
            per_master.get(new_master, 0),
            sum(per_master.values()),
            slots,
        )
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--value-size", type=int, default=64)
    parser.add_argument("--trials", type=int, default=2, help="trials per tool (alternating)")
    parser.add_argument("--ours", choices=("apply", "init"), default="apply")
    parser.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="seconds the two new nodes run before the timed procedure starts",
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    compile_package()  # measured processes load bytecode, as an installed package does
    load_start = loadavg()
    trials: list[Trial] = []
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp:
        for i in range(args.trials):
            order = ["cli", "ours"] if i % 2 == 0 else ["ours", "cli"]
            for which in order:
                if which == "cli":
                    trials.append(trial_rediscli(args.keys, args.value_size, args.settle))
                else:
                    trials.append(
                        trial_ours(args.keys, args.value_size, args.ours, Path(tmp), args.settle)
                    )
                log(f"{trials[-1].tool}: {trials[-1].seconds:.2f} s")
    cli = [t for t in trials if t.tool.startswith("redis-cli")]
    ours = [t for t in trials if not t.tool.startswith("redis-cli")]
    cli_median = median([t.seconds for t in cli])
    ours_median = median([t.seconds for t in ours])
    lines = [
        f"Redis Cluster 3→4 masters (+1 replica), {args.keys:,} keys ({args.value_size}-byte "
        f"values), real redis-server processes, {cpu_count()} CPUs; load average (1/5/15 min) "
        f"at start {load_start}, at end {loadavg()}; the new nodes ran {args.settle:g} s before "
        "each timed procedure; every key counted and 2,000 values read back after each "
        "procedure.",
        "",
        "| tool | trial | seconds (whole procedure) | CPU s (tool processes) | steps | keys on "
        "new master | keys verified | slots on new master |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for group in (cli, ours):
        for n, t in enumerate(group, 1):
            lines.append(
                f"| {t.tool} | {n} | {t.seconds:.2f} | {t.cpu:.2f} | {t.steps} | "
                f"{t.keys_moved:,} | {t.keys_total:,} | {t.slots_new:,} |"
            )
    lines += [
        "",
        f"median: redis-cli {cli_median:.2f} s, llm-analytics {ours_median:.2f} s → "
        f"llm-analytics / redis-cli = {ours_median / cli_median:.2f} "
        f"({cli_median / ours_median:.1f}× faster; goal ≥ 3×)",
    ]
    text = "\n".join(lines)
    publish(text, args.out)


if __name__ == "__main__":
    main()
