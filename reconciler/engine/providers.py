"""The contract every provider (Kafka topics, Kafka ACLs, Redis cluster) fulfils.

A provider owns the I/O of one resource family: it reads live state, diffs it against the
desired state with a pure function, optionally asks the system to validate planned changes,
and carries changes out. The engine only sees this protocol.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from msgspec import Struct, field

from reconciler.engine.plan import Change, Notice, NoticeLevel

if TYPE_CHECKING:
    from reconciler.spec.units import MoveRate


class PlanOptions(Struct, frozen=True):
    """What the user asked of a plan."""

    allow_delete: bool = False
    validate: bool = True  # ask the live system to validate creations (validateOnly)
    throttle: int | None = None  # bytes/s that data moves (reassignments) are throttled to
    # The limit of Redis slot moves for the whole apply (``--redis-move-rate``); None: the
    # spec's ``redis.cluster.moveRate``, else unlimited.
    move_rate: MoveRate | None = None
    rotate_credentials: bool = False  # upsert SCRAM users' credentials (passwords unreadable)


class ProviderPlan(Struct, frozen=True):
    """A provider's part of a plan, with the fingerprints of the live state it was computed
    from (every address it plans, plus the cluster's identity under :func:`identity_key`),
    so that a saved plan is checked against exactly what it was planned from."""

    changes: tuple[Change, ...] = ()
    notices: tuple[Notice, ...] = ()
    fingerprints: dict[str, str] = field(default_factory=dict)


def fingerprint(facts: Any) -> str:
    """A short, stable digest of JSON-able live facts: what a saved plan's fingerprints hold
    (equal facts, equal digest, whatever the order of mappings)."""
    text = json.dumps(facts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def refused_plan(address: str, message: str) -> ProviderPlan:
    """A provider's plan that is one error: what it was asked cannot be planned."""
    error = Notice(level=NoticeLevel.ERROR, address=address, kind="refused", message=message)
    return ProviderPlan(notices=(error,))


def identity_key(family: str) -> str:
    """The fingerprint key of a cluster's identity (``@kafka``: its cluster id; ``@redis``:
    its node ids), under which a saved plan names the cluster it was made against."""
    return f"@{family}"


class ResultStatus(StrEnum):
    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"


class ChangeResult(Struct, frozen=True):
    address: str
    status: ResultStatus
    message: str = ""
    seconds: float = 0.0


class Progress(Protocol):
    """Where providers report progress while applying; the CLI draws it."""

    def started(self, change: Change) -> None: ...
    def advanced(self, change: Change, message: str) -> None: ...
    def finished(self, result: ChangeResult) -> None: ...


class SilentProgress:
    def started(self, change: Change) -> None:
        pass

    def advanced(self, change: Change, message: str) -> None:
        pass

    def finished(self, result: ChangeResult) -> None:
        pass


STALL_ENV = "LLM_ANALYTICS_STALL_TIMEOUT"
DEFAULT_STALL_SECONDS = 180.0


def stall_from_env(default: float = DEFAULT_STALL_SECONDS) -> float:
    """``$LLM_ANALYTICS_STALL_TIMEOUT`` in seconds (``90`` or ``90s``), else ``default``."""
    import os

    raw = os.environ.get(STALL_ENV, "").strip().removesuffix("s")
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


class ApplyOptions(Struct):
    continue_on_error: bool = False
    progress: Progress = field(default_factory=SilentProgress)
    # Seconds a long move (a Kafka reassignment, a Redis slot move) may make no progress
    # before it fails naming what is stuck; None: $LLM_ANALYTICS_STALL_TIMEOUT, else 180.
    stall_timeout: float | None = None

    def stall_seconds(self, default: float = DEFAULT_STALL_SECONDS) -> float:
        """The stall time: ``--stall-timeout``, else the environment, else ``default``."""
        if self.stall_timeout is not None:
            return self.stall_timeout
        return stall_from_env(default)


@runtime_checkable
class Provider(Protocol):
    """One resource family of one live system."""

    name: str  # e.g. "kafka_topic"; the prefix of the addresses it owns
    family: str  # the target family: "kafka" or "redis"
    resource_types: tuple[str, ...]  # the address prefixes of the resources it plans

    async def plan(self, options: PlanOptions) -> ProviderPlan:
        """Read live state once, diff against desired state, validate with the system if
        possible; fingerprints of the state read come with the plan."""
        ...

    async def fingerprints(self, addresses: Sequence[str]) -> dict[str, str]:
        """A stable hash of the live state of each address (absent resources included),
        plus the cluster's identity under ``identity_key(family)``; one read."""
        ...

    def check_saved(self, change: Change, redacted: str) -> None:
        """Refuse (exit 3) a saved change whose payload is invalid or differs from what its
        attributes show (see :mod:`reconciler.engine.payloads`)."""
        ...

    async def apply(self, changes: Sequence[Change], options: ApplyOptions) -> list[ChangeResult]:
        """Carry out changes this provider planned; one result per change."""
        ...

    def request_counts(self) -> dict[str, Any]:
        """Admin requests made so far, by API name (shown with --debug)."""
        ...

    async def close(self) -> None: ...
