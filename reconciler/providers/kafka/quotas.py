"""The Kafka client-quota provider: one DescribeClientQuotas per plan, the pure diff, one
validateOnly AlterClientQuotas for the planned changes, batched applies, then a wait until
the brokers show the result."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
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
from reconciler.errors import SafetyRefusal
from reconciler.providers.kafka.batch_results import batch_results, still_pending
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.providers.kafka.identity_client import (
    IdentityReadFailed,
    alter_quotas,
    describe_quotas,
)
from reconciler.providers.kafka.quota_diffs import (
    PROVIDER,
    QUOTAS_ADDRESS,
    Entity,
    QuotaPayload,
    diff_quotas,
    normalise_entity,
    quota_address,
)
from reconciler.spec.kafka_identities import QuotaOwnership, QuotaSpec
from reconciler.spec.models import KafkaSpec

PROPAGATION_TIMEOUT_SECONDS = 15.0
PROPAGATION_POLL_SECONDS = 0.2


def _fingerprints(
    live: Mapping[Entity, Mapping[str, float]], addresses: Sequence[str]
) -> dict[str, str]:
    """Per address: a hash of the entity's live quota values (``{}`` when it has none)."""
    by_address = {quota_address(e): dict(sorted(v.items())) for e, v in live.items()}
    prefix = f"{PROVIDER}."
    return {
        address: fingerprint(by_address.get(address, {}))
        for address in addresses
        if address.startswith(prefix)
    }


class KafkaQuotasProvider:
    """Plan/apply of client quotas (user, client-id, user+client-id, ip entities)."""

    name = PROVIDER
    family = "kafka"
    resource_types: tuple[str, ...] = (PROVIDER,)

    def __init__(
        self, admin: KafkaAdmin, desired: Sequence[QuotaSpec], ownership: QuotaOwnership
    ) -> None:
        self.admin = admin
        self.desired = list(desired)
        self.ownership = ownership

    @classmethod
    def from_spec(cls, admin: KafkaAdmin, kafka: KafkaSpec) -> KafkaQuotasProvider:
        return cls(admin, kafka.quotas, kafka.ownership.quotas)

    def request_counts(self) -> dict[str, Any]:
        return dict(self.admin.requests)

    async def close(self) -> None:
        """The admin connection is shared and closed by whoever opened it."""

    async def plan(self, options: PlanOptions) -> ProviderPlan:
        try:
            live = await describe_quotas(self.admin)
        except IdentityReadFailed as problem:
            return refused_plan(QUOTAS_ADDRESS, str(problem))
        planned = diff_quotas(self.desired, live, self.ownership, allow_delete=options.allow_delete)
        notices = planned.notices
        if options.validate and planned.changes:
            payloads = [parse_payload(c, QuotaPayload) for c in planned.changes]
            errors = await alter_quotas(
                self.admin,
                [(p.entity, p.operations()) for p in payloads],
                validate_only=True,
            )
            notices += tuple(
                Notice(
                    level=NoticeLevel.ERROR,
                    address=quota_address(entity),
                    kind="validation",
                    message=f"the brokers refuse it: {error}",
                )
                for entity, error in errors.items()
                if error
            )
        fingerprints = _fingerprints(live, [c.address for c in planned.changes])
        return ProviderPlan(changes=planned.changes, notices=notices, fingerprints=fingerprints)

    async def fingerprints(self, addresses: Sequence[str]) -> dict[str, str]:
        if not addresses:
            return {}
        return _fingerprints(await describe_quotas(self.admin), addresses)

    def check_saved(self, change: Change, redacted: str) -> None:
        payload = check_payload(change, QuotaPayload, redacted)
        if quota_address(normalise_entity(payload.entity)) != change.address:
            raise SafetyRefusal(
                f"{change.address}: the plan's payload names another entity; the plan file "
                "was altered; nothing was changed",
                hint="plan again and apply the new plan file unmodified",
            )

    async def apply(self, changes: Sequence[Change], options: ApplyOptions) -> list[ChangeResult]:
        """Every entity's sets and removals in one AlterClientQuotas request per batch."""
        started = time.monotonic()
        payloads = {c.address: parse_payload(c, QuotaPayload) for c in changes}
        for change in changes:
            options.progress.started(change)
        errors = await alter_quotas(
            self.admin, [(p.entity, p.operations()) for p in payloads.values()]
        )
        done = [p for p in payloads.values() if not errors.get(p.entity)]
        late = await self._wait_until_visible(done)
        return batch_results(
            changes, lambda c: payloads[c.address].entity, errors, late, started, options
        )

    async def _wait_until_visible(self, done: Sequence[QuotaPayload]) -> set[Entity]:
        """Poll until DescribeClientQuotas shows every applied value; the entities still
        pending at the deadline."""
        if not done:
            return set()

        async def pending() -> set[Entity]:
            live = await describe_quotas(self.admin)
            return {
                p.entity
                for p in done
                if any(live.get(p.entity, {}).get(k) != v for k, v in p.set.items())
                or any(k in live.get(p.entity, {}) for k in p.remove)
            }

        return await still_pending(
            pending, timeout=PROPAGATION_TIMEOUT_SECONDS, interval=PROPAGATION_POLL_SECONDS
        )
