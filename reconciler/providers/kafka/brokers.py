"""The Kafka broker-config provider: the cluster default and per-broker dynamic configs.

A plan costs one Metadata request, one DescribeConfigs request per broker the spec names
(at least one: the default rides along), one ApiVersions request when
``min.insync.replicas`` is concerned (eligible leader replicas, KIP-966) and one
validateOnly IncrementalAlterConfigs per broker concerned; apply sends the same
IncrementalAlterConfigs for real, then waits until DescribeConfigs shows the result.
Secrets are read from their reference only while applying.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.engine.payloads import check_payload, parse_payload
from reconciler.engine.plan import Change, Notice, NoticeLevel
from reconciler.engine.providers import (
    ApplyOptions,
    ChangeResult,
    PlanOptions,
    ProviderPlan,
    fingerprint,
    refused_plan,
)
from reconciler.errors import ReconcilerError, SafetyRefusal
from reconciler.providers.kafka.batch_results import batch_results, still_pending
from reconciler.providers.kafka.broker_client import (
    BrokerReadFailed,
    alter_brokers,
    describe_brokers,
    elr_enabled,
)
from reconciler.providers.kafka.broker_diffs import (
    BROKERS_ADDRESS,
    MIN_ISR,
    PROVIDER,
    BrokerConfigPayload,
    Entity,
    LiveBrokers,
    broker_address,
    diff_brokers,
    own_source,
    same_broker_value,
)
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.secrets import resolve_secret
from reconciler.spec.base import ConfigOwnership, SecretRef
from reconciler.spec.kafka_brokers import DesiredBroker, desired_brokers
from reconciler.spec.models import KafkaSpec

PROPAGATION_TIMEOUT_SECONDS = 20.0
PROPAGATION_POLL_SECONDS = 0.3


def _own_values(live: LiveBrokers, entity: Entity) -> dict[str, str | None]:
    return {k: c.value for k, c in sorted(live.own(entity).items())}


def _fingerprints(
    live: LiveBrokers, desired: Sequence[DesiredBroker], addresses: Sequence[str]
) -> dict[str, str]:
    """Per address: a hash of the entity's dynamic configs and the values of its spec keys."""
    found: dict[str, str] = {}
    for item in desired:
        address = broker_address(item.broker)
        if address not in addresses:
            continue
        configs = live.configs(item.broker)
        facts = {
            "own": _own_values(live, item.broker),
            "keys": {k: configs[k].value for k in sorted(item.keys) if k in configs},
        }
        found[address] = fingerprint(facts)
    return found


