"""Side by side: llm-analytics and topicctl v1.17.0 as whole processes on one Kafka broker.

Both tools run interleaved against the same single-node sandbox broker (Kafka 4.4.0), as a
user runs them: one process per command, wall time around the process and CPU time (user +
system) from ``os.wait4``. For each size N (cumulative: each size adds its topics to the
cluster) the table shows

- **create N topics**: ``llm-analytics apply -f spec -y`` (lock, plan, apply, verify) vs
  ``topicctl apply --skip-confirm`` of N topic files. topicctl sleeps
  ``--sleep-loop-duration / 5`` after each topic it creates (default 10 s → 2 s per topic);
  this bench passes ``--sleep-loop-duration`` (default 250ms → 50 ms per topic);
- **no-change plan of N topics**: ``llm-analytics plan -o json --detailed-exitcode`` (exit 0
  required) vs ``topicctl apply --dry-run --skip-confirm`` (its read-only plan) and
  ``topicctl check`` (config vs cluster state);

then the **14-topic no-change plan against the big cluster vs against an empty one** (a
second, empty sandbox broker holding only those 14 topics, so both run in the same time
window), and the **dependency floor**: a Python process importing pydantic, yaml, aiokafka,
asyncio and click and building one model, interleaved with ``llm-analytics plan`` of 14
topics (CPU time). Request counts are llm-analytics' own (``request_counts`` of the plan's
JSON); topicctl does not count its requests.

    python bench/topics_vs_topicctl.py [--sizes 14,1000,5000] [--repeats 3]
    python bench/topics_vs_topicctl.py --sizes 14 --repeats 3      # smoke run (~1-2 min)

topicctl is built once into ``${LLM_ANALYTICS_CACHE:-~/.cache/llm-analytics}/bench-bin``
(``make bench-deps``); ``--skip-topicctl`` measures llm-analytics alone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import (
    Run,
    build_topicctl,
    compile_package,
    cpu_count,
    llm_analytics_argv,
    loadavg,
    median,
    publish,
    run,
    topicctl_path,
)

from reconciler.engine.polling import retries
from reconciler.sandbox import KafkaSandbox

RETENTION_MS = 86_400_000  # 1 day = 1440 minutes
FLOOR_CODE = (
    "import asyncio, click, yaml, aiokafka, pydantic\n"
    "class M(pydantic.BaseModel):\n"
    "    name: str\n"
    "    partitions: int = 1\n"
    "    config: dict[str, str] = {}\n"
    "M(name='x', partitions=3, config={'a': 'b'})\n"
)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()}] {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the two tools' inputs


def write_llm_spec(path: Path, servers: str, names: list[str]) -> None:
    lines = [
        "apiVersion: llm-analytics/v1",
        "kind: ClusterSpec",
        "metadata: {name: bench}",
        "kafka:",
        f'  connection: {{bootstrapServers: "{servers}"}}',
        "  defaults:",
        "    replicationFactor: 1",
        f'    config: {{retention.ms: "{RETENTION_MS}", compression.type: lz4, '
        'min.insync.replicas: "1"}',
        "  topics:",
    ]
    lines += [f"    - {{name: {name}, partitions: 1}}" for name in names]
    path.write_text("\n".join(lines) + "\n")


def write_topicctl_cluster(path: Path, servers: str) -> None:
    addrs = "\n".join(f"    - {s}" for s in servers.split(","))
    path.write_text(
        "meta:\n  name: bench\n  environment: local\n  region: local\n"
        "  description: llm-analytics bench sandbox\n"
        f"spec:\n  bootstrapAddrs:\n{addrs}\n"
    )


def write_topicctl_topics(directory: Path, names: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / f"{name}.yaml").write_text(
            f"meta:\n  name: {name}\n  cluster: bench\n  environment: local\n  region: local\n"
            "spec:\n  partitions: 1\n  replicationFactor: 1\n"
            f"  retentionMinutes: {RETENTION_MS // 60000}\n"
            "  placement:\n    strategy: any\n"
            "  settings:\n    compression.type: lz4\n"
            # Kafka 4.x reports min.insync.replicas as set cluster-wide (not a default), so
            # topicctl check insists on it: both tools set it on the topic.
            '    min.insync.replicas: "1"\n'
        )


@dataclass
class Target:
    """One broker and the inputs of both tools for one set of topics on it."""

    servers: str
    workdir: Path
    label: str
    llm_names: list[str] = field(default_factory=list)
    tctl_names: list[str] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)  # size -> input label

    @property
    def cluster_yaml(self) -> Path:
        return self.workdir / "cluster.yaml"

    def spec(self, label: str) -> Path:
        return self.workdir / f"spec-{label}.yaml"

    def topic_glob(self, label: str) -> str:
        return str(self.workdir / f"topics-{label}" / "*.yaml")


class Tools:
    def __init__(self, topicctl: Path | None, sleep_loop: str) -> None:
        self.topicctl = topicctl
        self.sleep_loop = sleep_loop
        self.llm = llm_analytics_argv()
        self.env = dict(os.environ)
        self.env.pop("LLM_ANALYTICS_BOOTSTRAP_SERVERS", None)

    def llm_apply(self, spec: Path) -> Run:
        done = run([*self.llm, "apply", "-f", str(spec), "-y", "-o", "json"], env=self.env)
        if done.rc == 1 and "not yet visible in broker metadata" in done.stderr:
            # The topics were created, but apply's verify gave up waiting for the broker's
            # metadata (seen with 5,000 topics under load 30). Recorded, not fatal: wait until
            # a plan shows no changes, so the next measurements start from the full cluster.
            log("llm-analytics apply exited 1: created, not yet visible in metadata; waiting")
            for _ in retries(timeout=900, interval=5):
                again = run(
                    [*self.llm, "plan", "-f", str(spec), "--detailed-exitcode"], env=self.env
                )
                if again.rc == 0:
                    break
            else:
                done.check()
            done.note = "exit 1: apply's verify timed out waiting for metadata"
            return done
        return done.check()

    def llm_plan(self, spec: Path) -> tuple[Run, dict[str, int]]:
        done = run(
            [*self.llm, "plan", "-f", str(spec), "-o", "json", "--detailed-exitcode"],
            env=self.env,
        ).check(0)
        body = json.loads(done.stdout)
        if body.get("has_changes"):
            raise SystemExit(f"no-change plan found changes: {done.stdout[:2000]}")
        return done, flatten_counts(body.get("request_counts") or {})

    def tctl_apply(self, cluster: Path, pattern: str, *, dry_run: bool = False) -> Run:
        assert self.topicctl is not None
        argv = [str(self.topicctl), "apply", "--skip-confirm", "--cluster-config", str(cluster)]
        argv += ["--dry-run"] if dry_run else ["--sleep-loop-duration", self.sleep_loop]
        done = run([*argv, pattern], env=self.env).check()
        said = done.stderr + done.stdout
        if dry_run and ("Would create topic" in said or "because dryRun is set" in said):
            raise SystemExit("topicctl apply --dry-run found changes:\n" + said[-3000:])
        return done

    def tctl_check(self, cluster: Path, pattern: str) -> Run:
        assert self.topicctl is not None
        argv = [str(self.topicctl), "check", "--cluster-config", str(cluster), pattern]
        return run(argv, env=self.env).check()


def flatten_counts(counts: dict[str, object]) -> dict[str, int]:
    """{"kafka": {"Metadata": 1, ...}} or {"Metadata": 1} -> {"Metadata": 1, ...}."""
    out: dict[str, int] = {}
    for key, value in counts.items():
        if isinstance(value, dict):
            for k, v in flatten_counts(value).items():
                out[k] = out.get(k, 0) + v
        elif isinstance(value, int):
            out[key] = out.get(key, 0) + value
    return out


def fmt_counts(counts: dict[str, int]) -> str:
    if not counts:
        return "—"
    total = sum(counts.values())
    return f"{total} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})"


# ------------------------------------------------------------------ measurements


@dataclass
class Row:
    work: str
    llm: list[Run]
    peer: list[Run]
    peer_name: str = "topicctl"
    requests: str = ""
    load: str = ""

    def line(self) -> str:
        lw = median([r.wall for r in self.llm])
        lc = median([r.cpu for r in self.llm])
        lm = max((r.maxrss_mib for r in self.llm), default=0.0)
        if self.peer:
            pw = median([r.wall for r in self.peer])
            pc = median([r.cpu for r in self.peer])
            peer = f"{pw:.2f} s ({pc:.2f} s CPU)"
            ratio = f"{lw / pw:.2f}"
        else:
            peer, ratio = "—", "—"
        notes = "; ".join(sorted({r.note for r in self.llm if r.note}))
        work = f"{self.work} ({notes})" if notes else self.work
        return (
            f"| {work} | {lw:.2f} s ({lc:.2f} s CPU, {lm:.0f} MiB) | {self.peer_name}: "
            f"{peer} | {ratio} | {self.requests} | n={len(self.llm)}/{len(self.peer)} | "
            f"{self.load} |"
        )


HEADER = (
    "| work | llm-analytics wall (CPU, peak RSS) | peer wall (CPU) | ratio | llm-analytics "
    "requests | runs | load at start |\n|---|---|---|---:|---|---|---|"
)


def interleave(repeats: int, first: object, second: object | None, flip: bool) -> None:
    """Call ``first`` and ``second`` alternately ``repeats`` times, alternating who goes first."""
    for i in range(repeats):
        order = [first, second] if (i + flip) % 2 == 0 else [second, first]
        for call in order:
            if call is not None:
                call()  # type: ignore[operator]


def stage(
    tools: Tools,
    target: Target,
    size: int,
    repeats: int,
    index: int,
    with_peer: bool,
    peer_creates: bool = True,
    peer_checks: bool = True,
) -> list[Row]:
    """Create N topics with each tool, then no-change plans of them. Without ``peer_creates``
    (time: topicctl creates topics one by one) topicctl does not create its own N: its topic
    files describe the N topics llm-analytics created (same settings), which it then plans."""
    run_id = uuid.uuid4().hex[:5]
    label = f"{size}-{run_id}"
    llm_names = [f"bl-{run_id}-{i:05d}" for i in range(size)]
    tctl_names = [f"bt-{run_id}-{i:05d}" for i in range(size)] if peer_creates else llm_names
    write_llm_spec(target.spec(label), target.servers, llm_names)
    write_topicctl_topics(target.workdir / f"topics-{label}", tctl_names)
    rows: list[Row] = []

    # create N topics: each tool its own N names, interleaved (who goes first alternates).
    llm_runs: list[Run] = []
    peer_runs: list[Run] = []
    load_before = loadavg()

    def create_llm() -> None:
        log(f"llm-analytics apply: create {size} topics")
        llm_runs.append(tools.llm_apply(target.spec(label)))

    def create_peer() -> None:
        log(f"topicctl apply: create {size} topics")
        peer_runs.append(tools.tctl_apply(target.cluster_yaml, target.topic_glob(label)))

    peer_create = create_peer if with_peer and peer_creates else None
    interleave(1, create_llm, peer_create, flip=bool(index % 2))
    peer_name = "topicctl" if peer_creates else "topicctl (not run: --peer-create-max)"
    rows.append(Row(f"create {size:,} topics", llm_runs, peer_runs, peer_name, load=load_before))
    target.llm_names += llm_names
    if peer_creates:
        target.tctl_names += tctl_names

    # no-change plan of the same N topics.
    plans: list[Run] = []
    dry: list[Run] = []
    checks: list[Run] = []
    counts: list[dict[str, int]] = []
    load_before = loadavg()

    def plan_llm() -> None:
        done, c = tools.llm_plan(target.spec(label))
        plans.append(done)
        counts.append(c)

    def plan_peer() -> None:
        dry.append(tools.tctl_apply(target.cluster_yaml, target.topic_glob(label), dry_run=True))
        if peer_checks:
            checks.append(tools.tctl_check(target.cluster_yaml, target.topic_glob(label)))

    log(f"no-change plans of {size} topics x{repeats}")
    interleave(repeats, plan_llm, plan_peer if with_peer else None, flip=bool(index % 2))
    req = fmt_counts(counts[-1]) if counts else ""
    rows.append(
        Row(
            f"no-change plan, {size:,} topics",
            plans,
            dry,
            "topicctl apply --dry-run",
            req,
            load_before,
        )
    )
    if with_peer:
        rows.append(
            Row(
                f"no-change plan, {size:,} topics",
                plans,
                checks,
                "topicctl check",
                req,
                load_before,
            )
        )
    target.labels[size] = label
    return rows


def count_topics(servers: str) -> int:
    """Topics on the broker (internal ones included), read with a plain aiokafka admin."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    async def count() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        try:
            return len(await admin.list_topics())
        finally:
            await admin.close()

    return asyncio.run(count())


