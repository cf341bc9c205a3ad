"""Process plumbing shared by the Kafka and Redis sandboxes.

Free loopback ports, child processes in their own session (so that a whole process group can
be signalled), graceful-then-forced termination, log tails, and a registry that stops every
live sandbox when the interpreter exits, even after failing tests.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, TypeVar

from msgspec import Struct, field

from reconciler.engine.polling import retries

T = TypeVar("T")

HOST = "127.0.0.1"
PROBE_THREAD = "sandbox-probe"
_PR_SET_PDEATHSIG = 1


def _load_libc() -> ctypes.CDLL | None:
    """libc with ``prctl`` (Linux), else None."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl  # noqa: B018 - probe that the symbol exists
        return libc
    except (OSError, AttributeError):
        return None


# Lets children die with the (main thread of the) test process.
_LIBC = _load_libc()


class SandboxError(RuntimeError):
    """A sandbox could not be prepared, started or stopped."""


class Stoppable(Protocol):
    def stop(self) -> None: ...


# ----------------------------------------------------------------------------- ports

_handed_out: set[int] = set()
_ports_lock = threading.Lock()


def free_ports(count: int, *, bus_offset: int | None = None) -> list[int]:
    """Return ``count`` distinct free TCP ports on the loopback interface.

    With ``bus_offset`` (Redis Cluster: 10000), ``port + bus_offset`` must be free as well.
    """
    ports: list[int] = []
    sockets: list[socket.socket] = []
    try:
        with _ports_lock:
            while len(ports) < count:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((HOST, 0))
                sockets.append(sock)
                port = sock.getsockname()[1]
                # Redis Cluster uses port + 10000 for its bus; keep room for it.
                if port in _handed_out or port > 55000:
                    continue
                if bus_offset is not None and (
                    port + bus_offset in _handed_out or not _bindable(port + bus_offset)
                ):
                    continue
                ports.append(port)
                _handed_out.add(port)
    finally:
        for sock in sockets:
            sock.close()
    return ports


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
            return True
        except OSError:
            return False


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# ----------------------------------------------------------------------------- processes


def _die_with_parent() -> None:
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(
    argv: Sequence[str],
    *,
    log_file: Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    detached: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session with stdout and stderr appended to ``log_file``.

    Unless ``detached``, the child is also killed by the kernel if this process dies without
    running its exit handlers (only when called from the main thread: the parent-death signal
    follows the thread that forked).
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        out.write(f"\n=== {time.strftime('%H:%M:%S')} $ {' '.join(argv)}\n".encode())
        out.flush()
        in_main_thread = threading.current_thread() is threading.main_thread()
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=None if detached or not in_main_thread else _die_with_parent,
        )


