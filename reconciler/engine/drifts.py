"""Drift: a plan read for what it says about the live state (pure).

- ``changed``: a resource in the spec whose live attributes differ (an update or replace in
  the plan, or a change the plan refuses to revert, such as partitions added by hand);
- ``missing``: in the spec, absent from the cluster (a create in the plan);
- ``unmanaged``: present in the cluster inside the spec's ownership scope but not in the
  spec (the plan's ``unmanaged`` notices: topics, ACLs, config keys set by hand).

Everything is read from the plan's structured data (actions, attribute paths, notice kinds
and attributes), never from its prose; a changed resource lists the attributes whose before
and after differ (:func:`reconciler.engine.diffing.changed_paths`), not those shown for
context. The resource types come from the providers
(``Provider.resource_types``), so that every type's metric series exists at 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from msgspec import Struct, field

from reconciler.engine.diffing import changed_paths
from reconciler.engine.plan import Action, AttributeChange, NoticeLevel, Plan
from reconciler.spec.kafka_brokers import humane_any_config

DRIFT_FORMAT_VERSION = "1.0"
DRIFT_KINDS = ("changed", "missing", "unmanaged")
_KIND_ORDER = {kind: index for index, kind in enumerate(DRIFT_KINDS)}


class DriftedResource(Struct):
    address: str
    resource_type: str
    kind: str
    attributes: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "resource_type": self.resource_type,
            "kind": self.kind,
            "attributes": self.attributes,
            "details": self.details,
        }


class DriftReport(Struct):
    resources: list[DriftedResource]
    checked_at: str
    errors: list[str] = field(default_factory=list)
    resource_types: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.resources)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "format_version": DRIFT_FORMAT_VERSION,
            "drifted": self.drifted,
            "resources": [r.to_json() for r in self.resources],
            "checked_at": self.checked_at,
        }
        if self.errors:
            body["errors"] = self.errors
        return body

    def counts(self) -> dict[tuple[str, str], int]:
        """(resource type, drift kind) -> resources, every known pair included."""
        counts = {(rtype, kind): 0 for rtype in self.resource_types for kind in DRIFT_KINDS}
        for resource in self.resources:
            key = (resource.resource_type, resource.kind)
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))


def _resource_type(address: str) -> str:
    return address.split(".", 1)[0] if "." in address else address


def _config_detail(attribute: AttributeChange) -> str | None:
    """``config.retention.ms: 14d in the cluster, 30d in the spec`` for a changed topic
    config (humane units where the key takes them), ``None`` for anything else."""
    if attribute.sensitive or not attribute.path.startswith("config."):
        return None
    key = attribute.path.removeprefix("config.")

    def shown(value: Any, absent: str) -> str:
        if value is None:
            return absent
        return humane_any_config(key, value) or str(value)

    return (
        f"{attribute.path}: {shown(attribute.before, 'unset')} in the cluster, "
        f"{shown(attribute.after, 'the broker default')} in the spec"
    )


def drift_report(plan: Plan, *, checked_at: str, resource_types: Iterable[str] = ()) -> DriftReport:
    """Read a plan (made without deletions) as a drift report (pure)."""
    found: dict[str, DriftedResource] = {}

    def note(
        address: str,
        rtype: str,
        kind: str,
        attributes: Iterable[str] = (),
        detail: str | None = None,
    ) -> None:
        entry = found.get(address)
        if entry is None:
            entry = found[address] = DriftedResource(address, rtype, kind)
        elif _KIND_ORDER[kind] < _KIND_ORDER[entry.kind]:
            entry.kind = kind  # missing is not also "changed"
        for attribute in attributes:
            if attribute not in entry.attributes:
                entry.attributes.append(attribute)
        if detail and detail not in entry.details:
            entry.details.append(detail)

    for change in plan.actionable:
        kind = {Action.CREATE: "missing", Action.DELETE: "unmanaged"}.get(change.action, "changed")
        note(change.address, change.resource_type, kind, changed_paths(change.attributes))
        if change.action is Action.UPDATE:
            for attribute in change.attributes:
                note(change.address, change.resource_type, kind, detail=_config_detail(attribute))
    errors: list[str] = []
    for notice in plan.notices:
        if notice.kind == "unmanaged":
            note(
                notice.address,
                _resource_type(notice.address),
                "unmanaged",
                [notice.attribute] if notice.attribute else [],
            )
        elif (
            notice.level is NoticeLevel.ERROR
            and notice.kind == "refused"
            and not notice.address.endswith(".*")
        ):
            # A live value the tool will not revert (e.g. partitions added by hand).
            note(
                notice.address,
                _resource_type(notice.address),
                "changed",
                [notice.attribute] if notice.attribute else [],
                detail=notice.message,
            )
        elif notice.level is NoticeLevel.ERROR:
            errors.append(f"{notice.address}: {notice.message}")
    types = sorted({*resource_types, *(r.resource_type for r in found.values())})
    resources = sorted(found.values(), key=lambda r: (_KIND_ORDER[r.kind], r.address))
    return DriftReport(resources, checked_at, errors, types)


# --------------------------------------------------------------------------- metrics

METRIC_RESOURCES = "llm_analytics_drift_resources"
METRIC_TIMESTAMP = "llm_analytics_drift_last_check_timestamp_seconds"
METRIC_SUCCESS = "llm_analytics_drift_last_check_success"
METRIC_DURATION = "llm_analytics_drift_last_check_duration_seconds"


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items()) + "}"


def metrics_text(
    report: DriftReport | None,
    *,
    success: bool,
    timestamp: float,
    duration: float,
    labels: Mapping[str, str],
) -> str:
    """Prometheus text exposition format (version 0.0.4) of one drift check.

    ``labels`` (``spec``, ``env``) tell checks of different specs apart, so that several
    files in one textfile-collector directory never collide. The per-resource gauges are
    left out when the check failed: their value is unknown, not zero.
    """
    lines: list[str] = []
    if report is not None:
        lines += [
            f"# HELP {METRIC_RESOURCES} Resources that differ from the spec, by resource type "
            "(kind) and drift kind (changed, missing, unmanaged).",
            f"# TYPE {METRIC_RESOURCES} gauge",
        ]
        for (rtype, kind), count in report.counts().items():
            series = {"kind": rtype, "drift": kind, **labels}
            lines.append(f"{METRIC_RESOURCES}{_labels(series)} {count}")
    lines += [
        f"# HELP {METRIC_TIMESTAMP} Unix time of the last drift check, successful or not.",
        f"# TYPE {METRIC_TIMESTAMP} gauge",
        f"{METRIC_TIMESTAMP}{_labels(labels)} {timestamp:.3f}",
        f"# HELP {METRIC_SUCCESS} 1 if the last drift check looked at everything, 0 if it failed.",
        f"# TYPE {METRIC_SUCCESS} gauge",
        f"{METRIC_SUCCESS}{_labels(labels)} {1 if success else 0}",
        f"# HELP {METRIC_DURATION} How long the last drift check took.",
        f"# TYPE {METRIC_DURATION} gauge",
        f"{METRIC_DURATION}{_labels(labels)} {duration:.3f}",
    ]
    return "\n".join(lines) + "\n"


def merged_metrics_text(texts: Sequence[str]) -> str:
    """Several checks' metrics in one exposition: each metric's ``# HELP``/``# TYPE`` once,
    then every check's samples of it (labels tell the checks apart)."""
    headers: dict[str, list[str]] = {}
    samples: dict[str, list[str]] = {}
    for text in texts:
        for line in text.splitlines():
            if line.startswith("# "):
                name = line.split()[2]
                if len(headers.setdefault(name, [])) < 2:
                    headers[name].append(line)
                samples.setdefault(name, [])
            elif line:
                samples.setdefault(line.split("{", 1)[0].split(" ", 1)[0], []).append(line)
    lines = [line for name in samples for line in (*headers.get(name, ()), *samples[name])]
    return "\n".join(lines) + "\n"
