"""The one workflow every changing command runs.

    lock → read live state once → plan → gate → confirm → apply → re-read and verify → release

``apply -f SPEC``, ``apply PLANFILE``, ``kafka topics create|delete``, ``kafka acls create``
and ``redis init`` all run :class:`Workflow`; they differ only in the desired state they
hand to the providers. The CLI supplies a :class:`WorkflowUI` (how a plan is shown, how a
person confirms, where progress goes) and the locks; this module decides everything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, TypeVar

from msgspec import Struct, field

from reconciler.engine.plan import Change, Plan
from reconciler.engine.planning import merged_request_counts
from reconciler.engine.providers import (
    ApplyOptions,
    ChangeResult,
    PlanOptions,
    Progress,
    Provider,
    ProviderPlan,
    ResultStatus,
)
from reconciler.engine.risk import Consent, gate
from reconciler.engine.selection import Selection
from reconciler.errors import ApplyFailed, PlanRefused

if TYPE_CHECKING:  # applying and saved plans: imported by the methods that use them
    from reconciler.engine.planfile import SavedPlan
    from reconciler.engine.policies import PolicyCheck
    from reconciler.spec.units import MoveRate

T = TypeVar("T")

#: The marker saved plans hold in place of a secret (the renderers' redaction marker).
REDACTED = "(sensitive value)"


class Guard(Protocol):
    """What a held lock offers: run work while it is held (:class:`LockSet`, :class:`NoLock`)."""

    def check(self) -> None: ...
    async def guard(self, work: Awaitable[T]) -> T: ...


LockFactory = Callable[[], AbstractAsyncContextManager[Guard]]


class WorkflowUI(Protocol):
    """The workflow's view of the person or job running it."""

    progress: Progress

    def planned(self, plan: Plan) -> None:
        """Show the plan about to be gated and applied."""

    async def confirm(self, plan: Plan) -> None:
        """Return when the plan may be applied; raise to abort."""

    def note(self, text: str) -> None:
        """A line of information (stderr)."""


class RunOptions(Struct, frozen=True):
    """What a run was asked for."""

    consents: frozenset[Consent] = frozenset()
    selection: Selection = field(default_factory=Selection)
    validate: bool = True
    continue_on_error: bool = False
    dry_run: bool = False
    stall_timeout: float | None = None  # None: $LLM_ANALYTICS_STALL_TIMEOUT, else 180 s
    # How the command spells each consent when not as its flag (``--force``).
    consent_names: dict[str, str] = field(default_factory=dict)
    # Plan the deletions the ownership policy allows even without the consent to apply
    # them, so that the gate refuses them visibly (a command whose point is deleting).
    plan_deletions: bool = False
    # The policy rules the plan must pass (``None``: none in the spec or given).
    policy: PolicyCheck | None = None
    # The replication throttle of data moves, bytes/s (``--throttle``, the spec's default).
    throttle: int | None = None
    # The limit of Redis slot moves (``--redis-move-rate``; None: the spec's, else none).
    move_rate: MoveRate | None = None
    # Upsert every listed SCRAM user's credentials (Kafka cannot show a changed password).
    rotate_credentials: bool = False

    def plan_options(self, *, validate: bool | None = None) -> PlanOptions:
        return PlanOptions(
            allow_delete=self.plan_deletions or Consent.DELETE in self.consents,
            validate=self.validate if validate is None else validate,
            throttle=self.throttle,
            move_rate=self.move_rate,
            rotate_credentials=self.rotate_credentials,
        )


class PlannedRun(Struct, frozen=True):
    """A plan with the fingerprints of the live state it was computed from."""

    plan: Plan
    fingerprints: dict[str, str] = field(default_factory=dict)


class Outcome(StrEnum):
    NO_CHANGES = "no-changes"
    PLANNED = "planned"  # --dry-run: gated, not applied
    APPLIED = "applied"


class RunResult(Struct, frozen=True):
    outcome: Outcome
    plan: Plan
    results: tuple[ChangeResult, ...] = ()
    # After apply: planned resources that still differ, and how many others differ.
    unfinished: tuple[Change, ...] = ()
    others_differing: int = 0

    @property
    def failed(self) -> tuple[ChangeResult, ...]:
        return tuple(r for r in self.results if r.status is ResultStatus.FAILED)


