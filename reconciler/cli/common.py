"""Shared CLI plumbing: the app context, reusable options, running coroutines."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click
from msgspec import Struct

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

OUTPUT_FORMATS = ("text", "json", "markdown")


class AppContext(Struct):
    """Global options, passed to every command as ``ctx.obj``."""

    debug: bool = False
    color: bool = True

    @property
    def color_enabled(self) -> bool:
        return self.color and sys.stdout.isatty()


def app_context() -> AppContext:
    ctx = click.get_current_context()
    obj = ctx.find_object(AppContext)
    return obj if obj is not None else AppContext()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from a synchronous click command.

    SIGINT and SIGTERM stop it gracefully (:mod:`reconciler.engine.interrupts`): the work
    is cancelled (or, inside ``checkpoints()``, stopped at its next checkpoint), its locks
    are released on the way out, and :class:`~reconciler.engine.interrupts.Interrupted`
    leaves here with exit code 130 or 143.
    """
    from reconciler.engine.interrupts import stop_on_signals

    async def guarded() -> T:
        async with stop_on_signals(notify=_notify_signal):
            return await coroutine

    return asyncio.run(guarded())


def _notify_signal(line: str) -> None:
    import time

    now = time.time()
    stamp = (
        ""
        if sys.stderr.isatty()
        else time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d} "
    )
    click.echo(f"{stamp}{line}", err=True)


def output_option(formats: tuple[str, ...] = ("text", "json")) -> Callable[[F], F]:
    """``-o/--output FORMAT`` plus ``--json`` as an alias of ``-o json``."""

    def decorate(func: F) -> F:
        func = click.option("--json", "json_alias", is_flag=True, help="Alias of -o json.")(func)
        func = click.option(
            "-o",
            "--output",
            "output",
            type=click.Choice(formats),
            default="text",
            show_default=True,
            help="Output format.",
        )(func)
        return func

    return decorate


def resolve_output(output: str, json_alias: bool) -> str:
    return "json" if json_alias else output


def spec_options(func: F) -> F:
    """``-f/--file SPEC`` and ``--env NAME``."""
    return _spec_options(func, directories=False)


def specs_options(func: F) -> F:
    """``-f/--file SPEC|DIRECTORY`` and ``--env NAME``: one spec, or every spec of a
    directory (``plan``, ``drift``: :mod:`reconciler.cli.fleet`)."""
    return _spec_options(func, directories=True)


def _spec_options(func: F, *, directories: bool) -> F:
    func = click.option(
        "--env",
        "env",
        default=None,
        envvar="LLM_ANALYTICS_ENV",
        help="Environment overlay from the spec's `environments` to apply.",
    )(func)
    func = click.option(
        "-f",
        "--file",
        "spec_path",
        required=True,
        envvar="LLM_ANALYTICS_SPEC",
        type=click.Path(dir_okay=directories),
        help="The cluster spec (YAML)"
        + (", or a directory: every *.yaml in it, one document." if directories else "."),
    )(func)
    return func


def kafka_connection_options(func: F) -> F:
    return click.option(
        "--bootstrap-servers",
        envvar="LLM_ANALYTICS_BOOTSTRAP_SERVERS",
        default=None,
        help="Kafka bootstrap servers (host:port,...); overrides the spec.",
    )(func)


def redis_connection_options(func: F) -> F:
    func = click.option(
        "--redis-addresses",
        envvar="LLM_ANALYTICS_REDIS_ADDRESSES",
        default=None,
        help="Redis node addresses (host:port,...); overrides the spec.",
    )(func)
    func = click.option(
        "-n",
        "--namespace",
        envvar="LLM_ANALYTICS_NAMESPACE",
        default=None,
        help="Kubernetes namespace of the Redis pods; overrides the spec.",
    )(func)
    return func


def emit_json(data: Any) -> None:
    """Machine output: JSON only on stdout (logs go to stderr)."""
    import json

    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