def signal_group(pid: int, sig: int) -> bool:
    """Send ``sig`` to the process group led by ``pid``; False when it is gone."""
    try:
        os.killpg(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def terminate(procs: Iterable[subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    """SIGTERM every process group, wait up to ``grace`` seconds, then SIGKILL the rest."""
    procs = [p for p in procs if p.poll() is None]
    for proc in procs:
        signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.poll() is None:
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        else:  # the leader is gone; make sure nothing it spawned survives
            signal_group(proc.pid, signal.SIGKILL)


def terminate_pids(pids: Iterable[int], grace: float = 10.0) -> None:
    """Like :func:`terminate` for processes this interpreter did not start."""
    pids = [pid for pid in pids if pid_alive(pid)]
    for pid in pids:
        signal_group(pid, signal.SIGTERM)
    for _ in retries(timeout=grace, interval=0.1):
        if not any(pid_alive(pid) for pid in pids):
            break
    for pid in pids:
        if pid_alive(pid):
            signal_group(pid, signal.SIGKILL)


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        with path.open("r", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except OSError:
        return ""


def log_tails(paths: Iterable[Path], lines: int) -> str:
    """The last ``lines`` lines of each log file, each under a ``==> PATH <==`` header."""
    return "\n".join(f"==> {path} <==\n{tail(path, lines)}" for path in paths)


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a private event loop in a helper thread.

    Works whether or not the caller is itself inside a running event loop (async fixtures).
    """
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(_await(factory)))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name=PROBE_THREAD, daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


async def _await(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


class _QuietProbeThread(logging.Filter):
    """Drop client-library log records emitted by the readiness-probe thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != PROBE_THREAD


_quiet = _QuietProbeThread()


def quiet_probe_logs(prefix: str) -> None:
    """Silence the expected connection errors of readiness probes on loggers ``prefix*``."""
    names = [n for n in list(logging.Logger.manager.loggerDict) if n.startswith(prefix)]
    for name in {prefix, *names}:
        logger = logging.getLogger(name)
        if _quiet not in logger.filters:
            logger.addFilter(_quiet)


def info(message: str) -> None:
    """A progress note on stderr (never stdout: the CLI prints shell code there)."""
    print(f"[sandbox] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- lifetime


class Resources(Struct):
    """Everything a sandbox owns, kept apart from it so a finalizer can release it.

    ``detached`` processes may outlive this interpreter (the CLI's ``up``): they get no
    parent-death signal. They are still stopped by an explicit ``release()``.
    """

    workdir: Path
    remove_workdir: bool
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    detached: bool = False

    def release(self) -> None:
        """Stop every process and remove the working directory (idempotent)."""
        terminate(list(self.procs.values()))
        self.procs.clear()
        if not self.remove_workdir or not self.workdir.exists():
            return
        if os.environ.get("LLM_ANALYTICS_SANDBOX_KEEP") == "1":
            (self.workdir / OWNER_FILE).unlink(missing_ok=True)  # not an orphan to sweep
            self.remove_workdir = False
            info(f"kept {self.workdir} (LLM_ANALYTICS_SANDBOX_KEEP=1)")
            return
        shutil.rmtree(self.workdir, ignore_errors=True)


TEMP_PREFIX = "llm-analytics-"
OWNER_FILE = "owner.pid"
_swept: list[bool] = []


def make_workdir(prefix: str, workdir: Path | None) -> tuple[Path, bool]:
    """Use ``workdir`` (kept afterwards) or a fresh temporary directory (removed afterwards)."""
    if workdir is not None:
        workdir = Path(workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir, False
    if not _swept:
        _swept.append(True)
        sweep_orphans()
    path = Path(tempfile.mkdtemp(prefix=prefix))
    (path / OWNER_FILE).write_text(f"{os.getpid()}\n")
    return path, True


def sweep_orphans(min_age: float = 60.0) -> None:
    """Remove temporary sandbox directories whose owning process died without cleaning up.

    (A process killed with SIGKILL runs no exit handler; its children die with it through
    the parent-death signal, but its directory stays behind.)
    """
    root = Path(tempfile.gettempdir())
    for path in root.glob(f"{TEMP_PREFIX}*"):
        try:
            owner = int((path / OWNER_FILE).read_text().strip())
            old = time.time() - path.stat().st_mtime > min_age
        except (OSError, ValueError):
            continue
        if old and owner != os.getpid() and not pid_alive(owner):
            shutil.rmtree(path, ignore_errors=True)


_live: weakref.WeakSet[Stoppable] = weakref.WeakSet()


def register(sandbox: Stoppable, resources: Resources) -> weakref.finalize:
    """Track ``sandbox`` so it is stopped at interpreter exit or when garbage collected."""
    _live.add(sandbox)
    return weakref.finalize(sandbox, resources.release)


def unregister(sandbox: Stoppable) -> None:
    _live.discard(sandbox)


class Sandbox:
    """What every sandbox shares: a working directory and the processes in it, released by
    :meth:`stop`, at interpreter exit or when the sandbox is garbage collected; ``with``
    starts and stops it."""

    workdir: Path
    _started: bool

    def _own(self, prefix: str, workdir: Path | None) -> None:
        """Take ``workdir`` (kept afterwards) or a fresh temporary one named ``prefix*``."""
        self.workdir, remove = make_workdir(prefix, workdir)
        self._resources = Resources(self.workdir, remove_workdir=remove)
        self._finalizer = register(self, self._resources)
        self._started = False

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL) and remove the temporary directory."""
        self._started = False
        self._resources.release()
        unregister(self)

    def detach(self) -> None:
        """Let the processes outlive this object and interpreter (CLI ``up``); call before start.

        Only an explicit :meth:`stop` (or ``python -m reconciler.sandbox down``) ends them.
        """
        self._resources.detached = True
        self._finalizer.detach()
        unregister(self)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@atexit.register
def stop_all() -> None:
    """Stop every sandbox still running in this interpreter."""
    for sandbox in list(_live):
        with contextlib.suppress(Exception):
            sandbox.stop()


def wait_for(
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.2,
    what: str,
    on_timeout: Callable[[], str] = lambda: "",
) -> None:
    """Poll ``check`` until it returns True; raise :class:`SandboxError` at the deadline."""
    for _ in retries(timeout=timeout, interval=interval):
        if check():
            return
    detail = on_timeout()
    raise SandboxError(f"timed out after {timeout:.0f}s waiting for {what}\n{detail}")
