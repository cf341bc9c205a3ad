"""The Terraform-like text rendering of a plan, for terminals and job logs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.rendering._view import (
    ACTION_LEGEND,
    ACTION_ORDER,
    ACTION_SYMBOLS,
    RISK_DESCRIPTIONS,
    ChangeView,
    NoticeView,
    PlanView,
    escape_controls,
    text_lines,
    view_plan,
)

NO_CHANGES_LINE = "No changes. The live state matches the spec."
# With errors, nothing can be planned as asked: never say the live state matches.
REFUSED_LINE = "Plan: nothing can be changed as asked; see the errors above."

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_YELLOW = "\x1b[33m"
_SYMBOL_COLORS = {"+": _GREEN, "~": _YELLOW, "-": _RED}

_NOTICE_HEADINGS = {
    "unmanaged": "Unmanaged resources (left alone):",
    "info": "Notes:",
    "warning": "Warnings:",
    "error": "Errors:",
}
# Errors last, next to the final line, where they are hardest to miss.
_NOTICE_ORDER = ("unmanaged", "info", "warning", "error")


class _Style:
    """ANSI colouring that is a no-op when colour is off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def paint(self, text: str, *codes: str) -> str:
        if not self.color or not text or not codes:
            return text
        return "".join(codes) + text + _RESET

    def symbol(self, symbol: str) -> str:
        if not self.color:
            return symbol
        if symbol == "-/+":
            return self.paint("-", _RED) + "/" + self.paint("+", _GREEN)
        return self.paint(symbol, _SYMBOL_COLORS.get(symbol, ""))


def _legend(view: PlanView, style: _Style) -> list[str]:
    used = {c.action for c in view.actionable}
    lines = ["Resource actions are indicated with the following symbols:"]
    for action in ACTION_ORDER:
        if action in used:
            symbol = ACTION_SYMBOLS[action]
            lines.append(f"{' ' * (3 - len(symbol))}{style.symbol(symbol)} {ACTION_LEGEND[action]}")
    return lines


def _change_block(change: ChangeView, style: _Style) -> list[str]:
    address = escape_controls(change.address)
    lines = [style.paint(f"  # {address} will be {change.phrase}", _BOLD)]
    if change.reason:
        reason = text_lines(change.reason)
        lines.append(f"  # reason: {reason[0]}")
        lines.extend(f"  #   {line}" for line in reason[1:])
    if change.risks:
        risks = ", ".join(escape_controls(r) for r in change.risks)
        lines.append(style.paint(f"  # ({risks})", _BOLD, _RED))
        for risk in change.risks:
            description = RISK_DESCRIPTIONS.get(risk, "flagged by the provider")
            lines.append(
                style.paint(f"  ! WARNING: {escape_controls(risk)}: {description}", _BOLD, _RED)
            )
    symbol = change.symbol
    lines.append(f"{' ' * max(0, 3 - len(symbol))}{style.symbol(symbol)} {address} {{")
    for attribute in change.attributes:
        attr_symbol, body = attribute.diff()
        lines.append(f"      {style.symbol(attr_symbol)} {body}")
    lines.append("    }")
    impact = change.impact_lines
    if impact:
        lines.append("    impact:")
        lines.extend(f"      {line}" for line in impact)
    if change.steps:
        lines.append("    steps:")
        for number, step in enumerate(change.steps, start=1):
            step_lines = text_lines(step)
            prefix = f"      {number}. "
            lines.append(prefix + step_lines[0])
            lines.extend(" " * len(prefix) + line for line in step_lines[1:])
    return lines


def _notice_line(notice: NoticeView) -> list[str]:
    message = text_lines(notice.message)
    label = escape_controls(notice.address)
    if notice.kind not in ("note", "unmanaged", ""):
        label = (
            f"{label} [{escape_controls(notice.kind)}]"
            if label
            else f"[{escape_controls(notice.kind)}]"
        )
    first = f"  - {label}: {message[0]}" if label else f"  - {message[0]}"
    return [first, *(f"    {line}" for line in message[1:])]


def _notices(view: PlanView, style: _Style) -> list[str]:
    lines: list[str] = []
    for group in _NOTICE_ORDER:
        members = [n for n in view.notices if n.group == group]
        if not members:
            continue
        if lines:
            lines.append("")
        color = {"error": (_RED,), "warning": (_YELLOW,)}.get(group, ())
        lines.append(style.paint(_NOTICE_HEADINGS[group], _BOLD, *color))
        for notice in members:
            lines.extend(style.paint(line, *color) for line in _notice_line(notice))
    return lines


def render_text(plan_dict: Mapping[str, Any], *, color: bool = False) -> str:
    """Render a plan's JSON form as Terraform-like text (ANSI colours only if ``color``)."""
    view = view_plan(plan_dict)
    style = _Style(color)
    sections: list[list[str]] = []
    actionable = view.actionable
    if actionable:
        sections.append(_legend(view, style))
        sections.append(["llm-analytics will perform the following actions:"])
        sections.extend(_change_block(change, style) for change in actionable)
    notices = _notices(view, style)
    if notices:
        sections.append(notices)
    if view.policy is not None:
        sections.append([f"Policy: {escape_controls(view.policy.headline())}."])
    if actionable:
        final = style.paint(f"Plan: {view.summary_phrase()}.", _BOLD)
    elif view.summary()["refused"]:
        final = style.paint(REFUSED_LINE, _BOLD, _RED)
    else:
        final = style.paint(NO_CHANGES_LINE, _BOLD, _GREEN)
    sections.append([final])
    return "\n\n".join("\n".join(section) for section in sections) + "\n"
