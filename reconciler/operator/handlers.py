"""kopf handlers: one daemon per ``ClusterSpec`` that checks it every interval (at once when
its spec changes), with bounded concurrency across resources.

No finalizer is ever put on a ClusterSpec: deleting one deletes nothing in Kafka or Redis,
and nothing may block that deletion, not even an operator that is down. kopf puts a
finalizer on resources with daemons so that it can stop them before deletion; ours stop by
themselves when the watch reports the resource gone, so the daemon is registered without
that requirement (``requires_finalizer=False``; see ``test_kopf_surface.py``, which fails
loudly if kopf's handler structure changes).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf
from msgspec import Struct, field

from reconciler.engine.plan import Plan
from reconciler.errors import ReconcilerError
from reconciler.operator.reconciling import SecretReader, check_resource
from reconciler.operator.resources import (
    DEFAULT_INTERVAL_SECONDS,
    GROUP,
    PLURAL,
    VERSION,
    resource_name,
    resource_settings,
)
from reconciler.operator.statuses import CheckOutcome, CheckReport, plan_headline

log = logging.getLogger(__name__)

StatusWriter = Callable[[Mapping[str, Any], CheckReport], Awaitable[None]]
MAX_BACKOFF_SECONDS = 600.0
EVENT_CHANGES = 10


class CheckSettings(Struct):
    """Operator-wide settings of the checks."""

    concurrency: int = 4
    check_timeout: float = 600.0
    lock_ttl: float = 900.0
    lock_timeout: float = 60.0


class Fleet(Struct):
    """What the handlers share: the concurrency bound, wake-ups, the resources seen gone."""

    settings: CheckSettings
    read_secret: SecretReader
    write_status: StatusWriter
    observe: Callable[[Mapping[str, Any], CheckReport], None] = lambda resource, report: None
    write_plan: StatusWriter | None = None
    gone: set[str] = field(default_factory=set)
    told: dict[str, tuple[str, str]] = field(default_factory=dict)  # uid → last Event
    _wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    _generations: dict[str, int] = field(default_factory=dict)
    _semaphore: asyncio.Semaphore | None = None

    def wakeup(self, uid: str) -> asyncio.Event:
        return self._wakeups.setdefault(uid, asyncio.Event())

    def noticed(self, event_type: str | None, uid: str, generation: int | None) -> None:
        """A watch event: a changed spec wakes its daemon; a deletion ends it."""
        if event_type == "DELETED":
            self.gone.add(uid)
            self.wakeup(uid).set()
            return
        previous = self._generations.get(uid)
        if generation is not None:
            self._generations[uid] = generation
        if previous is not None and generation != previous:
            self.wakeup(uid).set()

    @property
    def semaphore(self) -> asyncio.Semaphore:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.settings.concurrency)
        return self._semaphore


def register(registry: kopf.OperatorRegistry, fleet: Fleet) -> None:
    """Register the operator's handlers on ``registry``."""

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    def noticed(event: Mapping[str, Any], uid: str, meta: Mapping[str, Any], **_: Any) -> None:
        fleet.noticed(event.get("type"), uid, meta.get("generation"))

    @kopf.on.daemon(GROUP, VERSION, PLURAL, registry=registry, cancellation_timeout=30)
    async def watch_cluster(
        stopped: kopf.DaemonStopped, uid: str, body: kopf.Body, **_: Any
    ) -> None:
        await _watch(fleet, stopped, uid, body)

    _without_finalizer(registry, watch_cluster)


def _without_finalizer(registry: kopf.OperatorRegistry, fn: Callable[..., Any]) -> None:
    spawning = registry._spawning
    spawning._handlers = [
        dataclasses.replace(h, requires_finalizer=False) if h.fn is fn else h
        for h in spawning._handlers
    ]


