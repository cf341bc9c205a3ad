"""Acceptance of the test foundation: the sandboxes start real Kafka and Redis that behave."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from reconciler.sandbox import KafkaSandbox, RedisSandbox
from reconciler.sandbox.redis import parse_info

TOPIC_AUTHORIZATION_FAILED = 29


async def admin_call(
    config: dict[str, Any], call: Callable[[AIOKafkaAdminClient], Awaitable[Any]]
) -> Any:
    """Run one call on a fresh admin client (fresh metadata every time)."""
    client = AIOKafkaAdminClient(request_timeout_ms=10000, **config)
    await client.start()
    try:
        return await call(client)
    finally:
        await client.close()


async def describe_topic(config: dict[str, Any], topic: str) -> dict[str, Any]:
    topics = await admin_call(config, lambda c: c.describe_topics([topic]))
    assert len(topics) == 1
    described: dict[str, Any] = topics[0]
    return described


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll ``check`` until True; client errors while the cluster changes count as 'not yet'."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            if await check():
                return
        except KafkaError as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what} (last error: {last_error!r})"
            )
        await asyncio.sleep(0.5)


def create_errors(response: Any) -> dict[str, int]:
    """topic -> error code of a CreateTopics response."""
    return {entry[0]: entry[1] for entry in response.topic_errors}


# ----------------------------------------------------------------------------- Kafka


async def test_single_create_and_describe_topic(
    kafka_single: KafkaSandbox, unique_name: Callable[..., str]
) -> None:
    topic = unique_name()
    config = kafka_single.client_config()
    response = await admin_call(
        config, lambda c: c.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    )
    assert create_errors(response) == {topic: 0}

    described = await describe_topic(config, topic)
    assert described["error_code"] == 0
    assert sorted(p["partition"] for p in described["partitions"]) == [0, 1, 2]
    assert all(p["replicas"] == p["isr"] and len(p["isr"]) == 1 for p in described["partitions"])

    cluster = await admin_call(config, lambda c: c.describe_cluster())
    assert [b["node_id"] for b in cluster["brokers"]] == kafka_single.node_ids


async def test_cluster_broker_stop_shrinks_isr_and_restart_recovers(
    kafka_cluster: KafkaSandbox, unique_name: Callable[..., str]
) -> None:
    topic = unique_name()
    config = kafka_cluster.client_config()
    assert len(kafka_cluster.node_ids) == 3
    response = await admin_call(
        config, lambda c: c.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])
    )
    assert create_errors(response) == {topic: 0}

    async def isr_sizes() -> list[int]:
        described = await describe_topic(config, topic)
        return [len(p["isr"]) for p in described["partitions"]]

    async def fully_replicated() -> bool:
        return await isr_sizes() == [3, 3, 3]

    await eventually(fully_replicated, 60, "a fully replicated RF=3 topic")

    victim = kafka_cluster.node_ids[-1]
    kafka_cluster.stop_broker(victim)
    try:

        async def under_replicated() -> bool:
            described = await describe_topic(config, topic)
            return all(
                victim not in p["isr"] and len(p["isr"]) == 2 and len(p["replicas"]) == 3
                for p in described["partitions"]
            )

        await eventually(under_replicated, 60, f"broker {victim} to leave every ISR")
        cluster = await admin_call(config, lambda c: c.describe_cluster())
        assert victim not in {b["node_id"] for b in cluster["brokers"]}
    finally:
        kafka_cluster.start_broker(victim)

    await eventually(fully_replicated, 120, f"broker {victim} to rejoin every ISR")
    cluster = await admin_call(config, lambda c: c.describe_cluster())
    assert {b["node_id"] for b in cluster["brokers"]} == set(kafka_cluster.node_ids)


async def test_secure_denies_user_without_acls_and_allows_admin(
    kafka_secure: KafkaSandbox, unique_name: Callable[..., str]
) -> None:
    assert set(kafka_secure.users) == {"admin", "alice", "bob", "carol"}
    admin = kafka_secure.client_config()
    alice = kafka_secure.client_config("alice")
    assert admin["sasl_plain_username"] == "admin"
    assert alice["security_protocol"] == "SASL_PLAINTEXT" and alice["sasl_mechanism"] == "PLAIN"

    # alice authenticates but, without ACLs, may not create a topic ...
    denied = unique_name("denied")
    response = await admin_call(alice, lambda c: c.create_topics([NewTopic(denied, 1, 1)]))
    assert create_errors(response) == {denied: TOPIC_AUTHORIZATION_FAILED}

    # ... while the super user may.
    topic = unique_name()
    response = await admin_call(admin, lambda c: c.create_topics([NewTopic(topic, 1, 1)]))
    assert create_errors(response) == {topic: 0}

    # alice may not write to it either; admin may.
    producer = AIOKafkaProducer(request_timeout_ms=10000, **alice)
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(topic, b"not allowed")
    finally:
        await producer.stop()

    producer = AIOKafkaProducer(request_timeout_ms=10000, **admin)
    await producer.start()
    try:
        metadata = await producer.send_and_wait(topic, b"allowed")
        assert metadata.offset == 0
    finally:
        await producer.stop()


async def test_secure_rejects_a_wrong_password(kafka_secure: KafkaSandbox) -> None:
    config = {**kafka_secure.client_config("bob"), "sasl_plain_password": "wrong"}
    with pytest.raises(KafkaError):
        await admin_call(config, lambda c: c.describe_cluster())


def test_client_config_shapes(kafka_single: KafkaSandbox) -> None:
    assert kafka_single.client_config() == {"bootstrap_servers": kafka_single.bootstrap_servers}
    assert kafka_single.bootstrap_servers.startswith("127.0.0.1:")
    assert kafka_single.users == {}
    with pytest.raises(ValueError):
        kafka_single.client_config("alice")
    assert "kafka.log" in kafka_single.log_tail(5)


# ----------------------------------------------------------------------------- Redis


def cluster_info(address: str, password: str | None = None) -> dict[str, str]:
    host, port = address.rsplit(":", 1)
    client = redis.Redis(host=host, port=int(port), password=password, decode_responses=True)
    try:
        raw = client.execute_command("CLUSTER INFO")
    finally:
        client.close()
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    return parse_info(raw)


def test_formed_redis_cluster_is_ok(redis_cluster: RedisSandbox) -> None:
    assert len(redis_cluster.addresses) == 6
    for address in redis_cluster.addresses:
        info = cluster_info(address)
        assert info["cluster_state"] == "ok"
        assert info["cluster_slots_assigned"] == "16384"
        assert info["cluster_slots_ok"] == "16384"
        assert info["cluster_known_nodes"] == "6"
        assert info["cluster_size"] == "3"

    host, port = redis_cluster.addresses[0].rsplit(":", 1)
    client = RedisCluster(startup_nodes=[ClusterNode(host, int(port))], decode_responses=True)
    try:
        for key in ("alpha", "beta", "gamma", "delta"):
            client.set(f"sandbox:{key}", key)
            assert client.get(f"sandbox:{key}") == key
    finally:
        client.close()

    # 3 masters, each with one replica (CLUSTER NODES: id addr flags master-id ...)
    lines = redis_cluster.command(redis_cluster.ports[0], "CLUSTER", "NODES").splitlines()
    flags = [line.split()[2] for line in lines if line.strip()]
    assert sum("master" in f for f in flags) == 3
    assert sum("slave" in f for f in flags) == 3


def test_bare_redis_nodes_are_alone(redis_factory: Callable[..., RedisSandbox]) -> None:
    bare = redis_factory(nodes=3)
    assert len(bare.addresses) == 3
    for address in bare.addresses:
        info = cluster_info(address)
        assert info["cluster_state"] == "fail"
        assert info["cluster_known_nodes"] == "1"
        assert info["cluster_slots_assigned"] == "0"


def test_redis_password_kill_restart_and_add_nodes(
    redis_factory: Callable[..., RedisSandbox],
) -> None:
    sandbox = redis_factory(nodes=3, password="s3cret")
    port = sandbox.ports[0]
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, host="127.0.0.1").ping()
    assert cluster_info(sandbox.addresses[0], "s3cret")["cluster_state"] == "fail"

    old_pid = sandbox.pids[port]
    sandbox.kill_node(port)
    assert port not in sandbox.pids
    with pytest.raises(redis.ConnectionError):
        redis.Redis(
            port=port,
            host="127.0.0.1",
            password="s3cret",
            socket_timeout=1,
            retry=Retry(NoBackoff(), 0),
        ).ping()
    sandbox.restart_node(port)
    assert sandbox.pids[port] != old_pid
    assert redis.Redis(port=port, host="127.0.0.1", password="s3cret").ping()

    added = sandbox.add_nodes(2)
    assert len(added) == 2 and set(added) <= set(sandbox.addresses)
    assert len(sandbox.addresses) == 5
    assert cluster_info(added[0], "s3cret")["cluster_known_nodes"] == "1"


def test_stop_leaves_no_process_or_directory() -> None:
    sandbox = RedisSandbox(nodes=3)
    with sandbox:
        pids = list(sandbox.pids.values())
        workdir = sandbox.workdir
        assert len(pids) == 3 and workdir.is_dir()
    assert not workdir.exists()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


# ----------------------------------------------------------------------------- CLI


@pytest.mark.slow
def test_cli_up_status_down(tmp_path: Path) -> None:
    """``python -m reconciler.sandbox up`` leaves detached services; ``down`` removes them."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reconciler.sandbox", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ},
        )

    up = run("up", "--shape", "single", "--redis-nodes", "3")
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / ".sandbox" / "state.json").read_text())
    assert f"export LLM_ANALYTICS_BOOTSTRAP_SERVERS={state['bootstrap_servers']}" in up.stdout
    assert "export LLM_ANALYTICS_REDIS_ADDRESSES=" in up.stdout
    pids = [*state["kafka_pids"].values(), *state["redis_pids"].values()]
    try:
        assert len(pids) == 4
        assert all(_state(pid) not in ("gone", "Z") for pid in pids)  # survived `up`
        assert run("status").returncode == 0
        assert run("env").stdout == up.stdout
        assert cluster_info(state["redis_addresses"][0])["cluster_state"] == "fail"
    finally:
        down = run("down")
    assert down.returncode == 0, down.stderr
    assert not (tmp_path / ".sandbox" / "state.json").exists()
    assert not Path(state["kafka_workdir"]).exists()
    assert all(_state(pid) in ("gone", "Z") for pid in pids)
    assert run("status").returncode == 1


