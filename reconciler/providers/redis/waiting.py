"""The one way the Redis provider waits: poll a check until it is satisfied, bounded.

Every wait (nodes meeting, a replica attaching, the cluster settling, a stalled move) goes
through :func:`poll`: the check returns a value when done or :class:`Pending` with the
reason it is not yet; the wait fails after ``timeout`` seconds naming the last reason, and
``report`` hears the reason at most every ``report_every`` seconds (progress lines on long
waits). Generic on purpose: the engine may adopt it for Kafka's waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from reconciler.errors import ApplyFailed

T = TypeVar("T")


@dataclass(frozen=True)
class Pending:
    """Not done yet, and why."""

    reason: str = ""


async def poll(
    check: Callable[[], Awaitable[T | Pending]],
    *,
    what: str,
    timeout: float,
    interval: float = 0.2,
    report: Callable[[str], None] | None = None,
    report_every: float = 10.0,
    hint: str | None = None,
) -> T:
    """Run ``check`` every ``interval`` seconds until it returns something other than
    :class:`Pending`; raise :class:`ApplyFailed` after ``timeout`` seconds."""
    started = time.monotonic()
    last_report = started
    while True:
        result = await check()
        if not isinstance(result, Pending):
            return result
        now = time.monotonic()
        if now - started >= timeout:
            reason = f": {result.reason}" if result.reason else ""
            raise ApplyFailed(
                f"timed out after {timeout:.0f}s waiting until {what}{reason}", hint=hint
            )
        if report is not None and now - last_report >= report_every:
            last_report = now
            detail = f" ({result.reason})" if result.reason else ""
            report(f"still waiting until {what}{detail}, {now - started:.0f}s")
        await asyncio.sleep(interval)


async def wait_until(
    what: str,
    predicate: Callable[[], Awaitable[bool]],
    *,
    timeout: float,
    interval: float = 0.2,
    report: Callable[[str], None] | None = None,
) -> None:
    """:func:`poll` for a yes/no check."""

    async def check() -> bool | Pending:
        return True if await predicate() else Pending()

    await poll(check, what=what, timeout=timeout, interval=interval, report=report)
