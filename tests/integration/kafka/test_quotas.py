"""Client quotas against a real broker: set through the spec, shown identically by Kafka's
own ConfigCommand, enforced (a producer above ``producer_byte_rate`` is throttled), removed
only with the ownership policy and ``--allow-delete``."""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path

import pytest
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from reconciler.providers.kafka.client import KafkaAdmin, NewTopicRequest
from reconciler.providers.kafka.identity_client import alter_quotas
from reconciler.sandbox import KafkaSandbox
from tests.integration.kafka.commands import cli, config_command, write_spec

pytestmark = pytest.mark.integration


def described(sandbox: KafkaSandbox, entity_type: str, *more: str) -> dict[str, dict[str, float]]:
    """What ConfigCommand ``--describe --entity-type TYPE`` shows for every entity of that
    type: its entity text (e.g. ``user-principal 'alice', client-id 'app'``) -> values."""
    out = config_command(sandbox, "--describe", "--entity-type", entity_type, *more)
    found: dict[str, dict[str, float]] = {}
    for line in out.splitlines():
        match = re.match(r"^Quota configs for (.*) are (.*)$", line.strip())
        if match:
            pairs = re.findall(r"(\w+)=([-0-9.E]+)", match.group(2))
            found[match.group(1)] = {key: float(value) for key, value in pairs}
    return found


def entry(found: dict[str, dict[str, float]], *names: str, parts: int = 1) -> dict[str, float]:
    """The values of the one entity whose text names all of ``names`` (and no more parts)."""
    hits = [
        values
        for text, values in found.items()
        if all(name in text for name in names) and text.count(",") == parts - 1
    ]
    assert len(hits) == 1, (names, found)
    return hits[0]


async def produce_throttle_ms(sandbox: KafkaSandbox, topic: str, client_id: str) -> int:
    """Send one 256 KiB batch as ``client_id``: the throttle_time_ms of its response (Kafka
    answers an over-quota request with its throttle time at once, KIP-219). Kafka measures
    the rate over at least 10 one-second samples, so 256 KiB is ~26 KiB/s to it."""
    client = AIOKafkaClient(bootstrap_servers=sandbox.bootstrap_servers, client_id=client_id)
    await client.bootstrap()
    try:
        await client._wait_on_metadata(topic)
        leader = client.cluster.leader_for_partition(
            __import__("aiokafka").structs.TopicPartition(topic, 0)
        )
        builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 2**20)
        for index in range(4):
            builder.append(index, int(time.time() * 1000), None, os.urandom(64 * 1024), [])
        request = ProduceRequest(None, 1, 10_000, [(topic, [(0, bytes(builder.build()))])])
        response = await client.send(leader, request)
        return int(response.throttle_time_ms)
    finally:
        await client.close()


