"""The pure quota and SCRAM-user diffs: scoped removals, protected users, rotation, and
payloads that show exactly what apply sends."""

from __future__ import annotations

from reconciler.engine.payloads import check_payload
from reconciler.engine.plan import Action, NoticeLevel, Risk
from reconciler.providers.kafka.quota_diffs import QuotaPayload, diff_quotas, normalise_entity
from reconciler.providers.kafka.user_diffs import UserPayload, diff_users
from reconciler.spec.kafka_identities import QuotaOwnership, QuotaSpec, UserOwnership, UserSpec

ALICE = (("user", "alice"),)


def quota(**fields: object) -> QuotaSpec:
    return QuotaSpec.model_validate(fields)


def user(name: str, *credentials: tuple[str, int]) -> UserSpec:
    return UserSpec.model_validate(
        {
            "name": name,
            "password": {"fromEnv": "PW"},
            "credentials": [{"mechanism": m, "iterations": i} for m, i in credentials]
            or [{"mechanism": "SCRAM-SHA-512"}],
        }
    )


def test_new_quota_entity_is_created_with_kafkas_numbers() -> None:
    plan = diff_quotas(
        [quota(user="alice", clientId="<default>", config={"producer_byte_rate": "1MiB/s"})],
        {},
        QuotaOwnership(),
        allow_delete=False,
    )
    (change,) = plan.changes
    assert change.address == "kafka_quota.user=alice,client-id=<default>"
    assert change.action is Action.CREATE and Risk.DISRUPTIVE in change.risks
    payload = check_payload(change, QuotaPayload)
    assert payload.entity == (("user", "alice"), ("client-id", None))
    assert payload.operations() == [("producer_byte_rate", 1048576.0, False)]


def test_equal_values_are_no_change_and_extra_keys_are_removed() -> None:
    live = {ALICE: {"producer_byte_rate": 1000.0, "request_percentage": 10.0}}
    assert not diff_quotas(
        [quota(user="alice", config={"producer_byte_rate": 1000, "request_percentage": 10})],
        live,
        QuotaOwnership(),
        allow_delete=False,
    ).changes
    (change,) = diff_quotas(
        [quota(user="alice", config={"producer_byte_rate": 2000})],
        live,
        QuotaOwnership(),
        allow_delete=False,
    ).changes
    assert change.action is Action.UPDATE and Risk.DESTRUCTIVE in change.risks
    assert {a.path: (a.before, a.after) for a in change.attributes} == {
        "producer_byte_rate": (1000.0, 2000.0),
        "request_percentage": (10.0, None),
    }


def test_unlisted_entities_are_removed_only_in_scope_with_policy_and_flag() -> None:
    live = {ALICE: {"producer_byte_rate": 1.0}, (("ip", None),): {"connection_creation_rate": 5.0}}
    outside = diff_quotas([], live, QuotaOwnership(), allow_delete=True)
    assert not outside.changes and not outside.notices
    scoped = QuotaOwnership(users=["alice"], ips=["<default>"], deletion="allow")
    reported = diff_quotas([], live, scoped, allow_delete=False)
    assert not reported.changes
    assert {n.kind for n in reported.notices} == {"unmanaged"}
    deleted = diff_quotas([], live, scoped, allow_delete=True)
    assert {c.address for c in deleted.changes} == {
        "kafka_quota.user=alice",
        "kafka_quota.ip=<default>",
    }
    assert all(c.action is Action.DELETE and c.is_destructive for c in deleted.changes)


def test_a_twice_listed_entity_is_an_error() -> None:
    plan = diff_quotas(
        [
            quota(user="a", config={"producer_byte_rate": 1}),
            quota(user="a", config={"consumer_byte_rate": 1}),
        ],
        {},
        QuotaOwnership(),
        allow_delete=False,
    )
    assert [n.level for n in plan.notices] == [NoticeLevel.ERROR]


def test_entities_are_normalised_in_kafkas_order() -> None:
    assert normalise_entity([("client-id", "c"), ("user", "<default>")]) == (
        ("user", None),
        ("client-id", "c"),
    )


