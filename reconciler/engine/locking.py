"""The apply lock: who holds it, how it is taken, kept alive and given back.

Two applies against the same cluster must not interleave their actions. Each locked system
has a :class:`LockBackend` (a Kafka consumer group, a Redis key or a Kubernetes Lease; they
live under :mod:`reconciler.providers` and the CLI picks them, see ``docs/locking.md``).
This module holds what every backend shares and none of their I/O:

- :class:`LockOwner`: who holds a lock (host, pid, user, start time, command), written into
  the lock so that a waiting run can name the holder;
- :func:`acquire`: try, wait and report the holder, give up after a timeout (exit 3);
- :class:`HeldLock`: the heartbeat that renews the lock while the apply runs and notices when
  it is lost; :meth:`LockSet.guard` stops the apply at once when that happens;
- :class:`LockSet`: several locks taken in a fixed order (Kafka before Redis) so that two runs
  never deadlock, released in reverse order.

Every lock expires (a TTL renewed by the heartbeat), so a crashed run cannot block the next
one for longer than the TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import shlex
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol, TypeVar, runtime_checkable

import msgspec
from msgspec import Struct

from reconciler.engine.polling import retries
from reconciler.errors import ApplyFailed, ReconcilerError, SafetyRefusal

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Default lifetime of a lock that is not renewed (a crashed run blocks others this long).
DEFAULT_TTL_SECONDS = 30.0
#: Default wait for a held lock (``--lock-timeout``).
DEFAULT_TIMEOUT_SECONDS = 300.0
#: A holder that could not renew for this share of the TTL treats the lock as lost, before
#: anyone else can take it over (the rest of the TTL absorbs clock drift and slow requests).
RENEW_DEADLINE_SHARE = 0.7
_MAX_COMMAND_CHARS = 300
#: How long a cancelled guarded step may take to unwind before the locks are released anyway.
_STOP_WAIT_SECONDS = 10.0


def utc_now_iso() -> str:
    """The current UTC time as ``2024-05-01T12:00:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_seconds(seconds: float) -> str:
    """``330`` → ``5m30s``; ``0.5`` → ``0.5s``."""
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours}h" if hours else ""
    text += f"{minutes}m" if minutes else ""
    text += f"{rest}s" if rest else ""
    return text


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return os.environ.get("USER") or f"uid {os.getuid()}"


def command_line(argv: Sequence[str] | None = None) -> str:
    """The running command as a user would type it (shortened to a sane length)."""
    args = list(sys.argv[1:] if argv is None else argv)
    text = " ".join(["llm-analytics", *(shlex.quote(a) for a in args)])
    return text if len(text) <= _MAX_COMMAND_CHARS else text[: _MAX_COMMAND_CHARS - 1] + "…"


# --------------------------------------------------------------------------- process table


class HostIdentity(Struct, frozen=True):
    """What makes a pid meaningful: the same kernel boot, host name and pid namespace."""

    boot_id: str  # /proc/sys/kernel/random/boot_id: new at every boot
    hostname: str
    pid_namespace: str = ""  # /proc/self/ns/pid, e.g. "pid:[4026531836]"


class ProcessInfo(Struct, frozen=True):
    """One live (or zombie) process: its start time in clock ticks after boot, its state."""

    start_time: int | None  # /proc/PID/stat field 22; None when it cannot be read
    state: str = "?"  # /proc/PID/stat field 3: R, S, D, Z (zombie), X (dead), ...


class ProcessTable(Protocol):
    """The local process table, as :func:`holder_is_provably_dead` needs it (injectable)."""

    def host(self) -> HostIdentity | None:
        """This host's identity; None when it cannot be told (no /proc)."""
        ...

    def process(self, pid: int) -> ProcessInfo | None:
        """The process ``pid``, or None when it provably does not exist."""
        ...


def parse_proc_stat(text: str) -> ProcessInfo:
    """``/proc/PID/stat`` → state (field 3) and start time (field 22). The command name
    (field 2) is in parentheses and may itself contain spaces and parentheses."""
    rest = text[text.rindex(")") + 2 :].split()
    return ProcessInfo(start_time=int(rest[19]), state=rest[0])