class KafkaBrokersProvider:
    """Plan/apply of dynamic broker configs (``kafka.brokers``)."""

    name = PROVIDER
    family = "kafka"
    resource_types: tuple[str, ...] = (PROVIDER,)

    def __init__(
        self, admin: KafkaAdmin, desired: Sequence[DesiredBroker], *, exclusive: bool = False
    ) -> None:
        self.admin = admin
        self.desired = list(desired)
        self.exclusive = exclusive
        self._rotated: set[str] = set()  # secrets set by this run: not planned again

    @classmethod
    def from_spec(
        cls,
        admin: KafkaAdmin,
        kafka: KafkaSpec,
        locate: Callable[[tuple[str | int, ...]], str] | None = None,
    ) -> KafkaBrokersProvider:
        """``locate``: ``file:line:column`` of a spec path, so that plan-time refusals of
        a key (read-only, per-broker ``min.insync.replicas``) name where it is written."""
        exclusive = kafka.ownership.brokers.configs is ConfigOwnership.EXCLUSIVE
        desired = desired_brokers(kafka.brokers)
        if locate is not None:
            desired = [d.located(locate) for d in desired]
        return cls(admin, desired, exclusive=exclusive)

    def request_counts(self) -> dict[str, Any]:
        return dict(self.admin.requests)

    async def close(self) -> None:
        """The admin connection is shared and closed by whoever opened it."""

    async def read(self) -> LiveBrokers:
        named = [d.broker for d in self.desired if d.broker is not None]
        return await describe_brokers(self.admin, named)

    async def plan(self, options: PlanOptions) -> ProviderPlan:
        try:
            live = await self.read()
        except BrokerReadFailed as problem:
            return refused_plan(BROKERS_ADDRESS, str(problem))
        elr = await elr_enabled(self.admin) if self._min_isr_concerned(live) else None
        rotate = options.rotate_credentials and not self._rotated
        planned = diff_brokers(self.desired, live, exclusive=self.exclusive, elr=elr, rotate=rotate)
        notices = list(planned.notices)
        if options.validate and planned.changes:
            notices += await self._validate(planned.changes)
        fingerprints = _fingerprints(live, self.desired, [c.address for c in planned.changes])
        return ProviderPlan(
            changes=planned.changes, notices=tuple(notices), fingerprints=fingerprints
        )

    def _min_isr_concerned(self, live: LiveBrokers) -> bool:
        return any(MIN_ISR in d.keys or MIN_ISR in live.own(d.broker) for d in self.desired)

    async def _validate(self, changes: Sequence[Change]) -> list[Notice]:
        """The brokers' verdict (validateOnly) on the planned sets and deletions; secrets are
        validated as set (their value is not read at plan time)."""
        payloads = [parse_payload(c, BrokerConfigPayload) for c in changes]
        alterations = {
            p.broker: {k: v for k, v in p.alteration().items() if k not in dict(p.set_from)}
            for p in payloads
        }
        errors = await alter_brokers(
            self.admin, {e: a for e, a in alterations.items() if a}, validate_only=True
        )
        return [
            Notice(
                level=NoticeLevel.ERROR,
                address=broker_address(entity),
                kind="validation",
                message=f"the brokers refuse it: {error}",
            )
            for entity, error in errors.items()
            if error
        ]

    async def fingerprints(self, addresses: Sequence[str]) -> dict[str, str]:
        if not addresses:
            return {}
        return _fingerprints(await self.read(), self.desired, addresses)

    def check_saved(self, change: Change, redacted: str) -> None:
        payload = check_payload(change, BrokerConfigPayload, redacted)
        if broker_address(payload.broker) != change.address:
            raise SafetyRefusal(
                f"{change.address}: the plan's payload names another broker; the plan file "
                "was altered; nothing was changed",
                hint="plan again and apply the new plan file unmodified",
            )

    async def apply(self, changes: Sequence[Change], options: ApplyOptions) -> list[ChangeResult]:
        """Every entity's sets and deletions, one IncrementalAlterConfigs per broker."""
        started = time.monotonic()
        payloads = {c.address: parse_payload(c, BrokerConfigPayload) for c in changes}
        errors: dict[Entity, str | None] = {}
        alterations: dict[Entity, dict[str, str | None]] = {}
        for change in changes:
            options.progress.started(change)
            payload = payloads[change.address]
            try:
                alterations[payload.broker] = payload.alteration(_secrets(payload))
            except ReconcilerError as problem:
                errors[payload.broker] = str(problem)
        if alterations:
            errors.update(await alter_brokers(self.admin, alterations))
        done = [p for p in payloads.values() if not errors.get(p.broker)]
        self._rotated |= {broker_address(p.broker) for p in done if p.set_from}
        late = await self._wait_until_visible(done)
        return batch_results(
            changes, lambda c: payloads[c.address].broker, errors, late, started, options
        )

    async def _wait_until_visible(self, done: Sequence[BrokerConfigPayload]) -> set[Entity]:
        """Poll until DescribeConfigs shows every set (non-secret) value and no deleted key;
        the entities still pending at the deadline."""
        if not done:
            return set()

        async def pending() -> set[Entity]:
            live = await self.read()
            return {p.broker for p in done if not _shows(live, p)}

        return await still_pending(
            pending, timeout=PROPAGATION_TIMEOUT_SECONDS, interval=PROPAGATION_POLL_SECONDS
        )


def _shows(live: LiveBrokers, payload: BrokerConfigPayload) -> bool:
    own = live.own(payload.broker)
    source = own_source(payload.broker)
    return (
        all(
            k in own
            and own[k].source is source
            and (own[k].sensitive or same_broker_value(k, v, own[k].value))
            for k, v in payload.set.items()
        )
        and all(k in own for k, _ in payload.set_from)
        and not any(k in own for k in payload.delete)
    )


def _secrets(payload: BrokerConfigPayload) -> Mapping[str, str]:
    """The ``set_from`` values, read from their references now (registered for redaction)."""
    found: dict[str, str] = {}
    for key, ref in payload.set_from:
        value = resolve_secret(SecretRef.model_validate(ref), what=f"kafka.brokers {key}")
        assert value is not None
        found[key] = value
    return found
