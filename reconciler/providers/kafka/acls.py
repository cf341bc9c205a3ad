"""The Kafka ACL provider: reads every binding in one request, plans with the pure diff,
applies creations and deletions in batches, then waits until the brokers show the result."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from reconciler.engine.diffing import differing_paths
from reconciler.engine.plan import Action, Change, Notice, NoticeLevel
from reconciler.engine.polling import wait_for
from reconciler.engine.providers import (
    ApplyOptions,
    ChangeResult,
    PlanOptions,
    ProviderPlan,
    ResultStatus,
    fingerprint,
)
from reconciler.errors import SafetyRefusal
from reconciler.providers.kafka.acl_client import (
    AclListing,
    AclReadFailed,
    NoAuthorizer,
    create_acl_bindings,
    delete_acl_bindings,
    describe_acl_bindings,
)
from reconciler.providers.kafka.acl_diffs import (
    ACLS_ADDRESS,
    PROVIDER,
    acl_address,
    diff_acls,
    no_authorizer_plan,
)
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.spec.models import AclOwnership, KafkaSpec
from reconciler.spec.roles import AclBinding, DesiredAcl, expand_acl_rules, merge_desired

# After CreateAcls/DeleteAcls succeed on the controller, each broker learns of them when it
# replays the metadata log; wait (bounded) so that clients and the next plan see them.
PROPAGATION_TIMEOUT_SECONDS = 15.0
PROPAGATION_POLL_SECONDS = 0.2


def _presence_fingerprints(listing: AclListing, addresses: Sequence[str]) -> dict[str, str]:
    """Per address: whether the binding exists (the only live fact a binding has)."""
    present = {acl_address(b) for b in listing.bindings}
    prefix = f"{PROVIDER}."
    return {
        address: fingerprint("present" if address in present else "absent")
        for address in addresses
        if address.startswith(prefix)
    }


class KafkaAclsProvider:
    """Plan/apply of Kafka ACL bindings (explicit entries and role shorthands)."""

    name = PROVIDER
    family = "kafka"
    resource_types: tuple[str, ...] = (PROVIDER,)

    def __init__(
        self, admin: KafkaAdmin, desired: Sequence[DesiredAcl], ownership: AclOwnership
    ) -> None:
        self.admin = admin
        self.desired = list(desired)
        self.ownership = ownership

    @classmethod
    def from_spec(cls, admin: KafkaAdmin, kafka: KafkaSpec) -> KafkaAclsProvider:
        return cls(admin, merge_desired(expand_acl_rules(kafka.acls)), kafka.ownership.acls)

    @classmethod
    def from_pairs(
        cls,
        admin: KafkaAdmin,
        pairs: Sequence[tuple[AclBinding, str]],
        ownership: AclOwnership | None = None,
    ) -> KafkaAclsProvider:
        """A provider for bindings built in code (e.g. a namespace's standard set)."""
        return cls(admin, merge_desired(pairs), ownership or AclOwnership())

    def request_counts(self) -> dict[str, Any]:
        return dict(self.admin.requests)

    async def close(self) -> None:
        """The admin connection is shared and closed by whoever opened it."""

    async def read(self) -> AclListing:
        return await describe_acl_bindings(self.admin)

    async def plan(self, options: PlanOptions) -> ProviderPlan:
        try:
            listing = await self.read()
        except NoAuthorizer:
            return no_authorizer_plan()
        except AclReadFailed as problem:
            return ProviderPlan(
                notices=(
                    Notice(
                        level=NoticeLevel.ERROR,
                        address=ACLS_ADDRESS,
                        kind="refused",
                        message=str(problem),
                    ),
                )
            )
        planned = diff_acls(
            self.desired,
            listing.bindings,
            self.ownership,
            allow_delete=options.allow_delete,
            supports_prefixed=listing.supports_prefixed,
        )
        notices = planned.notices
        if listing.unknown:
            notices += (
                Notice(
                    level=NoticeLevel.INFO,
                    address=ACLS_ADDRESS,
                    kind="note",
                    message=f"{listing.unknown} binding(s) use a resource type or operation "
                    "this tool does not know; they are left alone",
                ),
            )
        fingerprints = _presence_fingerprints(listing, [c.address for c in planned.changes])
        return ProviderPlan(changes=planned.changes, notices=notices, fingerprints=fingerprints)

    async def fingerprints(self, addresses: Sequence[str]) -> dict[str, str]:
        """Per address: whether the binding exists. (The cluster's identity comes from the
        topics provider, which shares this connection.)"""
        if not addresses:
            return {}
        return _presence_fingerprints(await self.read(), addresses)

    def check_saved(self, change: Change, redacted: str) -> None:
        """A binding's address is derived from the binding: the payload must yield it."""
        try:
            binding = AclBinding.from_dict(change.payload)
        except (KeyError, TypeError, ValueError) as problem:
            raise SafetyRefusal(
                f"{change.address}: the plan's payload is not an ACL binding ({problem}); "
                "nothing was changed",
                hint="plan again and apply the new plan file unmodified",
            ) from None
        shown = {
            a.path: a.after if change.action is Action.CREATE else a.before
            for a in change.attributes
        }
        differing = differing_paths(shown, binding.to_dict())
        if acl_address(binding) != change.address or differing:
            raise SafetyRefusal(
                f"{change.address}: what the plan shows differs from what it would execute "
                f"({', '.join(differing) or 'address'}); the plan file was altered; nothing "
                "was changed",
                hint="plan again and apply the new plan file unmodified",
            )
        if change.action not in (Action.CREATE, Action.DELETE):
            raise SafetyRefusal(f"{change.address}: ACL bindings are only created or deleted")

    async def apply(self, changes: Sequence[Change], options: ApplyOptions) -> list[ChangeResult]:
        """Creations first (a replacement grant is in place before the old one goes), then
        deletions; each in batches."""
        started = time.monotonic()
        by_binding = {AclBinding.from_dict(c.payload): c for c in changes}
        for change in changes:
            options.progress.started(change)
        creations = [b for b, c in by_binding.items() if c.action is Action.CREATE]
        deletions = [b for b, c in by_binding.items() if c.action is Action.DELETE]

        errors: dict[AclBinding, str | None] = {}
        if creations:
            errors.update(await create_acl_bindings(self.admin, creations))
        skipped = not options.continue_on_error and any(errors.values())
        if deletions and not skipped:
            errors.update(await delete_acl_bindings(self.admin, deletions))

        done_creations = [b for b in creations if b in errors and not errors[b]]
        done_deletions = [b for b in deletions if b in errors and not errors[b]]
        late = await self._wait_until_visible(done_creations, done_deletions)

        results = []
        for binding, change in by_binding.items():
            if binding not in errors:
                result = ChangeResult(
                    change.address, ResultStatus.SKIPPED, "skipped after an earlier failure"
                )
            elif errors[binding]:
                result = ChangeResult(change.address, ResultStatus.FAILED, str(errors[binding]))
            else:
                message = "done; not yet visible on every broker" if binding in late else "done"
                result = ChangeResult(
                    change.address,
                    ResultStatus.APPLIED,
                    message,
                    round(time.monotonic() - started, 3),
                )
            options.progress.finished(result)
            results.append(result)
        return results

    async def _wait_until_visible(
        self, created: Sequence[AclBinding], deleted: Sequence[AclBinding]
    ) -> set[AclBinding]:
        """Poll every broker at once until each lists ``created`` and no longer lists
        ``deleted``; returns the bindings still pending on some broker at the deadline."""
        if not created and not deleted:
            return set()

        async def check() -> tuple[bool, set[AclBinding]]:
            listings = await self.admin.on_each_broker(
                lambda node: describe_acl_bindings(self.admin, node_id=node)
            )
            pending: set[AclBinding] = set()
            for listing in listings:
                live = set(listing.bindings)
                pending |= {b for b in created if b not in live} | {b for b in deleted if b in live}
            return not pending, pending

        polled = await wait_for(
            check, timeout=PROPAGATION_TIMEOUT_SECONDS, interval=PROPAGATION_POLL_SECONDS
        )
        return polled.value
