"""Carrying out a plan: safety gates, then each provider's changes in dependency order."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.engine.plan import Change, Plan, Risk
from reconciler.engine.providers import ApplyOptions, ChangeResult, Provider, ResultStatus
from reconciler.errors import PlanRefused, SafetyRefusal


def destructive_changes(plan: Plan) -> list[Change]:
    return [c for c in plan.actionable if Risk.DESTRUCTIVE in c.risks]


def check_applicable(plan: Plan, *, allow_delete: bool) -> None:
    """Refuse a plan with errors (exit 1) or destructive changes without the flag (exit 3)."""
    errors = [n for n in plan.notices if n.level == "error"]
    if errors:
        lines = "\n".join(f"  {n.address}: {n.message}" for n in errors)
        raise PlanRefused(f"the plan has errors; nothing was changed:\n{lines}")
    destructive = destructive_changes(plan)
    if destructive and not allow_delete:
        lines = "\n".join(f"  {c.address} ({c.action.value})" for c in destructive)
        raise SafetyRefusal(
            f"the plan holds destructive changes; nothing was changed:\n{lines}",
            hint="review them, then apply again with --allow-delete",
        )


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
