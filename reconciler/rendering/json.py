"""The machine rendering: the plan's versioned JSON form, redacted and pretty printed.

The structure is documented in ``docs/plan-format.md``. Keys come out in a fixed order
(the order of :meth:`reconciler.engine.plan.Plan.to_json_dict`; unknown keys from a newer
format follow in their given order); the contents of attribute values and payloads are
written as they are, never re-sorted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reconciler.rendering._view import unwrap, view_plan
from reconciler.rendering.redaction import redact_plan_dict

PLAN_KEYS = (
    "format_version",
    "changes",
    "notices",
    "policy",
    "request_counts",
    "summary",
    "has_changes",
)
CHANGE_KEYS = (
    "address",
    "provider",
    "resource_type",
    "name",
    "action",
    "attributes",
    "risks",
    "reason",
    "steps",
    "impact",
    "payload",
)
ATTRIBUTE_KEYS = ("path", "before", "after", "sensitive")
NOTICE_KEYS = ("level", "address", "message", "kind", "attribute", "before", "after")
SUMMARY_KEYS = ("add", "change", "destroy", "refused")


def _ordered(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    out = {key: mapping[key] for key in keys if key in mapping}
    out.update((key, value) for key, value in mapping.items() if key not in out)
    return out


def _ordered_list(items: Any, keys: tuple[str, ...]) -> Any:
    if not isinstance(items, list):
        return items
    return [_ordered(item, keys) if isinstance(item, Mapping) else item for item in items]


def canonical_plan_dict(plan_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The redacted plan dict in the documented key order, with ``summary`` and
    ``has_changes`` filled in when the input lacks them."""
    body = redact_plan_dict(unwrap(plan_dict))
    if "summary" not in body or "has_changes" not in body:
        view = view_plan(body)
        body.setdefault("summary", view.summary())
        body.setdefault("has_changes", bool(view.actionable))
    out = _ordered(body, PLAN_KEYS)
    if "changes" in out:
        out["changes"] = _ordered_list(out["changes"], CHANGE_KEYS)
        for change in out["changes"] if isinstance(out["changes"], list) else ():
            if isinstance(change, dict) and "attributes" in change:
                change["attributes"] = _ordered_list(change["attributes"], ATTRIBUTE_KEYS)
    if "notices" in out:
        out["notices"] = _ordered_list(out["notices"], NOTICE_KEYS)
    if isinstance(out.get("summary"), Mapping):
        out["summary"] = _ordered(out["summary"], SUMMARY_KEYS)
    return out


def render_json(plan_dict: Mapping[str, Any]) -> str:
    """The plan's JSON form: redacted, indent 2, stable key order, trailing newline.

    Non-ASCII characters are written as ``\\uXXXX`` escapes, so the output is plain ASCII.
    """
    return json.dumps(canonical_plan_dict(plan_dict), indent=2, default=str) + "\n"
