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
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler.cli.common import (
    app_context,
    kafka_connection_options,
    output_option,
    redis_connection_options,
    resolve_output,
    run,
    specs_options,
)
from reconciler.cli.output import echo
from reconciler.cli.planning import (
    RunRequest,
    connection_overrides,
    load_protected,
    target_options,
)
from reconciler.engine.drifts import (
    DRIFT_FORMAT_VERSION,
    DriftedResource,
    DriftReport,
    drift_report,
    metrics_text,
)
from reconciler.errors import EXIT_ERROR, EXIT_FOUND, EXIT_OK

_SYMBOLS = {"changed": "~", "missing": "+", "unmanaged": "?"}
_DESCRIPTIONS = {
    "changed": "changed",
    "missing": "missing (in the spec, not in the cluster)",
    "unmanaged": "unmanaged (in the cluster, not in the spec)",
}


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
    """One read of the live state, planned without deletions, read as drift."""
    from reconciler.cli.targets import open_providers, selected_targets
    from reconciler.engine.workflow import RunOptions, Workflow

    loaded = load_protected(request.spec_path, request.env)
    targets = selected_targets(loaded.spec, request.targets)
    overrides = connection_overrides(request)
    async with open_providers(loaded.spec, targets, overrides, loaded.where) as providers:
        workflow = Workflow(providers)
        planned = await workflow.plan(RunOptions(selection=request.selection, validate=False))
        types = [t for p in providers for t in p.resource_types]
    checked_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return drift_report(planned.plan, checked_at=checked_at, resource_types=types)


def metric_labels(spec_path: str, env: str | None) -> dict[str, str]:
    return {"spec": Path(spec_path).name, "env": env or ""}


@click.command()
@specs_options
@target_options
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
    target: tuple[str, ...],
    exclude: tuple[str, ...],
    output: str,
    json_alias: bool,
    metrics_file: str | None,
    bootstrap_servers: str | None,
    namespace: str | None,
    redis_addresses: str | None,
) -> int:
    """Report resources changed outside the spec: exit 0 none, 2 drift, 1 error.

    -f DIRECTORY checks every spec in it concurrently: one report, one metrics file (a
    ``spec`` label per file), one exit code.
    """
    request = RunRequest(
        spec_path, env, target, bootstrap_servers, redis_addresses, namespace, exclude=exclude
    )
    if Path(spec_path).is_dir():
        return _drift_fleet(request, resolve_output(output, json_alias), metrics_file)
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


async def _timed_check(request: RunRequest) -> tuple[DriftReport, float, float]:
    started_wall, started = time.time(), time.monotonic()
    report = await check_drift(request)
    return report, started_wall, time.monotonic() - started


def _fleet_metrics(
    results: list[tuple[str, tuple[DriftReport, float, float] | None, str | None]],
    env: str | None,
) -> str:
    from reconciler.engine.drifts import merged_metrics_text

    texts = []
    for name, timed, _ in results:
        labels = metric_labels(name, env)
        if timed is None:
            texts.append(
                metrics_text(None, success=False, timestamp=time.time(), duration=0, labels=labels)
            )
            continue
        report, wall, took = timed
        texts.append(
            metrics_text(
                None if report.errors else report,
                success=not report.errors,
                timestamp=wall,
                duration=took,
                labels=labels,
            )
        )
    return merged_metrics_text(texts)


def _drift_fleet(request: RunRequest, fmt: str, metrics_file: str | None) -> int:
    import json

    from reconciler.cli.fleet import fleet_exit_code, for_each_spec

    results = run(for_each_spec(request, _timed_check))
    if metrics_file:
        write_metrics(metrics_file, _fleet_metrics(results, request.env))
    if fmt == "json":
        reports = [
            {"spec": name, "report": timed[0].to_json()}
            if timed is not None
            else {"spec": name, "error": error}
            for name, timed, error in results
        ]
        echo(json.dumps({"format_version": DRIFT_FORMAT_VERSION, "reports": reports}, indent=2))
    else:
        for name, timed, error in results:
            body = report_text(timed[0]) if timed is not None else f"Error: {error}\n"
            echo(f"=== {name} ===\n{body}")
    if any(timed is not None and timed[0].errors for _, timed, _ in results):
        return EXIT_ERROR
    return fleet_exit_code(results, found=lambda timed: timed[0].drifted)  # type: ignore[index]


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
