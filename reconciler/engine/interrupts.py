"""SIGINT and SIGTERM as a graceful stop: finish the current request, stop, release the locks.

Pure asyncio, no client library. :func:`stop_on_signals` installs handlers on the running
loop for the body of an ``async with``; what a signal does depends on where the work is:

- inside :func:`checkpoints` (the apply loop, which calls :func:`raise_if_interrupted`
  between changes), the first signal only **asks** for a stop: the change in progress and
  its current request finish, and the loop raises :class:`Interrupted` at its next
  checkpoint. If no checkpoint comes within the grace time, the work is cancelled;
- anywhere else (waiting for a lock, reading live state, planning), the work is
  **cancelled** at once: it changes nothing there, so there is nothing to finish;
- a request wrapped in :func:`request_in_flight` is never cut short by the first signal:
  the cancellation waits for its answer, so no request of this run is still being carried
  out by the cluster after its locks are released;
- a second signal cancels at once wherever the work is; a third one gives up on a clean
  exit (the default action of the signal: the process dies, locks expire by their TTL).

Cancellation unwinds the ``async with`` blocks of the work, so the apply locks are released
(:class:`~reconciler.engine.locking.LockSet` releases them on the way out) before
:class:`Interrupted` leaves :func:`stop_on_signals`. Its exit code is 128 + the signal:
130 for SIGINT, 143 for SIGTERM (:data:`reconciler.errors.EXIT_SIGINT`, ``EXIT_SIGTERM``).

Usage::

    async with stop_on_signals(notify=print_on_stderr):
        async with LockSet(...) as locks:
            ...
            with checkpoints(grace=20):
                for change in changes:
                    raise_if_interrupted(done=applied, not_done=pending)
                    await apply(change)
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

from msgspec import Struct, field

from reconciler.errors import EXIT_SIGINT, EXIT_SIGTERM, ReconcilerError

#: Signals that stop a run gracefully.
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
#: How long an apply loop inside :func:`checkpoints` may take to reach its next checkpoint.
DEFAULT_GRACE_SECONDS = 20.0
_SHOWN_ADDRESSES = 10


def exit_code_for(signum: int) -> int:
    """The shell's convention: 128 + the signal number (130 SIGINT, 143 SIGTERM)."""
    if signum == signal.SIGINT:
        return EXIT_SIGINT
    if signum == signal.SIGTERM:
        return EXIT_SIGTERM
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _listing(label: str, addresses: Sequence[str]) -> str:
    shown = ", ".join(addresses[:_SHOWN_ADDRESSES])
    more = f", ... ({len(addresses)} in all)" if len(addresses) > _SHOWN_ADDRESSES else ""
    return f"\n  {label}: {shown}{more}"


class Interrupted(ReconcilerError):
    """The run stopped because of a signal; ``exit_code`` is 130 (SIGINT) or 143 (SIGTERM).

    ``done`` and ``not_done`` name what was and was not carried out (addresses), when the
    code that stopped knows it; ``at_once`` says the work was cancelled rather than stopped
    at a checkpoint (the request in flight then may or may not have taken effect).
    """

    def __init__(
        self,
        signum: int,
        *,
        done: Sequence[str] = (),
        not_done: Sequence[str] = (),
        at_once: bool = False,
        hint: str | None = None,
    ) -> None:
        self.signum = int(signum)
        self.done = tuple(done)
        self.not_done = tuple(not_done)
        self.at_once = at_once
        how = (
            "stopped at once (a request in flight may still take effect on the cluster)"
            if at_once
            else "stopped after the current request"
        )
        message = f"interrupted by {signal_name(signum)}: {how}"
        if self.done or self.not_done:
            message += f"; {len(self.done)} change(s) done, {len(self.not_done)} not done"
            if self.done:
                message += _listing("done", self.done)
            if self.not_done:
                message += _listing("not done", self.not_done)
        else:
            message += (
                "; changes reported above as applied were made, no other change was "
                "started after the signal"
            )
        super().__init__(
            message,
            hint=hint or "run plan to see what remains; apply again to resume (it converges)",
        )
        self.exit_code = exit_code_for(signum)

    @property
    def signal(self) -> signal.Signals | int:
        try:
            return signal.Signals(self.signum)
        except ValueError:
            return self.signum


class StopRequest(Struct):
    """The state of one :func:`stop_on_signals` block (shared with the tasks it starts)."""

    signum: int | None = None
    count: int = 0
    cancelled: bool = False
    checkpoint_depth: int = 0
    grace: float = DEFAULT_GRACE_SECONDS
    in_flight: int = 0  # requests that must finish before a cancellation
    deferred: Callable[[], None] | None = None  # the cancellation waiting for them
    event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def raise_if_requested(self, *, done: Sequence[str] = (), not_done: Sequence[str] = ()) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum, done=done, not_done=not_done)


_current: contextvars.ContextVar[StopRequest | None] = contextvars.ContextVar(
    "llm_analytics_stop_request", default=None
)


def current_stop() -> StopRequest | None:
    """The stop request of the enclosing :func:`stop_on_signals`, if any."""
    return _current.get()


def interrupted() -> int | None:
    """The signal that asked this run to stop, or None."""
    state = _current.get()
    return state.signum if state is not None else None


