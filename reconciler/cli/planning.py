"""``plan``, ``apply`` and ``show``: the Terraform-style workflow over the whole spec."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from reconciler.cli.common import (
    AppContext,
    app_context,
    kafka_connection_options,
    output_option,
    redis_connection_options,
    resolve_output,
    run,
    spec_options,
)
from reconciler.engine.plan import Plan
from reconciler.engine.providers import ApplyOptions, PlanOptions, ResultStatus
from reconciler.errors import EXIT_ERROR, EXIT_FOUND, EXIT_OK, ApplyFailed, SafetyRefusal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRequest:
    """What plan/apply were asked for."""

    spec_path: str
    env: str | None
    target: str | None
    bootstrap_servers: str | None
    redis_addresses: str | None
    namespace: str | None
    allow_delete: bool = False


def _overrides(request: RunRequest):  # type: ignore[no-untyped-def]
    from reconciler.cli.targets import ConnectionOverrides

    return ConnectionOverrides(request.bootstrap_servers, request.redis_addresses,
                               request.namespace)


def echo_plan(plan: Plan, fmt: str, app: AppContext) -> None:
    from reconciler.rendering import render

    click.echo(render(plan, fmt, color=app.color_enabled), nl=False)  # type: ignore[arg-type]
    if app.debug and plan.request_counts:
        counts = ", ".join(f"{api}={n}" for api, n in plan.request_counts.items())
        click.echo(f"admin requests: {counts} (total {sum(plan.request_counts.values())})",
                   err=True)


async def compute_plan(request: RunRequest) -> Plan:
    from reconciler.cli.targets import open_providers, selected_targets
    from reconciler.engine.planning import build_plan
    from reconciler.spec.loading import load_spec

    loaded = load_spec(request.spec_path, env=request.env)
    targets = selected_targets(loaded.spec, request.target)
    async with open_providers(loaded.spec, targets, _overrides(request)) as providers:
        return await build_plan(providers, PlanOptions(allow_delete=request.allow_delete))


def target_option(func):  # type: ignore[no-untyped-def]
    return click.option("--target", type=click.Choice(["kafka", "redis"]), default=None,
                        help="Only this part of the spec.")(func)


@click.command()
@spec_options
@target_option
@output_option(("text", "json", "markdown"))
@click.option("--allow-delete", is_flag=True,
              help="Plan deletions the spec's ownership policy allows.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 when there are no changes, 2 when there are, 1 on error.")
@kafka_connection_options
@redis_connection_options
def plan(spec_path: str, env: str | None, target: str | None, output: str, json_alias: bool,
         allow_delete: bool, detailed_exitcode: bool, bootstrap_servers: str | None,
         namespace: str | None, redis_addresses: str | None) -> int:
    """Show what apply would change; changes nothing."""
    request = RunRequest(spec_path, env, target, bootstrap_servers, redis_addresses, namespace,
                         allow_delete)
    result = run(compute_plan(request))
    echo_plan(result, resolve_output(output, json_alias), app_context())
    if result.has_errors:
        return EXIT_ERROR
    if detailed_exitcode and result.has_changes:
        return EXIT_FOUND
    return EXIT_OK


def _confirm(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise SafetyRefusal("refusing to apply without --auto-approve: no terminal to confirm on",
                            hint="review the plan, then run apply --auto-approve")
    answer = click.prompt("Do you want to perform these actions? Only 'yes' will be accepted",
                          default="", show_default=False, err=True)
    if answer.strip() != "yes":
        raise click.exceptions.Abort()


async def _apply(request: RunRequest, auto_approve: bool, continue_on_error: bool,
                 app: AppContext) -> int:
    from reconciler.cli.progress import ConsoleProgress
    from reconciler.cli.targets import open_providers, selected_targets
    from reconciler.engine.applying import apply_plan, check_applicable
    from reconciler.engine.planning import build_plan
    from reconciler.spec.loading import load_spec

    loaded = load_spec(request.spec_path, env=request.env)
    targets = selected_targets(loaded.spec, request.target)
    options = PlanOptions(allow_delete=request.allow_delete)
    async with open_providers(loaded.spec, targets, _overrides(request)) as providers:
        planned = await build_plan(providers, options)
        echo_plan(planned, "text", app)
        if not planned.has_changes and not planned.has_errors:
            click.echo("Nothing to apply.")
            return EXIT_OK
        check_applicable(planned, allow_delete=request.allow_delete)
        _confirm(auto_approve)
        results = await apply_plan(planned, providers, ApplyOptions(
            continue_on_error=continue_on_error, progress=ConsoleProgress(app.color_enabled)))
        failed = [r for r in results if r.status is ResultStatus.FAILED]
        if failed:
            lines = "\n".join(f"  {r.address}: {r.message}" for r in failed)
            raise ApplyFailed(f"{len(failed)} change(s) failed:\n{lines}")
        after = await build_plan(providers, PlanOptions(allow_delete=request.allow_delete,
                                                        validate=False))
        if after.has_changes:
            click.echo("The live state still differs from the spec after apply:", err=True)
            echo_plan(after, "text", app)
            return EXIT_ERROR
        summary = planned.summary()
        click.echo(f"Apply complete! Resources: {summary['add']} added, "
                   f"{summary['change']} changed, {summary['destroy']} destroyed.")
        return EXIT_OK


@click.command()
@spec_options
@target_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking (for jobs).")
@click.option("--allow-delete", is_flag=True,
              help="Permit destructive changes the spec's ownership policy allows.")
@click.option("--continue-on-error", is_flag=True,
              help="Go on with independent changes after one fails.")
@kafka_connection_options
@redis_connection_options
def apply(spec_path: str, env: str | None, target: str | None, auto_approve: bool,
          allow_delete: bool, continue_on_error: bool, bootstrap_servers: str | None,
          namespace: str | None, redis_addresses: str | None) -> int:
    """Make the clusters match the spec: plan, confirm, apply, verify."""
    request = RunRequest(spec_path, env, target, bootstrap_servers, redis_addresses, namespace,
                         allow_delete)
    return run(_apply(request, auto_approve, continue_on_error, app_context()))


@click.command()
@click.argument("planfile", type=click.Path(exists=True, dir_okay=False))
@output_option(("text", "json", "markdown"))
def show(planfile: str, output: str, json_alias: bool) -> None:
    """Render a saved plan file."""
    import json

    data = json.loads(Path(planfile).read_text(encoding="utf-8"))
    plan_data = data.get("plan", data)
    echo_plan(Plan.from_json_dict(plan_data), resolve_output(output, json_alias), app_context())
