"""Printing with secrets masked: every line the CLI writes goes through :func:`echo`."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from reconciler.logging_redaction import mask_secrets

if TYPE_CHECKING:
    from reconciler.cli.common import AppContext
    from reconciler.engine.plan import Plan


def echo(text: str, *, err: bool = False, nl: bool = True, fg: str | None = None) -> None:
    """click.secho with known secret values masked."""
    click.secho(mask_secrets(text), err=err, nl=nl, fg=fg)


def stamp() -> str:
    """A time prefix for job logs (none on a terminal), to the millisecond."""
    if sys.stderr.isatty():
        return ""
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d} "


def echo_plan(plan: Plan | Mapping[str, Any], fmt: str, app: AppContext) -> None:
    """Render a plan (or a plan's JSON form) on stdout; request counts on stderr (--debug)."""
    from reconciler.engine.plan import Plan
    from reconciler.rendering import render

    color = app.color_enabled and fmt == "text"
    echo(render(plan, fmt, color=color), nl=False)  # type: ignore[arg-type]
    counts = plan.request_counts if isinstance(plan, Plan) else plan.get("request_counts")
    if app.debug and isinstance(counts, Mapping) and counts:
        listing = ", ".join(f"{api}={n}" for api, n in counts.items())
        echo(f"admin requests: {listing} (total {sum(counts.values())})", err=True)
