"""Acceptance: two applies against one Kafka cluster never interleave.

The lock is the Kafka consumer group ``llm-analytics-apply-lock``. These tests run the CLI
as separate processes and read the order of events from their time-stamped stderr.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.locking import LockOwner
from reconciler.providers.kafka.locking import KafkaGroupLock
from tests.integration.gitops.conftest import cli_argv, cli_env, run_cli, stamped, write_spec

pytestmark = pytest.mark.integration

HOLDER = LockOwner(
    host="test-runner",
    pid=4242,
    user="integration",
    started_at="2024-05-01T12:00:00Z",
    command="pytest holds the apply lock",
)


class HeldInThread:
    """The apply lock held by this test process (its own event loop, heartbeating)."""

    def __init__(self, bootstrap: str, config: dict[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self.config = config or {"bootstrap_servers": bootstrap}
        self.loop = asyncio.new_event_loop()
        self.lock: KafkaGroupLock | None = None
        self.stop: asyncio.Event | None = None

    def __enter__(self) -> HeldInThread:
        import threading

        ready = threading.Event()

        async def hold() -> None:
            from reconciler.engine.locking import HeldLock

            self.lock = KafkaGroupLock(dict(self.config))
            self.stop = asyncio.Event()
            attempt = await self.lock.try_acquire(HOLDER)
            assert attempt.acquired, attempt
            held = HeldLock(self.lock, attempt)
            held.start()
            ready.set()
            await self.stop.wait()
            await held.release()
            await self.lock.close()

        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(hold(),), daemon=True
        )
        self.thread.start()
        assert ready.wait(60), "could not take the lock"
        return self

    def release(self) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
            self.thread.join(30)
            self.stop = None

    def __exit__(self, *exc: object) -> None:
        self.release()


def topics_spec(path: Path, prefix: str, count: int) -> Path:
    return write_spec(
        path,
        [{"name": f"{prefix}-{i:03d}", "partitions": 2} for i in range(count)],
        prefixes=[prefix],
    )


@contextmanager
def background_apply(
    spec: Path,
    log: Path,
    bootstrap: str,
    *extra: str,
    env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as stream:
        process = subprocess.Popen(
            [*(prefix or []), *cli_argv("apply", "-f", str(spec), "--auto-approve", *extra)],
            stdout=subprocess.DEVNULL,
            stderr=stream,
            stdin=subprocess.DEVNULL,
            env=cli_env(bootstrap, env),
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def waits(log: Path) -> bool:
    return "Waiting for the apply lock" in log.read_text()


def action_times(log: str) -> list[float]:
    """When each change started (``ADDRESS: creating...``) and finished (``✓ ADDRESS: ...``);
    progress lines in between (``ADDRESS: waiting for ...``) are not actions."""
    return [
        at
        for at, message in stamped(log)
        if message.startswith(("✓ kafka_topic.", "✗ kafka_topic."))
        or (message.startswith("kafka_topic.") and message.endswith("ing..."))
    ]


def event_time(log: str, prefix: str) -> float:
    times = [at for at, message in stamped(log) if message.startswith(prefix)]
    assert times, f"no {prefix!r} line in:\n{log}"
    return times[-1]


def test_two_applies_run_one_after_the_other(
    kafka_single: Any, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    bootstrap = kafka_single.bootstrap_servers
    spec_a = topics_spec(tmp_path / "a.yaml", unique_name("lock-a"), 120)
    spec_b = topics_spec(tmp_path / "b.yaml", unique_name("lock-b"), 120)
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    with (
        HeldInThread(bootstrap) as held,
        background_apply(spec_a, log_a, bootstrap, "--lock-timeout", "2m") as a,
        background_apply(spec_b, log_b, bootstrap, "--lock-timeout", "2m") as b,
    ):
        # Both start while the test holds the lock: both wait, naming the test as holder.
        for waiting_log in (log_a, log_b):
            wait_for(functools.partial(waits, waiting_log), 60, f"{waiting_log.name} to wait")
        held.release()
        assert a.wait(180) == 0, log_a.read_text()
        assert b.wait(180) == 0, log_b.read_text()
    logs = {"a": log_a.read_text(), "b": log_b.read_text()}
    pids = {"a": a.pid, "b": b.pid}
    for text in logs.values():
        assert "held by integration@test-runner (pid 4242)" in text
        assert "pytest holds the apply lock" in text
    acquired = {name: event_time(log, "Acquired the apply lock") for name, log in logs.items()}
    first, second = sorted(logs, key=lambda name: acquired[name])
    # The second waited for the test, then for nobody but the first. Its polls are seconds
    # apart, so a first apply quicker than that may fall between two and not show up.
    holders = set(re.findall(r"held by [^\n]*?\(pid (\d+)\)", logs[second]))
    assert "4242" in holders and holders <= {"4242", str(pids[first])}, logs[second]
    released_first = event_time(logs[first], "Released the apply lock")
    assert released_first <= acquired[second]
    first_actions, second_actions = action_times(logs[first]), action_times(logs[second])
    assert len(first_actions) == len(second_actions) == 240  # started + applied per topic
    # No interleaving: every action of the first precedes every action of the second
    # (action lines are stamped to the second, lock lines to the millisecond).
    assert int(max(first_actions)) <= int(released_first)
    assert int(acquired[second]) <= int(min(second_actions))
    assert max(first_actions) <= min(second_actions)


def test_held_lock_times_out_with_exit_3_naming_the_holder(
    kafka_single: Any, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    bootstrap = kafka_single.bootstrap_servers
    prefix = unique_name("lock-timeout")
    spec = topics_spec(tmp_path / "spec.yaml", prefix, 2)
    with HeldInThread(bootstrap):
        started = time.monotonic()
        refused = run_cli(
            "apply", "-f", str(spec), "--auto-approve", "--lock-timeout", "3s", bootstrap=bootstrap
        )
        waited = time.monotonic() - started
        at_once = run_cli(
            "apply", "-f", str(spec), "--auto-approve", "--lock-timeout", "0", bootstrap=bootstrap
        )
    assert refused.code == 3, refused.output
    assert waited >= 3
    for part in (
        "integration@test-runner",
        "pid 4242",
        "2024-05-01T12:00:00Z",
        "pytest holds the apply lock",
        "after waiting 3s",
    ):
        assert part in refused.stderr
    assert "Waiting for the apply lock" in refused.stderr
    assert at_once.code == 3 and "without waiting" in at_once.stderr
    # Nothing was created by the refused applies.
    state_check = run_cli("plan", "-f", str(spec), "--detailed-exitcode", bootstrap=bootstrap)
    assert state_check.code == 2 and "2 to add" in state_check.stdout


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs unshare")
def test_a_crashed_apply_on_another_host_frees_the_lock_after_its_ttl(
    kafka_single: Any, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    # The crashed run's record names another host (its own UTS namespace), so its death
    # cannot be proven from here: the next run waits for the TTL. (A run that died on this
    # host is taken over at once: test_lock_takeover.py.)
    bootstrap = kafka_single.bootstrap_servers
    spec = topics_spec(tmp_path / "spec.yaml", unique_name("lock-crash"), 300)
    log = tmp_path / "crashed.log"
    ttl = {"LLM_ANALYTICS_LOCK_TTL": "6s"}
    elsewhere = ["unshare", "--uts", "sh", "-c", 'hostname another-host && exec "$@"', "sh"]
    with background_apply(spec, log, bootstrap, env=ttl, prefix=elsewhere) as crashed:
        wait_for(lambda: "Acquired the apply lock" in log.read_text(), 60, "the first apply")
        os.kill(crashed.pid, signal.SIGKILL)
        crashed.wait(30)
    started = time.monotonic()
    after = run_cli(
        "apply",
        "-f",
        str(spec),
        "--auto-approve",
        "--lock-timeout",
        "60s",
        bootstrap=bootstrap,
        extra_env=ttl,
    )
    assert after.code == 0, after.output
    assert f"@another-host (pid {crashed.pid})" in after.stderr  # it waited for the dead run
    assert "Waiting for the apply lock" in after.stderr
    assert "Took over" not in after.stderr
    assert time.monotonic() - started < 40


def test_no_lock_skips_the_lock_with_a_warning(
    kafka_single: Any, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    bootstrap = kafka_single.bootstrap_servers
    spec = topics_spec(tmp_path / "spec.yaml", unique_name("lock-none"), 1)
    with HeldInThread(bootstrap):
        result = run_cli(
            "apply", "-f", str(spec), "--auto-approve", "--no-lock", bootstrap=bootstrap
        )
    assert result.code == 0, result.output
    assert "--no-lock" in result.stderr and "Acquired" not in result.stderr
