"""The handlers' bookkeeping, and the parts of kopf they rely on."""

from __future__ import annotations

import dataclasses

import kopf

from reconciler.operator.handlers import CheckSettings, Fleet, _next_delay, register


async def no_secret(namespace: str, ref: object) -> str:
    return ""


async def no_status(resource: object, report: object) -> None:
    return None


def fleet() -> Fleet:
    return Fleet(CheckSettings(), no_secret, no_status)


def test_a_spec_change_wakes_the_daemon_and_a_deletion_ends_it() -> None:
    shared = fleet()
    shared.noticed(None, "u1", 1)  # initial listing
    assert not shared.wakeup("u1").is_set()
    shared.noticed("MODIFIED", "u1", 1)  # status written: same generation
    assert not shared.wakeup("u1").is_set()
    shared.noticed("MODIFIED", "u1", 2)
    assert shared.wakeup("u1").is_set()
    shared.noticed("DELETED", "u1", 2)
    assert "u1" in shared.gone


def test_backoff_after_failures_up_to_the_interval() -> None:
    resource = {"spec": {"intervalSeconds": 60}}
    assert [_next_delay(resource, n) for n in (0, 1, 2, 3, 9)] == [60, 10, 20, 40, 60]
    assert _next_delay({"spec": {"reconcile": "never"}}, 0) == 300


def test_kopf_surface_the_daemon_registration_relies_on() -> None:
    """Fails loudly if kopf changes what ``_without_finalizer`` edits."""
    registry = kopf.OperatorRegistry()
    register(registry, fleet())
    daemons = list(registry._spawning._handlers)
    assert len(daemons) == 1
    assert {f.name for f in dataclasses.fields(daemons[0])} >= {"fn", "requires_finalizer"}
    assert daemons[0].requires_finalizer is False
    assert [h for h in registry._watching._handlers]  # the event handler
