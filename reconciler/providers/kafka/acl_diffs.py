"""Pure diff of desired ACL bindings against live ones: (desired, live, ownership) -> plan.

Bindings have no attributes to update: a binding either exists or not, so the plan holds only
creations and deletions. Deletion is scoped: only bindings of the principals listed in
``kafka.ownership.acls.principals`` are ever considered, and they are deleted only with
``ownership.acls.deletion: allow`` *and* ``--allow-delete``. Bindings of any other principal
are not touched and not listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reconciler.engine.plan import (
    Action,
    AttributeChange,
    Change,
    Notice,
    NoticeLevel,
    Risk,
    unmanaged_notice,
)
from reconciler.engine.providers import ProviderPlan
from reconciler.spec.models import (
    AclOwnership,
    AclPermission,
    AclResourceType,
    DeletionPolicy,
    PatternType,
)
from reconciler.spec.roles import (
    CLUSTER_RESOURCE_NAME,
    WILDCARD_HOST,
    AclBinding,
    DesiredAcl,
    acl_sort_key,
    normalise_principal,
)

PROVIDER = "kafka_acl"
NO_AUTHORIZER_MESSAGE = "the cluster has no authorizer; ACLs cannot be managed"
# Shown as the address of notices about the ACLs as a whole (not one binding).
ACLS_ADDRESS = f"{PROVIDER}.*"

_FIELDS = (
    "principal",
    "host",
    "operation",
    "permission",
    "resource_type",
    "resource_name",
    "pattern_type",
)


def acl_address(binding: AclBinding) -> str:
    """``kafka_acl.User:alice/TOPIC:LITERAL:orders/WRITE/ALLOW@*``."""
    return f"{PROVIDER}.{binding.key}"


def ownership_scope(ownership: AclOwnership) -> frozenset[str]:
    """The principals whose every binding the spec manages (may plan deletions for)."""
    return frozenset(normalise_principal(p) for p in ownership.principals)


def binding_problems(binding: AclBinding, *, supports_prefixed: bool = True) -> list[str]:
    """Why Kafka would reject this binding (checked before anything is sent)."""
    problems = []
    kind, _, name = binding.principal.partition(":")
    if not kind or not name:
        problems.append(
            f"principal {binding.principal!r} is not of the form Type:name (e.g. User:alice)"
        )
    if not binding.resource_name:
        problems.append("the resource name is empty")
    if (
        binding.resource_type is AclResourceType.CLUSTER
        and binding.resource_name != CLUSTER_RESOURCE_NAME
    ):
        problems.append(
            f"the CLUSTER resource is always named {CLUSTER_RESOURCE_NAME!r}, "
            f"not {binding.resource_name!r}"
        )
    if binding.pattern_type is PatternType.PREFIXED and binding.resource_name == "*":
        problems.append("'*' (every resource) is only valid with the LITERAL pattern type")
    if binding.pattern_type is PatternType.PREFIXED and not supports_prefixed:
        problems.append("the brokers are too old for PREFIXED ACLs (Kafka 2.0 or later needed)")
    if not binding.host:
        problems.append(f"the host is empty; use {WILDCARD_HOST!r} for any host")
    return problems


def _attributes(binding: AclBinding, *, creating: bool) -> tuple[AttributeChange, ...]:
    values = binding.to_dict()
    return tuple(
        AttributeChange(path=field, after=values[field])
        if creating
        else AttributeChange(path=field, before=values[field])
        for field in _FIELDS
    )


def _create(wanted: DesiredAcl) -> Change:
    binding = wanted.binding
    # A new DENY takes access away from clients that may be using it right now.
    risks = {Risk.DISRUPTIVE} if binding.permission is AclPermission.DENY else set()
    return Change(
        address=acl_address(binding),
        provider=PROVIDER,
        resource_type=PROVIDER,
        name=binding.key,
        action=Action.CREATE,
        attributes=_attributes(binding, creating=True),
        risks=frozenset(risks),
        reason=wanted.origin,
        payload=binding.to_dict(),
    )


def _delete(binding: AclBinding) -> Change:
    risks = {Risk.DESTRUCTIVE}
    if binding.permission is AclPermission.ALLOW:
        risks.add(Risk.DISRUPTIVE)  # clients relying on it are refused from now on
    return Change(
        address=acl_address(binding),
        provider=PROVIDER,
        resource_type=PROVIDER,
        name=binding.key,
        action=Action.DELETE,
        attributes=_attributes(binding, creating=False),
        risks=frozenset(risks),
        reason=(
            f"{binding.principal} is in ownership.acls.principals and the spec does not "
            "grant this binding"
        ),
        payload=binding.to_dict(),
    )


def diff_acls(
    desired: Sequence[DesiredAcl],
    live: Iterable[AclBinding],
    ownership: AclOwnership,
    *,
    allow_delete: bool,
    supports_prefixed: bool = True,
) -> ProviderPlan:
    """The creations and (scoped) deletions that make ``live`` grant what ``desired`` asks."""
    live_set = set(live)
    wanted = {d.binding for d in desired}
    changes: list[Change] = []
    notices: list[Notice] = []
    for item in sorted(desired, key=lambda d: acl_sort_key(d.binding)):
        problems = binding_problems(item.binding, supports_prefixed=supports_prefixed)
        if problems:
            notices.extend(
                Notice(
                    level=NoticeLevel.ERROR,
                    address=acl_address(item.binding),
                    kind="validation",
                    message=f"{problem} ({item.origin})",
                )
                for problem in problems
            )
        elif item.binding not in live_set:
            changes.append(_create(item))

    scope = ownership_scope(ownership)
    extra = sorted(
        (b for b in live_set if b.principal in scope and b not in wanted), key=acl_sort_key
    )
    for binding in extra:
        address = acl_address(binding)
        if ownership.deletion is DeletionPolicy.ALLOW and allow_delete:
            changes.append(_delete(binding))
        else:
            notices.append(
                unmanaged_notice(
                    address,
                    deletion_allowed=ownership.deletion is DeletionPolicy.ALLOW,
                    kept_because=(
                        "its principal is in ownership.acls.principals but the spec does not "
                        "grant it"
                    ),
                )
            )
    return ProviderPlan(changes=tuple(changes), notices=tuple(notices))


def no_authorizer_plan() -> ProviderPlan:
    """The plan against a cluster that has no authorizer: one clear error, no changes."""
    return ProviderPlan(
        notices=(
            Notice(
                level=NoticeLevel.ERROR,
                address=ACLS_ADDRESS,
                kind="refused",
                message=(
                    f"{NO_AUTHORIZER_MESSAGE} (set authorizer.class.name on the brokers, or "
                    "remove kafka.acls from the spec)"
                ),
            ),
        )
    )
