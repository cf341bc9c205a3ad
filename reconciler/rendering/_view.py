"""A tolerant, read-only view of a plan's JSON form, shared by the human renderers.

Renderers read the JSON dict (a fresh ``plan.to_json_dict()`` or one loaded from a saved
plan file) rather than the pydantic objects. This module turns that dict into small frozen
records without ever raising on odd input: missing keys get defaults and non-string values
are turned into strings, so a hand-edited or newer-format plan still renders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.rendering.redaction import SENSITIVE_VALUE, is_sensitive_key, redact_value

ACTION_ORDER = ("create", "update", "delete", "replace")
ACTION_SYMBOLS = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}
ACTION_PHRASES = {
    "create": "created",
    "update": "updated in-place",
    "delete": "destroyed",
    "replace": "replaced",
}
ACTION_LEGEND = {
    "create": "create",
    "update": "update in-place",
    "delete": "destroy",
    "replace": "destroy and then create replacement",
}
NOOP = "no-op"

#: Risks in the order a reviewer should read them (most severe first).
RISK_ORDER = ("destructive", "data-loss", "disruptive", "key-remapping", "slow")
RISK_DESCRIPTIONS = {
    "destructive": "removes a resource or a setting",
    "data-loss": "stored data becomes unreachable; this cannot be undone",
    "disruptive": "clients see errors, rebalances or re-routing while it runs",
    "key-remapping": "the key -> partition mapping changes for keyed producers",
    "slow": "moves data; takes time proportional to the data stored",
}
DESTRUCTIVE_RISKS = frozenset({"destructive", "data-loss"})

NOTICE_LEVELS = ("info", "warning", "error")

# Characters that could break a line-oriented format or drive a terminal: C0/C1 controls,
# line/paragraph separators, bidirectional overrides and lone surrogates.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def escape_controls(text: str) -> str:
    """Make ``text`` safe for one line: control and bidi characters become ``\\uXXXX``."""
    return _UNSAFE.sub(_escape_char, text)


def text_lines(text: str) -> list[str]:
    """Split free text into display lines, each made safe with :func:`escape_controls`."""
    return [escape_controls(line) for line in text.replace("\r\n", "\n").split("\n")]


def format_value(value: Any, *, sensitive: bool = False) -> str:
    """One value as it appears in a diff line: strings quoted, ``None`` as ``null``,
    numbers bare, lists and mappings as one-line JSON, secrets as ``(sensitive value)``."""
    if value is None:
        return "null"
    if sensitive:
        return SENSITIVE_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        rendered = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # e.g. a circular structure in a hand-made mapping
        rendered = json.dumps(repr(value), ensure_ascii=False)
    return escape_controls(rendered)


def _text(value: Any, default: str = "") -> str:
    if value is None:
        return default
    return value if isinstance(value, str) else str(value)


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


@dataclass(frozen=True)
class AttributeView:
    path: str
    before: Any
    after: Any
    sensitive: bool

    def diff(self) -> tuple[str, str]:
        """``(symbol, "path = before -> after")`` for one attribute line; the symbol is
        ``+`` (added), ``-`` (removed), ``~`` (changed) or a space (unchanged, shown for
        context)."""
        path = escape_controls(self.path) or "(unnamed)"
        before = format_value(self.before, sensitive=self.sensitive)
        after = format_value(self.after, sensitive=self.sensitive)
        if self.before is None and self.after is not None:
            return "+", f"{path} = {after}"
        if self.after is None and self.before is not None:
            return "-", f"{path} = {before} -> null"
        if self.sensitive:
            return "~", f"{path} = {after}"
        if self.before == self.after:
            return " ", f"{path} = {after}"
        return "~", f"{path} = {before} -> {after}"


@dataclass(frozen=True)
class ChangeView:
    address: str
    action: str
    attributes: tuple[AttributeView, ...]
    risks: tuple[str, ...]  # in RISK_ORDER, unknown risks last
    reason: str
    steps: tuple[str, ...]

    @property
    def symbol(self) -> str:
        return ACTION_SYMBOLS.get(self.action, "?")

    @property
    def phrase(self) -> str:
        phrase = ACTION_PHRASES.get(self.action)
        return phrase if phrase is not None else f"changed ({escape_controls(self.action)})"

    @property
    def is_noop(self) -> bool:
        return self.action == NOOP

    @property
    def needs_caution(self) -> bool:
        """Deletes, replaces, and anything flagged destructive or data-loss."""
        return self.action in ("delete", "replace") or bool(
            DESTRUCTIVE_RISKS.intersection(self.risks)
        )


@dataclass(frozen=True)
class NoticeView:
    level: str
    address: str
    message: str
    kind: str

    @property
    def group(self) -> str:
        """``unmanaged``, ``error``, ``warning`` or ``info`` (unknown levels count as info)."""
        if self.kind == "unmanaged":
            return "unmanaged"
        return self.level if self.level in NOTICE_LEVELS else "info"


@dataclass(frozen=True)
class PlanView:
    changes: tuple[ChangeView, ...]
    notices: tuple[NoticeView, ...]

    @property
    def actionable(self) -> tuple[ChangeView, ...]:
        return tuple(c for c in self.changes if not c.is_noop)

    def summary(self) -> dict[str, int]:
        """Terraform's counts: a replace is one add and one destroy."""
        refused = {n.address for n in self.notices if n.level == "error"}
        counts = {action: 0 for action in ACTION_ORDER}
        for change in self.changes:
            if change.action in counts and change.address not in refused:
                counts[change.action] += 1
        return {
            "add": counts["create"] + counts["replace"],
            "change": counts["update"],
            "destroy": counts["delete"] + counts["replace"],
            "refused": len(refused),
        }

    def summary_phrase(self) -> str:
        counts = self.summary()
        phrase = (
            f"{counts['add']} to add, {counts['change']} to change, {counts['destroy']} to destroy"
        )
        return phrase + (f", {counts['refused']} refused" if counts["refused"] else "")


