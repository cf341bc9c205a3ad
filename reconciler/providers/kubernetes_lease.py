"""The apply lock as a Kubernetes Lease (``coordination.k8s.io/v1``), for Kubernetes targets.

Used when the Redis target is reached through Kubernetes (``redis.connection.kubernetes`` or
``--namespace``): the Lease ``llm-analytics-redis-apply-lock`` lives in the Redis pods'
namespace, beside what it protects, and works before the Redis cluster exists.

The protocol is the one client-go's leader election uses:

- **Atomic**: create fails with 409 if the Lease exists; a takeover or renewal is a replace
  carrying the ``resourceVersion`` read before, which fails with 409 if anyone wrote in
  between (optimistic concurrency in the API server).
- **Expiring**: ``spec.leaseDurationSeconds`` after ``spec.renewTime``; the holder renews every
  third of it. Because the writer's clock may differ from ours, a Lease also counts as
  expired once *we* have seen it unchanged (same ``resourceVersion``) for longer than its
  duration, by our monotonic clock.
- **Fencing token**: ``spec.leaseTransitions``, incremented on every change of holder.
- **Named holder**: ``spec.holderIdentity`` plus the :class:`LockOwner` as JSON in the
  annotation ``llm-analytics.io/lock-holder``.
- **Takeover of a dead holder**: a holder proven dead by a waiting run on its host (see
  :func:`reconciler.engine.locking.holder_is_provably_dead`) is replaced at once by the same
  conditional replace, instead of after the lease duration.
- **Release**: a replace that clears ``holderIdentity`` (conditional on our
  ``resourceVersion``), so the Lease object and its transition count survive.

kubernetes-asyncio is imported lazily, only when the backend talks to the API server; the
decision logic (:func:`lease_expired`, :func:`lease_body`) is pure and unit-tested.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from msgspec import Struct

from reconciler.engine.locking import (
    DEFAULT_TTL_SECONDS,
    LockAttempt,
    LockLost,
    LockOwner,
)
from reconciler.errors import ConnectionFailure, ReconcilerError
from reconciler.providers.kubernetes_config import load_configuration
from reconciler.spec.models import KubernetesTarget

REDIS_LEASE_NAME = "llm-analytics-redis-apply-lock"
HOLDER_ANNOTATION = "llm-analytics.io/lock-holder"
#: Tolerated clock difference between the writer of ``renewTime`` and us.
MAX_CLOCK_SKEW_SECONDS = 5.0


def micro_time(moment: datetime) -> str:
    """A Kubernetes MicroTime: RFC 3339 in UTC with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def lease_identity(owner: LockOwner) -> str:
    """``holderIdentity`` of a run: readable and unique (host, pid, run id)."""
    return f"{owner.host}/{owner.pid}/{owner.run_id[:12]}"


class LeaseRecord(Struct, frozen=True):
    """The parts of a Lease the lock reads."""

    resource_version: str
    holder_identity: str | None
    lease_duration_seconds: int | None
    renew_time: datetime | None
    acquire_time: datetime | None
    transitions: int
    owner: LockOwner | None

    @classmethod
    def from_object(cls, lease: Any) -> LeaseRecord:
        """From a kubernetes-asyncio ``V1Lease`` or a plain dict of the same shape."""
        if isinstance(lease, dict):
            meta, spec = lease.get("metadata") or {}, lease.get("spec") or {}
            annotations = meta.get("annotations") or {}
            fields = {
                "rv": meta.get("resourceVersion"),
                "holder": spec.get("holderIdentity"),
                "duration": spec.get("leaseDurationSeconds"),
                "renew": spec.get("renewTime"),
                "acquire": spec.get("acquireTime"),
                "transitions": spec.get("leaseTransitions"),
            }
        else:
            meta, spec = lease.metadata, lease.spec
            annotations = (meta.annotations if meta is not None else None) or {}
            fields = {
                "rv": meta.resource_version if meta is not None else None,
                "holder": spec.holder_identity if spec is not None else None,
                "duration": spec.lease_duration_seconds if spec is not None else None,
                "renew": spec.renew_time if spec is not None else None,
                "acquire": spec.acquire_time if spec is not None else None,
                "transitions": spec.lease_transitions if spec is not None else None,
            }
        owner = None
        raw_owner = annotations.get(HOLDER_ANNOTATION)
        if raw_owner:
            try:
                owner = LockOwner.from_dict(json.loads(raw_owner))
            except ValueError:
                owner = None
        return cls(
            resource_version=str(fields["rv"] or ""),
            holder_identity=fields["holder"] or None,
            lease_duration_seconds=int(fields["duration"]) if fields["duration"] else None,
            renew_time=_as_datetime(fields["renew"]),
            acquire_time=_as_datetime(fields["acquire"]),
            transitions=int(fields["transitions"] or 0),
            owner=owner,
        )

    def holder(self) -> LockOwner | None:
        """The holder as far as the Lease tells (the annotation, else the identity alone)."""
        if self.owner is not None:
            return self.owner
        if self.holder_identity:
            return LockOwner(
                host=self.holder_identity,
                pid=-1,
                user="?",
                started_at="?",
                command="? (not written by llm-analytics)",
            )
        return None


