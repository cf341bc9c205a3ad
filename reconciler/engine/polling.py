"""Waiting for a live system to reach a state: one helper for every wait loop.

``wait_for`` polls a check until it reports done, with a deadline, a fixed interval and a
progress callback; ``StallWatch`` tells a wait that still advances (a throttled
reassignment) from one that is stuck, so that long steps are bounded by lack of progress,
not by a wall-clock guess.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

Clock = Callable[[], float]


@dataclass
class Poll(Generic[T]):
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
    while True:
        done, value = await check()
        elapsed = clock() - started
        if done or elapsed >= timeout:
            return Poll(value, done, elapsed)
        if on_wait is not None:
            on_wait(value, elapsed)
        await asyncio.sleep(interval)


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
