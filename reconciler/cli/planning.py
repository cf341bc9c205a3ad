"""``plan``, ``apply`` and ``show``: the Terraform-style workflow over the whole spec.

``plan --out PLANFILE`` saves the plan with the spec's hash and the fingerprints of the live
state it was computed from (and the identity of each cluster); ``apply PLANFILE`` carries
out exactly that plan, after checking under the apply lock that neither changed (exit 3
otherwise, before anything of the plan is printed); ``apply -f SPEC`` plans and applies in
one go. Both run the engine's workflow (:mod:`reconciler.engine.workflow`): lock, read once,
plan, gate (:mod:`reconciler.engine.risk`), confirm, apply, verify.

Secrets never reach the output: renderers redact by key, and every resolved secret value of
the spec is masked in printed text and in log records (:mod:`reconciler.logging_redaction`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from msgspec import Struct, field

from reconciler.cli.common import (
    app_context,
    kafka_connection_options,
    output_option,
    redis_connection_options,
    resolve_output,
    run,
    specs_options,
)
from reconciler.cli.locks import LockRequest, lock_options
from reconciler.cli.locks import parse_duration_seconds as parse_duration_seconds
from reconciler.cli.output import echo, echo_plan
from reconciler.errors import EXIT_ERROR, EXIT_FOUND, EXIT_OK, ReconcilerError
from reconciler.logging_redaction import mask_secrets

if TYPE_CHECKING:
    from reconciler.cli.targets import ConnectionOverrides
    from reconciler.engine.plan import Plan
    from reconciler.engine.planfile import SavedPlan
    from reconciler.engine.policies import PolicyCheck
    from reconciler.engine.risk import Consent
    from reconciler.engine.selection import Selection
    from reconciler.spec.loading import LoadedSpec
    from reconciler.spec.models import ClusterSpec
    from reconciler.spec.policies import PolicyRule
    from reconciler.spec.units import MoveRate

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

SIGNING_KEY_ENV = "LLM_ANALYTICS_PLAN_SIGNING_KEY"


class RunRequest(Struct, frozen=True):
    """What plan/apply/drift were asked for."""

    spec_path: str
    env: str | None
    target: tuple[str, ...] | str | None
    bootstrap_servers: str | None
    redis_addresses: str | None
    namespace: str | None
    allow_delete: bool = False
    allow_data_loss: bool = False
    exclude: tuple[str, ...] = field(default_factory=tuple)
    policy_files: tuple[str, ...] = field(default_factory=tuple)
    approvals: tuple[str, ...] = field(default_factory=tuple)
    throttle: str | None = None
    rotate_credentials: bool = False
    redis_move_rate: str | None = None
    # Approvals must name a rule of this spec; a fleet run checks them against all its specs.
    check_approvals: bool = True

    @property
    def targets(self) -> tuple[str, ...]:
        if self.target is None:
            return ()
        return (self.target,) if isinstance(self.target, str) else tuple(self.target)

    @property
    def selection(self) -> Selection:
        from reconciler.engine.selection import Selection

        return Selection.of(self.targets, self.exclude)

    @property
    def consents(self) -> frozenset[Consent]:
        from reconciler.engine.risk import granted_consents

        return granted_consents(
            allow_delete=self.allow_delete, allow_data_loss=self.allow_data_loss
        )


def policy_check(request: RunRequest, loaded: LoadedSpec) -> PolicyCheck | None:
    """The spec's ``policies:`` plus those of every ``--policy FILE``, with the run's
    approvals (``--approve``, ``$LLM_ANALYTICS_APPROVE``); ``None`` when there is no rule."""
    from reconciler.engine.policies import PolicyCheck, approvals_from, check_approvals

    rules = policy_rules(request, loaded)
    approvals = approvals_from(request.approvals)
    if request.check_approvals:
        check_approvals((r.name for r in rules), approvals)  # exit 1 naming the rules
    if not rules:
        return None
    names = [r.name for r in rules]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ReconcilerError(
            f"policy rule names must be unique; given more than once: {', '.join(twice)}"
        )
    return PolicyCheck(tuple(rules), loaded.env, approvals)


def policy_rules(request: RunRequest, loaded: LoadedSpec) -> list[PolicyRule]:
    """The spec's ``policies:`` followed by those of every ``--policy FILE``."""
    rules = list(loaded.spec.policies)
    if request.policy_files:
        from reconciler.spec.loading import load_policy_file

        for path in request.policy_files:
            rules += load_policy_file(path)
    return rules


