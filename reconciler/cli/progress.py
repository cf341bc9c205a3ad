"""Progress of an apply on stderr: one line per event, so job logs read well too."""

from __future__ import annotations

import sys
import time

import click

from reconciler.engine.plan import Action, Change
from reconciler.engine.providers import ChangeResult, ResultStatus

_VERBS = {
    Action.CREATE: "creating",
    Action.UPDATE: "updating",
    Action.DELETE: "deleting",
    Action.REPLACE: "replacing",
    Action.NOOP: "checking",
}
_SYMBOLS = {ResultStatus.APPLIED: "✓", ResultStatus.FAILED: "✗", ResultStatus.SKIPPED: "-"}


class ConsoleProgress:
    """Writes apply progress to stderr (timestamps when not a TTY, for job logs)."""

    def __init__(self, color: bool = False) -> None:
        self.color = color
        self.tty = sys.stderr.isatty()
        self._last_advance: dict[str, str] = {}

    def _line(self, text: str, fg: str | None = None) -> None:
        # Millisecond stamps off a terminal: job logs (and concurrent runs) order exactly.
        now = time.time()
        stamp = (
            ""
            if self.tty
            else time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d} "
        )
        click.secho(f"{stamp}{text}", err=True, fg=fg if self.color else None)

    def started(self, change: Change) -> None:
        self._line(f"{change.address}: {_VERBS[change.action]}...")

    def advanced(self, change: Change, message: str) -> None:
        if self._last_advance.get(change.address) != message:
            self._last_advance[change.address] = message
            self._line(f"{change.address}: {message}")

    def finished(self, result: ChangeResult) -> None:
        colour = {ResultStatus.APPLIED: "green", ResultStatus.FAILED: "red"}.get(result.status)
        detail = f" ({result.message})" if result.message and result.message != "done" else ""
        self._line(
            f"{_SYMBOLS[result.status]} {result.address}: {result.status.value}{detail}", fg=colour
        )
