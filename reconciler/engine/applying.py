"""Carrying out a plan: each provider's changes in dependency order (the gate before it is
:mod:`reconciler.engine.risk`; the whole workflow is :mod:`reconciler.engine.workflow`)."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.engine.interrupts import raise_if_interrupted
from reconciler.engine.plan import Plan
from reconciler.engine.providers import ApplyOptions, ChangeResult, Provider, ResultStatus
from reconciler.engine.risk import gate, granted_consents
from reconciler.errors import PlanRefused


def check_applicable(plan: Plan, *, allow_delete: bool, allow_data_loss: bool = False) -> None:
    """Refuse a plan with errors (exit 1) or risky changes without their consent (exit 3)."""
    gate(
        plan, granted_consents(allow_delete=allow_delete, allow_data_loss=allow_data_loss)
    ).raise_if_refused()


async def apply_plan(
    plan: Plan, providers: Sequence[Provider], options: ApplyOptions
) -> list[ChangeResult]:
    """Apply every actionable change, provider by provider in the given order.

    Stops after the first provider with a failure unless ``continue_on_error``; the changes
    not attempted are reported as skipped.
    """
    by_provider = {provider.name: provider for provider in providers}
    unknown = {c.provider for c in plan.actionable} - set(by_provider)
    if unknown:
        raise PlanRefused(
            f"the plan has changes for {', '.join(sorted(unknown))}, which this run does not target"
        )
    results: list[ChangeResult] = []
    stopped = False
    for provider in providers:
        changes = [c for c in plan.actionable if c.provider == provider.name]
        if not changes:
            continue
        raise_if_interrupted(
            done=[r.address for r in results if r.status is ResultStatus.APPLIED],
            not_done=[
                c.address for c in plan.actionable if c.address not in {r.address for r in results}
            ],
        )
        if stopped:
            results.extend(
                ChangeResult(c.address, ResultStatus.SKIPPED, "skipped after an earlier failure")
                for c in changes
            )
            continue
        provider_results = await provider.apply(changes, options)
        results.extend(provider_results)
        if any(r.status is ResultStatus.FAILED for r in provider_results):
            stopped = not options.continue_on_error
    return results
