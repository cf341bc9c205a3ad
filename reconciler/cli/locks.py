"""The apply lock as the CLI sees it: ``--lock-timeout`` / ``--no-lock`` on every changing
command, the TTL from the environment, and lock events on stderr (docs/locking.md)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, TypeVar

import click
from msgspec import Struct

from reconciler.cli.output import echo, stamp
from reconciler.errors import ReconcilerError

if TYPE_CHECKING:
    from reconciler.cli.common import AppContext
    from reconciler.cli.targets import ConnectionOverrides
    from reconciler.engine.locking import LockAttempt, LockBackend, LockOwner
    from reconciler.engine.workflow import Guard
    from reconciler.spec.models import ClusterSpec

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_LOCK_TIMEOUT = "5m"
LOCK_TTL_ENV = "LLM_ANALYTICS_LOCK_TTL"


class LockRequest(Struct, frozen=True):
    """How a run locks: ``--lock-timeout`` seconds, or not at all (``--no-lock``)."""

    timeout: float = 300.0
    enabled: bool = True
    ttl: float = 30.0


class DurationSeconds(click.ParamType):
    """``0``, ``90`` (seconds), ``30s``, ``5m``, ``1h30m``."""

    name = "DURATION"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration_seconds(str(value))
        except ValueError as problem:
            self.fail(str(problem), param, ctx)


def parse_duration_seconds(text: str) -> float:
    from reconciler.spec.units import parse_duration_ms

    stripped = text.strip()
    try:
        seconds = float(stripped)
    except ValueError:
        return parse_duration_ms(stripped) / 1000
    if seconds < 0:
        raise ValueError(f"{text!r}: a duration cannot be negative")
    return seconds


def lock_ttl() -> float:
    """The lock TTL: ``$LLM_ANALYTICS_LOCK_TTL`` (e.g. ``30s``) or 30 seconds."""
    from reconciler.engine.locking import DEFAULT_TTL_SECONDS

    raw = os.environ.get(LOCK_TTL_ENV, "").strip()
    if not raw:
        return DEFAULT_TTL_SECONDS
    try:
        return parse_duration_seconds(raw)
    except ValueError as problem:
        raise ReconcilerError(f"{LOCK_TTL_ENV}: {problem}") from None


def lock_options(func: F) -> F:
    """``--lock-timeout DURATION`` and ``--no-lock``; the command receives ``locking``."""

    def build(ctx: click.Context, _: click.Parameter, value: bool) -> bool:
        timeout = ctx.params.pop("lock_timeout", None)
        ctx.params["locking"] = LockRequest(
            timeout=parse_duration_seconds(DEFAULT_LOCK_TIMEOUT) if timeout is None else timeout,
            enabled=not value,
            ttl=lock_ttl(),
        )
        return value

    func = click.option(
        "--no-lock",
        is_flag=True,
        expose_value=False,
        callback=build,
        help="DANGEROUS: take no apply lock; concurrent applies may interleave.",
    )(func)
    return click.option(
        "--lock-timeout",
        type=DurationSeconds(),
        default=DEFAULT_LOCK_TIMEOUT,
        show_default=True,
        is_eager=True,
        help="How long to wait for another apply's lock (0: fail at once, exit 3).",
    )(func)


class ConsoleLockReporter:
    """Lock events on stderr, time-stamped to the millisecond in job logs."""

    def __init__(self, app: AppContext) -> None:
        self.color = app.color and sys.stderr.isatty()

    def _line(self, text: str, fg: str | None = None) -> None:
        echo(f"{stamp()}{text}", err=True, fg=fg if self.color else None)

    def waiting(self, backend: LockBackend, attempt: LockAttempt, remaining: float) -> None:
        from reconciler.engine.locking import format_seconds

        who = (
            f"held by {attempt.holder.describe()}"
            if attempt.holder is not None
            else f"held ({attempt.detail or 'holder unknown'})"
        )
        self._line(
            f"Waiting for the apply lock ({backend.description}): {who}; waiting up to "
            f"{format_seconds(round(remaining, 1))} more",
            fg="yellow",
        )

    def acquired(self, backend: LockBackend, attempt: LockAttempt) -> None:
        token = f", fencing token {attempt.token}" if attempt.token is not None else ""
        self._line(f"Acquired the apply lock ({backend.description}{token}).")

    def taken_over(self, backend: LockBackend, holder: LockOwner, reason: str) -> None:
        from reconciler.engine.locking import takeover_notice

        self._line(takeover_notice(backend, holder, reason), fg="yellow")

    def released(self, backend: LockBackend) -> None:
        self._line(f"Released the apply lock ({backend.description}).")

    def lost(self, backend: LockBackend, reason: str) -> None:
        self._line(f"Lost the apply lock ({backend.description}): {reason}", fg="red")

    def unavailable(self, backend: LockBackend, reason: str) -> None:
        self._line(
            f"Warning: going on without the apply lock ({backend.description}): "
            f"{reason}. Concurrent applies against it are not prevented.",
            fg="yellow",
        )


def lock_factory(
    backends: Callable[[float], Sequence[LockBackend]], locking: LockRequest, app: AppContext
) -> Callable[[], AbstractAsyncContextManager[Guard]]:
    """The lock context of one run: a LockSet of ``backends(ttl)``, or NoLock (--no-lock)."""
    from reconciler.engine.locking import LockOwner, LockSet, NoLock

    def make() -> AbstractAsyncContextManager[Guard]:
        if not locking.enabled:
            echo(
                f"{stamp()}Warning: --no-lock: nothing prevents another apply from running "
                "against the same clusters at the same time.",
                err=True,
                fg="yellow",
            )
            return NoLock()
        return LockSet(
            backends(locking.ttl),
            LockOwner.current(),
            timeout=locking.timeout,
            reporter=ConsoleLockReporter(app),
        )

    return make


def kafka_lock_factory(
    spec: ClusterSpec | None,
    overrides: ConnectionOverrides,
    locking: LockRequest,
    app: AppContext,
) -> Callable[[], AbstractAsyncContextManager[Guard]]:
    """The lock of a command that changes the Kafka cluster alone (``kafka topics``,
    ``kafka acls``): the lock group, reached with the connection the command uses."""
    from reconciler.cli.targets import kafka_connection, lock_backends

    connection = kafka_connection(spec, overrides)
    return lock_factory(
        lambda ttl: lock_backends(overrides, ttl, kafka=True, kafka_connection=connection),
        locking,
        app,
    )
