"""The one risk policy: which risks need which consent, and the gate that enforces it.

Every refusal of a plan is decided here, with its exit code, so that ``apply``, the
imperative commands and later policy checks all refuse the same way:

- a plan error (a change the system cannot make, such as fewer partitions): exit 1;
- a policy rule's violation the run did not approve (:mod:`reconciler.engine.policies`):
  exit 1, naming the rule (``policy:NAME``);
- a change whose risks need a consent the run was not given: exit 3 (refused for safety).

Consents (docs/gitops.md, "Risks and consents"):

| risk | needs |
|---|---|
| ``destructive`` (removes a resource or a setting) | ``--allow-delete`` |
| ``data-loss`` (stored data becomes unreachable: retention cut, ``cleanup.policy``) | ``--allow-data-loss`` |
| ``disruptive``, ``slow``, ``key-remapping`` | nothing: shown in the plan only |

``--allow-delete`` implies ``--allow-data-loss``: deleting a resource loses its data by
definition, so a deletion needs one flag, not two; a retention cut needs its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from msgspec import Struct

from reconciler.engine.plan import Change, NoticeLevel, Plan, Risk
from reconciler.errors import EXIT_ERROR, EXIT_REFUSED, PlanRefused, ReconcilerError, SafetyRefusal


class Consent(StrEnum):
    """An explicit permission a run was given; the value is its command-line flag."""

    DELETE = "--allow-delete"
    DATA_LOSS = "--allow-data-loss"


REQUIRED_CONSENT: Mapping[Risk, Consent] = {
    Risk.DESTRUCTIVE: Consent.DELETE,
    Risk.DATA_LOSS: Consent.DATA_LOSS,
}
IMPLIED_CONSENTS: Mapping[Consent, frozenset[Consent]] = {
    Consent.DELETE: frozenset({Consent.DATA_LOSS}),
}


def granted_consents(
    *, allow_delete: bool = False, allow_data_loss: bool = False
) -> frozenset[Consent]:
    """The consents of a run's flags, implications included."""
    given = {Consent.DELETE} if allow_delete else set()
    if allow_data_loss:
        given.add(Consent.DATA_LOSS)
    for consent in list(given):
        given |= IMPLIED_CONSENTS.get(consent, frozenset())
    return frozenset(given)


def required_consents(change: Change) -> frozenset[Consent]:
    """The consents ``change`` needs; a deletion needs ``--allow-delete`` only."""
    needed = {REQUIRED_CONSENT[risk] for risk in change.risks if risk in REQUIRED_CONSENT}
    if Consent.DELETE in needed:
        needed -= IMPLIED_CONSENTS[Consent.DELETE]
    return frozenset(needed)


def missing_consents(change: Change, granted: Iterable[Consent]) -> frozenset[Consent]:
    return required_consents(change) - frozenset(granted)


class Refusal(Struct, frozen=True):
    """One reason the gate stops a plan: an error of the plan itself, or a missing consent
    (or, later, a policy rule), with the exit code it maps to."""

    address: str
    reason: str
    exit_code: int
    rule: str = ""  # what refused it: "plan-error", a consent flag, a policy rule's name


class Verdict(Struct, frozen=True):
    """What the gate decided about a plan."""

    refusals: tuple[Refusal, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.refusals

    @property
    def exit_code(self) -> int:
        """Plan errors first (exit 1: nothing can be applied as asked), then safety (3)."""
        codes = {r.exit_code for r in self.refusals}
        if EXIT_ERROR in codes:
            return EXIT_ERROR
        return EXIT_REFUSED if codes else 0

    def error(self, names: Mapping[str, str] | None = None) -> ReconcilerError | None:
        """The error to raise, or ``None`` when the plan passed. ``names`` respells consent
        flags for commands that spell them otherwise (``--force``)."""
        if self.passed:
            return None
        names = names or {}

        def spell(text: str) -> str:
            for flag, name in names.items():
                text = text.replace(flag, name)
            return text

        lines = "\n".join(f"  {r.address}: {spell(r.reason)}" for r in self.refusals)
        if self.exit_code == EXIT_ERROR:
            rules = sorted(
                {
                    r.rule.removeprefix("policy:")
                    for r in self.refusals
                    if r.rule.startswith("policy:")
                }
            )
            hint = "fix the spec, or leave the resource out with --exclude ADDRESS"
            if rules:
                hint += (
                    f"; a violation of an approvable policy rule passes with --approve {rules[0]}"
                )
            return PlanRefused(f"the plan has errors; nothing was changed:\n{lines}", hint=hint)
        flags = sorted(
            {names.get(r.rule, r.rule) for r in self.refusals if r.rule.startswith("--")}
        )
        return SafetyRefusal(
            f"the plan holds changes that need explicit consent; nothing was changed:\n{lines}",
            hint=f"review them, then apply again with {' '.join(flags)}"
            if flags
            else "review them",
        )

    def raise_if_refused(self, names: Mapping[str, str] | None = None) -> None:
        problem = self.error(names)
        if problem is not None:
            raise problem


def gate(plan: Plan, granted: Iterable[Consent]) -> Verdict:
    """Decide whether ``plan`` may be applied with the ``granted`` consents."""
    given = frozenset(granted)
    refusals = [
        Refusal(n.address, n.message, EXIT_ERROR, "plan-error")
        for n in plan.notices
        if n.level is NoticeLevel.ERROR and n.kind != "policy"
    ]
    refusals += [
        Refusal(v.address, f"policy rule {v.rule!r}: {v.message}", EXIT_ERROR, f"policy:{v.rule}")
        for v in (plan.policy.violations if plan.policy else ())
    ]
    for change in plan.actionable:
        for consent in sorted(missing_consents(change, given)):
            risks = ", ".join(
                sorted(r.value for r in change.risks if REQUIRED_CONSENT.get(r) is consent)
            )
            refusals.append(
                Refusal(
                    change.address,
                    f"{change.action.value} is {risks or 'destructive'}; needs {consent.value}",
                    EXIT_REFUSED,
                    consent.value,
                )
            )
    return Verdict(tuple(refusals))


def consent_flags(change: Change) -> list[str]:
    """The flags a change needs, for renderers (sorted, e.g. ``["--allow-delete"]``)."""
    return sorted(c.value for c in required_consents(change))
