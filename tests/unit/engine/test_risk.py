"""The one risk policy: which risks need which consent, and their exit codes."""

from __future__ import annotations

import pytest

from reconciler.engine.plan import Action, Change, Notice, NoticeLevel, Plan, Risk
from reconciler.engine.risk import (
    Consent,
    consent_flags,
    gate,
    granted_consents,
    required_consents,
)


def change(*risks: Risk, action: Action = Action.UPDATE) -> Change:
    return Change(
        address="t.x",
        provider="t",
        resource_type="t",
        name="x",
        action=action,
        risks=frozenset(risks),
    )


@pytest.mark.parametrize(
    ("risks", "needed"),
    [
        ((), set()),
        ((Risk.DISRUPTIVE, Risk.SLOW, Risk.KEY_REMAPPING), set()),
        ((Risk.DATA_LOSS,), {Consent.DATA_LOSS}),
        ((Risk.DESTRUCTIVE,), {Consent.DELETE}),
        ((Risk.DESTRUCTIVE, Risk.DATA_LOSS), {Consent.DELETE}),
    ],
)
def test_required_consents(risks: tuple[Risk, ...], needed: set[Consent]) -> None:
    assert required_consents(change(*risks)) == needed


def test_allow_delete_implies_data_loss() -> None:
    assert granted_consents(allow_delete=True) == {Consent.DELETE, Consent.DATA_LOSS}
    assert granted_consents(allow_data_loss=True) == {Consent.DATA_LOSS}


def test_verdict_exit_codes() -> None:
    data_loss = Plan(changes=(change(Risk.DATA_LOSS),))
    assert gate(data_loss, set()).exit_code == 3
    assert gate(data_loss, {Consent.DATA_LOSS}).passed
    error = Notice(level=NoticeLevel.ERROR, address="t.y", message="no")
    mixed = Plan(changes=(change(Risk.DATA_LOSS),), notices=(error,))
    assert gate(mixed, set()).exit_code == 1  # plan errors win: nothing can be applied as asked
    assert consent_flags(change(Risk.DESTRUCTIVE, Risk.DATA_LOSS)) == ["--allow-delete"]


def test_respelt_consents_name_the_commands_flag() -> None:
    plan = Plan(changes=(change(Risk.DESTRUCTIVE, action=Action.DELETE),))
    problem = gate(plan, set()).error({"--allow-delete": "--force"})
    assert (
        problem is not None and "--force" in str(problem) and "--allow-delete" not in str(problem)
    )
