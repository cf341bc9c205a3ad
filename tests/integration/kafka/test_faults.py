"""Faults mid-apply on the real three-broker cluster: every apply either finishes or says
what is stuck, releases the lock, and a rerun converges.

- a reassignment whose target broker goes down (throttled so that it is still running)
  fails after the stall time naming the stuck partitions; the rerun after the broker is
  back converges;
- a broker killed while topics are created: the apply reports, the rerun converges;
- the tool itself killed with SIGKILL mid-apply: the rerun converges.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.sandbox import KafkaSandbox
from tests.integration.gitops.conftest import admin_call, cli_argv, cli_env, run_cli

pytestmark = pytest.mark.integration


def spec(path: Path, sandbox: KafkaSandbox, prefix: str, topics: list[dict[str, Any]]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "llm-analytics/v1",
                "kind": "ClusterSpec",
                "metadata": {"name": "faults"},
                "kafka": {
                    "connection": {"bootstrapServers": sandbox.bootstrap_servers},
                    "topics": topics,
                    "ownership": {"topics": {"prefixes": [prefix]}},
                },
            },
            sort_keys=False,
        )
    )
    return path


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def converged(path: Path, timeout: float = 180) -> None:
    """Reruns of apply until the plan is empty (a reassignment may still finish first)."""
    deadline = time.monotonic() + timeout
    while True:
        applied = run_cli("apply", "-f", str(path), "--auto-approve", timeout=240)
        plan = run_cli("plan", "-f", str(path), "--detailed-exitcode")
        if applied.code == 0 and plan.code == 0:
            return
        assert time.monotonic() < deadline, applied.output + plan.output
        time.sleep(2)


async def _produce(config: dict[str, Any], topic: str, partitions: int, size: int) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**config, acks=1, linger_ms=5, max_request_size=2_000_000)
    await producer.start()
    try:
        value = os.urandom(1000)
        for index in range(size // 1000):
            await producer.send(topic, value, partition=index % partitions)
        await producer.flush()
    finally:
        await producer.stop()


async def _throttle(config: dict[str, Any], brokers: list[int], rate: str | None) -> None:
    """Kafka's replication throttle on every broker (``None``: removed)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(**config)
    await admin.start()
    try:
        settings = {
            "leader.replication.throttled.rate": rate or "",
            "follower.replication.throttled.rate": rate or "",
        }
        if rate is None:
            settings = {}
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.BROKER, str(b), settings) for b in brokers]
        )
    finally:
        await admin.close()