def throttle_of(request: RunRequest, loaded: LoadedSpec) -> int | None:
    """The replication throttle in bytes/s: ``--throttle``, else the spec's
    ``kafka.reassignmentThrottle``, else none."""
    from reconciler.spec.units import parse_rate

    kafka = loaded.spec.kafka
    text = request.throttle or (kafka.reassignment_throttle if kafka is not None else None)
    if text is None:
        return None
    try:
        return parse_rate(text)
    except ValueError as problem:
        raise ReconcilerError(f"--throttle: {problem}") from None


def move_rate_of(request: RunRequest) -> MoveRate | None:
    """``--redis-move-rate`` (the spec's ``redis.cluster.moveRate`` is the provider's own)."""
    if request.redis_move_rate is None:
        return None
    from reconciler.spec.units import parse_move_rate

    try:
        return parse_move_rate(request.redis_move_rate)
    except ValueError as problem:
        raise ReconcilerError(f"--redis-move-rate: {problem}") from None


def connection_overrides(request: RunRequest) -> ConnectionOverrides:
    from reconciler.cli.targets import ConnectionOverrides

    return ConnectionOverrides(
        request.bootstrap_servers, request.redis_addresses, request.namespace
    )


# --------------------------------------------------------------------------- secrets & output


def protect_secrets(spec: ClusterSpec) -> None:
    """Remember the spec's secret values and mask them in every log record from now on."""
    from reconciler.logging_redaction import install_log_redaction, register_spec_secrets

    register_spec_secrets(spec)
    install_log_redaction()


def load_protected(spec_path: str, env: str | None) -> LoadedSpec:
    """Load a spec and protect its secrets before anything can print them."""
    from reconciler.spec.loading import load_spec

    loaded = load_spec(spec_path, env=env)
    protect_secrets(loaded.spec)
    return loaded


def signing_key() -> bytes | None:
    """The plan-signing key from ``$LLM_ANALYTICS_PLAN_SIGNING_KEY`` (docs/gitops.md)."""
    raw = os.environ.get(SIGNING_KEY_ENV, "")
    if not raw:
        return None
    from reconciler.secrets import register_secret

    register_secret(raw)
    return raw.encode()


# --------------------------------------------------------------------------- planning


async def compute_plan(request: RunRequest, *, validate: bool = True) -> Plan:
    """Load the spec, read the live state once, and plan."""
    return (await _planned_run(request, validate=validate))[0]


async def _planned_run(
    request: RunRequest, *, validate: bool = True
) -> tuple[Plan, dict[str, str], LoadedSpec, list[str]]:
    from reconciler.cli.targets import open_providers, selected_targets
    from reconciler.engine.workflow import RunOptions, Workflow

    loaded = load_protected(request.spec_path, request.env)
    targets = selected_targets(loaded.spec, request.targets)
    options = RunOptions(
        consents=request.consents,
        selection=request.selection,
        validate=validate,
        policy=policy_check(request, loaded),
        throttle=throttle_of(request, loaded),
        move_rate=move_rate_of(request),
        rotate_credentials=request.rotate_credentials,
    )
    async with open_providers(
        loaded.spec, targets, connection_overrides(request), loaded.where
    ) as providers:
        workflow = Workflow(providers)
        planned = await workflow.plan(options)
    return planned.plan, planned.fingerprints, loaded, targets