async def _watch(fleet: Fleet, stopped: kopf.DaemonStopped, uid: str, body: kopf.Body) -> None:
    failures = 0
    while not stopped and uid not in fleet.gone:
        fleet.wakeup(uid).clear()
        resource = _snapshot(body)
        async with fleet.semaphore:
            if stopped or uid in fleet.gone:
                return
            report = await _check_once(fleet, resource)
        if uid in fleet.gone:
            return
        failures = failures + 1 if report.outcome is CheckOutcome.FAILED else 0
        log.info(
            "%s: %s in %.1fs", resource_name(resource), report.outcome, report.duration_seconds
        )
        fleet.observe(resource, report)
        if fleet.write_plan is not None:
            await fleet.write_plan(resource, report)
        await fleet.write_status(resource, report)
        _post_event(fleet, uid, body, report)
        await _sleep(fleet, stopped, uid, _next_delay(resource, failures))


async def _check_once(fleet: Fleet, resource: dict[str, Any]) -> CheckReport:
    async def applying(plan: Plan) -> None:
        await fleet.write_status(resource, applying_report(resource, plan))

    log.info("%s: checking", resource_name(resource))
    return await check_resource(
        resource,
        fleet.read_secret,
        timeout=fleet.settings.check_timeout,
        lock_ttl=fleet.settings.lock_ttl,
        lock_timeout=fleet.settings.lock_timeout,
        applying=applying,
    )


def applying_report(resource: Mapping[str, Any], plan: Plan) -> CheckReport:
    """The report written while an apply runs (``Applying`` true)."""
    from reconciler.engine.locking import utc_now_iso

    generation = resource.get("metadata", {}).get("generation")
    return CheckReport(CheckOutcome.APPLYING, generation, utc_now_iso(), plan=plan)


def _snapshot(body: kopf.Body) -> dict[str, Any]:
    """A plain copy of the live body (kopf keeps ``body`` current as events arrive)."""
    import copy

    return copy.deepcopy(dict(body))


def _next_delay(resource: Mapping[str, Any], failures: int) -> float:
    """The resource's interval; after failures, a backoff from 10 s up to the interval."""
    try:
        interval = resource_settings(resource.get("spec") or {}).interval_seconds
    except ReconcilerError:
        interval = float(DEFAULT_INTERVAL_SECONDS)
    if failures == 0:
        return interval
    return min(interval, MAX_BACKOFF_SECONDS, 10.0 * 2 ** (failures - 1))


async def _sleep(fleet: Fleet, stopped: kopf.DaemonStopped, uid: str, seconds: float) -> None:
    """Until ``seconds`` pass, the spec changes, the resource goes, or the daemon stops."""
    woken = asyncio.ensure_future(fleet.wakeup(uid).wait())
    halted = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait({woken, halted}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        woken.cancel()
        halted.cancel()


def _post_event(fleet: Fleet, uid: str, body: kopf.Body, report: CheckReport) -> None:
    """An Event when what a check found differs from what the last Event said."""
    reason, message, warning = event_text(report)
    if reason is None:
        fleet.told.pop(uid, None)  # back in sync: the next drift is news again
        return
    if fleet.told.get(uid) == (reason, message):
        return
    fleet.told[uid] = (reason, message)
    kopf.event(body, type="Warning" if warning else "Normal", reason=reason, message=message)


def event_text(report: CheckReport) -> tuple[str | None, str, bool]:
    """An Event for a check worth telling (drift found, applied, failed); none when in sync."""
    if report.outcome is CheckOutcome.FAILED:
        return "CheckFailed", report.message, True
    if report.plan is None:
        if report.outcome is CheckOutcome.DRIFTED and report.message:
            return "Drifted", report.message, True  # refused by the gate: why
        return None, "", False
    lines = [plan_headline(report.plan)]
    if report.message:
        lines.append(report.message)
    changes = sorted(report.plan.actionable, key=lambda c: c.address)
    lines += [f"{c.action.value} {c.address}" for c in changes[:EVENT_CHANGES]]
    if len(changes) > EVENT_CHANGES:
        lines.append(f"... and {len(changes) - EVENT_CHANGES} more")
    errors = [n for n in report.plan.notices if n.level.value == "error"]
    lines += [f"refused {n.address}: {n.message}" for n in errors[:EVENT_CHANGES]]
    if report.outcome is CheckOutcome.APPLIED:
        return "Applied", "\n".join(lines), bool(report.leftover)
    if report.outcome is CheckOutcome.DRIFTED:
        return "Drifted", "\n".join(lines), True
    return None, "", False