def test_a_reassignment_to_a_dead_broker_stalls_names_it_and_a_rerun_converges(
    kafka_cluster: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    config = kafka_cluster.client_config()
    prefix = unique_name("fault-reassign")
    name = f"{prefix}-t"
    try:
        _reassignment_stalls_then_converges(kafka_cluster, config, tmp_path, prefix, name)
    finally:  # the cluster is shared: an RF 1 topic left behind would be offline in others' checks
        admin_call(config, "delete_topics", [name])


def _reassignment_stalls_then_converges(
    kafka_cluster: KafkaSandbox, config: dict[str, Any], tmp_path: Path, prefix: str, name: str
) -> None:
    throttled = {"leader.replication.throttled.replicas": "*",
                 "follower.replication.throttled.replicas": "*"}  # fmt: skip
    one = spec(tmp_path / "rf1.yaml", kafka_cluster, prefix,
               [{"name": name, "partitions": 2, "replicationFactor": 1, "config": throttled}])  # fmt: skip
    assert run_cli("apply", "-f", str(one), "--auto-approve").code == 0
    asyncio.run(_produce(config, name, 2, 1_000_000))
    asyncio.run(_throttle(config, kafka_cluster.node_ids, "20000"))  # 20 kB/s: minutes
    three = spec(tmp_path / "rf3.yaml", kafka_cluster, prefix,
                 [{"name": name, "partitions": 2, "replicationFactor": 3, "config": throttled}])  # fmt: skip
    log = tmp_path / "apply.log"
    victim: int | None = None
    try:
        with log.open("wb") as stream:
            started = time.monotonic()
            apply = subprocess.Popen(
                cli_argv("apply", "-f", str(three), "--auto-approve"),
                stdout=subprocess.DEVNULL,
                stderr=stream,
                stdin=subprocess.DEVNULL,
                env=cli_env(extra={"LLM_ANALYTICS_STALL_TIMEOUT": "15s"}),
            )
            wait_until(lambda: "reassignment 0/2" in log.read_text(), 120, "the reassignment")
            state = admin_call(config, "cluster_state", with_configs=False, topics=[name])
            # Two partitions on three brokers: one broker leads none; it only receives.
            leaders = {p.leader for p in state.topics[name].partitions}
            victim = next(b for b in kafka_cluster.node_ids if b not in leaders)
            kafka_cluster.stop_broker(victim)
            code = apply.wait(240)
        took = time.monotonic() - started
        text = log.read_text()
        assert code == 1, text
        assert "made no progress" in text and f"target broker(s) {victim} offline" in text, text
        assert "run apply again" in text
        assert took < 200
    finally:
        asyncio.run(_throttle(config, [b for b in kafka_cluster.node_ids if b != victim], None))
        if victim is not None:
            kafka_cluster.start_broker(victim)
            asyncio.run(_throttle(config, [victim], None))
    # The stalled run released the lock (it did not wait for its TTL): with the broker back
    # (the lock group's coordinator may live on it), a run that will not wait gets it.
    free = run_cli("apply", "-f", str(three), "--auto-approve", "--lock-timeout", "0",
                   "--target", "kafka_topic.none")  # fmt: skip
    assert free.code == 0, free.output
    converged(three)
    state = admin_call(config, "cluster_state", with_configs=False, topics=[name])
    assert all(len(p.replicas) == 3 for p in state.topics[name].partitions)


def test_a_broker_killed_while_topics_are_created_then_a_rerun_converges(
    kafka_cluster: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    prefix = unique_name("fault-create")
    topics = [{"name": f"{prefix}-{i:03d}", "partitions": 3, "replicationFactor": 2}
              for i in range(150)]  # fmt: skip
    path = spec(tmp_path / "spec.yaml", kafka_cluster, prefix, topics)
    log = tmp_path / "apply.log"
    victim = kafka_cluster.node_ids[-1]
    try:
        with log.open("wb") as stream:
            apply = subprocess.Popen(
                cli_argv("apply", "-f", str(path), "--auto-approve"),
                stdout=subprocess.DEVNULL, stderr=stream, stdin=subprocess.DEVNULL,
                env=cli_env(),
            )  # fmt: skip
            wait_until(lambda: "creating..." in log.read_text(), 120, "the creations")
            kafka_cluster.stop_broker(victim)
            code = apply.wait(300)
        text = log.read_text()
        assert code in (0, 1), text  # finished, or said what is left; never hung
        assert "Traceback" not in text and "unexpected" not in text, text
    finally:
        kafka_cluster.start_broker(victim)
    converged(path)


def test_the_tool_killed_mid_apply_then_a_rerun_converges(
    kafka_cluster: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    prefix = unique_name("fault-kill")
    topics = [{"name": f"{prefix}-{i:03d}", "partitions": 2, "replicationFactor": 3}
              for i in range(200)]  # fmt: skip
    path = spec(tmp_path / "spec.yaml", kafka_cluster, prefix, topics)
    log = tmp_path / "apply.log"
    with log.open("wb") as stream:
        apply = subprocess.Popen(
            cli_argv("apply", "-f", str(path), "--auto-approve"),
            stdout=subprocess.DEVNULL, stderr=stream, stdin=subprocess.DEVNULL, env=cli_env(),
        )  # fmt: skip
        wait_until(lambda: "creating..." in log.read_text(), 120, "the creations")
        os.kill(apply.pid, signal.SIGKILL)
        apply.wait(30)
    # The killed run's lock expires after its TTL; the rerun waits for it and converges.
    converged(path)
