"""Tables for terminal output (rich, imported only when a table is drawn)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None
) -> None:
    """Draw a box table on stdout; plain (no colour) when stdout is not a TTY."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from reconciler.cli.common import app_context

    table = Table(title=title, box=box.SQUARE, title_justify="left")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    import sys

    # Off a terminal rich assumes 80 columns and cuts cells with "…": never cut piped output.
    width = None if sys.stdout.isatty() else 10_000
    console = Console(no_color=not app_context().color_enabled, soft_wrap=True, width=width)
    console.print(table)