class LinuxProcessTable:
    """:class:`ProcessTable` read from ``/proc`` (Linux)."""

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc

    def host(self) -> HostIdentity | None:
        try:
            with open(f"{self.proc}/sys/kernel/random/boot_id", encoding="ascii") as stream:
                boot_id = stream.read().strip()
        except (OSError, UnicodeDecodeError):
            return None
        try:
            namespace = os.readlink(f"{self.proc}/self/ns/pid")
        except OSError:
            namespace = ""
        return HostIdentity(boot_id, socket.gethostname(), namespace) if boot_id else None

    def process(self, pid: int) -> ProcessInfo | None:
        if pid <= 0:
            return ProcessInfo(None)
        try:
            with open(f"{self.proc}/{pid}/stat", encoding="utf-8", errors="replace") as stream:
                return parse_proc_stat(stream.read())
        except (OSError, ValueError, IndexError):
            pass
        # Not readable (say, /proc mounted with hidepid): ask the kernel whether it exists.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except OSError:  # EPERM: it exists, owned by someone else
            pass
        return ProcessInfo(None)

    def start_time(self, pid: int) -> int | None:
        info = self.process(pid)
        return info.start_time if info is not None else None


LOCAL_PROCESSES = LinuxProcessTable()
"""This machine's process table (the default of :class:`LockSet`)."""


def holder_is_provably_dead(holder: LockOwner, table: ProcessTable) -> str | None:
    """Why ``holder`` is certainly no longer running, or None when it may be.

    Provably dead means: it ran on this host in this boot (same boot id, host name and pid
    namespace: the pid means the same here), and its pid is gone, a zombie, or now another
    process (another start time). Anything else (another host, an older record without
    these fields, a process we cannot see) may be alive and is waited out until the TTL.
    """
    if not holder.boot_id or holder.pid <= 0:
        return None
    here = table.host()
    if here is None or not here.boot_id:
        return None
    if (holder.boot_id, holder.host, holder.pid_namespace) != (
        here.boot_id,
        here.hostname,
        here.pid_namespace,
    ):
        return None
    info = table.process(holder.pid)
    if info is None:
        return f"its process {holder.pid} on this host has exited"
    if info.state in ("Z", "X"):
        return f"its process {holder.pid} on this host has exited (not yet reaped)"
    if (
        holder.process_start is not None
        and info.start_time is not None
        and info.start_time != holder.process_start
    ):
        return (
            f"its process {holder.pid} on this host has exited (pid {holder.pid} is now "
            "another process)"
        )
    return None


def _current_process_fields(table: LinuxProcessTable) -> tuple[str, str, int | None]:
    here = table.host()
    info = table.process(os.getpid())
    start = info.start_time if info is not None else None
    if here is None:
        return "", "", start
    return here.boot_id, here.pid_namespace, start


