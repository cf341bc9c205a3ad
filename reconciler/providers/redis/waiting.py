"""The one way the Redis provider waits: poll a check until it is satisfied, bounded.

Every wait (nodes meeting, a replica attaching, the cluster settling, a stalled move) goes
through :func:`poll`: the check returns a value when done or :class:`Pending` with the
reason it is not yet; the wait fails after ``timeout`` seconds naming the last reason, and
``report`` hears the reason at most every ``report_every`` seconds (progress lines on long
waits). Built on the engine's one wait loop, :func:`reconciler.engine.polling.wait_for`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from msgspec import Struct

from reconciler.engine.polling import wait_for
from reconciler.errors import ApplyFailed

T = TypeVar("T")


class Pending(Struct, frozen=True):
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
    :class:`Pending`; raise :class:`ApplyFailed` after ``timeout`` seconds. The loop itself
    is the engine's one wait helper (:func:`reconciler.engine.polling.wait_for`)."""
    reported = [0.0]

    async def step() -> tuple[bool, T | Pending]:
        result = await check()
        return not isinstance(result, Pending), result

    def progress(result: T | Pending, elapsed: float) -> None:
        if report is not None and elapsed - reported[0] >= report_every:
            reported[0] = elapsed
            reason = result.reason if isinstance(result, Pending) else ""
            detail = f" ({reason})" if reason else ""
            report(f"still waiting until {what}{detail}, {elapsed:.0f}s")

    polled = await wait_for(step, timeout=timeout, interval=interval, on_wait=progress)
    if isinstance(polled.value, Pending):
        reason = f": {polled.value.reason}" if polled.value.reason else ""
        raise ApplyFailed(f"timed out after {timeout:.0f}s waiting until {what}{reason}", hint=hint)
    return polled.value


async def wait_until(
    what: str,
    predicate: Callable[[], Awaitable[bool | Pending]],
    *,
    timeout: float,
    interval: float = 0.2,
    report: Callable[[str], None] | None = None,
) -> None:
    """:func:`poll` for a yes/no check (a :class:`Pending` answer says why not yet)."""

    async def check() -> bool | Pending:
        answer = await predicate()
        if isinstance(answer, Pending):
            return answer
        return True if answer else Pending()

    await poll(check, what=what, timeout=timeout, interval=interval, report=report)
