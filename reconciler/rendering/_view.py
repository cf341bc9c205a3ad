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
from typing import Any

from msgspec import Struct, field

from reconciler.rendering.redaction import SENSITIVE_VALUE, is_sensitive_key, redact_value
from reconciler.spec.kafka_brokers import humane_any_config
from reconciler.spec.units import approximate_size

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


class AttributeView(Struct, frozen=True):
    path: str
    before: Any
    after: Any
    sensitive: bool

    def diff(self) -> tuple[str, str]:
        """``(symbol, "path = before -> after")`` for one attribute line; the symbol is
        ``+`` (added), ``-`` (removed), ``~`` (changed) or a space (unchanged, shown for
        context)."""
        path = escape_controls(self.path) or "(unnamed)"
        before = self.shown(self.before)
        after = self.shown(self.after)
        if self.before is None and self.after is not None:
            return "+", f"{path} = {after}"
        if self.after is None and self.before is not None:
            return "-", f"{path} = {before} -> null"
        if self.sensitive:
            return "~", f"{path} = {after}"
        if self.before == self.after:
            return " ", f"{path} = {after}"
        return "~", f"{path} = {before} -> {after}"

    def shown(self, value: Any) -> str:
        """``value`` as a diff line shows it: a Kafka duration or size config in the spec's
        humane units (``30d``, ``1GiB``; the raw value stays in the JSON), else
        :func:`format_value`."""
        if not self.sensitive and value is not None and self.path.startswith("config."):
            humane = humane_any_config(self.path.removeprefix("config."), value)
            if humane is not None:
                return humane
        return format_value(value, sensitive=self.sensitive)


class ChangeView(Struct, frozen=True):
    address: str
    action: str
    attributes: tuple[AttributeView, ...]
    risks: tuple[str, ...]  # in RISK_ORDER, unknown risks last
    reason: str
    steps: tuple[str, ...]
    impact: Mapping[str, Any] = field(default_factory=dict)

    @property
    def impact_lines(self) -> list[str]:
        """The change's impact in words (:func:`impact_lines`)."""
        return impact_lines(self.impact)

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


class NoticeView(Struct, frozen=True):
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


class PolicyResultView(Struct, frozen=True):
    rule: str
    address: str
    status: str  # "violated" | "approved"
    message: str


class PolicyView(Struct, frozen=True):
    rules: tuple[str, ...]
    approvals: tuple[str, ...]
    results: tuple[PolicyResultView, ...]

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def headline(self) -> str:
        """``3 rules checked: 1 violation, 1 approved`` / ``2 rules checked: all passed``."""
        head = f"{len(self.rules)} rule{'s' if len(self.rules) != 1 else ''} checked"
        violated, approved = self.count("violated"), self.count("approved")
        if not violated and not approved:
            return f"{head}: all passed"
        parts = []
        if violated:
            parts.append(f"{violated} violation{'s' if violated != 1 else ''}")
        if approved:
            parts.append(f"{approved} approved")
        return f"{head}: {', '.join(parts)}"


class PlanView(Struct, frozen=True):
    changes: tuple[ChangeView, ...]
    notices: tuple[NoticeView, ...]
    policy: PolicyView | None = None

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


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"


