"""Acceptance of the operator against the Kubernetes sandbox's real kube-apiserver (RBAC on,
the operator running with a token of examples/operator's ServiceAccount), real Kafka
(PLAINTEXT and SASL_SSL/SCRAM) and a real Redis cluster."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from reconciler.providers.kafka.client import NewTopicRequest
from reconciler.sandbox.kafka import SUPER_USER
from tests.integration.gitops.conftest import admin_call, topic_configs
from tests.integration.operator.conftest import OperatorNamespace, condition

pytestmark = pytest.mark.integration

DAY_MS = "86400000"


def kafka_section(connection: dict[str, Any], prefix: str, topic: str) -> dict[str, Any]:
    return {
        "connection": connection,
        "ownership": {"topics": {"prefixes": [prefix]}},
        "topics": [
            {
                "name": topic,
                "partitions": 1,
                "replicationFactor": 1,
                "config": {"retention.ms": "1d"},
            }
        ],
    }


def topic_names(config: dict[str, Any]) -> set[str]:
    return set(admin_call(config, "cluster_state").topics)


def scram_connection(kafka: Any, secret: str) -> dict[str, Any]:
    connection = kafka.spec_connection()
    connection["security"]["sasl"]["password"] = {"secretKeyRef": {"name": secret, "key": "pw"}}
    return connection


def test_plan_only_reports_drift_apply_reverts_it_and_deletion_keeps_everything(
    operator_namespace: OperatorNamespace,
    kafka_single: Any,
    kafka_scram: Any,
    redis_cluster: Any,
    unique_name: Callable[[str], str],
) -> None:
    ns = operator_namespace
    prefix = unique_name("op")
    applied, planned = f"{prefix}-applied", f"{prefix}-planned"
    config, scram = kafka_single.client_config(), kafka_scram.client_config()
    admin_call(scram, "create_topics", [NewTopicRequest(planned, 1, 1, {"retention.ms": DAY_MS})])
    ns.secret("kafka-scram", {"pw": kafka_scram.users[SUPER_USER]})
    ns.create(
        "applied",
        {
            "reconcile": "apply",
            "intervalSeconds": 10,
            "kafka": kafka_section(
                {"bootstrapServers": kafka_single.bootstrap_servers}, prefix, applied
            ),
        },
    )
    ns.create(
        "planned",
        {
            "reconcile": "plan-only",
            "intervalSeconds": 10,
            "kafka": kafka_section(scram_connection(kafka_scram, "kafka-scram"), prefix, planned),
        },
    )
    ns.create(
        "redis",
        {
            "intervalSeconds": 10,
            "redis": {
                "connection": {"addresses": list(redis_cluster.addresses)},
                "cluster": {"masters": 3, "replicasPerMaster": 1, "placement": "none"},
            },
        },
    )
    operator = ns.start_operator("--standalone", "--concurrency", "2")

    # Ready, each: the apply one after creating its topic, the others as found.
    ready = ns.wait_for("applied", lambda r: condition(r, "Ready") == "True")
    assert ready["status"]["outcome"] in ("Applied", "InSync")
    assert topic_configs(config, [applied])[applied]["retention.ms"] == DAY_MS
    ns.wait_for("planned", lambda r: condition(r, "Ready") == "True")
    ns.wait_for("redis", lambda r: condition(r, "Ready") == "True")

    # Out of band, on both Kafka clusters: a retention cut.
    admin_call(config, "alter_topic_configs", {applied: {"retention.ms": "3600000"}})
    admin_call(scram, "alter_topic_configs", {planned: {"retention.ms": "3600000"}})
    drifted = ns.wait_for("planned", lambda r: condition(r, "Drifted") == "True", timeout=45)
    assert drifted["status"]["changes"] == [
        {"address": f"kafka_topic.{planned}", "action": "update"}
    ]
    assert condition(drifted, "Ready") == "False"
    assert any(e["reason"] == "Drifted" for e in ns.events("planned"))
    whole = ns.config_map("llm-analytics-plan-planned", operator)
    assert f"kafka_topic.{planned}" in whole["data"]["plan.txt"]
    assert kafka_scram.users[SUPER_USER] not in str(whole)
    checked = ns.get("applied")["status"]["lastCheckTime"]
    ns.wait_for(
        "applied",
        lambda r: (
            r["status"]["lastCheckTime"] != checked
            and topic_configs(config, [applied])[applied]["retention.ms"] == DAY_MS
        ),
        timeout=45,
    )
    ns.wait_for("applied", lambda r: condition(r, "Ready") == "True", timeout=30)
    assert any(e["reason"] == "Applied" for e in ns.events("applied"))
    time.sleep(12)  # another check of the plan-only one: still not reverted
    assert topic_configs(scram, [planned])[planned]["retention.ms"] == "3600000"
    assert condition(ns.get("planned"), "Drifted") == "True"

    # A spec change is checked at once, not after the interval.
    ns.patch_spec("planned", {"intervalSeconds": 3600})
    generation = ns.get("planned")["metadata"]["generation"]
    ns.wait_for("planned", lambda r: r["status"].get("observedGeneration") == generation, 30)

    # Deleting a ClusterSpec deletes nothing and nothing blocks it: no finalizer, ever.
    for name in ("applied", "planned", "redis"):
        assert not ns.get(name)["metadata"].get("finalizers")
    ns.client.request(
        "DELETE", f"/apis/llm-analytics.io/v1/namespaces/{ns.name}/clusterspecs/applied"
    )
    time.sleep(1)
    assert applied in topic_names(config)
    logs = operator.text()
    assert kafka_scram.users[SUPER_USER] not in logs
    assert "Traceback" not in logs


def test_two_replicas_one_active_and_handover_when_it_dies(
    operator_namespace: OperatorNamespace, kafka_single: Any, unique_name: Callable[[str], str]
) -> None:
    ns = operator_namespace
    prefix = unique_name("peer")
    topic = f"{prefix}-t"
    admin_call(kafka_single.client_config(), "create_topics", [NewTopicRequest(topic, 1, 1, {})])
    ns.create(
        "shared",
        {
            "intervalSeconds": 10,
            "kafka": kafka_section(
                {"bootstrapServers": kafka_single.bootstrap_servers}, prefix, topic
            ),
        },
    )
    lifetime = "10"
    high = ns.start_operator("--priority", "100", "--peering-lifetime", lifetime)
    ns.wait_for("shared", lambda r: bool(r.get("status", {}).get("lastCheckTime")))
    low = ns.start_operator("--priority", "50", "--peering-lifetime", lifetime)
    peering = f"/apis/kopf.dev/v1/namespaces/{ns.name}/kopfpeerings/llm-analytics"
    deadline = time.monotonic() + 60
    while sorted(p.get("priority") for p in ns.client.get(peering).get("status", {}).values()) != [
        50,
        100,
    ]:
        assert time.monotonic() < deadline, (ns.client.get(peering), low.log_tail())
        time.sleep(0.5)
    time.sleep(12)  # a check interval: the paused replica checks nothing
    assert f"{ns.name}/shared:" not in low.text()
    assert f"{ns.name}/shared:" in high.text()

    high.kill()
    killed = time.monotonic()
    deadline = killed + 60
    # The dead replica's peering record expires after its lifetime; the other resumes.
    while f"{ns.name}/shared:" not in low.text():
        assert time.monotonic() < deadline, low.log_tail()
        time.sleep(0.5)
    assert time.monotonic() - killed < 60


def test_a_round_of_twenty_cluster_specs_with_bounded_concurrency(
    operator_namespace: OperatorNamespace,
    kafka_single: Any,
    redis_cluster: Any,
    unique_name: Callable[[str], str],
) -> None:
    ns = operator_namespace
    prefix = unique_name("fleet")
    names = [f"cluster-{i:02}" for i in range(20)]
    for index, name in enumerate(names):
        if index % 4 == 3:
            section = {
                "redis": {
                    "connection": {"addresses": list(redis_cluster.addresses)},
                    "cluster": {"masters": 3, "replicasPerMaster": 1, "placement": "none"},
                }
            }
        else:
            connection = {"bootstrapServers": kafka_single.bootstrap_servers}
            section = {
                "kafka": kafka_section(connection, f"{prefix}-{index}", f"{prefix}-{index}-t")
            }
        ns.create(name, {"intervalSeconds": 3600, **section})
    started = time.monotonic()
    operator = ns.start_operator("--standalone", "--concurrency", "4")
    for name in names:
        ns.wait_for(name, lambda r: bool(r.get("status", {}).get("lastCheckTime")), timeout=120)
    round_seconds = time.monotonic() - started
    in_flight, most = 0, 0
    for line in operator.text().splitlines():
        if line.endswith(": checking"):
            in_flight += 1
            most = max(most, in_flight)
        elif " in " in line and f"{ns.name}/cluster-" in line and line.rstrip().endswith("s"):
            in_flight -= 1
    assert 1 < most <= 4, operator.log_tail()
    statuses = [ns.get(name)["status"]["outcome"] for name in names]
    assert statuses.count("Drifted") == 15 and statuses.count("InSync") == 5
    print(
        f"\none round of 20 ClusterSpecs at concurrency 4: {round_seconds:.1f}s (operator start included)"
    )


def test_a_policy_violation_is_reported_and_never_applied(
    operator_namespace: OperatorNamespace, kafka_single: Any, unique_name: Callable[[str], str]
) -> None:
    ns = operator_namespace
    prefix = unique_name("pol")
    topic = f"{prefix}-wide"
    kafka = kafka_section({"bootstrapServers": kafka_single.bootstrap_servers}, prefix, topic)
    kafka["topics"][0]["partitions"] = 8
    ns.create(
        "guarded",
        {
            "reconcile": "apply",
            "intervalSeconds": 3600,
            "policies": [{"name": "partition-cap", "maxPartitions": 4}],
            "kafka": kafka,
        },
    )
    ns.start_operator("--standalone")
    drifted = ns.wait_for("guarded", lambda r: condition(r, "Drifted") == "True")
    message = next(c for c in drifted["status"]["conditions"] if c["type"] == "Drifted")
    assert drifted["status"]["outcome"] == "Drifted"
    assert any("partition-cap" in e["message"] for e in ns.events("guarded")), message
    assert topic not in topic_names(kafka_single.client_config())
