"""The one wait helper and the stall watch."""

from __future__ import annotations

import time

import pytest

from reconciler.engine.polling import StallWatch, retries, wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_wait_for_returns_when_done_or_at_the_deadline() -> None:
    calls = []

    async def check() -> tuple[bool, int]:
        calls.append(1)
        return len(calls) >= 3, len(calls)

    seen: list[int] = []
    polled = await wait_for(check, timeout=5, interval=0, on_wait=lambda v, _: seen.append(v))
    assert polled.done and polled.value == 3 and seen == [1, 2]

    async def never() -> tuple[bool, None]:
        return False, None

    assert not (await wait_for(never, timeout=0.05, interval=0.01)).done


def test_a_wait_that_advances_never_stalls_one_that_does_not_does() -> None:
    clock = Clock()
    watch = StallWatch(stall=60, report_every=10, clock=clock)
    for remaining in (10, 9, 8, 7):
        watch.observe(remaining)
        clock.now += 50  # slow (throttled) but advancing
        assert not watch.stalled
    watch.observe(7)
    clock.now += 11
    assert watch.stalled and watch.stalled_for >= 60
    assert watch.report_due() and not watch.report_due()


class FakeTime(Clock):
    def __init__(self) -> None:
        super().__init__()
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_retries_stops_after_its_attempts_and_honours_retry_in() -> None:
    clock = FakeTime()
    numbers = []
    async for attempt in retries(attempts=3, interval=0.5, clock=clock, sleep=clock.sleep):
        numbers.append(attempt.number)
        if attempt.number == 0:
            attempt.retry_in(0.1)
    assert numbers == [0, 1, 2]
    assert clock.slept == [0.1, 0.5]  # no pause after the last attempt


async def test_retries_never_sleeps_past_its_deadline_and_runs_a_last_pass_at_it() -> None:
    clock = FakeTime()
    passes = []
    async for attempt in retries(timeout=1.0, interval=0.4, clock=clock, sleep=clock.sleep):
        passes.append((clock.now, attempt.remaining))
    assert [now for now, _ in passes] == pytest.approx([0.0, 0.4, 0.8, 1.0])
    assert clock.slept[-1] == pytest.approx(0.2) and passes[-1][1] == pytest.approx(0.0)


def test_retries_in_synchronous_code() -> None:
    passes = [attempt.number for attempt in retries(attempts=4)]
    assert passes == [0, 1, 2, 3]
    started = time.monotonic()
    assert len(list(retries(timeout=0.05, interval=0.01))) >= 3
    assert time.monotonic() - started < 1