async def plan_to_file(request: RunRequest, out: str) -> Plan:
    """Plan and save the plan with the fingerprints of the state it was planned from."""
    from reconciler import __version__
    from reconciler.engine.locking import utc_now_iso
    from reconciler.engine.planfile import planfile_document, write_planfile
    from reconciler.rendering import redact_plan_dict

    planned, fingerprints, loaded, targets = await _planned_run(request)
    if planned.has_errors:
        echo(f"The plan has errors; {out} was not written.", err=True)
        return planned
    document = planfile_document(
        plan_dict=redact_plan_dict(planned.to_json_dict()),
        spec_path=request.spec_path,
        spec_sha256=loaded.sha256,
        env=request.env,
        target=",".join(request.targets) or None,
        targets=targets,
        allow_delete=request.allow_delete,
        fingerprints=fingerprints,
        tool_version=__version__,
        created_at=utc_now_iso(),
        allow_data_loss=request.allow_data_loss,
        exclude=request.exclude,
        signing_key=signing_key(),
    )
    try:
        write_planfile(out, _masked_document(document))
    except OSError as problem:
        raise ReconcilerError(
            f"cannot write the plan file {out}: {problem.strerror or problem}"
        ) from None
    echo(
        f"Saved the plan to {out}. To carry out exactly this plan, run:\n"
        f"  llm-analytics apply {out}",
        err=True,
    )
    return planned


def _masked_document(document: dict[str, Any]) -> dict[str, Any]:
    """Defence in depth: a secret value that slipped past key-based redaction (say, inside
    a notice's message) is masked before the file is written; the checksum is renewed."""
    import json

    from reconciler.engine.planfile import checksum
    from reconciler.logging_redaction import contains_secret

    text = json.dumps(document)
    if not contains_secret(text):
        return document
    masked: dict[str, Any] = json.loads(mask_secrets(text))
    masked["checksum"] = checksum(masked)
    return masked


def target_options(func: F) -> F:
    """``--target SELECTOR`` and ``--exclude SELECTOR`` (repeatable, comma-separated):
    a family (``kafka``, ``redis``), a resource type, an address or a glob."""
    func = click.option(
        "--exclude",
        "exclude",
        multiple=True,
        metavar="SELECTOR",
        help="Leave out resources: an address or glob (kafka_topic.tmp-*), a resource type, "
        "or kafka/redis. Repeatable.",
    )(func)
    return click.option(
        "--target",
        "target",
        multiple=True,
        metavar="SELECTOR",
        help="Only these resources: kafka, redis, a resource type (kafka_acl), an address "
        "(kafka_topic.llm-events) or a glob (kafka_acl.*). Repeatable.",
    )(func)


def consent_options(func: F) -> F:
    """``--allow-delete`` and ``--allow-data-loss`` (the risk policy's consents)."""
    func = click.option(
        "--allow-data-loss",
        is_flag=True,
        help="Permit changes that make stored data unreachable (a retention cut, a "
        "cleanup.policy change). Implied by --allow-delete.",
    )(func)
    return click.option(
        "--allow-delete",
        is_flag=True,
        help="Permit deletions the spec's ownership policy allows (and their data loss).",
    )(func)


def policy_options(func: F) -> F:
    """``--policy FILE`` and ``--approve RULE`` (docs/spec.md, "Policies")."""
    func = click.option(
        "--approve",
        "approvals",
        multiple=True,
        metavar="RULE",
        help="Let this policy rule's violations through (after review; repeatable, "
        "comma-separated; also $LLM_ANALYTICS_APPROVE).",
    )(func)
    func = click.option(
        "--throttle",
        "throttle",
        default=None,
        metavar="RATE",
        help="Replication throttle of partition reassignments, e.g. 50MiB/s (default: the "
        "spec's kafka.reassignmentThrottle); set while data moves, cleared when it is done.",
    )(func)
    func = click.option(
        "--redis-move-rate",
        "redis_move_rate",
        default=None,
        metavar="RATE",
        help="Limit of Redis slot moves for the whole apply, e.g. 2000keys/s or 20MiB/s "
        "(default: the spec's redis.cluster.moveRate, else unlimited).",
    )(func)
    return click.option(
        "--policy",
        "policy_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help="Also check the plan against this file's `policies:` (repeatable).",
    )(func)


