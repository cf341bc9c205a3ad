"""Scale: a no-change plan of 10,000 topics and 20,000 ACL bindings as one whole process.

Starts the ``secure`` sandbox (SASL/PLAIN, StandardAuthorizer), or uses the cluster the
``LLM_ANALYTICS_*`` connection variables name (``LLM_ANALYTICS_BOOTSTRAP_SERVERS`` set; the
smoke test does this), writes one spec with ``--topics`` topics and ``--acls`` ACL entries
(two per topic, spread over 50 principals, all in the ownership scope along with the topics'
prefix), creates the topics with one timed ``apply`` (its wall and CPU time, and the brokers'
CPU time when they run here: how much of the creation is the broker's), then the ACLs (and,
if a loaded broker timed that apply out, the topics in batches first) with ``apply -f SPEC
-y --no-lock``, then runs ``llm-analytics plan -f SPEC -o json --detailed-exitcode``
``--repeats`` times (exit 0, no changes required) and prints, with the load average: wall
and CPU seconds (median), peak RSS, and the plan's admin request counts, against the goals
(≤ 3 s idle, ≤ 6 requests, ≤ 250 MB).

    python bench/scale_plan.py [--topics 10000] [--acls 20000] [--repeats 3] [--out FILE]
    python bench/scale_plan.py --topics 20 --acls 40 --repeats 1    # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import compile_package, llm_analytics_argv, loadavg, median, process_cpu, run

PRINCIPALS = 50
GOAL_SECONDS, GOAL_REQUESTS, GOAL_MIB = 3.0, 6, 250
SETUP_ATTEMPTS = 5
METADATA_WAIT_SECONDS = 600
TOPIC_CONFIG = {"retention.ms": "86400000", "compression.type": "lz4"}


@contextlib.contextmanager
def cluster() -> Iterator[tuple[dict[str, str], list[int]]]:
    """The environment connecting the CLI, and the broker processes' ids when they run
    here: the caller's cluster (no ids), or a secure sandbox."""
    if os.environ.get("LLM_ANALYTICS_BOOTSTRAP_SERVERS"):
        yield dict(os.environ), []
        return
    from reconciler.sandbox.kafka import KafkaSandbox

    with KafkaSandbox("secure") as sandbox:
        os.environ.update(sandbox.connection_env())  # the set-up resolves the password here too
        yield dict(os.environ), list(sandbox.pids.values())


