"""The Redis apply lock against real redis-server nodes (a formed 3-master cluster)."""

from __future__ import annotations

import asyncio
import functools
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.locking import LockLost, LockOwner, LockSet, LockUnavailable
from reconciler.providers.redis.locking import LOCK_KEY, RedisLock
from reconciler.providers.redis.transports import DirectTransport
from tests.integration.gitops.conftest import run_cli, stamped

pytestmark = pytest.mark.integration


@functools.cache
def owner(name: str) -> LockOwner:
    return LockOwner(
        host=f"host-{name}",
        pid=100,
        user=name,
        started_at="2024-05-01T12:00:00Z",
        command=f"apply by {name}",
    )


@pytest.fixture(scope="module")
def cluster(redis_factory: Callable[..., Any]) -> Any:
    return redis_factory(nodes=3, formed=True, replicas=0)


def lock(addresses: list[str], ttl: float = 2.0) -> RedisLock:
    return RedisLock(DirectTransport(addresses), ttl_seconds=ttl)


def slot_owner(cluster: Any) -> str:
    """host:port of the master serving the lock key's slot."""
    port = cluster.ports[0]
    slot = int(cluster.command(port, "CLUSTER", "KEYSLOT", LOCK_KEY))
    for line in cluster.command(port, "CLUSTER", "NODES").splitlines():
        fields = line.split()
        if "master" not in fields[2]:
            continue
        for part in fields[8:]:
            start, _, end = part.partition("-")
            if start.isdigit() and int(start) <= slot <= int(end or start):
                return fields[1].split("@")[0]
    raise AssertionError("no owner of the lock slot")


async def test_one_holder_named_to_others_with_growing_tokens(cluster: Any) -> None:
    serving = slot_owner(cluster)
    others = [a for a in cluster.addresses if a != serving]
    first, second = lock(others), lock(list(reversed(others)))  # both start with MOVED
    try:
        got = await first.try_acquire(owner("alice"))
        assert got.acquired and got.token is not None
        refused = await second.try_acquire(owner("bob"))
        assert not refused.acquired and refused.holder == owner("alice")
        await first.renew()
        await first.release()
        taken = await second.try_acquire(owner("bob"))
        assert taken.acquired and taken.token is not None and taken.token > got.token
        assert await first.holder() == owner("bob")
    finally:
        await second.release()
        await first.close()
        await second.close()


async def test_a_crashed_holder_expires_and_cannot_touch_the_new_lock(cluster: Any) -> None:
    crashed, waiting = lock(cluster.addresses, ttl=1.0), lock(cluster.addresses, ttl=1.0)
    try:
        assert (await crashed.try_acquire(owner("crashed"))).acquired
        assert not (await waiting.try_acquire(owner("waiting"))).acquired
        await asyncio.sleep(1.3)  # no heartbeat: the key expires in Redis
        assert (await waiting.try_acquire(owner("waiting"))).acquired
        with pytest.raises(LockLost):
            await crashed.renew()
        await crashed.release()  # compare-and-delete: the new holder's key stays
        assert await waiting.holder() == owner("waiting")
    finally:
        await waiting.release()
        await crashed.close()
        await waiting.close()


async def test_the_heartbeat_keeps_the_lock_past_its_ttl(cluster: Any) -> None:
    other = lock(cluster.addresses, ttl=1.0)
    try:
        async with LockSet([lock(cluster.addresses, ttl=1.0)], owner("long"), timeout=0) as held:
            await held.guard(asyncio.sleep(2.5))
            assert not held.lost
            assert not (await other.try_acquire(owner("other"))).acquired
        assert (await other.try_acquire(owner("other"))).acquired
    finally:
        await other.release()
        await other.close()


async def test_a_cluster_without_slots_cannot_hold_the_lock(
    redis_factory: Callable[..., Any],
) -> None:
    bare = redis_factory(nodes=1)
    candidate = lock(bare.addresses)
    try:
        with pytest.raises(LockUnavailable, match="serves no hash slot"):
            await candidate.try_acquire(owner("bootstrap"))
    finally:
        await candidate.close()


