"""``drift``: report resources changed outside the spec, for schedules and alerts.

A drift check is a plan read for what it says about the live state:

- ``changed``: a resource in the spec whose live attributes differ (an update or replace in
  the plan, or a change the plan refuses to revert, such as partitions added by hand);
- ``missing``: in the spec, absent from the cluster (a create in the plan);
- ``unmanaged``: present in the cluster inside the spec's ownership scope but not in the
  spec (the plan's ``unmanaged`` notices: topics, ACLs, config keys set by hand).

Exit codes: 0 no drift, 2 drift, 1 error (also when the check could not look at
everything). ``--metrics-file`` writes Prometheus text format for node-exporter's textfile
collector, atomically, also when the check fails (``..._last_check_success 0``).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from reconciler.cli.common import (
    app_context,
    kafka_connection_options,
    output_option,
    redis_connection_options,
    resolve_output,
    run,
    spec_options,
)
from reconciler.cli.planning import (
    RunRequest,
    connection_overrides,
    echo,
    load_protected,
    target_option,
)
from reconciler.engine.plan import Action, NoticeLevel, Plan
from reconciler.errors import EXIT_ERROR, EXIT_FOUND, EXIT_OK

DRIFT_FORMAT_VERSION = "1.0"
DRIFT_KINDS = ("changed", "missing", "unmanaged")
_KIND_ORDER = {kind: index for index, kind in enumerate(DRIFT_KINDS)}
_CONFIG_NOTICE = re.compile(r"^config (\S+?)=")
_SYMBOLS = {"changed": "~", "missing": "+", "unmanaged": "?"}
_DESCRIPTIONS = {
    "changed": "changed",
    "missing": "missing (in the spec, not in the cluster)",
    "unmanaged": "unmanaged (in the cluster, not in the spec)",
}
#: Resource types each provider reports, so that their series exist (at 0) without drift.
PROVIDER_RESOURCE_TYPES: dict[str, tuple[str, ...]] = {
    "kafka_topic": ("kafka_topic",),
    "kafka_acl": ("kafka_acl",),
    "redis": ("redis_cluster", "redis_node"),
}


@dataclass
class DriftedResource:
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


@dataclass
class DriftReport:
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
        note(change.address, change.resource_type, kind, [a.path for a in change.attributes])
    errors: list[str] = []
    for notice in plan.notices:
        if notice.kind == "unmanaged":
            match = _CONFIG_NOTICE.match(notice.message)
            note(
                notice.address,
                _resource_type(notice.address),
                "unmanaged",
                [f"config.{match.group(1)}"] if match else [],
            )
        elif (
            notice.level is NoticeLevel.ERROR
            and notice.kind == "refused"
            and not notice.address.endswith(".*")
        ):
            # A live value the tool will not revert (e.g. partitions added by hand).
            note(notice.address, _resource_type(notice.address), "changed", detail=notice.message)
        elif notice.level is NoticeLevel.ERROR:
            errors.append(f"{notice.address}: {notice.message}")
    types = sorted({*resource_types, *(r.resource_type for r in found.values())})
    resources = sorted(found.values(), key=lambda r: (_KIND_ORDER[r.kind], r.address))
    return DriftReport(resources, checked_at, errors, types)


def _escape(text: str) -> str:
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def report_text(report: DriftReport) -> str:
    if not report.drifted:
        return f"No drift: the live state matches the spec (checked at {report.checked_at}).\n"
    count = len(report.resources)
    lines = [
        f"Drift: {count} resource{'s' if count != 1 else ''} differ"
        f"{'s' if count == 1 else ''} from the spec (checked at {report.checked_at}):"
    ]
    for resource in report.resources:
        line = (
            f"  {_SYMBOLS[resource.kind]} {_escape(resource.address)}: "
            f"{_DESCRIPTIONS[resource.kind]}"
        )
        if resource.attributes:
            line += f" ({', '.join(_escape(a) for a in resource.attributes)})"
        lines.append(line)
        lines.extend(f"      {_escape(detail)}" for detail in resource.details)
    return "\n".join(lines) + "\n"


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


def write_metrics(path: str, text: str) -> None:
    """Atomically (temporary file in the same directory, then ``os.replace``): the
    collector never reads half a file. The temporary name does not end in ``.prom``."""
    from reconciler.engine.planfile import write_atomically
    from reconciler.errors import ReconcilerError
    from reconciler.logging_redaction import mask_secrets

    try:
        write_atomically(path, mask_secrets(text))
    except OSError as problem:
        raise ReconcilerError(
            f"cannot write the metrics file {path}: {problem.strerror or problem}"
        ) from None


# --------------------------------------------------------------------------- the command


async def check_drift(request: RunRequest) -> DriftReport:
    from reconciler.cli.targets import open_providers, selected_targets
    from reconciler.engine.planning import build_plan
    from reconciler.engine.providers import PlanOptions

    loaded = load_protected(request.spec_path, request.env)
    targets = selected_targets(loaded.spec, request.target)
    overrides = connection_overrides(request)
    async with open_providers(loaded.spec, targets, overrides) as providers:
        planned = await build_plan(providers, PlanOptions(allow_delete=False, validate=False))
        types = [t for p in providers for t in PROVIDER_RESOURCE_TYPES.get(p.name, (p.name,))]
    checked_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return drift_report(planned, checked_at=checked_at, resource_types=types)


def metric_labels(spec_path: str, env: str | None) -> dict[str, str]:
    return {"spec": Path(spec_path).name, "env": env or ""}


@click.command()
@spec_options
@target_option
@output_option(("text", "json"))
@click.option(
    "--metrics-file",
    "metrics_file",
    default=None,
    type=click.Path(dir_okay=False, writable=True),
    help="Also write Prometheus text format here (node-exporter textfile collector; "
    "name it *.prom), atomically, also on failure.",
)
@kafka_connection_options
@redis_connection_options
def drift(
    spec_path: str,
    env: str | None,
    target: str | None,
    output: str,
    json_alias: bool,
    metrics_file: str | None,
    bootstrap_servers: str | None,
    namespace: str | None,
    redis_addresses: str | None,
) -> int:
    """Report resources changed outside the spec: exit 0 none, 2 drift, 1 error."""
    request = RunRequest(spec_path, env, target, bootstrap_servers, redis_addresses, namespace)
    labels = metric_labels(spec_path, env)
    started_wall, started = time.time(), time.monotonic()
    try:
        report = run(check_drift(request))
    except Exception:
        if metrics_file:
            # Best effort: the check's own error is the one to report.
            with contextlib.suppress(Exception):
                write_metrics(
                    metrics_file,
                    metrics_text(
                        None,
                        success=False,
                        timestamp=started_wall,
                        duration=time.monotonic() - started,
                        labels=labels,
                    ),
                )
        raise
    if metrics_file:
        # An incomplete check's counts are unknown, not zero: left out, like on failure.
        write_metrics(
            metrics_file,
            metrics_text(
                None if report.errors else report,
                success=not report.errors,
                timestamp=started_wall,
                duration=time.monotonic() - started,
                labels=labels,
            ),
        )
    if resolve_output(output, json_alias) == "json":
        import json

        echo(json.dumps(report.to_json(), indent=2))
    else:
        echo(report_text(report), nl=False)
    if report.errors:
        lines = "\n".join(f"  {_escape(e)}" for e in report.errors)
        echo(f"Error: the drift check could not look at everything:\n{lines}", err=True)
        return EXIT_ERROR
    if app_context().debug:
        echo(f"drift check took {time.monotonic() - started:.2f}s", err=True)
    return EXIT_FOUND if report.drifted else EXIT_OK


__all__ = [
    "DRIFT_FORMAT_VERSION",
    "DriftReport",
    "DriftedResource",
    "check_drift",
    "drift",
    "drift_report",
    "metrics_text",
    "report_text",
    "write_metrics",
]
