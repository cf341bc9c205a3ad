"""Client quotas against a real broker: set through the spec, shown identically by Kafka's
own ConfigCommand, enforced (a producer above ``producer_byte_rate`` is throttled), removed
only with the ownership policy and ``--allow-delete``."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from reconciler.providers.kafka.client import KafkaAdmin, NewTopicRequest
from reconciler.sandbox import KafkaSandbox

pytestmark = pytest.mark.integration
CONFIG_COMMAND = "org.apache.kafka.tools.ConfigCommand"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli.main", "--no-color", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
    )


def write_spec(path: Path, sandbox: KafkaSandbox, kafka: dict[str, Any]) -> Path:
    body = {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": "quota-test"},
        "kafka": {"connection": {"bootstrapServers": sandbox.bootstrap_servers}, **kafka},
    }
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def described(sandbox: KafkaSandbox, entity_type: str, *names: str) -> dict[str, float]:
    """What ConfigCommand --describe shows for an entity: key -> value."""
    args = ["--bootstrap-server", sandbox.bootstrap_servers, "--describe"]
    for kind, name in zip(entity_type.split("+"), names, strict=True):
        args += (
            ["--entity-type", kind, "--entity-default"]
            if name == "<default>"
            else ["--entity-type", kind, "--entity-name", name]
        )
    out = sandbox.run_tool(CONFIG_COMMAND, *args)
    found: dict[str, float] = {}
    for line in out.splitlines():
        if " are " in line:
            for key, value in re.findall(r"(\w+)=([-0-9.E]+)", line.split(" are ", 1)[1]):
                found[key] = float(value)
    return found


async def produce_throttle_ms(sandbox: KafkaSandbox, topic: str, client_id: str) -> int:
    """Send three 512 KiB batches as ``client_id``; the largest throttle_time_ms answered."""
    client = AIOKafkaClient(bootstrap_servers=sandbox.bootstrap_servers, client_id=client_id)
    await client.bootstrap()
    try:
        await client._wait_on_metadata(topic)  # noqa: SLF001 - aiokafka's own metadata wait
        leader = client.cluster.leader_for_partition(
            __import__("aiokafka").structs.TopicPartition(topic, 0)
        )
        throttles = []
        for _ in range(3):
            builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 2**21)
            for index in range(8):
                builder.append(index, int(time.time() * 1000), None, os.urandom(64 * 1024), [])
            request = ProduceRequest(None, 1, 10_000, [(topic, [(0, bytes(builder.build()))])])
            response = await client.send(leader, request)
            throttles.append(int(response.throttle_time_ms))
        return max(throttles)
    finally:
        await client.close()


async def test_quotas_match_config_command_are_enforced_and_removed_with_policy(
    kafka_single: KafkaSandbox, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    user, client_id, ip = f"qu-{tag}", f"qc-{tag}", f"10.{int(tag[:2], 16)}.{int(tag[2:4], 16)}.7"
    quotas = [
        {"user": user, "config": {"producer_byte_rate": "10MiB/s", "request_percentage": 50}},
        {"clientId": client_id, "config": {"producer_byte_rate": "64KiB/s"}},
        {"user": user, "clientId": client_id, "config": {"consumer_byte_rate": 2048000}},
        {"ip": ip, "config": {"connection_creation_rate": 20}},
        {"ip": "<default>", "config": {"connection_creation_rate": 5000}},
    ]
    ownership = {"quotas": {"users": [user], "ips": ["<default>"], "deletion": "allow"}}
    spec = write_spec(tmp_path / "spec.yaml", kafka_single, {"quotas": quotas, "ownership": ownership})

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

    assert described(kafka_single, "users", user) == {
        "producer_byte_rate": 10 * 1024 * 1024,
        "request_percentage": 50.0,
    }
    assert described(kafka_single, "clients", client_id) == {"producer_byte_rate": 65536.0}
    assert described(kafka_single, "users+clients", user, client_id) == {
        "consumer_byte_rate": 2048000.0
    }
    assert described(kafka_single, "ips", ip) == {"connection_creation_rate": 20.0}
    assert described(kafka_single, "ips", "<default>") == {"connection_creation_rate": 5000.0}

    topic = f"quota-{tag}"
    async with KafkaAdmin({"bootstrap_servers": kafka_single.bootstrap_servers}) as admin:
        await admin.create_topics([NewTopicRequest(topic, 1, 1, {})])
    assert await produce_throttle_ms(kafka_single, topic, client_id) > 0
    assert await produce_throttle_ms(kafka_single, topic, f"free-{tag}") == 0

    # An out-of-band change is drift; removing the default ip entity from the spec plans
    # its removal (in scope, policy allow) and needs --allow-delete.
    kafka_single.run_tool(
        CONFIG_COMMAND,
        "--bootstrap-server",
        kafka_single.bootstrap_servers,
        "--alter",
        "--entity-type",
        "users",
        "--entity-name",
        user,
        "--add-config",
        "producer_byte_rate=1000",
    )
    write_spec(spec, kafka_single, {"quotas": quotas[:4], "ownership": ownership})
    drift = json.loads(cli("plan", "-f", str(spec), "-o", "json").stdout)
    by_address = {c["address"]: c for c in drift["changes"]}
    attrs = {a["path"]: a for a in by_address[f"kafka_quota.user={user}"]["attributes"]}
    assert attrs["producer_byte_rate"]["before"] == 1000.0
    assert "kafka_quota.ip=<default>" not in by_address  # without --allow-delete: a notice
    refused = cli("apply", "-f", str(spec), "--auto-approve")
    assert refused.returncode == 0  # the drift is fixed; the unlisted default is only reported
    deleting = cli("apply", "-f", str(spec), "--auto-approve", "--allow-delete")
    assert deleting.returncode == 0, deleting.stdout + deleting.stderr
    assert described(kafka_single, "ips", "<default>") == {}
    assert described(kafka_single, "users", user)["producer_byte_rate"] == 10 * 1024 * 1024

    # Clean up the session-shared cluster's quotas.
    write_spec(spec, kafka_single, {"ownership": {"quotas": {**ownership["quotas"], "users": [user], "clientIds": [client_id], "ips": [ip]}}})
    cleaned = cli("apply", "-f", str(spec), "--auto-approve", "--allow-delete")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