def others_comparison(
    tools: Tools, big: Target, empty: Target, label: str, repeats: int, with_peer: bool
) -> list[Row]:
    """The same 14 topics planned on the big broker and on the empty one, interleaved."""
    runs: dict[str, list[Run]] = {"llm-big": [], "llm-empty": [], "t-big": [], "t-empty": []}
    counts: dict[str, dict[str, int]] = {}

    def llm(where: str, target: Target) -> None:
        done, c = tools.llm_plan(target.spec(label))
        runs[f"llm-{where}"].append(done)
        counts[where] = c

    def peer(where: str, target: Target) -> None:
        runs[f"t-{where}"].append(
            tools.tctl_apply(target.cluster_yaml, target.topic_glob(label), dry_run=True)
        )

    load_before = loadavg()
    log(f"14-topic plans: big cluster vs empty one x{repeats}")
    for i in range(repeats):
        calls = [lambda: llm("big", big), lambda: llm("empty", empty)]
        if with_peer:
            calls += [lambda: peer("big", big), lambda: peer("empty", empty)]
        if i % 2:
            calls.reverse()
        for call in calls:
            call()
    rows = []
    for where, target in (("empty", empty), ("big", big)):
        rows.append(
            Row(
                f"no-change plan, 14 topics, {where} cluster ({target.label})",
                runs[f"llm-{where}"],
                runs[f"t-{where}"],
                "topicctl apply --dry-run",
                fmt_counts(counts.get(where, {})),
                load_before,
            )
        )
    return rows