def _order_risks(raw: Any) -> tuple[str, ...]:
    risks = {_text(r) for r in _items(raw)}
    known = [r for r in RISK_ORDER if r in risks]
    return tuple(known + sorted(risks.difference(RISK_ORDER)))


def _attribute(raw: Mapping[str, Any]) -> AttributeView:
    path = _text(raw.get("path"))
    sensitive = bool(raw.get("sensitive")) or is_sensitive_key(path)
    before, after = raw.get("before"), raw.get("after")
    if sensitive:  # keep only whether a value is there
        before = None if before is None else SENSITIVE_VALUE
        after = None if after is None else SENSITIVE_VALUE
    return AttributeView(
        path=path,
        before=redact_value(before),
        after=redact_value(after),
        sensitive=sensitive,
    )


def _change(raw: Mapping[str, Any]) -> ChangeView:
    address = _text(raw.get("address"))
    if not address:
        parts = [_text(raw.get("resource_type")), _text(raw.get("name"))]
        address = ".".join(p for p in parts if p) or "(unnamed)"
    return ChangeView(
        address=address,
        action=_text(raw.get("action"), NOOP),
        attributes=tuple(
            _attribute(a) for a in _items(raw.get("attributes")) if isinstance(a, Mapping)
        ),
        risks=_order_risks(raw.get("risks")),
        reason=_text(raw.get("reason")),
        steps=tuple(_text(s) for s in _items(raw.get("steps"))),
    )


def _notice(raw: Mapping[str, Any]) -> NoticeView:
    return NoticeView(
        level=_text(raw.get("level"), "info"),
        address=_text(raw.get("address")),
        message=_text(raw.get("message")),
        kind=_text(raw.get("kind"), "note"),
    )


def unwrap(plan_dict: Mapping[str, Any]) -> Mapping[str, Any]:
    """The plan inside a saved-plan wrapper (a mapping with ``plan`` but no ``changes``)."""
    inner = plan_dict.get("plan")
    if "changes" not in plan_dict and isinstance(inner, Mapping):
        return inner
    return plan_dict


def view_plan(plan_dict: Mapping[str, Any]) -> PlanView:
    """Read a plan dict, redacting secrets as :func:`redaction.redact_plan_dict` does;
    never raises on malformed content."""
    body = unwrap(plan_dict)
    return PlanView(
        changes=tuple(_change(c) for c in _items(body.get("changes")) if isinstance(c, Mapping)),
        notices=tuple(_notice(n) for n in _items(body.get("notices")) if isinstance(n, Mapping)),
    )