def redis_spec(path: Path, topic: str, addresses: list[str]) -> Path:
    import yaml

    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "llm-analytics/v1",
                "kind": "ClusterSpec",
                "metadata": {"name": "both"},
                "kafka": {
                    "connection": {"bootstrapServers": "overridden-by-env:9092"},
                    "defaults": {"replicationFactor": 1},
                    "topics": [{"name": topic}],
                },
                "redis": {
                    "connection": {"addresses": ",".join(addresses)},
                    "cluster": {"masters": 3, "replicasPerMaster": 0, "placement": "none"},
                },
            }
        )
    )
    return path


def test_an_apply_of_both_targets_locks_kafka_then_redis(
    kafka_single: Any, cluster: Any, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    spec = redis_spec(tmp_path / "spec.yaml", unique_name("both"), cluster.addresses)
    result = run_cli(
        "apply", "-f", str(spec), "--auto-approve", bootstrap=kafka_single.bootstrap_servers
    )
    assert result.code == 0, result.output
    events = [message for _, message in stamped(result.stderr) if "the apply lock" in message]
    assert [e.split(" (")[0] for e in events] == [
        "Acquired the apply lock",
        "Acquired the apply lock",
        "Released the apply lock",
        "Released the apply lock",
    ]
    assert "Kafka consumer group" in events[0] and "Redis key" in events[1]
    assert "Redis key" in events[2] and "Kafka consumer group" in events[3]


def test_bootstrapping_a_redis_cluster_goes_on_without_its_lock(
    kafka_single: Any,
    redis_factory: Callable[..., Any],
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> None:
    bare = redis_factory(nodes=3)
    spec = redis_spec(tmp_path / "spec.yaml", unique_name("boot"), bare.addresses)
    result = run_cli(
        "apply",
        "-f",
        str(spec),
        "--target",
        "redis",
        "--auto-approve",
        bootstrap=kafka_single.bootstrap_servers,
    )
    assert result.code == 0, result.output
    assert "going on without the apply lock (Redis key" in result.stderr
    assert "serves no hash slot" in result.stderr


async def test_redis_init_waits_for_the_lock_then_exits_3_naming_the_holder(cluster: Any) -> None:
    """``redis init`` on a formed cluster runs the engine's workflow: under the apply lock."""
    addresses = cluster.addresses
    holder = lock(addresses, ttl=30.0)
    attempt = await holder.try_acquire(owner("ops"))
    assert attempt.acquired
    try:
        refused = await asyncio.to_thread(
            run_cli,
            "redis", "init", "--addresses", ",".join(addresses), "--nodes", "3",
            "--replicas", "0", "-y", "--lock-timeout", "2s",
        )  # fmt: skip
    finally:
        await holder.release()
        await holder.close()
    assert refused.code == 3, refused.output
    assert "Waiting for the apply lock" in refused.stderr
    assert "held by ops@host-ops (pid 100)" in refused.stderr
    done = await asyncio.to_thread(
        run_cli, "redis", "init", "--addresses", ",".join(addresses), "--nodes", "3",
        "--replicas", "0", "-y",
    )  # fmt: skip
    assert done.code == 0, done.output
    assert "Acquired the apply lock" in done.stderr or "Nothing to apply" in done.stdout


def test_redis_init_dry_run_of_an_impossible_layout_exits_1_with_one_message(
    redis_factory: Callable[..., Any],
) -> None:
    bare = redis_factory(nodes=6)
    result = run_cli(
        "redis", "init", "--addresses", ",".join(bare.addresses), "--nodes", "9",
        "--replicas", "2", "--dry-run",
    )  # fmt: skip
    assert result.code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "No changes" not in result.stdout and "nothing to do" not in result.output


def test_redis_init_refuses_a_shrink_without_allow_delete_and_changes_nothing(
    redis_factory: Callable[..., Any],
) -> None:
    four = redis_factory(nodes=4, formed=True, replicas=0)
    addresses = ",".join(four.addresses)
    refused = run_cli(
        "redis", "init", "--addresses", addresses, "--nodes", "3", "--replicas", "0", "-y"
    )
    assert refused.code == 3, refused.output
    assert "--allow-delete" in refused.output
    host, port = four.addresses[0].split(":")
    nodes = subprocess.run(
        ["redis-cli", "-h", host, "-p", port, "cluster", "nodes"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert sum("master" in line for line in nodes.splitlines()) == 4
