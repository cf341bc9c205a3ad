"""The Kafka SCRAM-user provider: one DescribeUserScramCredentials per plan (plus, when
something changes, one DescribeConfigs for the brokers' ``super.users``), the pure diff,
batched AlterUserScramCredentials with client-side salted passwords (RFC 5802).

Passwords are read only while applying, from their reference, and are registered with the
log redaction the moment they are read; plans and saved plans hold only the reference.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
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
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.providers.kafka.identity_client import (
    IdentityReadFailed,
    alter_scram,
    describe_scram,
    scram_upsertion,
    super_users,
)
from reconciler.providers.kafka.identity_protocol import ScramUpsertion
from reconciler.providers.kafka.user_diffs import (
    PROVIDER,
    USERS_ADDRESS,
    UserPayload,
    diff_users,
    user_address,
)
from reconciler.secrets import resolve_secret
from reconciler.spec.kafka_identities import UserOwnership, UserSpec
from reconciler.spec.models import KafkaSpec, SecretRef

PROPAGATION_TIMEOUT_SECONDS = 15.0
PROPAGATION_POLL_SECONDS = 0.2


def _fingerprints(
    live: Mapping[str, Mapping[str, int]], addresses: Sequence[str]
) -> dict[str, str]:
    """Per address: a hash of the user's mechanisms and iteration counts."""
    prefix = f"{PROVIDER}."
    return {
        address: fingerprint(live.get(address.removeprefix(prefix), {}))
        for address in addresses
        if address.startswith(prefix)
    }


def _missing_reference(ref: Mapping[str, str] | None) -> str | None:
    """Why a password reference cannot be read at apply time (checked without reading it)."""
    if not ref:
        return None
    if "fromEnv" in ref and ref["fromEnv"] not in os.environ:
        return f"environment variable {ref['fromEnv']} is not set"
    if "fromFile" in ref and not Path(ref["fromFile"]).expanduser().is_file():
        return f"password file {ref['fromFile']} does not exist"
    return None


class KafkaUsersProvider:
    """Plan/apply of SCRAM-SHA-256/512 users."""

    name = PROVIDER
    family = "kafka"
    resource_types: tuple[str, ...] = (PROVIDER,)

    def __init__(
        self,
        admin: KafkaAdmin,
        desired: Sequence[UserSpec],
        ownership: UserOwnership,
        connection_user: str | None = None,
    ) -> None:
        self.admin = admin
        self.desired = list(desired)
        self.ownership = ownership
        self.connection_user = connection_user
        self._rotated: set[str] = set()  # rotated by this run: not planned again

    @classmethod
    def from_spec(cls, admin: KafkaAdmin, kafka: KafkaSpec) -> KafkaUsersProvider:
        user = admin.settings.get("sasl_plain_username")
        return cls(admin, kafka.users, kafka.ownership.users, user)

    def request_counts(self) -> dict[str, Any]:
        return dict(self.admin.requests)

    async def close(self) -> None:
        """The admin connection is shared and closed by whoever opened it."""

    async def _protected(self) -> dict[str, str]:
        guard: dict[str, str] = {}
        brokers = (await self.admin.cluster_state(with_configs=False, topics=[])).broker_ids
        if brokers:
            for name in await super_users(self.admin, sorted(brokers)[0]):
                guard[name] = f"{name} is a super user of the brokers (super.users)"
        if self.connection_user:
            guard[self.connection_user] = (
                f"{self.connection_user} is the user this tool connects as"
            )
        return guard

    async def plan(self, options: PlanOptions) -> ProviderPlan:
        try:
            live = await describe_scram(self.admin)
        except IdentityReadFailed as problem:
            return refused_plan(USERS_ADDRESS, str(problem))
        rotate = (
            frozenset(u.name for u in self.desired) - self._rotated
            if options.rotate_credentials
            else frozenset()
        )
        desired = self.desired
        planned = diff_users(
            desired, live, self.ownership, allow_delete=options.allow_delete, rotate=rotate
        )
        if planned.changes:  # only then is it worth asking who must not change
            try:
                protected = await self._protected()
            except IdentityReadFailed as problem:
                error = Notice(
                    level=NoticeLevel.ERROR,
                    address=USERS_ADDRESS,
                    kind="refused",
                    message=str(problem),
                )
                return ProviderPlan(notices=(error,))
            planned = diff_users(
                desired,
                live,
                self.ownership,
                allow_delete=options.allow_delete,
                rotate=rotate,
                protected=protected,
            )
        notices = list(planned.notices)
        for change in planned.changes:
            missing = _missing_reference(parse_payload(change, UserPayload).source)
            if missing:
                notices.append(
                    Notice(
                        level=NoticeLevel.ERROR,
                        address=change.address,
                        kind="validation",
                        message=f"the password of {change.name} cannot be read: {missing}",
                    )
                )
        fingerprints = _fingerprints(live, [c.address for c in planned.changes])
        return ProviderPlan(
            changes=planned.changes, notices=tuple(notices), fingerprints=fingerprints
        )

    async def fingerprints(self, addresses: Sequence[str]) -> dict[str, str]:
        if not addresses:
            return {}
        return _fingerprints(await describe_scram(self.admin), addresses)

    def check_saved(self, change: Change, redacted: str) -> None:
        payload = check_payload(change, UserPayload, redacted)
        if user_address(payload.name) != change.address:
            raise SafetyRefusal(
                f"{change.address}: the plan's payload names another user; the plan file was "
                "altered; nothing was changed",
                hint="plan again and apply the new plan file unmodified",
            )

    def _upsertions(self, payload: UserPayload) -> list[ScramUpsertion]:
        ref = SecretRef.model_validate(payload.source or {})
        password = resolve_secret(ref, what=f"kafka.users {payload.name} password")
        assert password is not None
        return [
            scram_upsertion(payload.name, mechanism, iterations, password)
            for mechanism, iterations in sorted(payload.upsert.items())
        ]

    async def apply(self, changes: Sequence[Change], options: ApplyOptions) -> list[ChangeResult]:
        """Every user's deletions and upserts, one AlterUserScramCredentials per batch."""
        started = time.monotonic()
        payloads = {c.address: parse_payload(c, UserPayload) for c in changes}
        errors: dict[str, str | None] = {}
        deletions: list[tuple[str, str]] = []
        upsertions: list[ScramUpsertion] = []
        for change in changes:
            options.progress.started(change)
            payload = payloads[change.address]
            try:
                upsertions += self._upsertions(payload) if payload.upsert else []
            except ReconcilerError as problem:
                errors[payload.name] = str(problem)
                continue
            deletions += [(payload.name, m) for m in payload.delete]
        if deletions or upsertions:
            errors.update(await alter_scram(self.admin, deletions, upsertions))
        done = [p for p in payloads.values() if not errors.get(p.name)]
        self._rotated |= {p.name for p in done if p.upsert}
        late = await self._wait_until_visible(done)
        return batch_results(
            changes, lambda c: payloads[c.address].name, errors, late, started, options
        )

    async def _wait_until_visible(self, done: Sequence[UserPayload]) -> set[str]:
        if not done:
            return set()

        async def pending() -> set[str]:
            live = await describe_scram(self.admin)
            return {
                p.name
                for p in done
                if any(live.get(p.name, {}).get(m) != i for m, i in p.upsert.items())
                or any(m in live.get(p.name, {}) for m in p.delete)
            }

        return await still_pending(
            pending, timeout=PROPAGATION_TIMEOUT_SECONDS, interval=PROPAGATION_POLL_SECONDS
        )
