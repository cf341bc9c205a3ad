"""Waiting for a live system to reach a state: one helper for every wait and retry loop.

``retries`` is the loop itself: attempts bounded by a deadline and/or a count, with a
fixed interval between them that one attempt may change (``Attempt.retry_in``).
``wait_for`` polls a check on it until it reports done, with a progress callback;
``StallWatch`` tells a wait that still advances (a throttled
reassignment) from one that is stuck, so that long steps are bounded by lack of progress,
not by a wall-clock guess.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from msgspec import Struct

T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]


class Attempt(Struct):
    """One pass of :func:`retries`: its number (0 first), the time left, and the pause
    before the next pass (the loop's interval unless :meth:`retry_in` changes it)."""

    number: int
    delay: float
    _deadline: float | None
    _clock: Clock

    @property
    def remaining(self) -> float:
        """Seconds left before the deadline (infinite without one)."""
        return float("inf") if self._deadline is None else self._deadline - self._clock()

    def retry_in(self, seconds: float) -> None:
        """Pause ``seconds`` (0: none) before the next pass instead of the interval."""
        self.delay = seconds


class retries:
    """Passes of a retry loop: the body ``return``s or ``break``s once done; the loop ends
    (the code after it reports the failure) after ``attempts`` passes or once ``timeout``
    seconds have passed. The pause between passes never overruns the deadline, so the last
    pass runs at the deadline at the latest. ``async for`` in coroutines, ``for`` in
    synchronous code (the sandbox)."""

    def __init__(
        self,
        *,
        timeout: float | None = None,
        attempts: int | None = None,
        interval: float = 0.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._deadline = None if timeout is None else clock() + timeout
        self._attempts, self._interval = attempts, interval
        self._clock, self._sleep = clock, sleep
        self._last: Attempt | None = None

    def __aiter__(self) -> retries:
        return self

    async def __anext__(self) -> Attempt:
        delay = self._pause()
        if delay is None:
            raise StopAsyncIteration
        if delay > 0:
            await self._sleep(delay)
        return self._next()

    def __iter__(self) -> retries:
        """The same loop for synchronous code (it sleeps with ``time.sleep``)."""
        return self

    def __next__(self) -> Attempt:
        delay = self._pause()
        if delay is None:
            raise StopIteration
        if delay > 0:
            time.sleep(delay)
        return self._next()

    def _pause(self) -> float | None:
        """The pause before the next pass; ``None`` once the loop is over."""
        last = self._last
        if last is None:
            return 0.0
        if self._attempts is not None and last.number + 1 >= self._attempts:
            return None
        if self._deadline is None:
            return last.delay
        remaining = self._deadline - self._clock()
        return None if remaining <= 0 else min(last.delay, remaining)

    def _next(self) -> Attempt:
        number = 0 if self._last is None else self._last.number + 1
        self._last = Attempt(number, self._interval, self._deadline, self._clock)
        return self._last


class Poll(Struct, Generic[T]):
    """The outcome of :func:`wait_for`: the last value checked, and whether it was done."""

    value: T
    done: bool
    seconds: float


async def wait_for(
    check: Callable[[], Awaitable[tuple[bool, T]]],
    *,
    timeout: float,
    interval: float = 0.5,
    on_wait: Callable[[T, float], None] | None = None,
    clock: Clock = time.monotonic,
) -> Poll[T]:
    """Call ``check`` until it returns ``(True, value)`` or ``timeout`` seconds pass;
    ``on_wait(value, elapsed)`` runs before each sleep."""
    started = clock()
    polled: Poll[T] | None = None
    async for _ in retries(timeout=timeout, interval=interval, clock=clock):
        done, value = await check()
        polled = Poll(value, done, clock() - started)
        if done or polled.seconds >= timeout:
            break
        if on_wait is not None:
            on_wait(value, polled.seconds)
    assert polled is not None  # the first pass always runs
    return polled


# A dataclass, unlike the Struct records: its bookkeeping fields are not constructor
# arguments.
@dataclass
class StallWatch:
    """Tracks a measure of remaining work; stalled once it has not fallen for ``stall``
    seconds. Progress reports are due every ``report_every`` seconds."""

    stall: float
    report_every: float = 10.0
    clock: Clock = time.monotonic
    _best: float | None = field(default=None, init=False)
    _since: float = field(default=0.0, init=False)
    _reported: float = field(default=float("-inf"), init=False)

    def observe(self, remaining: float) -> None:
        now = self.clock()
        if self._best is None or remaining < self._best:
            self._best, self._since = remaining, now

    @property
    def stalled(self) -> bool:
        return self._best is not None and self.clock() - self._since >= self.stall

    @property
    def stalled_for(self) -> float:
        return self.clock() - self._since if self._best is not None else 0.0

    def report_due(self) -> bool:
        now = self.clock()
        if now - self._reported >= self.report_every:
            self._reported = now
            return True
        return False