def rotate_option(func: F) -> F:
    return click.option(
        "--rotate-credentials",
        is_flag=True,
        help="Set every kafka.users password and kafka.brokers secret again from its "
        "reference (Kafka cannot show whether a secret changed).",
    )(func)


def auto_approve_option(func: F) -> F:
    return click.option(
        "--auto-approve",
        "-y",
        "--yes",
        "auto_approve",
        is_flag=True,
        help="Apply without asking (for jobs).",
    )(func)


@click.command()
@specs_options
@target_options
@output_option(("text", "json", "markdown"))
@click.option(
    "--out",
    "out",
    default=None,
    type=click.Path(dir_okay=False, writable=True),
    help="Also save the plan (with the spec hash and live-state fingerprints) for "
    "`apply PLANFILE`.",
)
@consent_options
@policy_options
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@rotate_option
@kafka_connection_options
@redis_connection_options
def plan(
    spec_path: str,
    env: str | None,
    target: tuple[str, ...],
    exclude: tuple[str, ...],
    output: str,
    json_alias: bool,
    out: str | None,
    allow_delete: bool,
    allow_data_loss: bool,
    policy_files: tuple[str, ...],
    approvals: tuple[str, ...],
    throttle: str | None,
    redis_move_rate: str | None,
    detailed_exitcode: bool,
    rotate_credentials: bool,
    bootstrap_servers: str | None,
    namespace: str | None,
    redis_addresses: str | None,
) -> int:
    """Show what apply would change; changes nothing.

    \b
    -o markdown draws a pull-request comment (at most 60,000 characters, destructive
    changes first). --out PLANFILE saves the plan for `apply PLANFILE`. -f DIRECTORY
    plans every spec in it concurrently: one document, one exit code. A policy
    violation that is not approved is a plan error (exit 1).
    """
    request = RunRequest(
        spec_path,
        env,
        target,
        bootstrap_servers,
        redis_addresses,
        namespace,
        allow_delete,
        allow_data_loss,
        exclude,
        policy_files,
        approvals,
        throttle,
        rotate_credentials,
        redis_move_rate=redis_move_rate,
    )
    if Path(spec_path).is_dir():
        if out:
            raise click.UsageError("--out saves one plan: give one spec file, not a directory")
        return _plan_fleet(request, resolve_output(output, json_alias), detailed_exitcode)
    result = run(plan_to_file(request, out) if out else compute_plan(request))
    echo_plan(result, resolve_output(output, json_alias), app_context())
    if result.has_errors:
        return EXIT_ERROR
    if detailed_exitcode and result.has_changes:
        return EXIT_FOUND
    return EXIT_OK


def _plan_fleet(request: RunRequest, fmt: str, detailed_exitcode: bool) -> int:
    from reconciler.cli.fleet import fleet_exit_code, for_each_spec
    from reconciler.rendering import redact_plan_dict
    from reconciler.rendering.fleet import FleetEntry, render_fleet

    results = run(for_each_spec(request, compute_plan))
    entries = [
        FleetEntry(name, redact_plan_dict(plan.to_json_dict()) if plan else None, error)
        for name, plan, error in results
    ]
    app = app_context()
    echo(render_fleet(entries, fmt, color=app.color_enabled and fmt == "text"), nl=False)
    if any(plan is not None and plan.has_errors for _, plan, _ in results):
        return EXIT_ERROR
    return fleet_exit_code(
        results, found=lambda plan: detailed_exitcode and getattr(plan, "has_changes", False)
    )


# --------------------------------------------------------------------------- apply


async def _apply_spec(request: RunRequest, change: Any, locking: LockRequest) -> int:
    from msgspec.structs import replace

    from reconciler.cli.locks import lock_factory
    from reconciler.cli.running import run_changes
    from reconciler.cli.targets import open_providers, selected_targets, spec_lock_backends

    app = app_context()
    loaded = load_protected(request.spec_path, request.env)
    change = replace(
        change,
        policy=policy_check(request, loaded),
        throttle=throttle_of(request, loaded),
        move_rate=move_rate_of(request),
    )
    targets = selected_targets(loaded.spec, request.targets)
    overrides = connection_overrides(request)
    locks = lock_factory(
        lambda ttl: spec_lock_backends(loaded.spec, targets, overrides, ttl), locking, app
    )
    async with open_providers(loaded.spec, targets, overrides, loaded.where) as providers:
        return await run_changes(providers, locks, change, app)