def impact_lines(impact: Mapping[str, Any]) -> list[str]:
    """A change's ``impact`` (docs/plan-format.md) in words, one line per fact:
    ``data to copy: 1.2 GiB (broker 2: 600.0 MiB, broker 3: 600.0 MiB), ETA ~24s at 50.0 MiB/s``."""
    lines: list[str] = _slot_move_lines(impact)
    moved = _number(impact.get("bytes_to_move"))
    if moved is not None and not lines:
        line = f"data to copy: {approximate_size(moved)}"
        receiving = impact.get("receiving_brokers")
        if isinstance(receiving, Mapping) and receiving:
            shares = ", ".join(
                f"broker {escape_controls(str(b))}: {approximate_size(n)}"
                for b, n in receiving.items()
                if _number(n) is not None
            )
            line += f" ({shares})"
        eta = _number(impact.get("eta_seconds"))
        if eta is not None:
            rate = _number(impact.get("throttle_bytes_per_second"))
            at = f"the throttle {approximate_size(rate)}/s" if rate else "50.0 MiB/s (no throttle)"
            line += f", ETA ~{_duration(eta)} at {at}"
        lines.append(line)
    share = _number(impact.get("remapped_key_share"))
    if share is not None:
        lines.append(f"keys remapped: {share * 100:.1f}% of keys map to another partition")
    eligible = _number(impact.get("bytes_eligible_for_deletion"))
    stored = _number(impact.get("bytes_stored"))
    if eligible is not None:
        of = f" of {approximate_size(stored)} stored" if stored is not None else ""
        lines.append(f"eligible for deletion: ~{approximate_size(eligible)}{of}")
    elif stored is not None:
        lines.append(
            f"data stored: {approximate_size(stored)} (what becomes eligible for deletion is not known)"
        )
    return lines


def _slot_move_lines(impact: Mapping[str, Any]) -> list[str]:
    """A Redis slot move: keys, sampled bytes, ETA, the receiving master's memory."""
    keys = _number(impact.get("keys_to_move"))
    if keys is None:
        return []
    line = f"keys to move: ~{keys:,.0f}"
    moved = _number(impact.get("bytes_to_move"))
    if moved is not None:
        line += f" (~{approximate_size(moved)}, sampled MEMORY USAGE)"
    eta = _number(impact.get("eta_seconds"))
    if eta is not None:
        line += f", ETA ~{_duration(eta)} {_slot_move_rate(impact)}"
    lines = [line]
    memory = _mapping(impact.get("target_memory"))
    used, after = _number(memory.get("used")), _number(memory.get("after"))
    limit = _number(memory.get("maxmemory"))
    if used is not None and after is not None:
        cap = f"of maxmemory {approximate_size(limit)}" if limit else "(no maxmemory set)"
        lines.append(
            f"receiving master memory: {approximate_size(used)} now, "
            f"~{approximate_size(after)} after {cap}"
        )
    return lines


def _slot_move_rate(impact: Mapping[str, Any]) -> str:
    """``at 4,210 keys/s (measured on 2026-12-02)``, ``at 5,000 keys/s (documented
    default)``, and the limit when one holds the move back."""
    rate = _number(impact.get("keys_per_second"))
    if rate is None:  # a plan from before measured rates
        return "at 5,000 keys/s"
    if impact.get("rate_source") == "measured":
        when = escape_controls(_text(impact.get("rate_measured_at")))[:10]
        basis = f"measured on {when}" if when else "measured"
    else:
        basis = "documented default"
    text = f"at {rate:,.0f} keys/s ({basis})"
    limit = _mapping(impact.get("rate_limit"))
    per_second = _number(limit.get("per_second"))
    if per_second is not None:
        shown = (
            f"{per_second:,.0f} keys/s"
            if limit.get("unit") == "keys"
            else f"{approximate_size(per_second)}/s"
        )
        text += f", limited to {shown} for all moves"
    return text


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
        impact=_mapping(raw.get("impact")),
    )


def _notice(raw: Mapping[str, Any]) -> NoticeView:
    return NoticeView(
        level=_text(raw.get("level"), "info"),
        address=_text(raw.get("address")),
        message=_text(raw.get("message")),
        kind=_text(raw.get("kind"), "note"),
    )


def _policy(raw: Any) -> PolicyView | None:
    if not isinstance(raw, Mapping):
        return None
    results = tuple(
        PolicyResultView(
            rule=_text(r.get("rule")),
            address=_text(r.get("address")),
            status=_text(r.get("status"), "violated"),
            message=_text(r.get("message")),
        )
        for r in _items(raw.get("results"))
        if isinstance(r, Mapping)
    )
    return PolicyView(
        rules=tuple(_text(r) for r in _items(raw.get("rules"))),
        approvals=tuple(_text(a) for a in _items(raw.get("approvals"))),
        results=results,
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
        policy=_policy(body.get("policy")),
    )
