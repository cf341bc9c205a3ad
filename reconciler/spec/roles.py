"""Pure expansion of the spec's ACL rules (explicit entries and role shorthands) into bindings.

A role shorthand (``producer``, ``consumer``) stands for the handful of bindings a client of
that kind needs; expanding it here, without I/O, lets a plan show every binding a role
produces and which role produced it. :class:`AclBinding` is the one ACL data type of the
tool: the Kafka ACL provider reads live bindings into it and diffs them against these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from operator import attrgetter
from typing import Any

from msgspec import Struct
from msgspec.structs import asdict

from reconciler.spec.models import (
    AclEntry,
    AclOperation,
    AclPermission,
    AclResourceType,
    ConsumerRole,
    PatternType,
    ProducerRole,
)

# Kafka names the single CLUSTER resource this way; no other name is valid for it.
CLUSTER_RESOURCE_NAME = "kafka-cluster"
WILDCARD_HOST = "*"

AclRuleModel = AclEntry | ProducerRole | ConsumerRole


def normalise_principal(principal: str) -> str:
    """``alice`` -> ``User:alice``; a principal with a type (``User:``, ``Group:``) is kept."""
    principal = principal.strip()
    return principal if ":" in principal else f"User:{principal}"


class AclBinding(Struct, frozen=True):
    """One ACL binding: who (principal, host) may or may not do what to which resource(s).

    Sort with ``key=acl_sort_key`` (plans and listings: by principal, then resource).
    """

    principal: str
    resource_type: AclResourceType
    pattern_type: PatternType
    resource_name: str
    operation: AclOperation
    permission: AclPermission = AclPermission.ALLOW
    host: str = WILDCARD_HOST

    @property
    def key(self) -> str:
        """Stable identity: ``User:alice/TOPIC:LITERAL:orders/WRITE/ALLOW@*``."""
        return (
            f"{self.principal}/{self.resource_type.value}:{self.pattern_type.value}:"
            f"{self.resource_name}/{self.operation.value}/{self.permission.value}"
            f"@{self.host}"
        )

    @property
    def resource(self) -> str:
        """``TOPIC:orders`` (the pattern type is shown separately)."""
        return f"{self.resource_type.value}:{self.resource_name}"

    def to_dict(self) -> dict[str, str]:
        """JSON form: every field as a string (enum values by name)."""
        return {
            key: value.value if isinstance(value, StrEnum) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AclBinding:
        return cls(
            principal=str(data["principal"]),
            resource_type=AclResourceType(data["resource_type"]),
            pattern_type=PatternType(data["pattern_type"]),
            resource_name=str(data["resource_name"]),
            operation=AclOperation(data["operation"]),
            permission=AclPermission(data.get("permission", AclPermission.ALLOW.value)),
            host=str(data.get("host", WILDCARD_HOST)),
        )


# Field order of the sort: a C-level tuple key, much faster than a generated __lt__ when
# tens of thousands of bindings are sorted.
acl_sort_key = attrgetter(
    "principal", "resource_type", "pattern_type", "resource_name", "operation", "permission", "host"
)


class DesiredAcl(Struct, frozen=True):
    """A binding the spec asks for and every rule that asks for it (for the plan's reason)."""

    binding: AclBinding
    origins: tuple[str, ...]

    @property
    def origin(self) -> str:
        return "; ".join(self.origins)


def _on_resources(
    principal: str,
    host: str,
    resource_type: AclResourceType,
    literals: Iterable[str],
    prefixes: Iterable[str],
    operations: Sequence[AclOperation],
) -> list[AclBinding]:
    named = [(PatternType.LITERAL, name) for name in literals]
    named += [(PatternType.PREFIXED, prefix) for prefix in prefixes]
    return [
        AclBinding(
            principal=principal,
            resource_type=resource_type,
            pattern_type=pattern,
            resource_name=name,
            operation=operation,
            host=host,
        )
        for pattern, name in named
        for operation in operations
    ]


def producer_bindings(role: ProducerRole) -> list[AclBinding]:
    """WRITE + DESCRIBE on the topics; IDEMPOTENT_WRITE on the cluster when ``idempotent``
    (brokers before Kafka 3.0 require it of idempotent producers); WRITE + DESCRIBE on the
    transactional ids."""
    principal = normalise_principal(role.principal)
    bindings = _on_resources(
        principal,
        role.host,
        AclResourceType.TOPIC,
        role.topics,
        role.topic_prefixes,
        (AclOperation.WRITE, AclOperation.DESCRIBE),
    )
    if role.idempotent:
        bindings.append(
            AclBinding(
                principal=principal,
                resource_type=AclResourceType.CLUSTER,
                pattern_type=PatternType.LITERAL,
                resource_name=CLUSTER_RESOURCE_NAME,
                operation=AclOperation.IDEMPOTENT_WRITE,
                host=role.host,
            )
        )
    bindings += _on_resources(
        principal,
        role.host,
        AclResourceType.TRANSACTIONAL_ID,
        role.transactional_ids,
        role.transactional_id_prefixes,
        (AclOperation.WRITE, AclOperation.DESCRIBE),
    )
    return bindings


def consumer_bindings(role: ConsumerRole) -> list[AclBinding]:
    """READ + DESCRIBE on the topics; READ on the consumer groups (READ implies DESCRIBE)."""
    principal = normalise_principal(role.principal)
    bindings = _on_resources(
        principal,
        role.host,
        AclResourceType.TOPIC,
        role.topics,
        role.topic_prefixes,
        (AclOperation.READ, AclOperation.DESCRIBE),
    )
    bindings += _on_resources(
        principal,
        role.host,
        AclResourceType.GROUP,
        role.groups,
        role.group_prefixes,
        (AclOperation.READ,),
    )
    return bindings


def entry_binding(entry: AclEntry) -> AclBinding:
    return AclBinding(
        principal=normalise_principal(entry.principal),
        resource_type=entry.resource_type,
        pattern_type=entry.pattern_type,
        resource_name=entry.resource_name,
        operation=entry.operation,
        permission=entry.permission,
        host=entry.host,
    )


def expand_acl_rule(rule: AclRuleModel, *, location: str) -> list[tuple[AclBinding, str]]:
    """The bindings of one rule, each with the origin shown in plans."""
    if isinstance(rule, ProducerRole):
        origin = f"role producer of {normalise_principal(rule.principal)}"
        return [(binding, origin) for binding in producer_bindings(rule)]
    if isinstance(rule, ConsumerRole):
        origin = f"role consumer of {normalise_principal(rule.principal)}"
        return [(binding, origin) for binding in consumer_bindings(rule)]
    return [(entry_binding(rule), f"explicit entry {location}")]


def expand_acl_rules(
    rules: Sequence[AclRuleModel], *, source: str = "kafka.acls"
) -> list[tuple[AclBinding, str]]:
    """Every binding the rules ask for, in rule order, with its origin.

    A binding asked for by several rules appears once per rule; :func:`merge_desired` joins
    them.
    """
    return [
        pair
        for index, rule in enumerate(rules)
        for pair in expand_acl_rule(rule, location=f"{source}[{index}]")
    ]


def merge_desired(pairs: Iterable[tuple[AclBinding, str]]) -> list[DesiredAcl]:
    """One :class:`DesiredAcl` per distinct binding, origins in the order first seen."""
    origins: dict[AclBinding, list[str]] = {}
    for binding, origin in pairs:
        seen = origins.setdefault(binding, [])
        if origin not in seen:
            seen.append(origin)
    return [
        DesiredAcl(binding, tuple(origins[binding]))
        for binding in sorted(origins, key=acl_sort_key)
    ]


# --------------------------------------------------------------------------- namespace set


def namespace_principals(namespace: str) -> dict[str, str]:
    """The principals of a namespace's standard ACL set, by role."""
    return {
        "producer": f"User:{namespace}-producer",
        "consumer": f"User:{namespace}-consumer",
        "monitoring": f"User:{namespace}-monitoring",
    }


def namespace_acl_set(namespace: str, topics: Sequence[str]) -> list[tuple[AclBinding, str]]:
    """The standard ACL set of a namespace (``kafka acls create -n NAMESPACE``).

    - ``User:<ns>-producer``: producer of ``topics``, idempotent;
    - ``User:<ns>-consumer``: consumer of ``topics`` in groups named ``<ns>-*``;
    - ``User:<ns>-monitoring``: DESCRIBE and DESCRIBE_CONFIGS on the cluster and on
      ``topics``, DESCRIBE on the ``<ns>-*`` groups (enough for health checks and lag
      exporters; nothing that reads or writes records).
    """
    principals = namespace_principals(namespace)
    origin = f"standard ACL set of namespace {namespace}"
    producer = ProducerRole(
        role="producer", principal=principals["producer"], topics=list(topics), idempotent=True
    )
    consumer = ConsumerRole(
        role="consumer",
        principal=principals["consumer"],
        topics=list(topics),
        group_prefixes=[f"{namespace}-"],
    )
    pairs = [
        (binding, f"{role_origin} ({origin})")
        for binding, role_origin in expand_acl_rules([producer, consumer])
    ]
    monitoring = principals["monitoring"]
    describe = (AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS)
    watched = _on_resources(
        monitoring, WILDCARD_HOST, AclResourceType.CLUSTER, [CLUSTER_RESOURCE_NAME], [], describe
    )
    watched += _on_resources(monitoring, WILDCARD_HOST, AclResourceType.TOPIC, topics, [], describe)
    watched += _on_resources(
        monitoring,
        WILDCARD_HOST,
        AclResourceType.GROUP,
        [],
        [f"{namespace}-"],
        (AclOperation.DESCRIBE,),
    )
    pairs += [(binding, f"monitoring of {monitoring} ({origin})") for binding in watched]
    return pairs
