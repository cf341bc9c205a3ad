"""An in-memory provider and lock (fakes of our own interfaces) for engine unit tests."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from reconciler.engine.payloads import Payload, change_from_payload, check_payload, parse_payload
from reconciler.engine.plan import Action, Change, Notice, NoticeLevel, Plan, Risk
from reconciler.engine.providers import (
    ApplyOptions,
    ChangeResult,
    PlanOptions,
    ProviderPlan,
    ResultStatus,
    identity_key,
)

T = TypeVar("T")


class SetValue(Payload):
    value: int | None

    def displayed(self) -> dict[str, Any]:
        return {"value": self.value}


class MemoryStore:
    """Desired and live values by key; a key desired as ``None`` is deleted (destructive),
    a value lowered is data loss, a negative desired value is refused."""

    name = "memory"
    family = "memory"
    resource_types: tuple[str, ...] = ("memory",)

    def __init__(self, desired: dict[str, int | None], live: dict[str, int], cluster: str = "c1"):
        self.desired, self.live, self.cluster = desired, live, cluster
        self.reads = 0
        self.applied: list[str] = []
        self.events: list[str] = []

    def _fingerprint(self, key: str) -> str:
        return repr(self.live.get(key))

    async def plan(self, options: PlanOptions) -> ProviderPlan:
        self.reads += 1
        changes, notices = [], []
        for key, value in self.desired.items():
            if value is not None and value < 0:
                notices.append(
                    Notice(level=NoticeLevel.ERROR, address=f"memory.{key}", message="negative")
                )
                continue
            if self.live.get(key) == value:
                continue
            risks: set[Risk] = set()
            if value is None:
                risks.add(Risk.DESTRUCTIVE)
            elif key in self.live and value < self.live[key]:
                risks.add(Risk.DATA_LOSS)
            action = (
                Action.DELETE
                if value is None
                else (Action.CREATE if key not in self.live else Action.UPDATE)
            )
            changes.append(
                change_from_payload(
                    SetValue(value=value),
                    before={"value": self.live.get(key)},
                    address=f"memory.{key}",
                    provider=self.name,
                    resource_type="memory",
                    name=key,
                    action=action,
                    risks=frozenset(risks),
                )
            )
        prints = {c.address: self._fingerprint(c.name) for c in changes}
        prints[identity_key("memory")] = self.cluster
        return ProviderPlan(tuple(changes), tuple(notices), prints)

    async def fingerprints(self, addresses: Sequence[str]) -> dict[str, str]:
        self.reads += 1
        found = {a: self._fingerprint(a.split(".", 1)[1]) for a in addresses}
        return found | {identity_key("memory"): self.cluster}

    def check_saved(self, change: Change, redacted: str) -> None:
        check_payload(change, SetValue, redacted)

    async def apply(self, changes: Sequence[Change], options: ApplyOptions) -> list[ChangeResult]:
        results = []
        self.stall_seconds = options.stall_seconds()
        for change in changes:
            value = parse_payload(change, SetValue).value
            self.events.append(f"apply {change.address}")
            if value is None:
                self.live.pop(change.name, None)
            else:
                self.live[change.name] = value
            self.applied.append(change.address)
            results.append(ChangeResult(change.address, ResultStatus.APPLIED))
        return results

    def request_counts(self) -> dict[str, Any]:
        return {"Read": self.reads}

    async def close(self) -> None:
        pass


class RecordingLock:
    """A lock that records when it is taken and released."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    async def __aenter__(self) -> RecordingLock:
        self.events.append("lock")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.events.append("unlock")

    def check(self) -> None:
        pass

    async def guard(self, work: Awaitable[T]) -> T:
        return await work


class RecordingUI:
    """Records what the workflow showed and asked; confirms unless told to refuse."""

    def __init__(self, events: list[str], *, refuse: bool = False) -> None:
        from reconciler.engine.providers import SilentProgress

        self.events = events
        self.refuse = refuse
        self.progress = SilentProgress()
        self.shown: list[Plan] = []

    def planned(self, plan: Plan) -> None:
        self.shown.append(plan)
        self.events.append("show")

    async def confirm(self, plan: Plan) -> None:
        self.events.append("confirm")
        if self.refuse:
            raise RuntimeError("no")

    def note(self, text: str) -> None:
        self.events.append(f"note {text}")
