"""One check of one ``ClusterSpec``: plan (``plan-only``) or apply (``apply``) through the
engine's workflow, with the same providers, locks and risk gate as the CLI.

The resource's Secrets are read with the operator's own credentials, written to a private
directory (0700, files 0600) for the spec's ``fromFile`` references, registered for masking,
and removed when the check ends. ``${VAR}`` in a resource is interpolated against an empty
environment (only ``${VAR:-default}`` resolves): a resource cannot read the operator's
environment.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from reconciler.engine.locking import LockHeld, utc_now_iso
from reconciler.engine.plan import Change, Plan
from reconciler.engine.providers import ChangeResult, Progress, SilentProgress
from reconciler.errors import PlanRefused, ReconcilerError, SafetyRefusal
from reconciler.operator.resources import (
    ReconcileMode,
    ResourceSettings,
    SecretKeyRef,
    resource_name,
    resource_settings,
    secret_refs,
    spec_document,
)
from reconciler.operator.statuses import CheckOutcome, CheckReport

log = logging.getLogger(__name__)

#: ``read_secret(namespace, ref)`` → the value of one key of one Secret.
SecretReader = Callable[[str, SecretKeyRef], Awaitable[str]]
#: Told the plan an apply is about to carry out (the status says ``Applying``).
ApplyingHook = Callable[[Plan], Awaitable[None]]


async def _nothing(plan: Plan) -> None:
    return None


class LogProgress(SilentProgress):
    """Apply progress as log lines of the operator."""

    def __init__(self, name: str) -> None:
        self._name = name

    def started(self, change: Change) -> None:
        log.info("%s: applying %s", self._name, change.address)

    def advanced(self, change: Change, message: str) -> None:
        log.info("%s: %s: %s", self._name, change.address, message)

    def finished(self, result: ChangeResult) -> None:
        log.info("%s: %s %s", self._name, result.address, result.status.value)


class OperatorUI:
    """The workflow's UI for an unattended run: log lines, consent by the resource only."""

    def __init__(self, name: str, applying: ApplyingHook = _nothing) -> None:
        self.progress: Progress = LogProgress(name)
        self._name = name
        self._applying = applying

    def planned(self, plan: Plan) -> None:
        log.info("%s: %d change(s) to apply", self._name, len(plan.actionable))

    async def confirm(self, plan: Plan) -> None:
        # The resource's `reconcile: apply` is the approval; the status tells it starts.
        await self._applying(plan)

    def note(self, text: str) -> None:
        log.info("%s: %s", self._name, text)


async def check_resource(
    resource: Mapping[str, Any],
    read_secret: SecretReader,
    *,
    timeout: float,
    lock_ttl: float = 900.0,
    lock_timeout: float = 60.0,
    applying: ApplyingHook = _nothing,
) -> CheckReport:
    """Check one resource within ``timeout`` seconds; never raises for a cluster's problem
    (the report says ``Failed`` and why)."""
    metadata = resource.get("metadata", {})
    generation = metadata.get("generation")
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            report = await _check(resource, read_secret, lock_ttl, lock_timeout, applying)
    except TimeoutError:
        report = _failed(generation, f"the check did not finish within {timeout:.0f}s")
    except ReconcilerError as problem:
        report = _failed(generation, _error_text(problem))
    duration = time.monotonic() - started
    return CheckReport(
        outcome=report.outcome,
        generation=generation,
        checked_at=utc_now_iso(),
        plan=report.plan,
        message=report.message,
        applied=report.applied,
        duration_seconds=duration,
        leftover=report.leftover,
    )


async def _check(
    resource: Mapping[str, Any],
    read_secret: SecretReader,
    lock_ttl: float,
    lock_timeout: float,
    applying: ApplyingHook,
) -> CheckReport:
    from reconciler.logging_redaction import mask_secrets

    settings = resource_settings(resource.get("spec") or {})
    namespace = str(resource.get("metadata", {}).get("namespace", ""))
    with tempfile.TemporaryDirectory(prefix="llm-analytics-secrets-") as private:
        files = await _write_secrets(resource, namespace, read_secret, Path(private))
        spec = _load(resource, files)
        try:
            ui = OperatorUI(resource_name(resource), applying)
            return await _run(spec, settings, ui, lock_ttl, lock_timeout)
        except LockHeld:
            raise  # another apply runs: a failed check, tried again after a backoff
        except (SafetyRefusal, PlanRefused) as refusal:
            # Refused by the gate (a change the resource did not opt into, a plan error, a
            # policy violation): reported, never applied.
            return CheckReport(
                CheckOutcome.DRIFTED, None, "", message=mask_secrets(_error_text(refusal))
            )