def floor_comparison(tools: Tools, target: Target, label: str, repeats: int) -> tuple[str, Row]:
    floor: list[Run] = []
    bare: list[Run] = []
    plans: list[Run] = []

    def one_floor() -> None:
        floor.append(run([sys.executable, "-c", FLOOR_CODE]).check())
        bare.append(run([sys.executable, "-c", "pass"]).check())

    def one_plan() -> None:
        plans.append(tools.llm_plan(target.spec(label))[0])

    load_before = loadavg()
    log(f"dependency floor vs 14-topic plan x{repeats}")
    interleave(repeats, one_floor, one_plan, flip=False)
    fc = median([r.cpu for r in floor])
    pc = median([r.cpu for r in plans])
    bc = median([r.cpu for r in bare])
    text = (
        f"| dependency floor (import pydantic, yaml, aiokafka, asyncio, click; one model) | "
        f"{median([r.wall for r in floor]):.3f} s | {fc:.3f} s |\n"
        f"| bare `python -c pass` | {median([r.wall for r in bare]):.3f} s | {bc:.3f} s |\n"
        f"| `llm-analytics plan -f <14-topic spec>` (no changes, the empty cluster) | "
        f"{median([r.wall for r in plans]):.3f} s | {pc:.3f} s |\n"
        f"| **plan above the floor** (goal ≤ 0.08 s CPU) | "
        f"{median([r.wall for r in plans]) - median([r.wall for r in floor]):+.3f} s | "
        f"**{pc - fc:+.3f} s** |"
    )
    return text, Row("floor", plans, floor, load=load_before)