def raise_if_interrupted(*, done: Sequence[str] = (), not_done: Sequence[str] = ()) -> None:
    """A safe point: raise :class:`Interrupted` if a stop was asked for (call it between
    changes; ``done``/``not_done`` go into the message). Does nothing outside
    :func:`stop_on_signals`."""
    state = _current.get()
    if state is not None:
        state.raise_if_requested(done=done, not_done=not_done)


@contextlib.contextmanager
def checkpoints(grace: float = DEFAULT_GRACE_SECONDS) -> Iterator[StopRequest | None]:
    """Mark code that calls :func:`raise_if_interrupted` between its steps: inside, a first
    signal waits up to ``grace`` seconds for the next checkpoint instead of cancelling.

    Raises :class:`Interrupted` at once when a stop was already asked for on entry.
    """
    state = _current.get()
    if state is None:
        yield None
        return
    state.raise_if_requested()
    previous = state.grace
    state.grace = grace
    state.checkpoint_depth += 1
    try:
        yield state
    finally:
        state.checkpoint_depth -= 1
        state.grace = previous


@contextlib.asynccontextmanager
async def request_in_flight() -> AsyncIterator[StopRequest | None]:
    """Mark one request that must not be abandoned half-way (a CreateTopics, a MIGRATE):
    a signal that arrives meanwhile is acted on when the block ends, not inside it.

    Without this, a cancelled request may still be carried out by the cluster after this
    run has released its locks, racing the next run. Nested blocks count; the wait is
    still bounded by a second signal.
    """
    state = _current.get()
    if state is None:
        yield None
        return
    state.in_flight += 1
    try:
        yield state
    finally:
        state.in_flight -= 1
        if state.in_flight == 0 and state.deferred is not None:
            deferred, state.deferred = state.deferred, None
            deferred()


@contextlib.asynccontextmanager
async def stop_on_signals(
    *,
    notify: Callable[[str], None] | None = None,
    signals: Sequence[signal.Signals] = STOP_SIGNALS,
) -> AsyncIterator[StopRequest]:
    """Turn ``signals`` into a graceful stop of the body (see the module docstring).

    The body ends with :class:`Interrupted` when a signal stopped it; a body that completes
    in spite of a signal (it was at its end) returns normally. ``notify`` receives one line
    per signal (the CLI prints it on stderr). Outside the main thread, or where the loop
    cannot install handlers, this is a no-op context.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    state = StopRequest()
    token = _current.set(state)
    installed: list[signal.Signals] = []
    timer: asyncio.TimerHandle | None = None
    say = notify or (lambda _line: None)

    def cancel_now(*, wait_for_requests: bool = True) -> None:
        if task is None or task.done() or state.cancelled:
            return
        if wait_for_requests and state.in_flight > 0:
            state.deferred = cancel_now  # request_in_flight() calls it when they end
            return
        state.cancelled = True
        task.cancel(f"interrupted by {signal_name(state.signum or 0)}")

    def on_signal(signum: signal.Signals) -> None:
        nonlocal timer
        state.count += 1
        name = signal_name(signum)
        if state.count == 1:
            state.signum = int(signum)
            state.event.set()
            if state.checkpoint_depth > 0:
                say(
                    f"Received {name}: stopping after the current change (within "
                    f"{state.grace:g}s; {name} again stops at once)."
                )
                timer = loop.call_later(state.grace, cancel_now)
            else:
                say(f"Received {name}: stopping now; nothing more is changed.")
                cancel_now()
        elif state.count == 2:
            if state.cancelled:
                say(f"Received {name} again: still releasing the locks; once more quits at once.")
            else:
                say(f"Received {name} again: stopping at once.")
                cancel_now(wait_for_requests=False)
        else:
            say(f"Received {name} a third time: quitting without cleaning up.")
            _restore(loop, installed)
            installed.clear()
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    if threading.current_thread() is threading.main_thread():
        for signum in signals:
            try:
                loop.add_signal_handler(signum, on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            installed.append(signum)
    try:
        yield state
        if state.cancelled:
            # The body ended before our cancellation reached it: absorb the pending one.
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                if task is not None:
                    task.uncancel()
    except asyncio.CancelledError:
        if not state.cancelled or state.signum is None:
            raise
        if task is not None:
            task.uncancel()
        raise Interrupted(state.signum, at_once=True) from None
    except Interrupted:
        raise
    except BaseException as problem:
        if state.signum is None or isinstance(problem, KeyboardInterrupt | SystemExit):
            raise
        # An error caused by the stop (a connection closed under a cancelled request):
        # the run was interrupted, and says so with the signal's exit code.
        raise Interrupted(state.signum, at_once=state.cancelled) from problem
    finally:
        if timer is not None:
            timer.cancel()
        _restore(loop, installed)
        _current.reset(token)


def _restore(loop: asyncio.AbstractEventLoop, installed: Sequence[signal.Signals]) -> None:
    for signum in installed:
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(signum)


__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "STOP_SIGNALS",
    "Interrupted",
    "StopRequest",
    "checkpoints",
    "current_stop",
    "exit_code_for",
    "interrupted",
    "raise_if_interrupted",
    "request_in_flight",
    "signal_name",
    "stop_on_signals",
]
