"""Expansion of ACL role shorthands and explicit entries into bindings (pure)."""

from __future__ import annotations

import json

from reconciler.spec.models import (
    AclEntry,
    AclOperation,
    AclPermission,
    AclResourceType,
    ConsumerRole,
    PatternType,
    ProducerRole,
)
from reconciler.spec.roles import (
    AclBinding,
    expand_acl_rules,
    merge_desired,
    namespace_acl_set,
    normalise_principal,
)

R, Op, P = AclResourceType, AclOperation, PatternType


def keys(pairs: list[tuple[AclBinding, str]]) -> set[str]:
    return {binding.key for binding, _ in pairs}


def test_principal_without_type_is_a_user() -> None:
    assert normalise_principal("alice") == "User:alice"
    assert normalise_principal(" User:alice ") == "User:alice"
    assert normalise_principal("Group:ops") == "Group:ops"


def test_producer_writes_and_describes_literal_and_prefixed_topics() -> None:
    role = ProducerRole(
        role="producer", principal="User:p", topics=["orders"], topic_prefixes=["llm-"]
    )
    assert keys(expand_acl_rules([role])) == {
        "User:p/TOPIC:LITERAL:orders/WRITE/ALLOW@*",
        "User:p/TOPIC:LITERAL:orders/DESCRIBE/ALLOW@*",
        "User:p/TOPIC:PREFIXED:llm-/WRITE/ALLOW@*",
        "User:p/TOPIC:PREFIXED:llm-/DESCRIBE/ALLOW@*",
    }


def test_idempotent_producer_gets_idempotent_write_on_the_cluster() -> None:
    role = ProducerRole(role="producer", principal="p", topics=["t"], idempotent=True)
    assert "User:p/CLUSTER:LITERAL:kafka-cluster/IDEMPOTENT_WRITE/ALLOW@*" in keys(
        expand_acl_rules([role])
    )
    plain = ProducerRole(role="producer", principal="p", topics=["t"])
    assert not any(b.resource_type is R.CLUSTER for b, _ in expand_acl_rules([plain]))


def test_transactional_producer_writes_and_describes_its_transactional_ids() -> None:
    role = ProducerRole(
        role="producer",
        principal="User:p",
        host="10.0.0.1",
        transactional_ids=["tx-1"],
        transactional_id_prefixes=["app-"],
    )
    assert keys(expand_acl_rules([role])) == {
        "User:p/TRANSACTIONAL_ID:LITERAL:tx-1/WRITE/ALLOW@10.0.0.1",
        "User:p/TRANSACTIONAL_ID:LITERAL:tx-1/DESCRIBE/ALLOW@10.0.0.1",
        "User:p/TRANSACTIONAL_ID:PREFIXED:app-/WRITE/ALLOW@10.0.0.1",
        "User:p/TRANSACTIONAL_ID:PREFIXED:app-/DESCRIBE/ALLOW@10.0.0.1",
    }


def test_consumer_reads_topics_and_groups() -> None:
    role = ConsumerRole(
        role="consumer",
        principal="User:c",
        topics=["orders"],
        groups=["billing"],
        group_prefixes=["ns-"],
    )
    pairs = expand_acl_rules([role])
    assert keys(pairs) == {
        "User:c/TOPIC:LITERAL:orders/READ/ALLOW@*",
        "User:c/TOPIC:LITERAL:orders/DESCRIBE/ALLOW@*",
        "User:c/GROUP:LITERAL:billing/READ/ALLOW@*",
        "User:c/GROUP:PREFIXED:ns-/READ/ALLOW@*",
    }
    assert {origin for _, origin in pairs} == {"role consumer of User:c"}


def test_explicit_entry_keeps_every_field_and_names_its_position() -> None:
    entry = AclEntry(
        principal="User:x",
        host="1.2.3.4",
        operation=Op.ALTER_CONFIGS,
        permission=AclPermission.DENY,
        resource_type=R.TOPIC,
        resource_name="audit",
        pattern_type=P.PREFIXED,
    )
    ((binding, origin),) = expand_acl_rules([ProducerRole(role="producer", principal="y"), entry])
    assert binding == AclBinding(
        "User:x", R.TOPIC, P.PREFIXED, "audit", Op.ALTER_CONFIGS, AclPermission.DENY, "1.2.3.4"
    )
    assert origin == "explicit entry kafka.acls[1]"


def test_a_binding_asked_for_twice_is_merged_with_both_origins() -> None:
    producer = ProducerRole(role="producer", principal="User:a", topics=["t"])
    entry = AclEntry(
        principal="User:a", operation=Op.WRITE, resource_type=R.TOPIC, resource_name="t"
    )
    merged = merge_desired(expand_acl_rules([producer, entry]))
    write = next(d for d in merged if d.binding.operation is Op.WRITE)
    assert write.origins == ("role producer of User:a", "explicit entry kafka.acls[1]")
    assert len(merged) == 2  # WRITE and DESCRIBE


def test_binding_round_trips_through_json() -> None:
    binding = AclBinding("User:a", R.GROUP, P.PREFIXED, "g-", Op.READ)
    data = json.loads(json.dumps(binding.to_dict()))
    assert data == {
        "principal": "User:a",
        "resource_type": "GROUP",
        "pattern_type": "PREFIXED",
        "resource_name": "g-",
        "operation": "READ",
        "permission": "ALLOW",
        "host": "*",
    }
    assert AclBinding.from_dict(data) == binding


def test_namespace_set_covers_producer_consumer_groups_and_cluster() -> None:
    pairs = namespace_acl_set("hub", ["llm-events", "llm-metrics"])
    found = keys(pairs)
    assert "User:hub-producer/TOPIC:LITERAL:llm-events/WRITE/ALLOW@*" in found
    assert "User:hub-producer/CLUSTER:LITERAL:kafka-cluster/IDEMPOTENT_WRITE/ALLOW@*" in found
    assert "User:hub-consumer/TOPIC:LITERAL:llm-metrics/READ/ALLOW@*" in found
    assert "User:hub-consumer/GROUP:PREFIXED:hub-/READ/ALLOW@*" in found
    assert "User:hub-monitoring/CLUSTER:LITERAL:kafka-cluster/DESCRIBE_CONFIGS/ALLOW@*" in found
    assert "User:hub-monitoring/GROUP:PREFIXED:hub-/DESCRIBE/ALLOW@*" in found
    # monitoring never reads or writes records
    assert not any(
        b.principal == "User:hub-monitoring" and b.operation in (Op.READ, Op.WRITE)
        for b, _ in pairs
    )
    assert all("standard ACL set of namespace hub" in origin for _, origin in pairs)