def warm_up(tools: Tools, target: Target, timeout: float = 180) -> None:
    """Untimed: one apply of a one-topic spec, retried until it works. A fresh broker's first
    apply creates ``__consumer_offsets`` for the lock group, which under load may time out."""
    spec = target.workdir / "spec-warmup.yaml"
    write_llm_spec(spec, target.servers, ["bench-warmup"])
    tries = 0
    for attempt in retries(timeout=timeout, interval=2):
        tries += 1
        done = run([*tools.llm, "apply", "-f", str(spec), "-y"], env=tools.env)
        if done.rc == 0:
            break
        if attempt.remaining <= 0 or "not a valid spec" in done.stderr:
            done.check()
    else:
        done.check()
    if tries > 1:
        log(f"warm-up apply on {target.servers} needed {tries} tries: {done.stderr.strip()[:200]}")
    if tools.topicctl is not None:
        argv = [str(tools.topicctl), "get", "brokers", "--cluster-config", str(target.cluster_yaml)]
        run(argv, env=tools.env).check()


def start_sandboxes(count: int) -> list[KafkaSandbox]:
    sandboxes = [KafkaSandbox("single") for _ in range(count)]
    errors: list[BaseException] = []

    def start(sandbox: KafkaSandbox) -> None:
        try:
            sandbox.start()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in sandboxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        for sandbox in sandboxes:
            sandbox.stop()
        raise errors[0]
    return sandboxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="14,1000,5000")
    parser.add_argument("--repeats", type=int, default=3, help="no-change plans per tool and size")
    parser.add_argument(
        "--big-repeats",
        type=int,
        default=None,
        help="repeats for sizes ≥ 5,000 (default: --repeats)",
    )
    parser.add_argument(
        "--sleep-loop-duration",
        default="250ms",
        help="topicctl apply's; it sleeps a fifth of it after each created topic",
    )
    parser.add_argument("--floor-repeats", type=int, default=5)
    parser.add_argument(
        "--peer-create-max",
        type=int,
        default=1000,
        help="largest size topicctl creates itself (it takes ~0.1-0.4 s per topic); above it, "
        "topicctl plans the topics llm-analytics created",
    )
    parser.add_argument(
        "--check-max", type=int, default=1000, help="largest size `topicctl check` runs at"
    )
    parser.add_argument(
        "--bootstrap-servers", help="use this broker instead of starting a sandbox (smoke tests)"
    )
    parser.add_argument(
        "--empty-bootstrap-servers",
        help="the 'empty cluster' broker (default with --bootstrap-servers: the same one)",
    )
    parser.add_argument("--skip-topicctl", action="store_true")
    parser.add_argument("--no-build", action="store_true", help="never build topicctl")
    parser.add_argument("--out", default=None, help="also write the tables to this file")
    args = parser.parse_args()
    compile_package()  # measured processes load bytecode, as an installed package does
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the sandboxes on SIGTERM
    sizes = [int(s) for s in args.sizes.split(",")]
    if sizes[0] != 14:
        sizes.insert(0, 14)  # the 14-topic set is what the floor and the empty cluster use
    topicctl: Path | None = None
    if not args.skip_topicctl:
        topicctl = topicctl_path() if args.no_build else build_topicctl()
        if not topicctl.exists():
            raise SystemExit(f"topicctl not found at {topicctl} (make bench-deps)")
    tools = Tools(topicctl, args.sleep_loop_duration)
    started = time.monotonic()
    boxes: list[KafkaSandbox] = []
    if args.bootstrap_servers:
        servers = args.bootstrap_servers
        empty_servers = args.empty_bootstrap_servers or servers
    else:
        log("starting two single-node sandbox brokers (the benchmark one and an empty one)")
        boxes = start_sandboxes(2)
        servers, empty_servers = boxes[0].bootstrap_servers, boxes[1].bootstrap_servers
    version = boxes[0].version if boxes else "(external)"
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-topicctl-") as tmp:
            big = Target(servers, Path(tmp, "big"), "big")
            empty = Target(empty_servers, Path(tmp, "empty"), "empty")
            for target in (big, empty):
                target.workdir.mkdir()
                write_topicctl_cluster(target.cluster_yaml, target.servers)
                warm_up(tools, target)
            for index, size in enumerate(sizes):
                repeats = args.repeats
                if size >= 5000 and args.big_repeats:
                    repeats = args.big_repeats
                rows += stage(
                    tools,
                    big,
                    size,
                    repeats,
                    index,
                    topicctl is not None,
                    peer_creates=size <= args.peer_create_max,
                    peer_checks=size <= args.check_max,
                )
                partial = "\n".join([HEADER, *[r.line() for r in rows]])
                log(f"after {size}:\n{partial}")
                if args.out:
                    Path(args.out).write_text(partial + "\n(partial)\n", encoding="utf-8")
            # The same 14 topic names on the empty broker (created untimed, by each tool).
            label14 = big.labels[14]
            n14 = len(big.llm_names[:14])
            write_llm_spec(empty.spec(label14), empty.servers, big.llm_names[:n14])
            write_topicctl_topics(empty.workdir / f"topics-{label14}", big.tctl_names[:n14])
            tools.llm_apply(empty.spec(label14))
            if topicctl is not None:
                tools.tctl_apply(empty.cluster_yaml, empty.topic_glob(label14))
            big_count = count_topics(big.servers)
            empty_count = count_topics(empty.servers)
            big.label = f"{big_count:,} topics in all"
            empty.label = f"{empty_count:,} topics in all"
            rows += others_comparison(
                tools, big, empty, label14, args.repeats, topicctl is not None
            )
            floor_text, _ = floor_comparison(tools, empty, label14, args.floor_repeats)
    finally:
        for box in boxes:
            box.stop()
    by = {r.work: r for r in rows}
    e = by[f"no-change plan, 14 topics, empty cluster ({empty.label})"]
    b = by[f"no-change plan, 14 topics, big cluster ({big.label})"]
    grow = median([r.wall for r in b.llm]) / median([r.wall for r in e.llm])
    grow_cpu = median([r.cpu for r in b.llm]) / median([r.cpu for r in e.llm])
    out = [
        f"Kafka {version} single-node sandbox; {cpu_count()} CPUs; load average "
        f"(1/5/15 min) at the end {loadavg()}; whole processes, medians; ratio = llm-analytics "
        f"wall / peer wall (< 1: llm-analytics faster). topicctl {tools.topicctl or 'skipped'}, "
        f"--sleep-loop-duration {tools.sleep_loop} (it sleeps a fifth of that per created topic)."
        f" Sizes are cumulative (each adds llm-analytics' N and topicctl's N topics).",
        "",
        HEADER,
        *[r.line() for r in rows],
        "",
        f"14-topic plan, big cluster / empty cluster (llm-analytics): {grow:.2f}× wall, "
        f"{grow_cpu:.2f}× CPU (goal ≤ 1.3×)",
    ]
    if b.peer and e.peer:
        tg = median([r.wall for r in b.peer]) / median([r.wall for r in e.peer])
        out.append(f"14-topic plan, big cluster / empty cluster (topicctl): {tg:.2f}× wall")
    out += [
        "",
        "| process | wall (median) | CPU (median) |",
        "|---|---:|---:|",
        floor_text,
        "",
        f"total bench time {time.monotonic() - started:.0f} s",
    ]
    text = "\n".join(out)
    publish(text, args.out)


if __name__ == "__main__":
    main()