class LockOwner(Struct, frozen=True):
    """Who holds (or wants) a lock; stored in the lock so that others can name the holder.

    ``boot_id``, ``pid_namespace`` and ``process_start`` let a waiting run on the same host
    prove that the holder is dead (:func:`holder_is_provably_dead`); records written
    without them are never taken over early.
    """

    host: str
    pid: int
    user: str
    started_at: str
    command: str
    run_id: str = msgspec.field(default_factory=lambda: uuid.uuid4().hex)
    boot_id: str = ""
    pid_namespace: str = ""
    process_start: int | None = None  # clock ticks after boot (/proc/PID/stat field 22)

    @classmethod
    def current(
        cls, command: str | None = None, *, table: LinuxProcessTable | None = None
    ) -> LockOwner:
        """This process."""
        boot_id, namespace, start = _current_process_fields(table or LOCAL_PROCESSES)
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            user=_user(),
            started_at=utc_now_iso(),
            command=command if command is not None else command_line(),
            boot_id=boot_id,
            pid_namespace=namespace,
            process_start=start,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "pid": self.pid,
            "user": self.user,
            "started_at": self.started_at,
            "command": self.command,
            "run_id": self.run_id,
            "boot_id": self.boot_id,
            "pid_namespace": self.pid_namespace,
            "process_start": self.process_start,
        }

    @classmethod
    def from_dict(cls, data: Any) -> LockOwner | None:
        """Read an owner written by any version of the tool; ``None`` when unreadable."""
        if not isinstance(data, dict):
            return None
        try:
            pid = int(data.get("pid", -1))
        except (TypeError, ValueError):
            pid = -1
        start = data.get("process_start")
        return cls(
            host=str(data.get("host", "?")),
            pid=pid,
            user=str(data.get("user", "?")),
            started_at=str(data.get("started_at", "?")),
            command=str(data.get("command", "?")),
            run_id=str(data.get("run_id", "")),
            boot_id=str(data.get("boot_id") or ""),
            pid_namespace=str(data.get("pid_namespace") or ""),
            process_start=start if isinstance(start, int) and not isinstance(start, bool) else None,
        )

    def describe(self, *, process: bool = False) -> str:
        """``alice@ci-runner-1 (pid 4242), started at 2024-05-01T12:00:00Z, running `...```;
        with ``process``, also the boot and process start time that identify the pid."""
        identity = ""
        if process and self.boot_id:
            identity = f", boot {self.boot_id[:8]}"
            if self.process_start is not None:
                identity += f", process start {self.process_start}"
        return (
            f"{self.user}@{self.host} (pid {self.pid}{identity}), started at {self.started_at}, "
            f"running `{self.command}`"
        )


# A dataclass, unlike the Struct records: ``observed`` stays out of equality and repr.
@dataclass(frozen=True)
class LockAttempt:
    """The outcome of one attempt: acquired (with its fencing token) or who holds it now."""

    acquired: bool
    holder: LockOwner | None = None
    token: int | None = None
    detail: str = ""  # why the holder is unknown, e.g. "a rebalance is in progress"
    #: What the backend saw of the holder's lock (its Redis value, its Lease, its group
    #: member id), so that :meth:`TakeoverBackend.take_over` replaces exactly that one.
    observed: Any = field(default=None, compare=False, repr=False)


class LockLost(ApplyFailed):
    """A held lock was taken away or could not be renewed in time (exit 1)."""