def _describe_saved(path: str, saved: SavedPlan) -> str:
    parts = [
        f"made {saved.created_at} by llm-analytics {saved.tool_version}",
        f"from {saved.spec_path} (sha256 {saved.spec_sha256[:12]}…)",
    ]
    if saved.env:
        parts.append(f"env {saved.env}")
    parts.append(f"target {saved.target or ', '.join(saved.targets)}")
    if saved.exclude:
        parts.append(f"exclude {', '.join(saved.exclude)}")
    if saved.allow_delete:
        parts.append("allow-delete")
    if saved.allow_data_loss:
        parts.append("allow-data-loss")
    if saved.signed:
        parts.append("signed")
    return f"Saved plan {path}: " + ", ".join(parts)


def _check_saved_request(saved: SavedPlan, request: RunRequest) -> None:
    from reconciler import __version__
    from reconciler.errors import SafetyRefusal

    if saved.tool_version != __version__:
        raise SafetyRefusal(
            f"the plan file was made by llm-analytics {saved.tool_version}; this is "
            f"{__version__}, which may carry out its changes differently; nothing was changed",
            hint="plan again with this version",
        )
    if request.env is not None and request.env != saved.env:
        raise ReconcilerError(
            f"--env {request.env}: the plan was made for "
            f"{'env ' + saved.env if saved.env else 'no env'}",
            hint="leave out --env: a saved plan carries its own",
        )
    asked = ",".join(request.targets) or None
    if asked is not None and asked != saved.target:
        raise ReconcilerError(
            f"--target {asked}: the plan was made for "
            f"{'target ' + saved.target if saved.target else 'every target'}",
            hint="leave out --target: a saved plan carries its own",
        )


async def _apply_saved(
    planfile: str, request: RunRequest, change: Any, locking: LockRequest
) -> int:
    """Carry out a saved plan exactly, unless its spec, a touched resource or the cluster
    changed (exit 3, refused before the plan is printed)."""
    from msgspec.structs import replace

    from reconciler.cli.locks import lock_factory
    from reconciler.cli.running import run_changes
    from reconciler.cli.targets import open_providers, selected_targets, spec_lock_backends
    from reconciler.engine.planfile import read_planfile
    from reconciler.engine.risk import granted_consents
    from reconciler.engine.selection import Selection

    app = app_context()
    saved = read_planfile(planfile, signing_key=signing_key())
    _check_saved_request(saved, request)
    loaded = load_protected(request.spec_path or saved.spec_path, saved.env)
    selected = selected_targets(loaded.spec, saved.target.split(",") if saved.target else None)
    targets = [t for t in saved.targets if t in selected] or selected
    overrides = connection_overrides(request)
    consents = request.consents | granted_consents(
        allow_delete=saved.allow_delete, allow_data_loss=saved.allow_data_loss
    )
    change = replace(
        change,
        policy=policy_check(request, loaded),
        consents=consents,
        selection=Selection.of(saved.target.split(",") if saved.target else (), saved.exclude),
    )
    echo(_describe_saved(planfile, saved), err=True)
    locks = lock_factory(
        lambda ttl: spec_lock_backends(loaded.spec, targets, overrides, ttl), locking, app
    )
    async with open_providers(loaded.spec, targets, overrides, loaded.where) as providers:
        return await run_changes(
            providers, locks, change, app, saved=saved, spec_sha256=loaded.sha256
        )


