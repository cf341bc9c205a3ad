"""The one wait helper and the stall watch."""

from __future__ import annotations

from reconciler.engine.polling import StallWatch, wait_for


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