class LockHeld(SafetyRefusal):
    """Another run holds the lock and did not let go within --lock-timeout (exit 3)."""

    def __init__(self, message: str, *, holder: LockOwner | None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.holder = holder


class LockUnavailable(ReconcilerError):
    """The system cannot hold a lock at the moment (e.g. a Redis cluster serving no slots)."""


@runtime_checkable
class LockBackend(Protocol):
    """One lock in one system. Backends raise :class:`LockLost` from :meth:`renew` when the
    lock is no longer theirs; any other exception from ``renew`` counts as transient."""

    description: str  # e.g. "Kafka consumer group llm-analytics-apply-lock on kafka:9092"
    ttl_seconds: float
    renew_interval: float
    lock_order: int  # locks are taken in ascending order: Kafka (10) before Redis (20)

    async def try_acquire(self, owner: LockOwner) -> LockAttempt: ...

    async def renew(self) -> None: ...

    async def release(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class TakeoverBackend(Protocol):
    """A backend that can take over a lock whose holder is provably dead."""

    async def take_over(self, owner: LockOwner, stale: LockAttempt) -> LockAttempt:
        """Replace the holder seen in ``stale`` (and only that one: compare-and-swap) by
        ``owner``. Not acquired when the lock changed meanwhile (the caller waits on)."""
        ...


class LockReporter(Protocol):
    """Where lock events are shown (the CLI writes them to stderr)."""

    def waiting(self, backend: LockBackend, attempt: LockAttempt, remaining: float) -> None: ...
    def acquired(self, backend: LockBackend, attempt: LockAttempt) -> None: ...
    def released(self, backend: LockBackend) -> None: ...
    def lost(self, backend: LockBackend, reason: str) -> None: ...
    def unavailable(self, backend: LockBackend, reason: str) -> None: ...


class SilentReporter:
    def waiting(self, backend: LockBackend, attempt: LockAttempt, remaining: float) -> None:
        pass

    def acquired(self, backend: LockBackend, attempt: LockAttempt) -> None:
        pass

    def released(self, backend: LockBackend) -> None:
        pass

    def lost(self, backend: LockBackend, reason: str) -> None:
        pass

    def unavailable(self, backend: LockBackend, reason: str) -> None:
        pass

    def taken_over(self, backend: LockBackend, holder: LockOwner, reason: str) -> None:
        pass


def takeover_notice(backend: LockBackend, holder: LockOwner, reason: str) -> str:
    """The line that says a dead holder's lock was taken over."""
    return (
        f"Took over the apply lock ({backend.description}) from {holder.describe(process=True)}"
        f": {reason}; not waiting for its TTL."
    )


def _report_takeover(
    report: LockReporter, backend: LockBackend, holder: LockOwner, reason: str
) -> None:
    # A reporter written before takeovers existed has no method for them: log the notice.
    method = getattr(report, "taken_over", None)
    if callable(method):
        method(backend, holder, reason)
    else:
        log.warning("%s", takeover_notice(backend, holder, reason))


def held_message(backend: LockBackend, attempt: LockAttempt | None, timeout: float) -> LockHeld:
    """The exit-3 refusal after waiting ``timeout`` seconds (``--lock-timeout``), naming the
    holder."""
    holder = attempt.holder if attempt is not None else None
    if holder is not None:
        who = f"is held by {holder.describe()}"
    else:
        detail = attempt.detail if attempt is not None and attempt.detail else "holder unknown"
        who = f"is held ({detail})"
    waited_text = (
        "without waiting (--lock-timeout 0)"
        if timeout <= 0
        else f"after waiting {format_seconds(timeout)} (--lock-timeout)"
    )
    return LockHeld(
        f"the apply lock ({backend.description}) {who}; gave up {waited_text}; nothing was changed",
        holder=holder,
        hint=(
            f"wait for that run to finish and try again (a lock left by a crashed run expires "
            f"within {format_seconds(backend.ttl_seconds)}), or raise --lock-timeout"
        ),
    )


async def acquire(
    backend: LockBackend,
    owner: LockOwner,
    *,
    timeout: float,
    reporter: LockReporter | None = None,
    poll_interval: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    configured_timeout: float | None = None,
    processes: ProcessTable | None = None,
) -> LockAttempt:
    """Take ``backend``'s lock, waiting up to ``timeout`` seconds (0: one attempt only).

    Reports the holder when it is first seen and whenever it changes; raises
    :class:`LockHeld` (exit 3) naming the last holder seen when time runs out.
    ``configured_timeout`` is the user's ``--lock-timeout`` when ``timeout`` is what is left
    of it (for the message). With ``processes`` (the local process table), a holder that
    is provably dead (:func:`holder_is_provably_dead`) is taken over at once, with a
    notice, when the backend supports it (:class:`TakeoverBackend`).
    """
    report = reporter or SilentReporter()
    reported = False
    last_holder: str | None = None
    attempt: LockAttempt | None = None
    passes = retries(timeout=max(0.0, timeout), interval=poll_interval, clock=clock, sleep=sleep)
    async for turn in passes:
        attempt = await backend.try_acquire(owner)
        if not attempt.acquired:
            attempt = await _take_over_if_dead(backend, owner, attempt, processes, report)
        if attempt.acquired:
            report.acquired(backend, attempt)
            return attempt
        remaining = turn.remaining
        if remaining <= 0:
            break
        # Report the first wait and every new holder; an unknown holder in between (say,
        # during a Kafka rebalance) is not news.
        holder = attempt.holder.run_id if attempt.holder is not None else None
        if not reported or (holder is not None and holder != last_holder):
            reported = True
            last_holder = holder
            report.waiting(backend, attempt, remaining)
    assert attempt is not None  # the first pass always runs
    raise held_message(
        backend, attempt, timeout if configured_timeout is None else configured_timeout
    )


async def _take_over_if_dead(
    backend: LockBackend,
    owner: LockOwner,
    attempt: LockAttempt,
    processes: ProcessTable | None,
    report: LockReporter,
) -> LockAttempt:
    holder = attempt.holder
    if processes is None or holder is None or not isinstance(backend, TakeoverBackend):
        return attempt
    reason = holder_is_provably_dead(holder, processes)
    if reason is None:
        return attempt
    taken = await backend.take_over(owner, attempt)
    if taken.acquired:
        _report_takeover(report, backend, holder, reason)
        return taken
    # Someone else moved first (another waiter took it over, or the holder renewed):
    # wait as usual, naming whoever holds it now if the backend said.
    return taken if taken.holder is not None else attempt


class HeldLock:
    """A lock this run holds: renewed in the background until released.

    ``on_lost`` is called once if the lock is taken away or cannot be renewed within
    :data:`RENEW_DEADLINE_SHARE` of its TTL (the holder gives up before anyone else may
    take the lock over).
    """

    def __init__(
        self,
        backend: LockBackend,
        attempt: LockAttempt,
        *,
        on_lost: Callable[[HeldLock, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.backend = backend
        self.token = attempt.token
        self.lost_reason: str | None = None
        self._on_lost = on_lost
        self._clock = clock
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._released = False
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._heartbeat(), name="apply-lock-heartbeat")

    def _lose(self, reason: str) -> None:
        if self.lost_reason is None:
            self.lost_reason = reason
            if self._on_lost is not None:
                self._on_lost(self, reason)

    async def _heartbeat(self) -> None:
        backend = self.backend
        last_ok = self._clock()
        interval = backend.renew_interval
        # The flag, not only the cancellation, ends the loop: on Python 3.11 a cancellation
        # that arrives as a renewal fails can be swallowed, and the loop would run forever.
        while not self._stopping:
            await self._sleep(interval)
            if self._stopping:
                return
            # A renewal that hangs must not outlast the deadline (the TTL would run out
            # while we still believe we hold the lock).
            budget = backend.ttl_seconds * RENEW_DEADLINE_SHARE - (self._clock() - last_ok)
            try:
                async with asyncio.timeout(max(0.1, budget)):
                    await backend.renew()
            except LockLost as problem:
                self._lose(str(problem))
                return
            except asyncio.CancelledError:
                raise
            except Exception as problem:  # any failure to renew is transient
                silent_for = self._clock() - last_ok
                why = str(problem) or type(problem).__name__
                log.warning(
                    "could not renew the apply lock (%s) for %.1fs: %s",
                    backend.description,
                    silent_for,
                    why,
                )
                # (1 % slack: a renewal cut off by its budget ends right at the deadline.)
                if silent_for >= backend.ttl_seconds * RENEW_DEADLINE_SHARE * 0.99:
                    self._lose(f"could not renew it for {silent_for:.1f}s ({why})")
                    return
                interval = min(backend.renew_interval, 1.0)
                continue
            last_ok = self._clock()
            interval = backend.renew_interval

    async def stop_heartbeat(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def release(self) -> None:
        """Stop renewing and give the lock back (a lost lock is left alone)."""
        if self._released:
            return
        self._released = True
        await self.stop_heartbeat()
        if self.lost_reason is None:
            try:
                await self.backend.release()
            except Exception as problem:  # the TTL frees it anyway
                log.warning(
                    "could not release the apply lock (%s): %s; it expires within %s",
                    self.backend.description,
                    problem,
                    format_seconds(self.backend.ttl_seconds),
                )


class LockSet:
    """Several locks taken in :attr:`LockBackend.lock_order` (Kafka, then Redis) and
    released in reverse. Use as ``async with LockSet(...) as locks: await locks.guard(...)``.

    The total wait for all of them is bounded by ``timeout``. Every backend is closed on exit.
    A backend with ``optional_when_unavailable = True`` that raises :class:`LockUnavailable`
    is skipped with a report (a Redis cluster that cannot store keys yet).
    """

    def __init__(
        self,
        backends: Sequence[LockBackend],
        owner: LockOwner,
        *,
        timeout: float,
        reporter: LockReporter | None = None,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        processes: ProcessTable | None = LOCAL_PROCESSES,
    ) -> None:
        self.processes = processes
        self.backends = sorted(backends, key=lambda b: b.lock_order)
        self.owner = owner
        self.timeout = timeout
        self.reporter = reporter or SilentReporter()
        self.poll_interval = poll_interval
        self.clock = clock
        self.held: list[HeldLock] = []
        self._lost = asyncio.Event()
        self._lost_reasons: list[str] = []

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def _on_lost(self, held: HeldLock, reason: str) -> None:
        self._lost_reasons.append(f"{held.backend.description}: {reason}")
        self.reporter.lost(held.backend, reason)
        self._lost.set()

    async def __aenter__(self) -> LockSet:
        deadline = self.clock() + max(0.0, self.timeout)
        try:
            for backend in self.backends:
                remaining = 0.0 if self.timeout <= 0 else max(0.0, deadline - self.clock())
                try:
                    attempt = await acquire(
                        backend,
                        self.owner,
                        timeout=remaining,
                        reporter=self.reporter,
                        poll_interval=self.poll_interval,
                        clock=self.clock,
                        configured_timeout=self.timeout,
                        processes=self.processes,
                    )
                except LockUnavailable as problem:
                    if not getattr(backend, "optional_when_unavailable", False):
                        raise
                    self.reporter.unavailable(backend, str(problem))
                    continue
                held = HeldLock(backend, attempt, on_lost=self._on_lost, clock=self.clock)
                held.start()
                self.held.append(held)
        except BaseException:
            await self._release_all()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._release_all()

    async def _release_all(self) -> None:
        for held in reversed(self.held):
            await held.release()
            if held.lost_reason is None:
                self.reporter.released(held.backend)
        self.held.clear()
        for backend in reversed(self.backends):
            with contextlib.suppress(Exception):
                await backend.close()

    def check(self) -> None:
        """Raise :class:`LockLost` if any lock was lost (call between steps)."""
        if self._lost.is_set():
            raise self._lost_error()

    def _lost_error(self) -> LockLost:
        reasons = "; ".join(self._lost_reasons) or "unknown reason"
        return LockLost(
            f"the apply lock was lost ({reasons}); stopped before the next action, so the "
            "apply is incomplete",
            hint="check the cluster's health, then run plan and apply again (apply resumes)",
        )

    async def guard(self, work: Awaitable[T]) -> T:
        """Run ``work`` while the locks are held; cancel it the moment one is lost."""
        self.check()
        task = asyncio.ensure_future(work)
        watcher = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            # Cancelled (a signal, say): the work must have stopped before the locks are
            # released on the way out, or an action could land after the release.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait({task}, timeout=_STOP_WAIT_SECONDS)
            raise
        finally:
            watcher.cancel()
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise self._lost_error()


class NoLock:
    """Stands in for :class:`LockSet` under ``--no-lock``: guards nothing."""

    async def __aenter__(self) -> NoLock:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def check(self) -> None:
        return None

    async def guard(self, work: Awaitable[T]) -> T:
        return await work


__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "DEFAULT_TTL_SECONDS",
    "LOCAL_PROCESSES",
    "HeldLock",
    "HostIdentity",
    "LinuxProcessTable",
    "LockAttempt",
    "LockBackend",
    "LockHeld",
    "LockLost",
    "LockOwner",
    "LockReporter",
    "LockSet",
    "LockUnavailable",
    "NoLock",
    "ProcessInfo",
    "ProcessTable",
    "SilentReporter",
    "TakeoverBackend",
    "acquire",
    "command_line",
    "format_seconds",
    "held_message",
    "holder_is_provably_dead",
    "parse_proc_stat",
    "takeover_notice",
    "utc_now_iso",
]