@click.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False))
@click.option(
    "-f",
    "--file",
    "spec_path",
    default=None,
    envvar="LLM_ANALYTICS_SPEC",
    type=click.Path(dir_okay=False),
    help="The cluster spec (YAML). With PLANFILE: overrides the spec path saved in it.",
)
@click.option(
    "--env",
    "env",
    default=None,
    envvar="LLM_ANALYTICS_ENV",
    help="Environment overlay from the spec's `environments` to apply.",
)
@target_options
@auto_approve_option
@consent_options
@policy_options
@click.option(
    "--continue-on-error", is_flag=True, help="Go on with independent changes after one fails."
)
@click.option(
    "--stall-timeout",
    "stall_timeout",
    type=click.FloatRange(min=1.0, max=86_400.0),
    default=None,
    metavar="SECONDS",
    help="Fail a Kafka reassignment or Redis slot move that makes no progress for this long, "
    "naming what is stuck [default: $LLM_ANALYTICS_STALL_TIMEOUT, else 180].",
)
@lock_options
@output_option(("text", "json"))
@rotate_option
@kafka_connection_options
@redis_connection_options
def apply(
    planfile: str | None,
    spec_path: str | None,
    env: str | None,
    target: tuple[str, ...],
    exclude: tuple[str, ...],
    auto_approve: bool,
    allow_delete: bool,
    allow_data_loss: bool,
    policy_files: tuple[str, ...],
    approvals: tuple[str, ...],
    throttle: str | None,
    redis_move_rate: str | None,
    continue_on_error: bool,
    stall_timeout: float | None,
    locking: LockRequest,
    output: str,
    json_alias: bool,
    rotate_credentials: bool,
    bootstrap_servers: str | None,
    namespace: str | None,
    redis_addresses: str | None,
) -> int:
    """Make the clusters match the spec: plan, confirm, apply, verify.

    \b
    With PLANFILE (from `plan --out`): apply exactly that reviewed plan without asking,
    unless the spec, a resource it touches or the cluster changed since (exit 3: plan
    again). Every apply holds the apply lock of each target (docs/locking.md).
    """
    from reconciler.cli.running import ChangeRequest

    request = RunRequest(
        spec_path or "",
        env,
        target,
        bootstrap_servers,
        redis_addresses,
        namespace,
        allow_delete,
        allow_data_loss,
        exclude,
        policy_files,
        approvals,
        throttle,
        redis_move_rate=redis_move_rate,
    )
    change = ChangeRequest(
        consents=request.consents,
        selection=request.selection,
        auto_approve=auto_approve or planfile is not None,
        continue_on_error=continue_on_error,
        stall_timeout=stall_timeout,
        output=resolve_output(output, json_alias),
        rotate_credentials=rotate_credentials,
    )
    if planfile is not None:
        return run(_apply_saved(planfile, request, change, locking))
    if spec_path is None:
        # Exit 1, not click's usage exit 2: 2 means "found something" in this CLI's contract.
        raise ReconcilerError(
            "apply needs -f SPEC (plan and apply) or a PLANFILE",
            hint="save a reviewed plan with: llm-analytics plan -f SPEC --out PLANFILE",
        )
    return run(_apply_spec(request, change, locking))


# --------------------------------------------------------------------------- show


@click.command()
@click.argument("planfile", type=click.Path(dir_okay=False))
@output_option(("text", "json", "markdown"))
def show(planfile: str, output: str, json_alias: bool) -> None:
    """Render a saved plan file (or a plan saved with `plan -o json`)."""
    import json

    from reconciler.engine.planfile import PlanFileError, parse_planfile

    try:
        data = json.loads(Path(planfile).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as problem:
        raise PlanFileError(f"cannot read the plan file {planfile}: {problem}") from None
    fmt = resolve_output(output, json_alias)
    app = app_context()
    if isinstance(data, dict) and "planfile_format_version" in data:
        saved = parse_planfile(data, planfile, signing_key=signing_key())
        if fmt == "text":
            echo(_describe_saved(planfile, saved))
            echo("")
        echo_plan(saved.plan_dict, fmt, app)
        return
    if not isinstance(data, dict) or "changes" not in data:
        raise PlanFileError(f"{planfile}: neither a plan file nor a plan's JSON form")
    echo_plan(data, fmt, app)