def lease_expired(
    record: LeaseRecord,
    now: datetime,
    *,
    unchanged_for: float | None = None,
    skew_seconds: float = MAX_CLOCK_SKEW_SECONDS,
) -> bool:
    """True when nobody holds ``record`` any longer (free, or not renewed in time).

    ``unchanged_for``: how long (by our monotonic clock) we have seen this exact
    ``resourceVersion``; beyond the lease duration it is expired whatever the clocks say.
    """
    if not record.holder_identity:
        return True
    duration = record.lease_duration_seconds or 0
    if unchanged_for is not None and unchanged_for > duration:
        return True
    if record.renew_time is None:
        return False  # unknown age: wait until we have watched it for a whole duration
    return record.renew_time + timedelta(seconds=duration + skew_seconds) < now


def lease_body(
    name: str,
    *,
    identity: str | None,
    owner: LockOwner | None,
    duration_seconds: int,
    now: datetime,
    transitions: int,
    acquire_time: datetime | None,
    resource_version: str | None = None,
) -> dict[str, Any]:
    """The Lease to create or replace (``identity=None`` releases it)."""
    metadata: dict[str, Any] = {
        "name": name,
        "annotations": {
            HOLDER_ANNOTATION: json.dumps(owner.to_dict(), sort_keys=True) if owner else ""
        },
    }
    if resource_version:
        metadata["resourceVersion"] = resource_version
    spec: dict[str, Any] = {
        "holderIdentity": identity,
        "leaseDurationSeconds": duration_seconds,
        "leaseTransitions": transitions,
        "renewTime": micro_time(now),
    }
    if acquire_time is not None:
        spec["acquireTime"] = micro_time(acquire_time)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": spec,
    }


