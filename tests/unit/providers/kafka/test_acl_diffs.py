"""The pure ACL diff: creations, scoped deletions, policy and flag, validation."""

from __future__ import annotations

import json

from reconciler.engine.plan import Action, NoticeLevel, Plan, Risk
from reconciler.providers.kafka.acl_diffs import (
    NO_AUTHORIZER_MESSAGE,
    acl_address,
    binding_problems,
    diff_acls,
    no_authorizer_plan,
)
from reconciler.spec.models import (
    AclOperation,
    AclOwnership,
    AclPermission,
    AclResourceType,
    DeletionPolicy,
    PatternType,
    ProducerRole,
)
from reconciler.spec.roles import AclBinding, DesiredAcl, expand_acl_rules, merge_desired

R, Op, P = AclResourceType, AclOperation, PatternType


def topic_acl(
    principal: str,
    topic: str,
    operation: AclOperation = Op.WRITE,
    permission: AclPermission = AclPermission.ALLOW,
) -> AclBinding:
    return AclBinding(principal, R.TOPIC, P.LITERAL, topic, operation, permission)


def wanted(*bindings: AclBinding, origin: str = "test") -> list[DesiredAcl]:
    return [DesiredAcl(b, (origin,)) for b in bindings]


def test_address_format() -> None:
    assert (
        acl_address(topic_acl("User:alice", "orders"))
        == "kafka_acl.User:alice/TOPIC:LITERAL:orders/WRITE/ALLOW@*"
    )


def test_missing_binding_is_created_with_its_role_as_reason() -> None:
    role = ProducerRole(role="producer", principal="User:p", topics=["t"])
    desired = merge_desired(expand_acl_rules([role]))
    plan = diff_acls(
        desired, [topic_acl("User:p", "t", Op.DESCRIBE)], AclOwnership(), allow_delete=False
    )
    (change,) = plan.changes
    assert change.action is Action.CREATE
    assert change.address == "kafka_acl.User:p/TOPIC:LITERAL:t/WRITE/ALLOW@*"
    assert change.reason == "role producer of User:p"
    assert change.payload == topic_acl("User:p", "t").to_dict()
    assert {a.path: a.after for a in change.attributes}["operation"] == "WRITE"
    assert not change.risks
    json.dumps(Plan(changes=plan.changes).to_json_dict())  # JSON-serialisable


def test_existing_binding_is_a_no_op() -> None:
    binding = topic_acl("User:p", "t")
    plan = diff_acls(
        wanted(binding), [binding], AclOwnership(principals=["User:p"]), allow_delete=True
    )
    assert plan.changes == () and plan.notices == ()


def test_new_deny_is_flagged_disruptive() -> None:
    deny = topic_acl("User:p", "t", permission=AclPermission.DENY)
    (change,) = diff_acls(wanted(deny), [], AclOwnership(), allow_delete=False).changes
    assert Risk.DISRUPTIVE in change.risks


def test_extra_binding_of_unmanaged_principal_is_neither_deleted_nor_listed() -> None:
    other = topic_acl("User:stranger", "t")
    plan = diff_acls(
        [],
        [other],
        AclOwnership(principals=["User:p"], deletion=DeletionPolicy.ALLOW),
        allow_delete=True,
    )
    assert plan.changes == () and plan.notices == ()


def test_extra_binding_of_managed_principal_is_only_reported_without_policy() -> None:
    extra = topic_acl("User:p", "t")
    plan = diff_acls([], [extra], AclOwnership(principals=["p"]), allow_delete=True)
    assert plan.changes == ()
    (notice,) = plan.notices
    assert notice.kind == "unmanaged" and notice.level is NoticeLevel.WARNING
    assert "deletion: never" in notice.message
    assert notice.address == acl_address(extra)


def test_extra_binding_with_policy_but_without_flag_says_how_to_delete() -> None:
    extra = topic_acl("User:p", "t")
    plan = diff_acls(
        [],
        [extra],
        AclOwnership(principals=["User:p"], deletion=DeletionPolicy.ALLOW),
        allow_delete=False,
    )
    assert plan.changes == ()
    (notice,) = plan.notices
    assert "--allow-delete" in notice.message


def test_extra_binding_with_policy_and_flag_is_deleted() -> None:
    keep = topic_acl("User:p", "t", Op.DESCRIBE)
    extra = topic_acl("User:p", "t")
    plan = diff_acls(
        wanted(keep),
        [keep, extra],
        AclOwnership(principals=["User:p"], deletion=DeletionPolicy.ALLOW),
        allow_delete=True,
    )
    (change,) = plan.changes
    assert change.action is Action.DELETE
    assert change.address == acl_address(extra)
    assert change.is_destructive and Risk.DISRUPTIVE in change.risks
    assert {a.path: a.before for a in change.attributes}["resource_name"] == "t"
    assert AclBinding.from_dict(change.payload) == extra


def test_invalid_bindings_are_errors_not_changes() -> None:
    cluster = AclBinding("User:p", R.CLUSTER, P.LITERAL, "my-cluster", Op.DESCRIBE)
    no_type = topic_acl("alice", "t")
    plan = diff_acls(wanted(cluster, no_type), [], AclOwnership(), allow_delete=False)
    assert plan.changes == ()
    messages = [n.message for n in plan.notices if n.level is NoticeLevel.ERROR]
    assert any("kafka-cluster" in m for m in messages)
    assert any("Type:name" in m for m in messages)


def test_prefixed_needs_a_broker_that_supports_it() -> None:
    prefixed = AclBinding("User:p", R.TOPIC, P.PREFIXED, "llm-", Op.READ)
    assert binding_problems(prefixed) == []
    assert binding_problems(prefixed, supports_prefixed=False)
    assert binding_problems(AclBinding("User:p", R.TOPIC, P.PREFIXED, "*", Op.READ))


def test_no_authorizer_is_one_clear_error() -> None:
    (notice,) = no_authorizer_plan().notices
    assert notice.level is NoticeLevel.ERROR
    assert NO_AUTHORIZER_MESSAGE in notice.message