# ----------------------------------------------------------------------------- Kubernetes


def test_kubernetes_stop_leaves_no_process_or_directory() -> None:
    from reconciler.sandbox.kubernetes import KubernetesSandbox

    sandbox = KubernetesSandbox(nodes=1)
    with sandbox:
        pods = sandbox.redis_pods("lifecycle")
        pods.add(2)
        pids = list(sandbox.pids.values())
        workdir = sandbox.workdir
        assert len(pids) == 5 and workdir.is_dir()  # etcd, apiserver, kwok, 2 redis
        version = sandbox.client.get("/version")
        assert version["gitVersion"] == "v1.36.3"
    assert not workdir.exists()
    for pid in pids:
        assert _state(pid) in ("gone", "Z")


@pytest.mark.slow
def test_cli_up_kubernetes_then_redis_init_and_verify(tmp_path: Path) -> None:
    """What the README tells a user: ``make sandbox-up KUBERNETES=1``, then ``redis init -n``."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env=env or {**os.environ},
        )

    sandbox = [sys.executable, "-m", "reconciler.sandbox"]
    up = run(*sandbox, "up", "--kubernetes", "--redis-nodes", "0", "--pods", "6")
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / ".sandbox" / "state.json").read_text())
    try:
        assert "export KUBECONFIG=" in up.stdout
        assert "export LLM_ANALYTICS_NAMESPACE=llm-analytics-hub" in up.stdout
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_ANALYTICS_")}
        for line in run(*sandbox, "env").stdout.splitlines():
            if line.startswith("export "):
                key, _, value = line[len("export ") :].partition("=")
                env[key] = value.strip("'")
        tool = [sys.executable, "-m", "reconciler.cli.main"]
        init = run(*tool, "redis", "init", "-n", "llm-analytics-hub", "--yes", env=env)
        assert init.returncode == 0, init.stdout + init.stderr
        verify = run(*tool, "redis", "verify", "-n", "llm-analytics-hub", env=env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "Cluster verification passed" in verify.stdout + verify.stderr
        assert run(*sandbox, "status").returncode == 0
    finally:
        down = run(*sandbox, "down")
    assert down.returncode == 0, down.stderr
    pids = [*state["kafka_pids"].values(), *state["kubernetes_pids"].values()]
    assert len(state["kubernetes_pids"]) == 3 + 6
    assert all(_state(pid) in ("gone", "Z") for pid in pids)
    assert not Path(state["kubernetes_workdir"]).exists()


@pytest.mark.integration
def test_kafka_node_whose_port_was_taken_starts_on_another(tmp_path: Path) -> None:
    """A free port chosen can be taken before the broker binds it: the sandbox starts its
    nodes again on other ports."""
    from tests.integration.ports import taken

    sandbox = KafkaSandbox("single", workdir=tmp_path / "kafka")
    first = sandbox.bootstrap_servers
    with taken(int(first.rsplit(":", 1)[1])):
        try:
            sandbox.start()
            assert sandbox.bootstrap_servers != first

            async def names() -> set[str]:
                admin = AIOKafkaAdminClient(**sandbox.client_config())
                await admin.start()
                try:
                    return set(await admin.list_topics())
                finally:
                    await admin.close()

            assert isinstance(asyncio.run(names()), set)
        finally:
            sandbox.stop()