def test_user_creation_shows_the_reference_never_a_password() -> None:
    (change,) = diff_users([user("bob")], {}, UserOwnership(), allow_delete=False).changes
    assert change.action is Action.CREATE
    shown = {a.path: a.after for a in change.attributes}
    assert shown == {"SCRAM-SHA-512.iterations": 8192, "set_from": "env PW"}
    assert check_payload(change, UserPayload).upsert == {"SCRAM-SHA-512": 8192}


def test_same_mechanisms_are_no_change_unless_rotated() -> None:
    live = {"bob": {"SCRAM-SHA-512": 8192}}
    assert not diff_users([user("bob")], live, UserOwnership(), allow_delete=False).changes
    (change,) = diff_users(
        [user("bob")], live, UserOwnership(), allow_delete=False, rotate=frozenset({"bob"})
    ).changes
    assert change.action is Action.UPDATE and "--rotate-credentials" in (change.reason or "")


def test_changed_iterations_upsert_and_a_dropped_mechanism_is_destructive() -> None:
    live = {"bob": {"SCRAM-SHA-512": 4096, "SCRAM-SHA-256": 4096}}
    (change,) = diff_users(
        [user("bob", ("SCRAM-SHA-512", 8192))], live, UserOwnership(), allow_delete=False
    ).changes
    payload = check_payload(change, UserPayload)
    assert payload.upsert == {"SCRAM-SHA-512": 8192} and payload.delete == ("SCRAM-SHA-256",)
    assert change.is_destructive


def test_protected_users_are_refused_at_plan_time() -> None:
    live = {"admin": {"SCRAM-SHA-512": 4096}}
    plan = diff_users(
        [user("admin")],
        live,
        UserOwnership(),
        allow_delete=False,
        protected={"admin": "admin is the user this tool connects as"},
    )
    assert not plan.changes
    (notice,) = plan.notices
    assert notice.level is NoticeLevel.ERROR and "connects as" in notice.message
    scoped = UserOwnership(names=["broker"], deletion="allow", protected=["broker"])
    removal = diff_users([], {"broker": {"SCRAM-SHA-512": 4096}}, scoped, allow_delete=True)
    assert not removal.changes and removal.notices[0].level is NoticeLevel.ERROR


def test_unlisted_users_are_removed_only_with_policy_and_flag() -> None:
    live = {"app-1": {"SCRAM-SHA-512": 4096}, "other": {"SCRAM-SHA-512": 4096}}
    never = UserOwnership(prefixes=["app-"])
    assert [n.kind for n in diff_users([], live, never, allow_delete=True).notices] == ["unmanaged"]
    allow = UserOwnership(prefixes=["app-"], deletion="allow")
    (change,) = diff_users([], live, allow, allow_delete=True).changes
    assert change.address == "kafka_user.app-1" and change.action is Action.DELETE


def test_a_tampered_saved_change_is_refused() -> None:
    from typing import Any

    import pytest

    from reconciler.errors import SafetyRefusal
    from reconciler.providers.kafka.quotas import KafkaQuotasProvider
    from reconciler.providers.kafka.users import KafkaUsersProvider

    admin: Any = None
    (change,) = diff_quotas(
        [quota(user="alice", config={"producer_byte_rate": 1000})],
        {},
        QuotaOwnership(),
        allow_delete=False,
    ).changes
    quotas = KafkaQuotasProvider(admin, [], QuotaOwnership())
    quotas.check_saved(change, "(sensitive value)")
    bigger = {**change.payload, "set": {"producer_byte_rate": 10**9}}
    with pytest.raises(SafetyRefusal, match="differs"):
        quotas.check_saved(change.model_copy(update={"payload": bigger}), "(sensitive value)")
    other = {**change.payload, "entity": [["user", "mallory"]]}
    with pytest.raises(SafetyRefusal, match="another entity"):
        quotas.check_saved(change.model_copy(update={"payload": other}), "(sensitive value)")

    (created,) = diff_users([user("bob")], {}, UserOwnership(), allow_delete=False).changes
    users = KafkaUsersProvider(admin, [], UserOwnership())
    users.check_saved(created, "(sensitive value)")
    moved = {**created.payload, "source": {"fromEnv": "ELSEWHERE"}}
    with pytest.raises(SafetyRefusal, match="differs"):
        users.check_saved(created.model_copy(update={"payload": moved}), "(sensitive value)")
