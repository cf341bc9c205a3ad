"""Plans of several clusters in one document: ``plan -f DIRECTORY``.

One section per spec file, in file-name order, each drawn by the single-plan renderer from
the plan's JSON form; a spec that could not be planned gets its error in place of a plan.
Markdown starts with one table of every cluster's counts, and shares the size budget of a
pull-request comment among the sections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from msgspec import Struct

from reconciler.rendering.json import render_json
from reconciler.rendering.markdown import DEFAULT_MAX_CHARS, MIN_MAX_CHARS, render_markdown
from reconciler.rendering.text import render_text

FLEET_FORMAT_VERSION = "1"


class FleetEntry(Struct, frozen=True):
    """One spec of the fleet: its plan's JSON form, or why there is none."""

    spec: str
    plan: Mapping[str, Any] | None = None
    error: str | None = None

    @property
    def counts(self) -> Mapping[str, int]:
        return (self.plan or {}).get("summary", {})


def render_fleet(entries: Sequence[FleetEntry], fmt: str, *, color: bool = False) -> str:
    """``text``, ``json`` or ``markdown`` of every entry; ends with a newline."""
    if fmt == "json":
        return render_json(
            {
                "format_version": FLEET_FORMAT_VERSION,
                "plans": [
                    {"spec": e.spec, "plan": e.plan}
                    if e.error is None
                    else {"spec": e.spec, "error": e.error}
                    for e in entries
                ],
            }
        )
    if fmt == "markdown":
        return _markdown(entries)
    return "".join(_text_section(e, color) for e in entries)


def _text_section(entry: FleetEntry, color: bool) -> str:
    header = f"=== {entry.spec} ===\n"
    if entry.error is not None:
        return f"{header}Error: {entry.error}\n\n"
    assert entry.plan is not None
    return f"{header}{render_text(entry.plan, color=color)}\n"


def _markdown(entries: Sequence[FleetEntry]) -> str:
    lines = [
        f"### Plans of {len(entries)} cluster spec{'s' if len(entries) != 1 else ''}",
        "",
        "| spec | add | change | destroy | refused |",
        "|---|---:|---:|---:|---:|",
    ]
    for entry in entries:
        name = _code(entry.spec)
        if entry.error is not None:
            lines.append(f"| {name} | error | | | |")
            continue
        c = entry.counts
        lines.append(
            f"| {name} | {c.get('add', 0)} | {c.get('change', 0)} | "
            f"{c.get('destroy', 0)} | {c.get('refused', 0)} |"
        )
    budget = max(MIN_MAX_CHARS, (DEFAULT_MAX_CHARS - 4_000) // max(1, len(entries)))
    for entry in entries:
        lines += ["", f"#### {_code(entry.spec)}", ""]
        if entry.error is not None:
            lines.append(f"**Error:** {_code(entry.error)}")
        else:
            assert entry.plan is not None
            lines.append(render_markdown(entry.plan, max_chars=budget).rstrip("\n"))
    return "\n".join(lines) + "\n"


def _code(text: str) -> str:
    flat = " ".join(text.split()).replace("|", "\\|")
    fence = "``" if "`" in flat else "`"
    return f"{fence}{flat}{fence}"
