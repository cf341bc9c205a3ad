"""Kafka ACLs against a real broker with an authorizer (the ``secure`` sandbox).

Authorization is tested by doing: after apply, real clients authenticated as the granted
users produce and consume, and a user without bindings is refused. Principals that a test
deletes bindings for are unique to the test, since the sandbox is shared by the session.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
)

from reconciler.catalog import LLM_TOPIC_NAMES
from reconciler.engine.applying import apply_plan, check_applicable
from reconciler.engine.plan import Action, NoticeLevel, Plan
from reconciler.engine.planning import build_plan
from reconciler.engine.providers import ApplyOptions, PlanOptions, ResultStatus
from reconciler.errors import SafetyRefusal
from reconciler.providers.kafka.acl_client import (
    create_acl_bindings,
    delete_acl_bindings,
    describe_acl_bindings,
)
from reconciler.providers.kafka.acl_diffs import NO_AUTHORIZER_MESSAGE, acl_address
from reconciler.providers.kafka.acls import KafkaAclsProvider
from reconciler.providers.kafka.client import KafkaAdmin, NewTopicRequest
from reconciler.sandbox import KafkaSandbox
from reconciler.spec.models import (
    AclOperation,
    AclOwnership,
    AclResourceType,
    ConsumerRole,
    DeletionPolicy,
    PatternType,
    ProducerRole,
)
from reconciler.spec.roles import AclBinding, expand_acl_rules, namespace_acl_set
from tests.integration.kafka.commands import cli

PASSWORD_VARIABLE = "LLM_ANALYTICS_TEST_KAFKA_ADMIN_PASSWORD"
CLIENT_TIMEOUT_MS = 10_000


# --------------------------------------------------------------------------- helpers


def secure_spec(sandbox: KafkaSandbox, path: Path, kafka: dict[str, Any]) -> Path:
    """A spec whose connection authenticates as the super user, password from the env."""
    body = {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": "acl-test"},
        "kafka": {
            "connection": {
                "bootstrapServers": sandbox.bootstrap_servers,
                "security": {
                    "protocol": "SASL_PLAINTEXT",
                    "sasl": {
                        "mechanism": "PLAIN",
                        "username": "admin",
                        "password": {"fromEnv": PASSWORD_VARIABLE},
                    },
                },
            },
            **kafka,
        },
    }
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def admin_env(sandbox: KafkaSandbox) -> dict[str, str]:
    return {PASSWORD_VARIABLE: sandbox.users["admin"]}


async def make_topic(admin: KafkaAdmin, name: str) -> None:
    errors = await admin.create_topics([NewTopicRequest(name, 1, 1, {})])
    assert errors == {name: None}


async def converge(provider: KafkaAclsProvider, *, allow_delete: bool = False) -> Plan:
    plan = await build_plan([provider], PlanOptions(allow_delete=allow_delete))
    check_applicable(plan, allow_delete=allow_delete)
    results = await apply_plan(plan, [provider], ApplyOptions())
    assert all(r.status is ResultStatus.APPLIED for r in results), results
    return plan


async def produce(
    sandbox: KafkaSandbox, user: str, topic: str, value: bytes, *, idempotent: bool = True
) -> None:
    producer = AIOKafkaProducer(
        request_timeout_ms=CLIENT_TIMEOUT_MS,
        enable_idempotence=idempotent,
        **sandbox.client_config(user),
    )
    try:  # stopped even when the start is refused, so nothing is left unclosed
        await producer.start()
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def consume_one(sandbox: KafkaSandbox, user: str, topic: str, group: str) -> bytes:
    """Read one record through the consumer group (join, fetch, commit)."""
    consumer = AIOKafkaConsumer(
        topic,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=CLIENT_TIMEOUT_MS,
        **sandbox.client_config(user),
    )
    try:  # stopped even when the start is refused, so nothing is left unclosed
        await consumer.start()
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
        assert record.value is not None
        return record.value
    finally:
        await consumer.stop()


async def assert_user_can_produce_and_consume(
    sandbox: KafkaSandbox, topic: str, group: str
) -> None:
    await produce(sandbox, "alice", topic, b"granted")
    assert await consume_one(sandbox, "bob", topic, group) == b"granted"
    # carol authenticates fine but has no bindings: refused both ways (an idempotent
    # producer is refused already when it asks for a producer id)
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(sandbox, "carol", topic, b"refused", idempotent=False)
    with pytest.raises(ClusterAuthorizationFailedError):
        await produce(sandbox, "carol", topic, b"refused")
    with pytest.raises(TopicAuthorizationFailedError):
        await consume_one(sandbox, "carol", topic, group)
    # bob may read the topic, but only through the groups granted to him
    with pytest.raises(GroupAuthorizationFailedError):
        await consume_one(sandbox, "bob", topic, f"not-{group}")
    # and the roles do not leak into each other: bob only reads
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(sandbox, "bob", topic, b"refused", idempotent=False)


@pytest.fixture
async def secure_admin(kafka_secure: KafkaSandbox) -> Any:
    async with KafkaAdmin(kafka_secure.client_config()) as admin:
        yield admin


# --------------------------------------------------------------------------- tests


async def test_roles_applied_through_the_engine_let_real_clients_in(
    kafka_secure: KafkaSandbox, secure_admin: KafkaAdmin, unique_name: Callable[..., str]
) -> None:
    topic, group = unique_name("acl"), unique_name("group")
    await make_topic(secure_admin, topic)
    rules: list[ProducerRole | ConsumerRole] = [
        ProducerRole(role="producer", principal="User:alice", topics=[topic], idempotent=True),
        ConsumerRole(role="consumer", principal="User:bob", topics=[topic], groups=[group]),
    ]
    provider = KafkaAclsProvider.from_pairs(secure_admin, expand_acl_rules(rules))

    plan = await converge(provider)
    created = {c.address: c.reason for c in plan.changes}
    assert all(c.action is Action.CREATE for c in plan.changes)
    assert created == {
        f"kafka_acl.User:alice/TOPIC:LITERAL:{topic}/WRITE/ALLOW@*": "role producer of User:alice",
        f"kafka_acl.User:alice/TOPIC:LITERAL:{topic}/DESCRIBE/ALLOW@*": "role producer of User:alice",
        "kafka_acl.User:alice/CLUSTER:LITERAL:kafka-cluster/IDEMPOTENT_WRITE/ALLOW@*": "role producer of User:alice",
        f"kafka_acl.User:bob/TOPIC:LITERAL:{topic}/READ/ALLOW@*": "role consumer of User:bob",
        f"kafka_acl.User:bob/TOPIC:LITERAL:{topic}/DESCRIBE/ALLOW@*": "role consumer of User:bob",
        f"kafka_acl.User:bob/GROUP:LITERAL:{group}/READ/ALLOW@*": "role consumer of User:bob",
    }

    again = await build_plan([provider], PlanOptions())
    assert not again.has_changes and not again.notices
    assert again.request_counts["DescribeAcls"] >= 1

    await assert_user_can_produce_and_consume(kafka_secure, topic, group)


async def test_apply_from_a_spec_with_sasl_password_from_env(
    kafka_secure: KafkaSandbox,
    secure_admin: KafkaAdmin,
    tmp_path: Path,
    unique_name: Callable[..., str],
) -> None:
    topic, group = unique_name("spec"), unique_name("group")
    spec = secure_spec(
        kafka_secure,
        tmp_path / "spec.yaml",
        {
            "topics": [{"name": topic, "partitions": 1, "replicationFactor": 1}],
            "acls": [
                {"role": "producer", "principal": "User:alice", "topics": [topic]},
                {
                    "role": "consumer",
                    "principal": "User:bob",
                    "topics": [topic],
                    "groupPrefixes": [group],
                },
            ],
        },
    )
    env = admin_env(kafka_secure)

    planned = cli("plan", "-f", str(spec), "-o", "json", env=env)
    assert planned.returncode == 0, planned.stderr
    addresses = {c["address"] for c in json.loads(planned.stdout)["changes"]}
    assert f"kafka_acl.User:bob/GROUP:PREFIXED:{group}/READ/ALLOW@*" in addresses
    assert f"kafka_topic.{topic}" in addresses

    applied = cli("apply", "-f", str(spec), "--auto-approve", env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete!" in applied.stdout
    assert "role consumer of User:bob" in applied.stdout  # the plan shows each role's bindings

    second = cli("apply", "-f", str(spec), "--auto-approve", env=env)
    assert second.returncode == 0 and "Nothing to apply." in second.stdout, second.stdout
    detailed = cli("plan", "-f", str(spec), "--detailed-exitcode", env=env)
    assert detailed.returncode == 0, detailed.stdout + detailed.stderr

    await assert_user_can_produce_and_consume(kafka_secure, topic, f"{group}-readers")

    # without the password the connection is refused with one clear message
    refused = cli("plan", "-f", str(spec), env={PASSWORD_VARIABLE: "wrong"})
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr and "Error:" in refused.stderr


async def test_out_of_band_bindings_deleted_only_in_scope_with_policy_and_flag(
    secure_admin: KafkaAdmin, unique_name: Callable[..., str]
) -> None:
    topic = unique_name("scope")
    managed, stranger = f"User:{unique_name('managed')}", f"User:{unique_name('stranger')}"
    wanted = AclBinding(
        managed, AclResourceType.TOPIC, PatternType.LITERAL, topic, AclOperation.READ
    )
    rogue = AclBinding(
        managed, AclResourceType.TOPIC, PatternType.PREFIXED, topic, AclOperation.WRITE
    )
    foreign = AclBinding(
        stranger, AclResourceType.TOPIC, PatternType.LITERAL, topic, AclOperation.WRITE
    )
    allow = AclOwnership(principals=[managed], deletion=DeletionPolicy.ALLOW)
    provider = KafkaAclsProvider.from_pairs(secure_admin, [(wanted, "test")], allow)
    await converge(provider)
    # someone adds bindings by hand: one for the managed principal, one for another
    assert await create_acl_bindings(secure_admin, [rogue, foreign]) == {rogue: None, foreign: None}
    await asyncio.sleep(0.5)  # let the broker replay the new ACL records

    # without --allow-delete: reported, not planned
    plan = await build_plan([provider], PlanOptions())
    assert not plan.has_changes
    notices = {n.address: n for n in plan.notices}
    assert set(notices) == {acl_address(rogue)}
    assert "--allow-delete" in notices[acl_address(rogue)].message
    assert stranger not in json.dumps(plan.to_json_dict())  # not even listed

    # policy "never": even with the flag, only reported
    never = KafkaAclsProvider.from_pairs(
        secure_admin,
        [(wanted, "test")],
        AclOwnership(principals=[managed], deletion=DeletionPolicy.NEVER),
    )
    plan = await build_plan([never], PlanOptions(allow_delete=True))
    assert not plan.has_changes and [n.address for n in plan.notices] == [acl_address(rogue)]

    # policy "allow" + flag: a destructive delete, refused by apply without the flag
    plan = await build_plan([provider], PlanOptions(allow_delete=True))
    (change,) = plan.changes
    assert (change.action, change.address) == (Action.DELETE, acl_address(rogue))
    assert change.is_destructive
    with pytest.raises(SafetyRefusal):
        check_applicable(plan, allow_delete=False)
    results = await apply_plan(plan, [provider], ApplyOptions())
    assert [r.status for r in results] == [ResultStatus.APPLIED]

    live = set((await describe_acl_bindings(secure_admin)).bindings)
    assert wanted in live and rogue not in live
    assert foreign in live  # the other principal's binding was never touched
    assert not (await build_plan([provider], PlanOptions(allow_delete=True))).has_changes
    await delete_acl_bindings(secure_admin, [foreign, wanted])


async def test_namespace_standard_set_and_list(
    kafka_secure: KafkaSandbox, tmp_path: Path, unique_name: Callable[..., str]
) -> None:
    namespace = unique_name("ns")
    spec = secure_spec(kafka_secure, tmp_path / "conn.yaml", {})
    env = admin_env(kafka_secure)
    expected = {b.key for b, _ in namespace_acl_set(namespace, LLM_TOPIC_NAMES)}

    dry = cli(
        "kafka",
        "acls",
        "create",
        "-n",
        namespace,
        "--dry-run",
        "-o",
        "json",
        "-f",
        str(spec),
        env=env,
    )
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["summary"]["add"] == len(expected)
    assert listed(namespace, spec, env) == []  # dry run changed nothing

    created = cli("kafka", "acls", "create", "-n", namespace, "-f", str(spec), env=env)
    assert created.returncode == 0, created.stderr
    assert f"{len(expected)} ACL binding(s) created" in created.stdout
    again = cli("kafka", "acls", "create", "-n", namespace, "-f", str(spec), env=env)
    assert again.returncode == 0 and "No changes" in again.stdout

    shown = listed(namespace, spec, env)
    assert {AclBinding.from_dict(row).key for row in shown} == expected
    assert len(shown) == len(expected)

    table = cli(
        "kafka", "acls", "list", "--principal", f"{namespace}-monitoring", "-f", str(spec), env=env
    )
    assert table.returncode == 0
    assert f"User:{namespace}-monitoring" in table.stdout and "DESCRIBE_CONFIGS" in table.stdout
    assert "CLUSTER:kafka-cluster" in table.stdout and "…" not in table.stdout


def listed(namespace: str, spec: Path, env: dict[str, str]) -> list[dict[str, str]]:
    args = []
    for role in ("producer", "consumer", "monitoring"):
        args += ["--principal", f"User:{namespace}-{role}"]
    result = cli("kafka", "acls", "list", *args, "-o", "json", "-f", str(spec), env=env)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["format_version"] == "1.0"
    return list(body["acls"])


async def test_cluster_without_authorizer_is_a_clear_error(kafka_single: KafkaSandbox) -> None:
    async with KafkaAdmin(kafka_single.client_config()) as admin:
        provider = KafkaAclsProvider.from_pairs(
            admin,
            expand_acl_rules([ProducerRole(role="producer", principal="User:x", topics=["t"])]),
        )
        plan = await build_plan([provider], PlanOptions())
    assert not plan.changes
    (notice,) = plan.notices
    assert notice.level is NoticeLevel.ERROR and NO_AUTHORIZER_MESSAGE in notice.message

    result = cli("kafka", "acls", "list", "--bootstrap-servers", kafka_single.bootstrap_servers)
    assert result.returncode == 1
    assert NO_AUTHORIZER_MESSAGE in result.stderr and "Traceback" not in result.stderr


async def test_principal_without_describe_rights_gets_an_error_notice(
    kafka_secure: KafkaSandbox,
) -> None:
    async with KafkaAdmin(kafka_secure.client_config("carol")) as admin:
        plan = await build_plan([KafkaAclsProvider.from_pairs(admin, [])], PlanOptions())
    (notice,) = plan.notices
    assert notice.level is NoticeLevel.ERROR and "cannot read the ACLs" in notice.message
    assert "ClusterAuthorizationFailed" in notice.message


async def test_apply_waits_until_every_broker_lists_the_bindings(
    kafka_cluster: KafkaSandbox, unique_name: Callable[..., str]
) -> None:
    """Three brokers, each applying the controller's ACL records in its own time: when
    apply returns, every one of them lists what it created and no longer what it deleted."""
    principal = f"User:{unique_name('everywhere')}"
    bindings = [
        AclBinding(principal, AclResourceType.TOPIC, PatternType.LITERAL, unique_name(f"t{i}"), op)
        for i, op in enumerate((AclOperation.READ, AclOperation.DESCRIBE, AclOperation.WRITE))
    ]
    async with KafkaAdmin(kafka_cluster.client_config()) as admin:
        brokers = (await admin.cluster_state(with_configs=False, topics=[])).broker_ids
        assert len(brokers) == 3
        ownership = AclOwnership(principals=[principal], deletion=DeletionPolicy.ALLOW)
        await converge(
            KafkaAclsProvider.from_pairs(admin, [(b, "test") for b in bindings], ownership)
        )
        for node in brokers:
            assert set(bindings) <= set((await describe_acl_bindings(admin, node_id=node)).bindings)
        kept = KafkaAclsProvider.from_pairs(admin, [(bindings[0], "test")], ownership)
        plan = await build_plan([kept], PlanOptions(allow_delete=True))
        assert {c.action for c in plan.changes} == {Action.DELETE}
        results = await apply_plan(plan, [kept], ApplyOptions())
        assert all(r.status is ResultStatus.APPLIED for r in results), results
        for node in brokers:
            live = set((await describe_acl_bindings(admin, node_id=node)).bindings)
            assert bindings[0] in live and not set(bindings[1:]) & live
        await delete_acl_bindings(admin, bindings[:1])