class Workflow:
    """lock → read → plan → gate → confirm → apply → verify → release, for some providers."""

    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        locks: LockFactory | None = None,
        ui: WorkflowUI | None = None,
    ) -> None:
        """``locks`` and ``ui`` are needed to apply; planning alone (plan, drift) takes
        neither."""
        self.providers = list(providers)
        self._locks = locks
        self._ui = ui

    def locks(self) -> AbstractAsyncContextManager[Guard]:
        if self._locks is None:
            raise TypeError("this workflow was built without locks; it cannot apply")
        return self._locks()

    @property
    def ui(self) -> WorkflowUI:
        if self._ui is None:
            raise TypeError("this workflow was built without a UI; it cannot apply")
        return self._ui

    # ----------------------------------------------------------------- reading

    async def plan(self, options: RunOptions, *, validate: bool | None = None) -> PlannedRun:
        """Read every provider's live state once (concurrently) and plan; no lock taken."""
        parts: list[ProviderPlan] = await asyncio.gather(
            *(p.plan(options.plan_options(validate=validate)) for p in self.providers)
        )
        plan = Plan(
            changes=tuple(c for part in parts for c in part.changes),
            notices=tuple(n for part in parts for n in part.notices),
            request_counts=merged_request_counts(self.providers),
        )
        fingerprints = {k: v for part in parts for k, v in part.fingerprints.items()}
        return PlannedRun(_checked(options.selection.apply_to(plan), options), fingerprints)

    async def fingerprints(self, plan: Plan) -> dict[str, str]:
        """One read of the live state of what ``plan`` touches, with each cluster's identity
        (every provider is asked, with no addresses when the plan has none of its changes,
        so that the identity of every targeted cluster is checked)."""
        found: dict[str, str] = {}
        for provider in self.providers:
            addresses = [c.address for c in plan.actionable if c.provider == provider.name]
            found.update(await provider.fingerprints(addresses))
        return found

    # ----------------------------------------------------------------- applying

    async def apply(self, options: RunOptions) -> RunResult:
        """Plan under the lock and apply what the gate lets through (``dry_run``: stop
        after the gate)."""
        async with self.locks() as lock:
            # Planned under the lock: a concurrent apply has finished before we read.
            planned = (await lock.guard(self.plan(options))).plan
            self.ui.planned(planned)
            if not planned.has_changes and not planned.has_errors:
                return RunResult(Outcome.NO_CHANGES, planned)
            gate(planned, options.consents).raise_if_refused(options.consent_names)
            if options.dry_run:
                return RunResult(Outcome.PLANNED, planned)
            await self.ui.confirm(planned)
            return await self._carry_out(lock, planned, options)

    async def apply_saved(
        self, saved: SavedPlan, options: RunOptions, *, spec_sha256: str
    ) -> RunResult:
        """Carry out a saved plan exactly, unless it is stale or altered (exit 3, refused
        before anything of it is shown)."""
        from reconciler.engine.planfile import (
            redacted_changes,
            restore_redacted,
            stale_refusal,
            staleness,
        )

        async with self.locks() as lock:
            now = await lock.guard(self.fingerprints(saved.plan))
            reasons = staleness(saved, spec_sha256=spec_sha256, fingerprints_now=now)
            if reasons:
                raise stale_refusal(saved.path, reasons)
            self._check_saved(saved.plan)
            planned = _checked(saved.plan, options, saved=True)
            if redacted_changes(planned, REDACTED):
                # Secrets are never saved: take them from the spec (its references) now.
                fresh = await lock.guard(self.plan(options, validate=False))
                planned = restore_redacted(planned, fresh.plan, REDACTED)
            self.ui.planned(planned)
            if not planned.has_changes:
                return RunResult(Outcome.NO_CHANGES, planned)
            gate(planned, options.consents).raise_if_refused(options.consent_names)
            return await self._carry_out(lock, planned, options)

    def _check_saved(self, plan: Plan) -> None:
        by_name = {p.name: p for p in self.providers}
        unknown = sorted({c.provider for c in plan.actionable} - set(by_name))
        if unknown:
            raise PlanRefused(
                f"the plan has changes for {', '.join(unknown)}, which this run does not target"
            )
        for change in plan.actionable:
            by_name[change.provider].check_saved(change, REDACTED)

    async def _carry_out(self, lock: Guard, planned: Plan, options: RunOptions) -> RunResult:
        from reconciler.engine.applying import apply_plan

        results = await lock.guard(
            apply_plan(
                planned,
                self.providers,
                ApplyOptions(
                    continue_on_error=options.continue_on_error,
                    progress=self.ui.progress,
                    stall_timeout=options.stall_timeout,
                ),
            )
        )
        failed = [r for r in results if r.status is ResultStatus.FAILED]
        if failed:
            lines = "\n".join(f"  {r.address}: {r.message}" for r in failed)
            raise ApplyFailed(
                f"{len(failed)} change(s) failed:\n{lines}",
                hint="fix the cause, then apply again: changes already made are kept and "
                "the next plan shows only what is left",
            )
        after = (await lock.guard(self.plan(options, validate=False))).plan
        touched = {c.address for c in planned.actionable}
        unfinished = tuple(c for c in after.actionable if c.address in touched)
        others = len(after.actionable) - len(unfinished)
        return RunResult(Outcome.APPLIED, planned, tuple(results), unfinished, others)


def _checked(plan: Plan, options: RunOptions, *, saved: bool = False) -> Plan:
    """``plan`` judged by the run's policy rules. A saved plan is judged again by the
    rules of this run, with the approvals it was saved with as well as this run's; with no
    rules now, it keeps the results it was saved with."""
    if options.policy is None:
        return plan
    from msgspec.structs import replace

    from reconciler.engine.policies import check_plan

    policy = options.policy
    if saved and plan.policy is not None:
        policy = replace(policy, approvals=policy.approvals | frozenset(plan.policy.approvals))
    return check_plan(plan, policy)