def write_spec(path: Path, prefix: str, topics: int, acls: int) -> None:
    """Topics ``PREFIX-NNNNN`` and ``acls`` entries (READ, then DESCRIBE, topic by topic;
    none: no ``acls`` section)."""
    lines = [
        "apiVersion: llm-analytics/v1",
        "kind: ClusterSpec",
        "metadata: {name: scale-bench}",
        "kafka:",
        '  connection: {bootstrapServers: "${LLM_ANALYTICS_BOOTSTRAP_SERVERS}"}',
        "  defaults:",
        "    replicationFactor: 1",
        "    config: {" + ", ".join(f'{k}: "{v}"' for k, v in TOPIC_CONFIG.items()) + "}",
        "  topics:",
    ]
    lines += [f"    - {{name: {prefix}-{i:05d}, partitions: 1}}" for i in range(topics)]
    if not acls:
        lines += ["  ownership:", f"    topics: {{prefixes: [{prefix}-]}}"]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return
    lines.append("  acls:")
    for index in range(acls):
        topic, operation = divmod(index, 2)
        lines.append(
            f'    - {{principal: "User:{prefix}-{index % PRINCIPALS:02d}", '
            f"operation: {('READ', 'DESCRIBE')[operation]}, resourceType: TOPIC, "
            f"resourceName: {prefix}-{topic:05d}}}"
        )
    principals = ", ".join(f'"User:{prefix}-{i:02d}"' for i in range(min(acls, PRINCIPALS)))
    lines += [
        "  ownership:",
        f"    topics: {{prefixes: [{prefix}-]}}",
        f"    acls: {{principals: [{principals}]}}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def precreate_topics(spec: Path, env: dict[str, str], batch: int = 200) -> None:
    """Create the spec's topics in small batches first: a loaded broker times out a
    1,000-topic CreateTopics (apply's batch) after 30 s."""
    from reconciler.errors import ReconcilerError
    from reconciler.providers.kafka.client import KafkaAdmin, NewTopicRequest, connection_settings
    from reconciler.spec.connection_env import kafka_connection_from_env

    names = [
        line.split("name: ", 1)[1].split(",", 1)[0]
        for line in spec.read_text(encoding="utf-8").splitlines()
        if line.startswith("    - {name: ")
    ]
    settings = connection_settings(kafka_connection_from_env(None, env))
    async with KafkaAdmin(settings) as admin:
        for start in range(0, len(names), batch):
            topics = [NewTopicRequest(n, 1, 1, TOPIC_CONFIG) for n in names[start : start + batch]]
            try:
                await admin.create_topics(topics)
            except ReconcilerError as problem:  # apply creates what is missing
                print(f"pre-creating topics: {problem}", file=sys.stderr)
        # The broker's metadata lags behind its controller: until it lists the topics, a
        # plan's validateOnly CreateTopics says "already exists" for topics it cannot see.
        deadline = time.monotonic() + METADATA_WAIT_SECONDS
        while time.monotonic() < deadline:
            state = await admin.cluster_state(with_configs=False)
            if all(name in state.topics for name in names):
                break
            await asyncio.sleep(2)


class Creation(NamedTuple):
    """One ``apply`` creating every topic: its wall and CPU seconds, the brokers' CPU."""

    wall: float
    cpu: float
    broker_cpu: float | None  # None: the brokers do not run here

    def row(self, topics: int) -> str:
        broker = (
            f"brokers {self.broker_cpu:.1f} s CPU ({self.broker_cpu / self.wall:.0%} of the wall "
            "time)"
            if self.broker_cpu is not None
            else "brokers' CPU not known (not run here)"
        )
        return (
            f"creating {topics:,} topics with one `apply`: {self.wall:.1f} s wall; "
            f"llm-analytics {self.cpu:.1f} s CPU ({self.cpu / self.wall:.0%}), {broker}"
        )


def create_topics(
    llm: list[str], spec: Path, env: dict[str, str], brokers: list[int]
) -> Creation | None:
    """Every topic of ``spec`` created by one timed ``apply``; None if it failed (a loaded
    broker may time a 1,000-topic CreateTopics out; the set-up then creates the rest)."""
    before = process_cpu(brokers)
    done = run([*llm, "apply", "-f", str(spec), "-y", "--no-lock"], env=env)
    broker_cpu = process_cpu(brokers) - before if brokers else None
    if done.rc != 0:
        print(f"creating topics: apply exited {done.rc}: {done.stderr[-300:]}", file=sys.stderr)
        return None
    return Creation(done.wall, done.cpu, broker_cpu)


def create_all(
    llm: list[str], spec: Path, env: dict[str, str], *, precreate: bool = True
) -> tuple[float, int]:
    """``apply -f SPEC -y --no-lock`` until it succeeds: on a loaded machine the broker may
    time out a CreateTopics batch; a rerun creates what is still missing. Seconds and runs."""
    began = time.perf_counter()
    if precreate:
        asyncio.run(precreate_topics(spec, env))
    for attempt in range(1, SETUP_ATTEMPTS + 1):
        # No apply lock: the names are this run's own, and on a loaded broker the lock's
        # consumer group (its coordinator, its renewals) is what fails first.
        done = run([*llm, "apply", "-f", str(spec), "-y", "--no-lock"], env=env)
        if done.rc == 0:
            return time.perf_counter() - began, attempt
        tail = done.stderr.strip()[-300:]
        print(f"apply exited {done.rc} (run {attempt}): {tail}", file=sys.stderr)
        time.sleep(5)
    done.check()
    raise AssertionError("unreachable")


def verdict(ok: bool) -> str:
    return "met" if ok else "not met"


def counts_of(stdout: str) -> dict[str, int]:
    body = json.loads(stdout)
    if body.get("has_changes"):
        raise SystemExit(f"the no-change plan found changes: {stdout[:2000]}")
    return {str(k): int(v) for k, v in (body.get("request_counts") or {}).items()}


def measure(topics: int, acls: int, repeats: int) -> str:
    compile_package()
    llm = llm_analytics_argv()
    prefix = f"scale-{uuid.uuid4().hex[:6]}"
    with cluster() as (env, brokers), tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        spec, topics_only = Path(tmp, "spec.yaml"), Path(tmp, "topics.yaml")
        write_spec(spec, prefix, topics, acls)
        write_spec(topics_only, prefix, topics, 0)
        size_mb = spec.stat().st_size / 1e6
        creation = create_topics(llm, topics_only, env, brokers)
        apply_seconds, attempts = create_all(llm, spec, env, precreate=creation is None)
        plans = []
        for _ in range(repeats):
            done = run(
                [*llm, "plan", "-f", str(spec), "-o", "json", "--detailed-exitcode"], env=env
            )
            plans.append(done.check(0))
        counts = counts_of(plans[-1].stdout)
    wall, cpu = median([p.wall for p in plans]), median([p.cpu for p in plans])
    rss = max(p.maxrss_mib for p in plans)
    requests = sum(counts.values())
    listing = ", ".join(f"{k.removeprefix('kafka.')}={v}" for k, v in sorted(counts.items()))
    rows = [
        f"load average {loadavg()} (1 / 5 / 15 min); spec {size_mb:.1f} MB; "
        f"set-up apply {apply_seconds:.1f} s ({attempts} run(s) of apply)",
        "",
        creation.row(topics) if creation else "creating the topics with one `apply` failed",
        "",
        "| no-change plan | wall s (median) | CPU s (median) | peak RSS | requests |",
        "|---|---:|---:|---:|---|",
        f"| {topics:,} topics + {acls:,} ACLs ({repeats} runs) | {wall:.2f} | {cpu:.2f} | "
        f"{rss:.0f} MiB | {listing} (total {requests}) |",
        "",
        f"goals: ≤ {GOAL_SECONDS:g} s idle ({verdict(wall <= GOAL_SECONDS)} at this load), "
        f"≤ {GOAL_REQUESTS} requests ({verdict(requests <= GOAL_REQUESTS)}), "
        f"≤ {GOAL_MIB} MB ({verdict(rss * 1.048576 <= GOAL_MIB)})",
    ]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--acls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="also write the table to this file")
    args = parser.parse_args()
    text = measure(args.topics, args.acls, args.repeats)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
