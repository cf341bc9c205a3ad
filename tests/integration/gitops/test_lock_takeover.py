"""Acceptance: a holder killed with SIGKILL on this host is taken over at once, not after
its TTL, on a real Kafka broker and real Redis nodes; a live holder is still waited out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.locking import LockAttempt, LockHeld, LockOwner, LockSet
from reconciler.providers.kafka.locking import KafkaGroupLock
from reconciler.providers.redis.locking import RedisLock
from reconciler.providers.redis.transports import DirectTransport
from tests.integration.gitops.conftest import run_cli
from tests.integration.gitops.test_apply_lock import background_apply, topics_spec, wait_for

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]
TTL = 30.0  # long, so that "at once" and "after the TTL" cannot be confused


@contextmanager
def holder_process(kind: str, where: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.gitops.lock_holder", kind, where, str(TTL)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("HELD"), line
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


class Notices:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def waiting(self, backend: Any, attempt: LockAttempt, remaining: float) -> None:
        self.lines.append(f"waiting: {attempt.holder.describe() if attempt.holder else '?'}")

    def acquired(self, backend: Any, attempt: LockAttempt) -> None:
        self.lines.append("acquired")

    def released(self, backend: Any) -> None:
        self.lines.append("released")

    def lost(self, backend: Any, reason: str) -> None:
        self.lines.append(f"lost: {reason}")

    def unavailable(self, backend: Any, reason: str) -> None:
        self.lines.append(f"unavailable: {reason}")

    def taken_over(self, backend: Any, holder: LockOwner, reason: str) -> None:
        self.lines.append(f"taken over from pid {holder.pid}: {reason}")


async def take(backend: Any, timeout: float) -> tuple[float, Notices]:
    notices = Notices()
    started = time.monotonic()
    async with LockSet([backend], LockOwner.current("taker"), timeout=timeout, reporter=notices):
        elapsed = time.monotonic() - started
    return elapsed, notices


def kafka_lock(bootstrap: str, group: str) -> KafkaGroupLock:
    return KafkaGroupLock({"bootstrap_servers": bootstrap}, ttl_seconds=TTL, group=group)


async def test_kafka_a_killed_holder_on_this_host_is_taken_over_at_once(
    kafka_single: Any, unique_name: Callable[[str], str]
) -> None:
    group = unique_name("takeover")
    bootstrap = kafka_single.bootstrap_servers
    with holder_process("kafka-group:" + group, bootstrap) as holder:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(30)
        elapsed, notices = await take(kafka_lock(bootstrap, group), timeout=TTL)
    assert elapsed < 10, (elapsed, notices.lines)
    assert notices.lines[0] == (
        f"taken over from pid {holder.pid}: its process {holder.pid} on this host has exited"
    ), notices.lines
    assert notices.lines[1:] == ["acquired", "released"]


async def test_kafka_a_live_holder_on_this_host_is_waited_out(
    kafka_single: Any, unique_name: Callable[[str], str]
) -> None:
    group = unique_name("takeover-live")
    bootstrap = kafka_single.bootstrap_servers
    with holder_process("kafka-group:" + group, bootstrap) as holder:
        with pytest.raises(LockHeld) as raised:
            await take(kafka_lock(bootstrap, group), timeout=3)
        assert raised.value.holder is not None and raised.value.holder.pid == holder.pid
        assert holder.poll() is None


@pytest.fixture(scope="module")
def cluster(redis_factory: Callable[..., Any]) -> Any:
    return redis_factory(nodes=3, formed=True, replicas=0)


async def test_redis_a_killed_holder_on_this_host_is_taken_over_at_once(cluster: Any) -> None:
    where = ",".join(cluster.addresses)
    with holder_process("redis", where) as holder:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(30)
        lock = RedisLock(DirectTransport(cluster.addresses), ttl_seconds=TTL)
        elapsed, notices = await take(lock, timeout=TTL)
    assert elapsed < 5, (elapsed, notices.lines)
    assert notices.lines == [
        f"taken over from pid {holder.pid}: its process {holder.pid} on this host has exited",
        "acquired",
        "released",
    ]


async def test_redis_a_live_holder_on_this_host_is_waited_out(cluster: Any) -> None:
    where = ",".join(cluster.addresses)
    with holder_process("redis", where) as holder:
        lock = RedisLock(DirectTransport(cluster.addresses), ttl_seconds=TTL)
        with pytest.raises(LockHeld) as raised:
            await take(lock, timeout=2)
        assert raised.value.holder is not None and raised.value.holder.pid == holder.pid


def test_an_apply_killed_with_sigkill_is_taken_over_by_the_next_apply_at_once(
    kafka_single: Any, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    bootstrap = kafka_single.bootstrap_servers
    spec = topics_spec(tmp_path / "spec.yaml", unique_name("takeover-cli"), 300)
    log = tmp_path / "killed.log"
    with background_apply(spec, log, bootstrap) as killed:  # default TTL: 30 s
        wait_for(lambda: "Acquired the apply lock" in log.read_text(), 120, "the first apply")
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(30)
    started = time.monotonic()
    after = run_cli(
        "apply", "-f", str(spec), "--auto-approve", "--lock-timeout", "20s", bootstrap=bootstrap
    )
    took = time.monotonic() - started
    assert after.code in (0, 1), after.output
    assert "Took over the apply lock (Kafka consumer group" in after.stderr, after.stderr
    assert f"(pid {killed.pid}" in after.stderr
    assert f"its process {killed.pid} on this host has exited" in after.stderr
    assert "Waiting for the apply lock" not in after.stderr
    final = run_cli("apply", "-f", str(spec), "--auto-approve", bootstrap=bootstrap)
    assert final.code == 0, final.output
    assert took < 120
