"""Smoke runs of the benchmarks in bench/ at their smallest sizes (not timed tests).

Each benchmark runs as a whole process, as a developer runs it, and must finish and print its
table; the numbers themselves are not checked (the machine may be shared). The Kafka ones use
the session's single-node sandbox broker instead of starting their own; the topicctl part is
skipped when ``make bench-deps`` has not built topicctl into the cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.sandbox import KafkaSandbox, RedisSandbox

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

from _procs import topicctl_path  # noqa: E402

pytestmark = pytest.mark.slow


def bench(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 240) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done.stdout


def test_topics_vs_topicctl_llm_analytics_alone(kafka_single: KafkaSandbox) -> None:
    out = bench(
        "topics_vs_topicctl.py",
        "--sizes", "14", "--repeats", "1", "--floor-repeats", "1", "--skip-topicctl",
        "--bootstrap-servers", kafka_single.bootstrap_servers,
    )  # fmt: skip
    assert "| create 14 topics |" in out
    assert "plan above the floor" in out
    assert "Metadata" in out  # the plan's request counts


def test_topics_vs_topicctl_side_by_side(kafka_single: KafkaSandbox) -> None:
    if not topicctl_path().exists():
        pytest.skip(f"topicctl is not built ({topicctl_path()} missing): run `make bench-deps`")
    out = bench(
        "topics_vs_topicctl.py",
        "--sizes", "14", "--repeats", "1", "--floor-repeats", "1", "--no-build",
        "--bootstrap-servers", kafka_single.bootstrap_servers,
    )  # fmt: skip
    assert "topicctl apply --dry-run" in out
    assert "topicctl check" in out


def test_kafka_topics_bench(kafka_single: KafkaSandbox) -> None:
    out = bench(
        "kafka_topics.py",
        "--sizes",
        "14",
        env={"LLM_ANALYTICS_BOOTSTRAP_SERVERS": kafka_single.bootstrap_servers},
    )
    assert "| 14 |" in out


def test_redis_vs_rediscli() -> None:
    out = bench("redis_vs_rediscli.py", "--keys", "500", "--trials", "1")
    assert "llm-analytics / redis-cli" in out
    assert "| 500 |" in out  # every key verified for both tools


def test_startup_profile(kafka_single: KafkaSandbox, redis_cluster: RedisSandbox) -> None:
    out = bench(
        "startup_profile.py",
        "--top",
        "5",
        "--repeats",
        "1",
        env={
            "LLM_ANALYTICS_BOOTSTRAP_SERVERS": kafka_single.bootstrap_servers,
            "LLM_ANALYTICS_REDIS_ADDRESSES": ",".join(redis_cluster.addresses),
        },
    )
    assert "top cumulative" in out
    assert "pydantic model building" in out


def test_scale_plan(kafka_secure: KafkaSandbox) -> None:
    out = bench(
        "scale_plan.py", "--topics", "20", "--acls", "40", "--repeats", "1",
        env=kafka_secure.connection_env(),
    )  # fmt: skip
    assert "| 20 topics + 40 ACLs (1 runs) |" in out
    assert "creating 20 topics with one `apply`" in out
    assert "brokers' CPU not known" in out  # a cluster the bench did not start
    assert "DescribeAcls=1" in out and "Metadata=" in out
    assert "load average" in out