async def _write_secrets(
    resource: Mapping[str, Any], namespace: str, read_secret: SecretReader, directory: Path
) -> dict[SecretKeyRef, str]:
    from reconciler.secrets import register_secret

    files: dict[SecretKeyRef, str] = {}
    for _, ref in secret_refs(resource.get("spec") or {}):
        if ref in files:
            continue
        value = await read_secret(namespace, ref)
        register_secret(value)
        path = directory / f"secret-{len(files)}"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(value)
        files[ref] = str(path)
    return files


def _load(resource: Mapping[str, Any], files: Mapping[SecretKeyRef, str]) -> Any:
    import yaml

    from reconciler.logging_redaction import register_spec_secrets
    from reconciler.spec.loading import load_spec_text

    document = spec_document(resource, lambda ref: files[ref])
    text = yaml.safe_dump(document, sort_keys=False)
    loaded = load_spec_text(text, filename=f"ClusterSpec {resource_name(resource)}", environ={})
    register_spec_secrets(loaded.spec)
    return loaded.spec


async def _run(
    spec: Any, settings: ResourceSettings, ui: OperatorUI, lock_ttl: float, lock_timeout: float
) -> CheckReport:
    from reconciler.cli.targets import (
        ConnectionOverrides,
        open_providers,
        selected_targets,
        spec_lock_backends,
    )
    from reconciler.engine.locking import LockOwner, LockSet
    from reconciler.engine.risk import granted_consents
    from reconciler.engine.workflow import Outcome, RunOptions, Workflow

    overrides = ConnectionOverrides(None, None, None)
    targets = selected_targets(spec, None)
    consents = granted_consents(
        allow_delete=settings.allow_delete, allow_data_loss=settings.allow_data_loss
    )
    options = RunOptions(consents=consents, policy=_policy(spec, settings))
    async with open_providers(spec, targets, overrides) as providers:
        if settings.mode is ReconcileMode.PLAN_ONLY:
            plan = (await Workflow(providers).plan(options)).plan
            return _planned(plan)

        def locks() -> LockSet:
            backends = spec_lock_backends(spec, targets, overrides, lock_ttl)
            return LockSet(backends, LockOwner.current(), timeout=lock_timeout)

        workflow = Workflow(providers, locks=locks, ui=ui)
        result = await workflow.apply(options)
    if result.outcome is Outcome.NO_CHANGES:
        return _planned(result.plan)
    leftover = tuple(c.address for c in result.unfinished)
    return CheckReport(
        CheckOutcome.APPLIED,
        None,
        "",
        plan=result.plan,
        applied=len(result.results),
        leftover=leftover,
    )


def _policy(spec: Any, settings: ResourceSettings) -> Any:
    """The resource's ``policies`` with its ``approve`` list (none: no check)."""
    if not spec.policies:
        return None
    from reconciler.engine.policies import PolicyCheck

    return PolicyCheck(tuple(spec.policies), settings.environment, settings.approvals)


def _planned(plan: Plan) -> CheckReport:
    drifted = plan.has_changes or plan.has_errors
    outcome = CheckOutcome.DRIFTED if drifted else CheckOutcome.IN_SYNC
    return CheckReport(outcome, None, "", plan=plan)


def _failed(generation: int | None, message: str) -> CheckReport:
    from reconciler.logging_redaction import mask_secrets

    return CheckReport(CheckOutcome.FAILED, generation, "", message=mask_secrets(message))


def _error_text(problem: ReconcilerError) -> str:
    issues = getattr(problem, "issues", None)
    if issues:
        return "\n".join(str(issue) for issue in issues)
    hint = getattr(problem, "hint", None)
    return f"{problem} ({hint})" if hint else str(problem)