class KubernetesLeaseLock:
    """The apply lock in a Lease of the target's namespace (see the module docstring)."""

    lock_order = 20

    def __init__(
        self,
        target: KubernetesTarget,
        *,
        name: str = REDIS_LEASE_NAME,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        monotonic: Any = time.monotonic,
    ) -> None:
        if ttl_seconds < 1:
            raise ReconcilerError(f"a Lease duration must be at least 1s, got {ttl_seconds:g}s")
        self.target = target
        self.name = name
        self.namespace = target.namespace
        self.duration_seconds = max(1, round(ttl_seconds))
        self.ttl_seconds = float(self.duration_seconds)
        self.renew_interval = max(0.5, self.ttl_seconds / 3)
        self.description = f"Kubernetes Lease {self.namespace}/{name}"
        self._monotonic = monotonic
        self._api_client: Any = None
        self._seen: tuple[str, float] | None = None  # (resourceVersion, first seen)
        self._record: LeaseRecord | None = None  # ours, while held
        self._owner: LockOwner | None = None

    # ------------------------------------------------------------------ API access

    async def _api(self) -> Any:
        from kubernetes_asyncio import client as k8s_client

        if self._api_client is None:
            configuration = await load_configuration(self.target)
            self._api_client = k8s_client.ApiClient(configuration)
        return k8s_client.CoordinationV1Api(self._api_client)

    def _failure(self, problem: Exception) -> ReconcilerError:
        status = getattr(problem, "status", None)
        if status in (401, 403):
            return ConnectionFailure(
                f"kubernetes namespace {self.namespace}",
                f"HTTP {status} on leases",
                hint="grant get, create and update on leases (coordination.k8s.io) in this "
                "namespace, or use --no-lock",
            )
        return ConnectionFailure(
            f"kubernetes namespace {self.namespace}", str(problem) or type(problem).__name__
        )

    async def _read(self, api: Any) -> LeaseRecord | None:
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            lease = await api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as problem:
            if problem.status == 404:
                return None
            raise self._failure(problem) from None
        return LeaseRecord.from_object(lease)

    def _unchanged_for(self, record: LeaseRecord) -> float:
        now = self._monotonic()
        if self._seen is None or self._seen[0] != record.resource_version:
            self._seen = (record.resource_version, now)
        return now - self._seen[1]

    # ------------------------------------------------------------------ LockBackend

    async def try_acquire(self, owner: LockOwner) -> LockAttempt:
        from kubernetes_asyncio.client.exceptions import ApiException

        api = await self._api()
        identity = lease_identity(owner)
        now = datetime.now(UTC)
        record = await self._read(api)
        try:
            if record is None:
                body = lease_body(
                    self.name,
                    identity=identity,
                    owner=owner,
                    duration_seconds=self.duration_seconds,
                    now=now,
                    transitions=1,
                    acquire_time=now,
                )
                created = await api.create_namespaced_lease(self.namespace, body)
                return self._won(LeaseRecord.from_object(created), owner)
            if not lease_expired(record, now, unchanged_for=self._unchanged_for(record)):
                return LockAttempt(False, holder=record.holder(), observed=record)
            return await self._replace(api, record, owner, now)
        except ApiException as problem:
            if problem.status == 409:  # another run created or took it first
                return LockAttempt(False, detail="another run took the Lease at the same moment")
            raise self._failure(problem) from None

    async def _replace(
        self, api: Any, record: LeaseRecord, owner: LockOwner, now: datetime
    ) -> LockAttempt:
        """Take the Lease over from ``record``'s holder; 409 if it changed since we read it."""
        body = lease_body(
            self.name,
            identity=lease_identity(owner),
            owner=owner,
            duration_seconds=self.duration_seconds,
            now=now,
            transitions=record.transitions + 1,
            acquire_time=now,
            resource_version=record.resource_version,
        )
        replaced = await api.replace_namespaced_lease(self.name, self.namespace, body)
        return self._won(LeaseRecord.from_object(replaced), owner)

    async def take_over(self, owner: LockOwner, stale: LockAttempt) -> LockAttempt:
        """Take the Lease from a provably dead holder before it expires: a replace carrying
        the ``resourceVersion`` read, so it fails (409) if anyone wrote in between."""
        from kubernetes_asyncio.client.exceptions import ApiException

        record = stale.observed
        if not isinstance(record, LeaseRecord) or not record.resource_version:
            return stale
        api = await self._api()
        try:
            return await self._replace(api, record, owner, datetime.now(UTC))
        except ApiException as problem:
            if problem.status == 409:
                return LockAttempt(False, detail="the Lease changed hands meanwhile")
            raise self._failure(problem) from None

    def _won(self, record: LeaseRecord, owner: LockOwner) -> LockAttempt:
        self._record, self._owner = record, owner
        return LockAttempt(True, token=record.transitions)

    async def renew(self) -> None:
        from kubernetes_asyncio.client.exceptions import ApiException

        if self._record is None or self._owner is None:
            raise LockLost(f"{self.description} is not held")
        api = await self._api()
        mine = self._record
        body = lease_body(
            self.name,
            identity=mine.holder_identity,
            owner=self._owner,
            duration_seconds=self.duration_seconds,
            now=datetime.now(UTC),
            transitions=mine.transitions,
            acquire_time=mine.acquire_time,
            resource_version=mine.resource_version,
        )
        try:
            replaced = await api.replace_namespaced_lease(self.name, self.namespace, body)
        except ApiException as problem:
            if problem.status in (404, 409):
                current = await self._read(api)
                self._record = None
                who = current.holder() if current is not None else None
                raise LockLost(
                    f"{self.description} was taken over" + (f" by {who.describe()}" if who else "")
                ) from None
            raise self._failure(problem) from None
        self._record = LeaseRecord.from_object(replaced)

    async def release(self) -> None:
        from kubernetes_asyncio.client.exceptions import ApiException

        mine, self._record = self._record, None
        if mine is None:
            return
        api = await self._api()
        body = lease_body(
            self.name,
            identity=None,
            owner=None,
            duration_seconds=self.duration_seconds,
            now=datetime.now(UTC),
            transitions=mine.transitions,
            acquire_time=mine.acquire_time,
            resource_version=mine.resource_version,
        )
        try:
            await api.replace_namespaced_lease(self.name, self.namespace, body)
        except ApiException as problem:
            if problem.status not in (404, 409):  # 409: it already expired and moved on
                raise self._failure(problem) from None

    async def close(self) -> None:
        client, self._api_client = self._api_client, None
        if client is not None:
            await client.close()


__all__ = [
    "HOLDER_ANNOTATION",
    "REDIS_LEASE_NAME",
    "KubernetesLeaseLock",
    "LeaseRecord",
    "lease_body",
    "lease_expired",
    "lease_identity",
    "micro_time",
]
