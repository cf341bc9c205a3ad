"""The Markdown rendering of a plan, for pull-request comments.

Layout: a summary line; a ``> [!CAUTION]`` block listing every delete, replace and change
flagged destructive or data-loss; a summary table; one collapsible ``<details>`` section
per resource with a ``diff`` block; then notices. The output never exceeds ``max_chars``:
the caution block, the table and the notices each get a share of the budget (and say how
many entries they left out); the per-resource sections fill what is left, in plan order,
followed by a line counting the resources not shown.

Every name and value is escaped: in table cells and lists they go into code spans (pipes
escaped, backtick fences sized to the content); in HTML they are entity-escaped; control
characters are shown as ``\\uXXXX`` so nothing can break a line, a cell or a fence.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from reconciler.rendering._view import (
    DESTRUCTIVE_RISKS,
    RISK_DESCRIPTIONS,
    ChangeView,
    NoticeView,
    PlanView,
    PolicyResultView,
    escape_controls,
    view_plan,
)
from reconciler.rendering.text import NO_CHANGES_LINE, REFUSED_LINE

DEFAULT_MAX_CHARS = 60_000
#: Budgets below this are raised to it: the fixed parts need some room.
MIN_MAX_CHARS = 2_000

# Shares of the budget; the resource sections get the rest.
_CAUTION_SHARE = 0.25
_TABLE_SHARE = 0.40
_NOTICES_SHARE = 0.15
_POLICY_SHARE = 0.05
_IMPACT_SHARE = 0.05
_CAUTION_REASON_CHARS = 200

_SEPARATOR = "\n\n"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")
# What would open a block (heading, list, quote, setext underline) at the start of a line.
_BLOCK_START = re.compile(r"^(?:[#+\-=]|\d+(?=[.)]))")
_BACKTICKS = re.compile(r"`+")

_NOTICE_GROUPS = (
    ("error", "Errors"),
    ("warning", "Warnings"),
    ("unmanaged", "Unmanaged resources (left alone)"),
    ("info", "Notes"),
)


def md_text(text: str) -> str:
    """Escape free text for inline Markdown, also safe inside a table cell or right after a
    list marker (surrounding whitespace is dropped)."""
    escaped = _MD_SPECIAL.sub(r"\\\1", html.escape(escape_controls(text.strip()), quote=False))
    match = _BLOCK_START.match(escaped)
    if match is None:
        return escaped
    if match.group()[0].isdigit():  # "1. " would start an ordered list
        end = match.end()
        return f"{escaped[:end]}\\{escaped[end:]}"
    return f"\\{escaped}"


def md_code(text: str, *, in_table: bool = False) -> str:
    """``text`` as a code span whose fence no backtick in ``text`` can close."""
    text = escape_controls(text)
    if not text:
        return "*(empty)*"
    if in_table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    # CommonMark strips one space from each end of a span that is not all spaces.
    if text.strip(" ") and (text.startswith(("`", " ")) or text.endswith(("`", " "))):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def _html(text: str) -> str:
    return html.escape(escape_controls(text), quote=True)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def truncation_line(count: int) -> str:
    """The line that replaces the resource sections that did not fit."""
    return (
        f"… {_plural(count, 'more resource')} not shown "
        f"(see the full plan in the job log / JSON artifact)"
    )


def _fit(head: str, items: Iterable[str], total: int, cap: int, more: Callable[[int], str]) -> str:
    """``head`` plus as many ``items`` (joined by newlines) as fit in ``cap`` characters,
    then ``more(left_out)`` when some did not fit."""
    pieces = [head]
    size = len(head)
    reserve = 1 + len(more(total))
    for index, item in enumerate(items):
        cost = 1 + len(item)
        if size + cost + (reserve if index + 1 < total else 0) > cap:
            pieces.append(more(total - index))
            break
        pieces.append(item)
        size += cost
    return "\n".join(pieces)


def _risk_words(risks: tuple[str, ...]) -> str:
    return ", ".join(f"**{md_text(r)}**" if r in DESTRUCTIVE_RISKS else md_text(r) for r in risks)


def _policy_block(view: PlanView, cap: int) -> str:
    """``**Policy:** 3 rules checked: 1 violation`` and one line per violation or approval."""
    policy = view.policy
    assert policy is not None
    head = f"**Policy:** {md_text(policy.headline())}"
    if policy.approvals:
        head += f" (approvals given: {', '.join(md_code(a) for a in policy.approvals)})"
    ordered = sorted(policy.results, key=lambda r: r.status != "violated")

    def item(result: PolicyResultView) -> str:
        mark = "❌ violated" if result.status == "violated" else "✅ approved"
        return (
            f"- {mark}: {md_code(result.rule)} on {md_code(result.address)}: "
            f"{md_text(result.message)}"
        )

    def more(left: int) -> str:
        return f"- … and {left} more (see the full plan in the job log / JSON artifact)"

    return _fit(head, (item(r) for r in ordered), len(ordered), cap, more)


def _impact_block(changes: list[ChangeView], cap: int) -> str:
    """``**Impact:**`` and one line per fact of every change that moves, remaps or ages
    out data."""
    head = "**Impact:**"
    items = [
        f"- {md_code(change.address)}: {md_text(line)}"
        for change in changes
        for line in change.impact_lines
    ]

    def more(left: int) -> str:
        return f"- … and {left} more (see the full plan in the job log / JSON artifact)"

    return _fit(head, items, len(items), cap, more)


def _caution_block(changes: list[ChangeView], cap: int) -> str:
    count = len(changes)
    head = (
        f"> [!CAUTION]\n> **{_plural(count, 'destructive change')}** "
        f"(deletes, replacements or data loss). Review before merging:\n>"
    )

    def item(change: ChangeView) -> str:
        line = f"> - {md_code(change.address)} will be **{md_text(change.phrase)}**"
        if change.risks:
            line += f" ({_risk_words(change.risks)})"
        if change.reason:
            reason = change.reason
            if len(reason) > _CAUTION_REASON_CHARS:
                reason = reason[:_CAUTION_REASON_CHARS] + "…"
            line += f": {md_text(reason)}"
        return line

    def more(left: int) -> str:
        return f"> - … and {left} more (see the full plan in the job log / JSON artifact)"

    return _fit(head, (item(c) for c in changes), count, cap, more)


def _table(changes: tuple[ChangeView, ...], cap: int) -> str:
    head = "| Action | Resource | Risks |\n| --- | --- | --- |"

    def row(change: ChangeView) -> str:
        action = f"{md_code(change.symbol, in_table=True)} {md_text(change.action)}"
        risks = _risk_words(change.risks)
        return f"| {action} | {md_code(change.address, in_table=True)} | {risks} |"

    def more(left: int) -> str:
        return f"\n_… {_plural(left, 'more row')} not shown in this table._"

    return _fit(head, (row(c) for c in changes), len(changes), cap, more)


def _diff_block(change: ChangeView) -> str:
    lines = [f"{change.symbol} {escape_controls(change.address)} {{"]
    for attribute in change.attributes:
        symbol, body = attribute.diff()
        lines.append(f"{symbol}   {body}")
    lines.append("  }")
    longest = max((len(run) for line in lines for run in _BACKTICKS.findall(line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([f"{fence}diff", *lines, fence])


def _section(change: ChangeView) -> str:
    summary = (
        f"<code>{_html(f'{change.symbol} {change.address}')}</code> will be {_html(change.phrase)}"
    )
    if change.risks:
        summary += " — " + ", ".join(
            f"<b>{_html(r)}</b>" if r in DESTRUCTIVE_RISKS else _html(r) for r in change.risks
        )
    parts = [f"<details><summary>{summary}</summary>"]
    if change.reason:
        parts.append(f"**Reason:** {md_text(change.reason)}")
    if change.risks:
        parts.append(
            "**Risks:**\n"
            + "\n".join(
                f"- **{md_text(r)}**: {md_text(RISK_DESCRIPTIONS.get(r, 'flagged by the provider'))}"
                for r in change.risks
            )
        )
    if change.impact_lines:
        parts.append(
            "**Impact:**\n" + "\n".join(f"- {md_text(line)}" for line in change.impact_lines)
        )
    parts.append(_diff_block(change))
    if change.steps:
        parts.append(
            "**Steps:**\n"
            + "\n".join(
                f"{number}. {md_text(step)}" for number, step in enumerate(change.steps, start=1)
            )
        )
    parts.append("</details>")
    return _SEPARATOR.join(parts)


def _notice_item(notice: NoticeView) -> str:
    label = md_code(notice.address) if notice.address else ""
    if notice.kind not in ("note", "unmanaged", ""):
        label = f"{label} ({md_text(notice.kind)})".lstrip()
    message = md_text(notice.message)
    return f"- {label}: {message}" if label else f"- {message}"


def _notices(notices: tuple[NoticeView, ...], cap: int) -> str:
    items: list[str] = []
    for group, heading in _NOTICE_GROUPS:
        members = [n for n in notices if n.group == group]
        for index, notice in enumerate(members):
            item = _notice_item(notice)
            items.append(f"\n**{heading}**\n\n{item}" if index == 0 else item)

    def more(left: int) -> str:
        return f"- … and {_plural(left, 'more notice')} (see the full plan in the job log)"

    return _fit("### Notices", items, len(items), cap, more)


def _joined_length(parts: list[str]) -> int:
    return sum(len(p) for p in parts) + len(_SEPARATOR) * max(0, len(parts) - 1)


def render_markdown(plan_dict: Mapping[str, Any], *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Render a plan's JSON form as a pull-request comment of at most ``max_chars``
    characters (values below :data:`MIN_MAX_CHARS` are raised to it)."""
    view = view_plan(plan_dict)
    budget = max(int(max_chars), MIN_MAX_CHARS)
    actionable = view.actionable

    if actionable:
        head = [f"**Plan:** {view.summary_phrase()}"]
    elif view.summary()["refused"]:
        head = [f"**{REFUSED_LINE}**"]
    else:
        head = [f"**Plan:** {NO_CHANGES_LINE}"]
    if view.policy is not None:
        head.append(_policy_block(view, int(budget * _POLICY_SHARE)))
    costly = [c for c in actionable if c.impact_lines]
    if costly:
        head.append(_impact_block(costly, int(budget * _IMPACT_SHARE)))
    cautious = [c for c in actionable if c.needs_caution]
    if cautious:
        head.append(_caution_block(cautious, int(budget * _CAUTION_SHARE)))
    if actionable:
        head.append(_table(actionable, int(budget * _TABLE_SHARE)))
    tail = [_notices(view.notices, int(budget * _NOTICES_SHARE))] if view.notices else []

    room = budget - _joined_length(head + tail) - 1  # the final newline
    sections: list[str] = []
    reserve = len(_SEPARATOR) + len(truncation_line(len(actionable)))
    for index, change in enumerate(actionable):
        section = _section(change)
        cost = len(_SEPARATOR) + len(section)
        if cost + (reserve if index + 1 < len(actionable) else 0) > room:
            break
        sections.append(section)
        room -= cost
    left_out = len(actionable) - len(sections)
    if left_out:
        sections.append(truncation_line(left_out))
    return _SEPARATOR.join(head + sections + tail) + "\n"