async def test_quotas_match_config_command_are_enforced_and_removed_with_policy(
    kafka_single: KafkaSandbox, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    user, client_id, ip = f"qu-{tag}", f"qc-{tag}", f"10.{int(tag[:2], 16)}.{int(tag[2:4], 16)}.7"
    quotas = [
        {"user": user, "config": {"producer_byte_rate": "10MiB/s", "request_percentage": 50}},
        {"clientId": client_id, "config": {"producer_byte_rate": "16KiB/s"}},
        {"user": user, "clientId": client_id, "config": {"consumer_byte_rate": 2048000}},
        {"ip": ip, "config": {"connection_creation_rate": 20}},
        {"ip": "<default>", "config": {"connection_creation_rate": 5000}},
    ]
    ownership = {"quotas": {"users": [user], "ips": ["<default>"], "deletion": "allow"}}
    spec = write_spec(
        tmp_path / "spec.yaml", kafka_single, {"quotas": quotas, "ownership": ownership}
    )

    planned = cli("plan", "-f", str(spec), "-o", "json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    addresses = {c["address"] for c in plan["changes"] if c["provider"] == "kafka_quota"}
    assert f"kafka_quota.user={user},client-id={client_id}" in addresses
    assert "kafka_quota.ip=<default>" in addresses and len(addresses) == 5
    assert plan["request_counts"]["DescribeClientQuotas"] == 1

    applied = cli("apply", "-f", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = cli("plan", "-f", str(spec), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr

    users, clients, ips = (described(kafka_single, kind) for kind in ("users", "clients", "ips"))
    assert entry(users, user) == {
        "producer_byte_rate": 10 * 1024 * 1024,
        "request_percentage": 50.0,
    }
    assert entry(clients, client_id) == {"producer_byte_rate": 16384.0}
    both = described(
        kafka_single,
        "users",
        "--entity-name",
        user,
        "--entity-type",
        "clients",
        "--entity-name",
        client_id,
    )
    assert entry(both, user, client_id, parts=2) == {"consumer_byte_rate": 2048000.0}
    assert entry(ips, ip) == {"connection_creation_rate": 20.0}
    assert entry(ips, "default") == {"connection_creation_rate": 5000.0}

    exported = cli("export", "--bootstrap-servers", kafka_single.bootstrap_servers, "-o", "json")
    assert exported.returncode == 0, exported.stderr
    assert {"user": user, "config": {"producer_byte_rate": 10485760, "request_percentage": 50}} in (
        json.loads(exported.stdout)["kafka"]["quotas"]
    )

    topic = f"quota-{tag}"
    async with KafkaAdmin({"bootstrap_servers": kafka_single.bootstrap_servers}) as admin:
        await admin.create_topics([NewTopicRequest(topic, 1, 1, {})])
    assert await produce_throttle_ms(kafka_single, topic, client_id) > 0
    assert await produce_throttle_ms(kafka_single, topic, f"free-{tag}") == 0

    # An out-of-band change is drift; removing the default ip entity from the spec plans
    # its removal (in scope, policy allow) and needs --allow-delete.
    async with KafkaAdmin({"bootstrap_servers": kafka_single.bootstrap_servers}) as admin:
        changed = await alter_quotas(
            admin, [((("user", user),), [("producer_byte_rate", 1000.0, False)])]
        )
        assert changed == {(("user", user),): None}
    write_spec(spec, kafka_single, {"quotas": quotas[:4], "ownership": ownership})
    drift = json.loads(cli("plan", "-f", str(spec), "-o", "json").stdout)
    by_address = {c["address"]: c for c in drift["changes"]}
    attrs = {a["path"]: a for a in by_address[f"kafka_quota.user={user}"]["attributes"]}
    assert attrs["producer_byte_rate"]["before"] == 1000.0
    assert "kafka_quota.ip=<default>" not in by_address  # without --allow-delete: a notice
    assert any(
        n["address"] == "kafka_quota.ip=<default>" and n["kind"] == "unmanaged"
        for n in drift["notices"]
    )
    deleting = cli("apply", "-f", str(spec), "--auto-approve", "--allow-delete")
    assert deleting.returncode == 0, deleting.stdout + deleting.stderr
    assert not [text for text in described(kafka_single, "ips") if "default" in text]

    # Clean up the session-shared cluster's quotas.
    write_spec(
        spec,
        kafka_single,
        {
            "ownership": {
                "quotas": {
                    **ownership["quotas"],
                    "users": [user],
                    "clientIds": [client_id],
                    "ips": [ip],
                }
            }
        },
    )
    cleaned = cli("apply", "-f", str(spec), "--auto-approve", "--allow-delete")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr


async def test_plans_of_1000_quotas_and_1000_users_cost_a_constant_number_of_requests(
    kafka_single: KafkaSandbox,
) -> None:
    """Planning 2,000 resources reads each kind once (and validates the quotas once)."""
    from reconciler.engine.planning import build_plan
    from reconciler.engine.providers import PlanOptions
    from reconciler.providers.kafka.quotas import KafkaQuotasProvider
    from reconciler.providers.kafka.users import KafkaUsersProvider
    from reconciler.spec.kafka_identities import QuotaOwnership, QuotaSpec, UserOwnership, UserSpec

    tag = secrets.token_hex(3)
    quotas = [
        QuotaSpec.model_validate(
            {"user": f"scale-{tag}-{i}", "config": {"producer_byte_rate": "1MiB/s"}}
        )
        for i in range(1000)
    ]
    users = [
        UserSpec.model_validate({"name": f"scale-{tag}-{i}", "password": {"fromEnv": "PATH"}})
        for i in range(1000)
    ]
    async with KafkaAdmin({"bootstrap_servers": kafka_single.bootstrap_servers}) as admin:
        before = dict(admin.requests)
        plan = await build_plan(
            [
                KafkaQuotasProvider(admin, quotas, QuotaOwnership()),
                KafkaUsersProvider(admin, users, UserOwnership()),
            ],
            PlanOptions(),
        )
        counts = {k: v - before.get(k, 0) for k, v in admin.requests.items()}
    assert len(plan.changes) == 2000 and not plan.has_errors, plan.notices[:3]
    body = plan.to_json_dict()
    assert body["request_counts"] == counts
    assert counts == {
        "DescribeClientQuotas": 1,
        "AlterClientQuotas": 1,  # validateOnly
        "DescribeUserScramCredentials": 1,
        "Metadata": 1,  # the brokers, to ask one for super.users
        "DescribeConfigs": 1,
    }
