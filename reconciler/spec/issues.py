"""Located problems found in a spec file, and the path notation used to name their place."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from msgspec import Struct

PathPart = str | int
SpecPath = tuple[PathPart, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: Sequence[PathPart]) -> str:
    """``('kafka', 'topics', 3, 'config', 'retention.ms')`` → ``kafka.topics[3].config["retention.ms"]``.

    Keys that are not plain identifiers (Kafka's dotted config keys) are quoted so the path stays
    unambiguous.
    """
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f'["{part}"]'
    return text


class SpecIssue(Struct, frozen=True):
    """One problem of a spec file at a 1-based line and column (0 when no position applies)."""

    file: str
    line: int
    column: int
    path: str
    message: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}:" if self.line > 0 else f"{self.file}:"
        what = f"{self.path}: {self.message}" if self.path else self.message
        if self.level == "warning":
            return f"{where} warning: {what}"
        return f"{where} {what}"

    @property
    def sort_key(self) -> tuple[int, int, str, str]:
        return (self.line, self.column, self.path, self.message)

    def as_dict(self) -> dict[str, object]:
        """The JSON form used by ``validate -o json``."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }


def sort_issues(issues: Sequence[SpecIssue]) -> list[SpecIssue]:
    """Sorted by position, with exact duplicates removed."""
    unique = {(i.level, *i.sort_key): i for i in issues}
    return sorted(unique.values(), key=lambda i: i.sort_key)
