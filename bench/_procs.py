"""Shared helpers of the benchmarks: whole processes timed with ``os.wait4``, medians, the
load average, the topicctl build cache, Markdown tables, the report file, test keys.

Not a product module: nothing under ``reconciler/`` imports it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOPICCTL_VERSION = "v1.17.0"
TOPICCTL_MODULE = "github.com/segmentio/topicctl"
GO = os.environ.get("GO", "/usr/local/go/bin/go")


def cache_dir() -> Path:
    base = os.environ.get("LLM_ANALYTICS_CACHE") or os.path.expanduser("~/.cache/llm-analytics")
    return Path(base)


def bench_bin() -> Path:
    return cache_dir() / "bench-bin"


def topicctl_path() -> Path:
    return bench_bin() / "topicctl"


@dataclass
class Run:
    """One finished process: wall seconds, CPU seconds (user + sys of the process and its
    waited-for children), peak RSS in MiB, exit code and output."""

    argv: list[str]
    wall: float
    cpu: float
    user: float
    sys: float
    maxrss_mib: float
    rc: int
    stdout: str
    stderr: str
    note: str = ""

    def check(self, *ok: int) -> Run:
        if self.rc not in (ok or (0,)):
            raise SystemExit(
                f"command failed (exit {self.rc}): {' '.join(self.argv)[:300]}\n"
                f"--- stdout (tail)\n{self.stdout[-3000:]}\n--- stderr (tail)\n{self.stderr[-3000:]}"
            )
        return self


def run(argv: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None) -> Run:
    """Run ``argv`` as a whole process; wall time around fork..reap, CPU time from wait4."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    return Run(
        argv=argv,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        user=usage.ru_utime,
        sys=usage.ru_stime,
        maxrss_mib=usage.ru_maxrss / 1024,
        rc=process.returncode,
        stdout=stdout,
        stderr=stderr,
    )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) the running processes ``pids`` have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / ticks


def cpu_count() -> int:
    return os.cpu_count() or 1


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows (one dict each, the first one's keys as headers) as a Markdown table."""
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = [f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def publish(text: str, out: str | None) -> None:
    """Print a benchmark's report, and write it to ``out`` (``--out``) when given."""
    print(text)
    if out:
        Path(out).write_text(text + "\n", encoding="utf-8")


def load_keys(address: str, count: int, value_size: int, prefix: str = "user:") -> dict[str, str]:
    """Write ``count`` keys ``PREFIX<i>:session`` (reproducible values) into the Redis
    cluster at ``address``; returns them with their values, to verify later."""
    import random

    from redis.cluster import RedisCluster

    host, port = address.split(":")
    cluster = RedisCluster(host=host, port=int(port))
    rng = random.Random(7)
    values: dict[str, str] = {}
    pipe = cluster.pipeline()
    for i in range(count):
        key = f"{prefix}{i}:session"
        value = f"{i}-" + "".join(rng.choices("abcdefghij", k=value_size))
        values[key] = value
        pipe.set(key, value)
        if len(pipe) >= 5000:
            pipe.execute()
    pipe.execute()
    cluster.close()
    return values


def compile_package() -> None:
    """Byte-compile ``reconciler/`` once, as installing a package does. With
    ``PYTHONDONTWRITEBYTECODE`` set (CI images often set it) an editable install would
    otherwise compile every module from source in every measured process."""
    import compileall

    compileall.compile_dir(
        str(Path(__file__).resolve().parent.parent / "reconciler"), quiet=1, workers=1
    )


def llm_analytics_argv() -> list[str]:
    """The installed console script next to this interpreter (what a user runs), else -m."""
    script = Path(sys.executable).parent / "llm-analytics"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "reconciler.cli.main"]


def build_topicctl(*, quiet: bool = False) -> Path:
    """Build topicctl v1.17.0 into the cache once (through the Go module proxy).

    ``go install github.com/segmentio/topicctl/cmd/topicctl@v1.17.0`` is tried first. The
    proxy here refuses the module's version *list* (403), which that command reads to look for
    a deprecation notice, so the fallback builds the same version from a throw-away module that
    requires it (no list lookup; go.sum entries come from the checksum database as usual).
    """
    target = topicctl_path()
    if target.exists():
        return target
    go = GO if Path(GO).exists() else (shutil.which("go") or GO)
    if not Path(go).exists() and shutil.which(go) is None:
        raise SystemExit(f"Go not found ({GO}); needed to build topicctl")
    bench_bin().mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOBIN=str(bench_bin()), GOFLAGS="-mod=mod")

    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr, flush=True)

    say(f"building topicctl {TOPICCTL_VERSION} into {bench_bin()} (once) ...")
    direct = subprocess.run(
        [go, "install", f"{TOPICCTL_MODULE}/cmd/topicctl@{TOPICCTL_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
    )
    if direct.returncode == 0 and target.exists():
        return target
    say("go install pkg@version was refused; building from a module that requires it")
    with tempfile.TemporaryDirectory(prefix="topicctl-build-") as tmp:
        Path(tmp, "go.mod").write_text(
            f"module bench/topicctlbuild\n\ngo 1.22\n\nrequire {TOPICCTL_MODULE} {TOPICCTL_VERSION}\n"
        )
        Path(tmp, "tools.go").write_text(
            f'//go:build tools\n\npackage tools\n\nimport _ "{TOPICCTL_MODULE}/cmd/topicctl"\n'
        )
        done = subprocess.run(
            [go, "install", f"{TOPICCTL_MODULE}/cmd/topicctl"],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
        )
    if done.returncode != 0 or not target.exists():
        raise SystemExit(
            "building topicctl failed:\n" + direct.stderr[-1500:] + "\n" + done.stderr[-3000:]
        )
    say(f"topicctl built: {target}")
    return target


if __name__ == "__main__":
    # python bench/_procs.py build-topicctl  (the Makefile's bench-deps target)
    if sys.argv[1:] == ["build-topicctl"]:
        print(build_topicctl())
    else:
        raise SystemExit("usage: python bench/_procs.py build-topicctl")
