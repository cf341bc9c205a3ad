"""``plan``, ``apply`` and ``show``: the Terraform-style workflow over the whole spec.

``plan --out PLANFILE`` saves the plan with the spec's hash and a fingerprint of the live
state of every resource it touches; ``apply PLANFILE`` carries out exactly that plan, after
checking under the apply lock that neither changed (exit 3 otherwise); ``apply -f SPEC``
plans and applies in one go. Every apply holds the apply lock of each targeted system
(``--lock-timeout``, ``--no-lock``; see docs/locking.md) and verifies the result.

Secrets never reach the output: renderers redact by key, and every resolved secret value of
the spec is masked in printed text and in log records (:mod:`reconciler.logging_redaction`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from reconciler.errors import (
    EXIT_ERROR,
    EXIT_FOUND,
    EXIT_OK,
    ApplyFailed,
    ReconcilerError,
    SafetyRefusal,
)
from reconciler.logging_redaction import mask_secrets

if TYPE_CHECKING:
    from reconciler.cli.targets import ConnectionOverrides
    from reconciler.engine.locking import LockAttempt, LockBackend
    from reconciler.engine.planfile import SavedPlan
    from reconciler.engine.providers import Provider
    from reconciler.spec.loading import LoadedSpec
    from reconciler.spec.models import ClusterSpec

log = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT = "5m"
LOCK_TTL_ENV = "LLM_ANALYTICS_LOCK_TTL"


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


@dataclass(frozen=True)
class LockRequest:
    """How apply locks: ``--lock-timeout`` seconds, or not at all (``--no-lock``)."""

    timeout: float = 300.0
    enabled: bool = True
    ttl: float = 30.0


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


def echo(text: str, *, err: bool = False, nl: bool = True, fg: str | None = None) -> None:
    """click.secho with known secret values masked."""
    click.secho(mask_secrets(text), err=err, nl=nl, fg=fg)


def _stamp() -> str:
    """A time prefix for job logs (none on a terminal), to the millisecond."""
    if sys.stderr.isatty():
        return ""
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d} "


def echo_plan(plan: Plan | Mapping[str, Any], fmt: str, app: AppContext) -> None:
    """Render a plan (or a plan's JSON form) on stdout; request counts on stderr (--debug)."""
    from reconciler.rendering import render

    color = app.color_enabled and fmt == "text"
    echo(render(plan, fmt, color=color), nl=False)  # type: ignore[arg-type]
    counts = plan.request_counts if isinstance(plan, Plan) else plan.get("request_counts")
    if app.debug and isinstance(counts, Mapping) and counts:
        listing = ", ".join(f"{api}={n}" for api, n in counts.items())
        echo(f"admin requests: {listing} (total {sum(counts.values())})", err=True)


# --------------------------------------------------------------------------- planning


async def compute_plan(request: RunRequest, *, validate: bool = True) -> Plan:
    """Load the spec, read the live state, and plan (no fingerprints)."""
    from reconciler.cli.targets import open_providers, selected_targets
    from reconciler.engine.planning import build_plan

    loaded = load_protected(request.spec_path, request.env)
    targets = selected_targets(loaded.spec, request.target)
    async with open_providers(loaded.spec, targets, connection_overrides(request)) as providers:
        return await build_plan(
            providers, PlanOptions(allow_delete=request.allow_delete, validate=validate)
        )


async def fingerprints_of(providers: Sequence[Provider], plan: Plan) -> dict[str, str]:
    """The live-state fingerprint of every resource the plan touches, by its provider."""
    found: dict[str, str] = {}
    for provider in providers:
        addresses = [c.address for c in plan.actionable if c.provider == provider.name]
        if addresses:
            found.update(await provider.fingerprints(addresses))
    return found


async def plan_to_file(request: RunRequest, out: str) -> Plan:
    """Plan, fingerprint what the plan touches, and save both with the spec's identity.

    The fingerprints are read right after the plan; a change in between would slip past the
    staleness check (the same window as Terraform's refresh before its plan).
    """
    from reconciler import __version__
    from reconciler.cli.targets import open_providers, selected_targets
    from reconciler.engine.locking import utc_now_iso
    from reconciler.engine.planfile import planfile_document, write_planfile
    from reconciler.engine.planning import build_plan
    from reconciler.rendering import redact_plan_dict

    loaded = load_protected(request.spec_path, request.env)
    targets = selected_targets(loaded.spec, request.target)
    async with open_providers(loaded.spec, targets, connection_overrides(request)) as providers:
        planned = await build_plan(providers, PlanOptions(allow_delete=request.allow_delete))
        if planned.has_errors:
            echo(f"The plan has errors; {out} was not written.", err=True)
            return planned
        fingerprints = await fingerprints_of(providers, planned)
    document = planfile_document(
        plan_dict=redact_plan_dict(planned.to_json_dict()),
        spec_path=request.spec_path,
        spec_sha256=loaded.sha256,
        env=request.env,
        target=request.target,
        targets=targets,
        allow_delete=request.allow_delete,
        fingerprints=fingerprints,
        tool_version=__version__,
        created_at=utc_now_iso(),
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


def target_option(func):  # type: ignore[no-untyped-def]
    return click.option(
        "--target",
        type=click.Choice(["kafka", "redis"]),
        default=None,
        help="Only this part of the spec.",
    )(func)


@click.command()
@spec_options
@target_option
@output_option(("text", "json", "markdown"))
@click.option(
    "--out",
    "out",
    default=None,
    type=click.Path(dir_okay=False, writable=True),
    help="Also save the plan (with the spec hash and live-state fingerprints) for "
    "`apply PLANFILE`.",
)
@click.option(
    "--allow-delete", is_flag=True, help="Plan deletions the spec's ownership policy allows."
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@kafka_connection_options
@redis_connection_options
def plan(
    spec_path: str,
    env: str | None,
    target: str | None,
    output: str,
    json_alias: bool,
    out: str | None,
    allow_delete: bool,
    detailed_exitcode: bool,
    bootstrap_servers: str | None,
    namespace: str | None,
    redis_addresses: str | None,
) -> int:
    """Show what apply would change; changes nothing.

    \b
    -o markdown draws a pull-request comment (at most 60,000 characters, destructive
    changes first). --out PLANFILE saves the plan for `apply PLANFILE`.
    """
    request = RunRequest(
        spec_path, env, target, bootstrap_servers, redis_addresses, namespace, allow_delete
    )
    result = run(plan_to_file(request, out) if out else compute_plan(request))
    echo_plan(result, resolve_output(output, json_alias), app_context())
    if result.has_errors:
        return EXIT_ERROR
    if detailed_exitcode and result.has_changes:
        return EXIT_FOUND
    return EXIT_OK


# --------------------------------------------------------------------------- locking


class DurationSeconds(click.ParamType):
    """``0``, ``90`` (seconds), ``30s``, ``5m``, ``1h30m``."""

    name = "DURATION"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration_seconds(str(value))
        except ValueError as problem:
            self.fail(str(problem), param, ctx)


def parse_duration_seconds(text: str) -> float:
    from reconciler.spec.units import parse_duration_ms

    stripped = text.strip()
    try:
        seconds = float(stripped)
    except ValueError:
        return parse_duration_ms(stripped) / 1000
    if seconds < 0:
        raise ValueError(f"{text!r}: a duration cannot be negative")
    return seconds


def lock_ttl() -> float:
    """The lock TTL: ``$LLM_ANALYTICS_LOCK_TTL`` (e.g. ``30s``) or 30 seconds."""
    from reconciler.engine.locking import DEFAULT_TTL_SECONDS

    raw = os.environ.get(LOCK_TTL_ENV, "").strip()
    if not raw:
        return DEFAULT_TTL_SECONDS
    try:
        return parse_duration_seconds(raw)
    except ValueError as problem:
        raise ReconcilerError(f"{LOCK_TTL_ENV}: {problem}") from None


def lock_backends(
    spec: ClusterSpec, targets: Sequence[str], overrides: ConnectionOverrides, ttl: float
) -> list[LockBackend]:
    """The apply locks of the targeted systems (docs/locking.md):

    - Kafka: the consumer group ``llm-analytics-apply-lock`` in the cluster itself;
    - Redis through Kubernetes: the Lease ``llm-analytics-redis-apply-lock`` in its namespace;
    - Redis by address: the key ``{llm-analytics}:apply-lock`` in the cluster itself.
    """
    backends: list[LockBackend] = []
    if "kafka" in targets and spec.kafka is not None:
        from reconciler.providers.kafka.locking import KafkaGroupLock

        backends.append(
            KafkaGroupLock.from_connection(
                spec.kafka.connection, overrides.bootstrap_servers, ttl_seconds=ttl
            )
        )
    if "redis" in targets and spec.redis is not None:
        connection = spec.redis.connection
        addresses = (
            [a for a in overrides.redis_addresses.split(",") if a.strip()]
            if overrides.redis_addresses
            else None
        )
        # The same choice as the Redis provider: addresses win, then a namespace override.
        if addresses is None and overrides.namespace is None and connection.addresses:
            addresses = list(connection.addresses)
        if addresses:
            from reconciler.providers.redis.locking import RedisLock

            backends.append(RedisLock.from_connection(connection, addresses, ttl_seconds=ttl))
        else:
            from reconciler.providers.kubernetes_lease import KubernetesLeaseLock
            from reconciler.spec.models import KubernetesTarget

            target = connection.kubernetes
            if target is None:
                assert overrides.namespace is not None
                target = KubernetesTarget(namespace=overrides.namespace)
            elif overrides.namespace is not None:
                target = target.model_copy(update={"namespace": overrides.namespace})
            backends.append(KubernetesLeaseLock(target, ttl_seconds=ttl))
    return backends


class ConsoleLockReporter:
    """Lock events on stderr, time-stamped to the millisecond in job logs."""

    def __init__(self, app: AppContext) -> None:
        self.color = app.color and sys.stderr.isatty()

    def _line(self, text: str, fg: str | None = None) -> None:
        echo(f"{_stamp()}{text}", err=True, fg=fg if self.color else None)

    def waiting(self, backend: LockBackend, attempt: LockAttempt, remaining: float) -> None:
        from reconciler.engine.locking import format_seconds

        who = (
            f"held by {attempt.holder.describe()}"
            if attempt.holder is not None
            else f"held ({attempt.detail or 'holder unknown'})"
        )
        self._line(
            f"Waiting for the apply lock ({backend.description}): {who}; waiting up to "
            f"{format_seconds(round(remaining, 1))} more",
            fg="yellow",
        )

    def acquired(self, backend: LockBackend, attempt: LockAttempt) -> None:
        token = f", fencing token {attempt.token}" if attempt.token is not None else ""
        self._line(f"Acquired the apply lock ({backend.description}{token}).")

    def released(self, backend: LockBackend) -> None:
        self._line(f"Released the apply lock ({backend.description}).")

    def lost(self, backend: LockBackend, reason: str) -> None:
        self._line(f"Lost the apply lock ({backend.description}): {reason}", fg="red")

    def unavailable(self, backend: LockBackend, reason: str) -> None:
        self._line(
            f"Warning: going on without the apply lock ({backend.description}): "
            f"{reason}. Concurrent applies against it are not prevented.",
            fg="yellow",
        )


def apply_locks(
    spec: ClusterSpec,
    targets: Sequence[str],
    overrides: ConnectionOverrides,
    locking: LockRequest,
    app: AppContext,
) -> Any:
    """The lock context of one apply: a LockSet, or NoLock under --no-lock."""
    from reconciler.engine.locking import LockOwner, LockSet, NoLock

    if not locking.enabled:
        echo(
            f"{_stamp()}Warning: --no-lock: nothing prevents another apply from running "
            "against the same clusters at the same time.",
            err=True,
            fg="yellow",
        )
        return NoLock()
    backends = lock_backends(spec, targets, overrides, locking.ttl)
    return LockSet(
        backends, LockOwner.current(), timeout=locking.timeout, reporter=ConsoleLockReporter(app)
    )


# --------------------------------------------------------------------------- apply


def _confirm(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise SafetyRefusal(
            "refusing to apply without --auto-approve: no terminal to confirm on",
            hint="review the plan, then run apply --auto-approve",
        )
    answer = click.prompt(
        "Do you want to perform these actions? Only 'yes' will be accepted",
        default="",
        show_default=False,
        err=True,
    )
    if answer.strip() != "yes":
        raise click.exceptions.Abort()


async def _confirm_in_thread(auto_approve: bool) -> None:
    """Ask for confirmation without blocking the event loop, so that the lock's heartbeat
    keeps running while a person reads the plan. A daemon thread, so that Ctrl-C is not held
    up by a pending prompt."""
    if auto_approve or not sys.stdin.isatty():
        _confirm(auto_approve)
        return
    import threading

    loop = asyncio.get_running_loop()
    answered: asyncio.Future[None] = loop.create_future()

    def ask() -> None:
        try:
            _confirm(auto_approve)
        except BaseException as problem:
            loop.call_soon_threadsafe(answered.set_exception, problem)
        else:
            loop.call_soon_threadsafe(answered.set_result, None)

    threading.Thread(target=ask, name="confirm", daemon=True).start()
    await answered


def _raise_failures(results: Sequence[Any]) -> None:
    failed = [r for r in results if r.status is ResultStatus.FAILED]
    if failed:
        lines = "\n".join(f"  {r.address}: {r.message}" for r in failed)
        raise ApplyFailed(f"{len(failed)} change(s) failed:\n{lines}")


def _complete(planned: Plan) -> None:
    summary = planned.summary()
    echo(
        f"Apply complete! Resources: {summary['add']} added, {summary['change']} changed, "
        f"{summary['destroy']} destroyed."
    )


async def _apply_spec(
    request: RunRequest,
    auto_approve: bool,
    continue_on_error: bool,
    locking: LockRequest,
    app: AppContext,
) -> int:
    from reconciler.cli.progress import ConsoleProgress
    from reconciler.cli.targets import open_providers, selected_targets
    from reconciler.engine.applying import apply_plan, check_applicable
    from reconciler.engine.planning import build_plan

    loaded = load_protected(request.spec_path, request.env)
    targets = selected_targets(loaded.spec, request.target)
    overrides = connection_overrides(request)
    options = PlanOptions(allow_delete=request.allow_delete)
    async with (
        open_providers(loaded.spec, targets, overrides) as providers,
        apply_locks(loaded.spec, targets, overrides, locking, app) as locks,
    ):
        # Planned under the lock: a concurrent apply has finished before we read.
        planned = await locks.guard(build_plan(providers, options))
        echo_plan(planned, "text", app)
        if not planned.has_changes and not planned.has_errors:
            echo("Nothing to apply.")
            return EXIT_OK
        check_applicable(planned, allow_delete=request.allow_delete)
        await _confirm_in_thread(auto_approve)
        results = await locks.guard(
            apply_plan(
                planned,
                providers,
                ApplyOptions(
                    continue_on_error=continue_on_error, progress=ConsoleProgress(app.color_enabled)
                ),
            )
        )
        _raise_failures(results)
        after = await locks.guard(
            build_plan(providers, PlanOptions(allow_delete=request.allow_delete, validate=False))
        )
        if after.has_changes:
            echo("The live state still differs from the spec after apply:", err=True)
            echo_plan(after, "text", app)
            return EXIT_ERROR
        _complete(planned)
        return EXIT_OK


def _describe_saved(path: str, saved: SavedPlan) -> str:
    parts = [
        f"made {saved.created_at} by llm-analytics {saved.tool_version}",
        f"from {saved.spec_path} (sha256 {saved.spec_sha256[:12]}…)",
    ]
    if saved.env:
        parts.append(f"env {saved.env}")
    parts.append(f"target {saved.target or ', '.join(saved.targets)}")
    if saved.allow_delete:
        parts.append("allow-delete")
    return f"Saved plan {path}: " + ", ".join(parts)


def _check_saved_request(saved: SavedPlan, request: RunRequest) -> None:
    from reconciler import __version__

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
    if request.target is not None and request.target != saved.target:
        raise ReconcilerError(
            f"--target {request.target}: the plan was made for "
            f"{'target ' + saved.target if saved.target else 'every target'}",
            hint="leave out --target: a saved plan carries its own",
        )


async def _apply_saved(
    planfile: str,
    request: RunRequest,
    continue_on_error: bool,
    locking: LockRequest,
    app: AppContext,
) -> int:
    """Carry out a saved plan exactly, unless its spec or touched resources changed."""
    from reconciler.cli.progress import ConsoleProgress
    from reconciler.cli.targets import open_providers, selected_targets
    from reconciler.engine.applying import apply_plan, check_applicable
    from reconciler.engine.planfile import (
        read_planfile,
        redacted_changes,
        restore_redacted,
        stale_refusal,
        staleness,
    )
    from reconciler.engine.planning import build_plan
    from reconciler.rendering import SENSITIVE_VALUE

    saved = read_planfile(planfile)
    _check_saved_request(saved, request)
    loaded = load_protected(request.spec_path or saved.spec_path, saved.env)
    selected = selected_targets(loaded.spec, saved.target)
    targets = [t for t in saved.targets if t in selected] or selected
    allow_delete = saved.allow_delete or request.allow_delete
    overrides = connection_overrides(request)
    echo(_describe_saved(planfile, saved), err=True)
    echo_plan(saved.plan_dict, "text", app)
    async with (
        open_providers(loaded.spec, targets, overrides) as providers,
        apply_locks(loaded.spec, targets, overrides, locking, app) as locks,
    ):
        now = await locks.guard(fingerprints_of(providers, saved.plan))
        reasons = staleness(saved, spec_sha256=loaded.sha256, fingerprints_now=now)
        if reasons:
            raise stale_refusal(planfile, reasons)
        planned = saved.plan
        if redacted_changes(planned, SENSITIVE_VALUE):
            # Secrets are never saved: take them from the spec (its references) now.
            fresh = await locks.guard(
                build_plan(providers, PlanOptions(allow_delete=allow_delete, validate=False))
            )
            planned = restore_redacted(planned, fresh, SENSITIVE_VALUE)
        if not planned.has_changes:
            echo("Nothing to apply.")
            return EXIT_OK
        check_applicable(planned, allow_delete=allow_delete)
        results = await locks.guard(
            apply_plan(
                planned,
                providers,
                ApplyOptions(
                    continue_on_error=continue_on_error, progress=ConsoleProgress(app.color_enabled)
                ),
            )
        )
        _raise_failures(results)
        after = await locks.guard(
            build_plan(providers, PlanOptions(allow_delete=allow_delete, validate=False))
        )
        touched = {c.address for c in planned.actionable}
        unfinished = [c for c in after.actionable if c.address in touched]
        if unfinished:
            echo("These resources still differ from the spec after apply:", err=True)
            echo_plan(Plan(changes=tuple(unfinished)), "text", app)
            return EXIT_ERROR
        others = len(after.actionable) - len(unfinished)
        if others:
            echo(
                f"Note: {others} other resource(s) differ from the spec but were not in this "
                "plan (changed meanwhile?); run plan to see them.",
                err=True,
            )
        _complete(planned)
        return EXIT_OK


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
@target_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking (for jobs).")
@click.option(
    "--allow-delete",
    is_flag=True,
    help="Permit destructive changes the spec's ownership policy allows.",
)
@click.option(
    "--continue-on-error", is_flag=True, help="Go on with independent changes after one fails."
)
@click.option(
    "--lock-timeout",
    type=DurationSeconds(),
    default=DEFAULT_LOCK_TIMEOUT,
    show_default=True,
    help="How long to wait for another apply's lock (0: fail at once, exit 3).",
)
@click.option(
    "--no-lock",
    is_flag=True,
    help="DANGEROUS: take no apply lock; concurrent applies may interleave.",
)
@kafka_connection_options
@redis_connection_options
def apply(
    planfile: str | None,
    spec_path: str | None,
    env: str | None,
    target: str | None,
    auto_approve: bool,
    allow_delete: bool,
    continue_on_error: bool,
    lock_timeout: float,
    no_lock: bool,
    bootstrap_servers: str | None,
    namespace: str | None,
    redis_addresses: str | None,
) -> int:
    """Make the clusters match the spec: plan, confirm, apply, verify.

    \b
    With PLANFILE (from `plan --out`): apply exactly that reviewed plan without asking,
    unless the spec or a resource it touches changed since (exit 3: plan again).
    Every apply holds the apply lock of each target (docs/locking.md).
    """
    app = app_context()
    locking = LockRequest(timeout=lock_timeout, enabled=not no_lock, ttl=lock_ttl())
    if planfile is not None:
        request = RunRequest(
            spec_path or "",
            env,
            target,
            bootstrap_servers,
            redis_addresses,
            namespace,
            allow_delete,
        )
        return run(_apply_saved(planfile, request, continue_on_error, locking, app))
    if spec_path is None:
        # Exit 1, not click's usage exit 2: 2 means "found something" in this CLI's contract.
        raise ReconcilerError(
            "apply needs -f SPEC (plan and apply) or a PLANFILE",
            hint="save a reviewed plan with: llm-analytics plan -f SPEC --out PLANFILE",
        )
    request = RunRequest(
        spec_path, env, target, bootstrap_servers, redis_addresses, namespace, allow_delete
    )
    return run(_apply_spec(request, auto_approve, continue_on_error, locking, app))


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
        saved = parse_planfile(data, planfile)
        if fmt == "text":
            echo(_describe_saved(planfile, saved))
            echo("")
        echo_plan(saved.plan_dict, fmt, app)
        return
    if not isinstance(data, dict) or "changes" not in data:
        raise PlanFileError(f"{planfile}: neither a plan file nor a plan's JSON form")
    echo_plan(data, fmt, app)
