"""A ``ClusterSpec``'s status, drawn from one check's plan or failure (pure).

The status stays small (objects are limited to about 1.5 MiB): counts, conditions, the
first changes by address; the whole plan goes to an Event as Markdown-free text lines.
Conditions follow Kubernetes' conventions (``type``, ``status`` "True"/"False", ``reason``,
``message``, ``lastTransitionTime`` kept while the status does not change).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from msgspec import Struct, field

from reconciler.engine.plan import Plan
from reconciler.operator.resources import GROUP, KIND, VERSION

#: A ConfigMap holds at most 1 MiB; the plan's JSON is left out above this (text stays).
MAX_PLAN_JSON_CHARS = 900_000
#: Changes listed by address in the status; the count says how many there are in all.
MAX_LISTED_CHANGES = 20
MAX_MESSAGE_CHARS = 1_000


class Condition(StrEnum):
    READY = "Ready"  # the cluster matches the spec (after an apply, or with nothing to do)
    DRIFTED = "Drifted"  # the live state differs from the spec
    APPLYING = "Applying"  # an apply is running
    FAILED = "Failed"  # the last check could not be completed


class CheckOutcome(StrEnum):
    IN_SYNC = "InSync"
    DRIFTED = "Drifted"
    APPLIED = "Applied"
    APPLYING = "Applying"
    FAILED = "Failed"


class CheckReport(Struct, frozen=True):
    """What one check of one resource found (the input of its status)."""

    outcome: CheckOutcome
    generation: int | None
    checked_at: str
    plan: Plan | None = None
    message: str = ""
    applied: int = 0
    duration_seconds: float = 0.0
    leftover: Sequence[str] = field(default_factory=tuple)


def status_patch(report: CheckReport, resource: Mapping[str, Any]) -> dict[str, Any]:
    """The ``status`` of ``resource`` to write for ``report`` (conditions keep their
    transition times)."""
    previous = resource.get("status") or {}
    name = str(resource.get("metadata", {}).get("name", ""))
    status: dict[str, Any] = {
        "observedGeneration": report.generation,
        "lastCheckTime": report.checked_at,
        "lastCheckSeconds": round(report.duration_seconds, 3),
        "outcome": report.outcome.value,
        "conditions": _conditions(report, previous.get("conditions") or []),
    }
    if report.plan is not None:
        status["summary"] = summary(report.plan)
        status["changes"] = listed_changes(report.plan)
        status["planConfigMap"] = plan_config_map_name(name)
    if report.outcome is CheckOutcome.APPLIED:
        status["lastApplyTime"] = report.checked_at
    return status


def plan_config_map_name(resource_name: str) -> str:
    """``llm-analytics-plan-NAME`` (the ConfigMap holding a resource's last plan)."""
    return f"llm-analytics-plan-{resource_name}"[:253]


def plan_config_map(resource: Mapping[str, Any], plan: Plan) -> dict[str, Any]:
    """The ConfigMap of a resource's last plan: text and JSON (redacted), owned by the
    resource so that it is deleted with it."""
    import json

    from reconciler.logging_redaction import mask_secrets
    from reconciler.rendering import redact_plan_dict, render

    metadata = resource.get("metadata", {})
    body = redact_plan_dict(plan.to_json_dict())
    data = {"plan.txt": mask_secrets(render(body, "text"))}
    text = mask_secrets(json.dumps(body, indent=1, sort_keys=True))
    if len(text) <= MAX_PLAN_JSON_CHARS:
        data["plan.json"] = text
    owner = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": plan_config_map_name(str(metadata.get("name"))),
            "namespace": metadata.get("namespace"),
            "labels": {"app.kubernetes.io/managed-by": "llm-analytics"},
            "ownerReferences": [owner],
        },
        "data": data,
    }


def summary(plan: Plan) -> dict[str, int]:
    """Counts of the plan: changes by kind, refused resources, requests made."""
    counts = plan.summary()
    return {
        "changes": len(plan.actionable),
        "add": counts["add"],
        "change": counts["change"],
        "destroy": counts["destroy"],
        "refused": counts["refused"],
        "requests": sum(plan.request_counts.values()),
    }


def listed_changes(plan: Plan) -> list[dict[str, str]]:
    """The first :data:`MAX_LISTED_CHANGES` changes (address, action), by address."""
    changes = sorted(plan.actionable, key=lambda c: c.address)[:MAX_LISTED_CHANGES]
    return [{"address": c.address, "action": c.action.value} for c in changes]


def _conditions(report: CheckReport, previous: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    drifted = report.outcome is CheckOutcome.DRIFTED or bool(report.leftover)
    wanted = {
        Condition.READY: (
            report.outcome in (CheckOutcome.IN_SYNC, CheckOutcome.APPLIED) and not drifted
        ),
        Condition.DRIFTED: drifted,
        Condition.APPLYING: report.outcome is CheckOutcome.APPLYING,
        Condition.FAILED: report.outcome is CheckOutcome.FAILED,
    }
    before = {c.get("type"): c for c in previous}
    conditions = []
    for condition, value in wanted.items():
        text = "True" if value else "False"
        old = before.get(condition.value, {})
        since = old.get("lastTransitionTime") if old.get("status") == text else None
        conditions.append(
            {
                "type": condition.value,
                "status": text,
                "reason": report.outcome.value,
                "message": _message(report, condition, value),
                "lastTransitionTime": since or report.checked_at,
                "observedGeneration": report.generation,
            }
        )
    return conditions


def _message(report: CheckReport, condition: Condition, value: bool) -> str:
    if condition is Condition.FAILED and value:
        return report.message[:MAX_MESSAGE_CHARS]
    if condition is Condition.DRIFTED and value:
        headline = plan_headline(report.plan) if report.plan is not None else ""
        return "\n".join(t for t in (headline, report.message) if t)[:MAX_MESSAGE_CHARS]
    if condition is Condition.READY and report.outcome is CheckOutcome.APPLIED:
        return f"applied {report.applied} change(s)"
    return ""


def plan_headline(plan: Plan) -> str:
    """``Plan: 1 to add, 2 to change, 0 to destroy.`` (and refused resources)."""
    counts = plan.summary()
    text = (
        f"Plan: {counts['add']} to add, {counts['change']} to change, "
        f"{counts['destroy']} to destroy."
    )
    if counts["refused"]:
        text += f" {counts['refused']} refused."
    return text
