"""SIGINT/SIGTERM as a graceful stop: real signals sent to this process, a real event loop."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import click
import pytest

from reconciler.engine.interrupts import (
    Interrupted,
    checkpoints,
    interrupted,
    raise_if_interrupted,
    stop_on_signals,
)
from reconciler.engine.locking import LockAttempt, LockOwner, LockSet
from reconciler.errors import EXIT_SIGINT, EXIT_SIGTERM

OWNER = LockOwner(host="h", pid=1, user="u", started_at="t", command="c")


def send_soon(signum: signal.Signals, delay: float = 0.05) -> None:
    asyncio.get_running_loop().call_later(delay, os.kill, os.getpid(), signum)


async def test_outside_checkpoints_a_signal_cancels_at_once_and_cleanup_runs() -> None:
    events: list[str] = []
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(Interrupted) as raised:
        async with stop_on_signals(notify=lines.append):
            try:
                send_soon(signal.SIGTERM)
                await asyncio.sleep(30)
            finally:
                events.append("cleanup")
    assert time.monotonic() - started < 5
    assert events == ["cleanup"]
    assert raised.value.exit_code == EXIT_SIGTERM == 143
    assert raised.value.signal == signal.SIGTERM and raised.value.at_once
    assert "interrupted by SIGTERM: stopped at once" in str(raised.value)
    assert lines == ["Received SIGTERM: stopping now; nothing more is changed."]


async def test_inside_checkpoints_the_current_step_finishes() -> None:
    applied: list[str] = []
    changes = [f"kafka_topic.t{i}" for i in range(5)]
    with pytest.raises(Interrupted) as raised:
        async with stop_on_signals():
            with checkpoints(grace=10):
                for index, change in enumerate(changes):
                    raise_if_interrupted(done=applied, not_done=changes[index:])
                    if index == 1:
                        send_soon(signal.SIGINT, 0.01)
                    await asyncio.sleep(0.2)  # the request in flight: not cut short
                    applied.append(change)
    assert applied == changes[:2]
    error = raised.value
    assert error.exit_code == EXIT_SIGINT == 130 and not error.at_once
    assert error.done == tuple(changes[:2]) and error.not_done == tuple(changes[2:])
    text = str(error)
    assert "interrupted by SIGINT: stopped after the current request" in text
    assert "done: kafka_topic.t0, kafka_topic.t1" in text
    assert "not done: kafka_topic.t2, kafka_topic.t3, kafka_topic.t4" in text
    assert "hint: run plan to see what remains" in text


async def test_work_that_misses_its_checkpoints_is_cancelled_after_the_grace() -> None:
    started = time.monotonic()
    with pytest.raises(Interrupted) as raised:
        async with stop_on_signals():
            with checkpoints(grace=0.3):
                send_soon(signal.SIGTERM, 0.01)
                await asyncio.sleep(30)
    assert 0.25 < time.monotonic() - started < 5
    assert raised.value.at_once


async def test_a_second_signal_stops_at_once() -> None:
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(Interrupted):
        async with stop_on_signals(notify=lines.append):
            with checkpoints(grace=30):
                send_soon(signal.SIGTERM, 0.01)
                send_soon(signal.SIGTERM, 0.2)
                await asyncio.sleep(30)
    assert time.monotonic() - started < 5
    assert lines[0].startswith("Received SIGTERM: stopping after the current change")
    assert lines[1] == "Received SIGTERM again: stopping at once."


async def test_work_that_ends_in_spite_of_a_signal_returns_normally() -> None:
    async with stop_on_signals() as state:
        with checkpoints(grace=10):
            send_soon(signal.SIGTERM, 0.01)
            await asyncio.sleep(0.1)
            assert interrupted() == signal.SIGTERM and state.requested
    assert interrupted() is None  # outside the block


async def test_entering_checkpoints_after_a_signal_raises_at_once() -> None:
    with pytest.raises(Interrupted):
        async with stop_on_signals() as state:
            state.signum = signal.SIGTERM  # as if a signal came while shielded elsewhere
            with checkpoints():
                raise AssertionError("not reached")


async def test_handlers_are_removed_afterwards() -> None:
    before = signal.getsignal(signal.SIGTERM)
    async with stop_on_signals():
        assert signal.getsignal(signal.SIGTERM) != before
    assert signal.getsignal(signal.SIGTERM) == before
    raise_if_interrupted()  # outside: a no-op


async def test_no_signal_no_change() -> None:
    async with stop_on_signals():
        value = await asyncio.sleep(0.01, result=7)
    assert value == 7


class RecordingBackend:
    description = "fake lock"
    ttl_seconds = 5.0
    renew_interval = 1.0
    lock_order = 10

    def __init__(self, events: list[str]) -> None:
        self.events = events

    async def try_acquire(self, owner: LockOwner) -> LockAttempt:
        return LockAttempt(True, token=1)

    async def renew(self) -> None:
        pass

    async def release(self) -> None:
        self.events.append("released")

    async def close(self) -> None:
        self.events.append("closed")


async def test_the_lock_is_released_after_the_work_stopped() -> None:
    events: list[str] = []

    async def work() -> None:
        try:
            send_soon(signal.SIGTERM, 0.05)
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0.1)  # unwinding takes a moment: the lock must wait for it
            events.append("work stopped")
            raise

    with pytest.raises(Interrupted) as raised:
        async with (
            stop_on_signals(),
            LockSet([RecordingBackend(events)], OWNER, timeout=0) as locks,
        ):
            await locks.guard(work())
    assert events == ["work stopped", "released", "closed"]
    assert raised.value.exit_code == 143


def test_the_cli_runner_exits_143_with_a_message(capsys: Any) -> None:
    from reconciler.cli.common import run
    from reconciler.cli.errors import run_cli

    @click.command()
    def slow() -> None:
        async def body() -> None:
            send_soon(signal.SIGTERM)
            await asyncio.sleep(30)

        run(body())

    started = time.monotonic()
    code = run_cli(slow, [])
    assert code == 143
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert "Received SIGTERM: stopping now" in err
    assert "Error: interrupted by SIGTERM: stopped at once" in err
    # After the run, SIGTERM has its default action again (no handler left behind).
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


async def test_a_request_in_flight_is_not_cut_short() -> None:
    from reconciler.engine.interrupts import request_in_flight

    answered: list[str] = []
    with pytest.raises(Interrupted) as raised:
        async with stop_on_signals():
            async with request_in_flight():
                send_soon(signal.SIGTERM, 0.01)
                await asyncio.sleep(0.3)  # the broker's answer
                answered.append("CreateTopics")
            await asyncio.sleep(30)  # the next step: cancelled at its first await
            answered.append("not reached")
    assert answered == ["CreateTopics"]
    assert raised.value.at_once


async def test_a_second_signal_does_not_wait_for_the_request() -> None:
    from reconciler.engine.interrupts import request_in_flight

    started = time.monotonic()
    with pytest.raises(Interrupted):
        async with stop_on_signals(), request_in_flight():
            send_soon(signal.SIGTERM, 0.01)
            send_soon(signal.SIGTERM, 0.1)
            await asyncio.sleep(30)
    assert time.monotonic() - started < 5
