"""Acceptance: init, grow, shrink, repair and verify on real redis-server processes.

Every Redis node is a real server; Kubernetes tests run against the sandbox's real
kube-apiserver (kwok nodes), the tool with the examples' ServiceAccount token.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.engine.plan import Action, Risk
from reconciler.engine.providers import ApplyOptions, PlanOptions, ResultStatus
from reconciler.providers.redis.layout import DesiredLayout
from reconciler.providers.redis.provider import RedisClusterProvider
from reconciler.providers.redis.state import ClusterObservation
from reconciler.providers.redis.steps import MoveSlots
from reconciler.providers.redis.transports import DirectTransport
from tests.integration.redis.conftest import cluster_check
from tests.integration.redis.keys import user_key_count

pytestmark = pytest.mark.integration


@dataclass
class Outcome:
    exit_code: int
    output: str


def invoke(*args: str) -> Outcome:
    """Run the CLI like the console script does: commands return their exit code."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, standalone_mode=False)
    code = result.return_value if isinstance(result.return_value, int) else result.exit_code
    return Outcome(code, result.output)


async def ainvoke(*args: str) -> Outcome:
    """The CLI starts its own event loop: run it in a thread from async tests."""
    return await asyncio.to_thread(invoke, *args)


def provider_for(
    addresses: list[str], masters: int = 3, replicas: int = 1, labels: dict[str, str] | None = None
) -> RedisClusterProvider:
    transport = DirectTransport(addresses, host_labels=labels)
    return RedisClusterProvider(transport, DesiredLayout(masters, replicas), converge_timeout=30)


async def plan_and_apply(provider: RedisClusterProvider, allow_delete: bool = False) -> list[Any]:
    plan = await provider.plan(PlanOptions(allow_delete=allow_delete))
    results = await provider.apply(plan.changes, ApplyOptions())
    failed = [r for r in results if r.status is not ResultStatus.APPLIED]
    assert not failed, failed
    return list(plan.changes)


def replica_hosts(observation: ClusterObservation) -> list[tuple[str, str]]:
    """(replica host, master host) for every replica."""
    by_id = {v.node_id: v for v in observation.views}
    pairs = []
    for view in observation.views:
        me = view.myself
        if me.is_replica:
            pairs.append((view.host, by_id[me.master_id].host))  # type: ignore[index]
    return pairs


# --------------------------------------------------------------------------- init


async def test_init_direct_via_cli(redis_factory: Any) -> None:
    sandbox = redis_factory(nodes=6)
    addresses = ",".join(sandbox.addresses)
    dry = await ainvoke("redis", "init", "--addresses", addresses, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "redis_cluster.redis will be created" in dry.output
    result = await ainvoke("redis", "init", "--addresses", addresses, "--yes")
    assert result.exit_code == 0, result.output
    cluster_check(sandbox.addresses[0])
    again = await ainvoke("redis", "init", "--addresses", addresses, "--yes")
    assert again.exit_code == 0 and "nothing to do" in again.output
    verify = await ainvoke("redis", "verify", "--addresses", addresses)
    assert verify.exit_code == 0, verify.output
    assert "=== Redis Cluster Verification ===" in verify.output
    assert "Slots Assigned" in verify.output and "16384/16384" in verify.output
    assert "✓ Cluster verification passed" in verify.output
    as_json = await ainvoke("redis", "verify", "--addresses", addresses, "--json")
    assert '"healthy": true' in as_json.output


async def test_init_direct_spreads_replicas_over_labelled_hosts(redis_factory: Any) -> None:
    sandbox = redis_factory(nodes=6)
    labels = {a: f"host-{i % 3}" for i, a in enumerate(sandbox.addresses)}
    provider = provider_for(sandbox.addresses, labels=labels)
    try:
        await plan_and_apply(provider)
        observation = await provider.observe()
        pairs = replica_hosts(observation)
        assert len(pairs) == 3 and all(r != m for r, m in pairs), pairs
        assert not (await provider.plan(PlanOptions())).changes
    finally:
        await provider.close()
    cluster_check(sandbox.addresses[0])


async def test_init_kubernetes_via_cli(redis_pods: Any) -> None:
    pods = redis_pods(6)
    result = await ainvoke("redis", "init", "-n", pods.namespace, "--yes")
    assert result.exit_code == 0, result.output
    cluster_check(pods.addresses()[0])
    node_of_ip = {p.ip: p.node_name for p in pods.pods.values()}
    import subprocess

    from reconciler.providers.redis.state import parse_cluster_nodes

    # One node's view: roles set on the other nodes reach it by gossip, within moments.
    deadline = time.monotonic() + 10
    while True:
        text = subprocess.run(
            ["redis-cli", "-h", next(iter(node_of_ip)), "cluster", "nodes"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        nodes = {n.id: n for n in parse_cluster_nodes(text)}
        replicas = [n for n in nodes.values() if n.is_replica]
        if len(replicas) == 3 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert len(replicas) == 3
    for replica in replicas:
        master = nodes[replica.master_id]  # type: ignore[index]
        assert node_of_ip[replica.ip] != node_of_ip[master.ip]
    verify = await ainvoke("redis", "verify", "-n", pods.namespace)
    assert verify.exit_code == 0, verify.output
    assert "every replica is on a different host from its master" in verify.output
    again = await ainvoke("redis", "init", "-n", pods.namespace, "--dry-run")
    assert "No changes" in again.output


async def test_verify_reports_a_dead_pod_instead_of_waiting(redis_pods: Any) -> None:
    pods = redis_pods(6)
    assert (await ainvoke("redis", "init", "-n", pods.namespace, "--yes")).exit_code == 0
    pods.kill("redis-cluster-5")
    verify = await ainvoke("redis", "verify", "-n", pods.namespace)
    assert verify.exit_code == 2, verify.output
    assert "redis-cluster-5" in verify.output and "not Running and Ready" in verify.output


async def test_pod_restart_with_new_ip_is_not_a_new_node(redis_pods: Any) -> None:
    pods = redis_pods(6)
    assert (await ainvoke("redis", "init", "-n", pods.namespace, "--yes")).exit_code == 0
    name = "redis-cluster-4"
    old_ip = pods.pods[name].ip
    import subprocess

    node_id = subprocess.run(
        ["redis-cli", "-h", old_ip, "cluster", "myid"], capture_output=True, text=True, check=True
    ).stdout.strip()
    new_ip = pods.restart(name)
    assert new_ip != old_ip
    from reconciler.spec.models import RedisSpec

    spec = RedisSpec.model_validate(
        {"connection": {"kubernetes": {"namespace": pods.namespace, "readyTimeoutSeconds": 20}}}
    )
    provider = RedisClusterProvider.from_spec(spec)

    async def plan_and_apply() -> None:
        plan = await provider.plan(PlanOptions())
        for change in plan.changes:
            step = change.payload
            assert not (step["kind"] == "join" and step["node"]["node_id"] == node_id), change
        await provider.apply(plan.changes, ApplyOptions())

    try:
        await plan_and_apply()
        # Either the plan re-introduced it, or the node's own gossip told the others; a plan
        # made before the old address was seen failing may have had nothing to do: a rerun
        # (what a scheduled job does) then re-introduces it, never as a new node.
        for attempt in range(90):
            observation = await provider.wait_converged(timeout=30)
            ref = observation.reference()
            assert ref is not None
            known = {n.id: n for n in ref.nodes}
            if known[node_id].address == f"{new_ip}:6379" and not known[node_id].failed:
                break
            if attempt % 20 == 19:
                await plan_and_apply()
            await asyncio.sleep(0.25)
        assert known[node_id].address == f"{new_ip}:6379"
        assert not (await provider.plan(PlanOptions())).changes
    finally:
        await provider.close()
    cluster_check(f"{new_ip}:6379")


async def test_all_pods_restarted_on_new_ips_are_reintroduced(redis_pods: Any) -> None:
    """A whole StatefulSet rescheduled at once: nobody can gossip the new addresses."""
    pods = redis_pods(6)
    assert (await ainvoke("redis", "init", "-n", pods.namespace, "--yes")).exit_code == 0
    for name in list(pods.pods):
        pods.kill(name)
    for name in list(pods.pods):
        pods.restart(name)
    from reconciler.spec.models import RedisSpec

    spec = RedisSpec.model_validate(
        {"connection": {"kubernetes": {"namespace": pods.namespace, "readyTimeoutSeconds": 20}}}
    )
    provider = RedisClusterProvider.from_spec(spec)
    try:
        plan = await provider.plan(PlanOptions())
        assert plan.changes
        assert all(c.payload["kind"] == "reintroduce" for c in plan.changes), plan.changes
        results = await provider.apply(plan.changes, ApplyOptions())
        assert all(r.status is ResultStatus.APPLIED for r in results), results
        await provider.wait_converged(timeout=30)
        assert not (await provider.plan(PlanOptions())).changes
    finally:
        await provider.close()
    cluster_check(pods.addresses()[0])


# --------------------------------------------------------------------------- data moves


def load_keys(address: str, count: int) -> dict[str, str]:
    from redis.cluster import RedisCluster

    host, port = address.split(":")
    client = RedisCluster(host=host, port=int(port))
    values = {f"key:{i}": f"value-{i}-{random.random()}" for i in range(count)}
    pipe = client.pipeline()
    for key, value in values.items():
        pipe.set(key, value)
    pipe.execute()
    client.close()
    return values


def check_data(address: str, values: dict[str, str], masters: list[str]) -> None:
    import redis
    from redis.cluster import RedisCluster

    total = 0
    for master in masters:
        host, port = master.split(":")
        with redis.Redis(host=host, port=int(port)) as node:
            total += user_key_count(node)
    assert total == len(values)
    host, port = address.split(":")
    client = RedisCluster(host=host, port=int(port))
    sample = random.sample(sorted(values), 500)
    got = client.mget_nonatomic(sample)
    assert [g.decode() for g in got] == [values[k] for k in sample]
    client.close()


async def masters_of(provider: RedisClusterProvider) -> list[str]:
    observation = await provider.observe()
    return [v.address for v in observation.members if v.myself.is_master and v.myself.slots]


@pytest.mark.parametrize("kind", ["direct", "kubernetes"])
async def test_scale_out_and_in_with_50k_keys(
    kind: str, redis_factory: Any, redis_pods: Any
) -> None:
    """3 -> 4 -> 3 masters with 50,000 keys: directly, and over exec through the API server."""
    if kind == "direct":
        sandbox = redis_factory(nodes=6)
        addresses: Callable[[], list[str]] = lambda: list(sandbox.addresses)  # noqa: E731
        grow_by_two: Callable[[], object] = lambda: sandbox.add_nodes(2)  # noqa: E731

        def make(masters: int = 3) -> RedisClusterProvider:
            return provider_for(sandbox.addresses, masters=masters)
    else:
        from reconciler.providers.redis.kubernetes import KubernetesTransport
        from reconciler.spec.models import KubernetesTarget

        pods = redis_pods(6)
        addresses = pods.addresses
        grow_by_two = lambda: pods.add(2)  # noqa: E731
        target = KubernetesTarget(
            namespace=pods.namespace, kubeconfig=str(pods.kubeconfig), ready_timeout_seconds=30
        )

        def make(masters: int = 3) -> RedisClusterProvider:
            return RedisClusterProvider(
                KubernetesTransport(target), DesiredLayout(masters, 1), converge_timeout=30
            )

    provider = make()
    try:
        await plan_and_apply(provider)
    finally:
        await provider.close()
    values = await asyncio.to_thread(load_keys, addresses()[0], 50_000)
    grow_by_two()
    # 3 -> 4 masters: the two new nodes join (a master and its replica), slots move.
    grow = make(masters=4)
    try:
        plan = await grow.plan(PlanOptions())
        moves = [c for c in plan.changes if c.resource_type == "redis_slots"]
        assert len(moves) == 3 and all(Risk.SLOW in c.risks for c in moves)
        assert sum(MoveSlots.model_validate(c.payload).count for c in moves) == 4096
        assert all("keys)" in c.steps[0] for c in moves)
        results = await grow.apply(plan.changes, ApplyOptions())
        assert all(r.status is ResultStatus.APPLIED for r in results), "\n".join(
            f"{r.address}: {r.status.value}: {r.message}" for r in results
        )
        observation = await grow.observe()
        assert observation.open_slots() == []
        masters = await masters_of(grow)
        assert len(masters) == 4
        assert not (await grow.plan(PlanOptions())).changes
    finally:
        await grow.close()
    cluster_check(addresses()[0])
    await asyncio.to_thread(check_data, addresses()[0], values, masters)
    # 4 -> 3: refused without allow_delete, done with it.
    shrink = make(masters=3)
    try:
        refused = await shrink.plan(PlanOptions())
        assert not refused.changes
        assert any("--allow-delete" in n.message for n in refused.notices)
        plan = await shrink.plan(PlanOptions(allow_delete=True))
        removes = [c for c in plan.changes if c.action is Action.DELETE]
        assert removes and all(c.is_destructive and Risk.DISRUPTIVE in c.risks for c in removes)
        results = await shrink.apply(plan.changes, ApplyOptions())
        assert all(r.status is ResultStatus.APPLIED for r in results), "\n".join(
            f"{r.address}: {r.status.value}: {r.message}" for r in results
        )
        masters = await masters_of(shrink)
        assert len(masters) == 3
        again = await shrink.plan(PlanOptions(allow_delete=True))
        assert not again.changes, again.changes
    finally:
        await shrink.close()
    cluster_check(masters[0])
    await asyncio.to_thread(check_data, masters[0], values, masters)


async def test_new_replica_syncs_without_its_masters_delay(redis_factory: Any) -> None:
    """A grow's new master starts its replica's first sync at once, then keeps its own
    ``repl-diskless-sync-delay``: set to 60 s here, waiting for it would time the moves'
    replica acknowledgements (10 s) out."""
    from redis import Redis

    sandbox = redis_factory(nodes=6)
    provider = provider_for(sandbox.addresses)
    try:
        await plan_and_apply(provider)
    finally:
        await provider.close()
    values = await asyncio.to_thread(load_keys, sandbox.addresses[0], 2_000)
    sandbox.add_nodes(2)
    new = list(sandbox.addresses[6:])
    clients = [Redis(host=a.split(":")[0], port=int(a.split(":")[1])) for a in new]
    try:
        for client in clients:
            client.config_set("repl-diskless-sync-delay", 60)
        grow = provider_for(sandbox.addresses, masters=4)
        started = time.monotonic()
        try:
            await plan_and_apply(grow)
        finally:
            await grow.close()
        assert time.monotonic() - started < 30
        for client in clients:
            assert client.config_get("repl-diskless-sync-delay") == {
                "repl-diskless-sync-delay": "60"
            }
    finally:
        for client in clients:
            client.close()
    observation = await provider_for(sandbox.addresses).observe()
    masters = [v.address for v in observation.members if v.myself.is_master and v.myself.slots]
    await asyncio.to_thread(check_data, sandbox.addresses[0], values, masters)


# --------------------------------------------------------------------------- repair


async def test_open_slot_is_repaired(redis_factory: Any) -> None:
    import redis

    sandbox = redis_factory(nodes=6, formed=True)
    provider = provider_for(sandbox.addresses)
    try:
        observation = await provider.observe()
        owners = observation.slot_owners()
        by_id = {v.node_id: v for v in observation.views}
        source = by_id[owners[100]]
        target = next(
            v for v in observation.members if v.myself.is_master and v.node_id != source.node_id
        )
        host, port = source.endpoint_id.split(":")
        key = "{sf}"  # hashes to slot 100? find one that does
        with redis.Redis(host=host, port=int(port)) as node:
            key = next(
                k for k in (f"k{i}" for i in range(100_000)) if node.cluster("keyslot", k) == 100
            )
            node.set(key, "kept")
            node.execute_command("CLUSTER", "SETSLOT", 100, "MIGRATING", target.node_id)
        thost, tport = target.endpoint_id.split(":")
        with redis.Redis(host=thost, port=int(tport)) as node:
            node.execute_command("CLUSTER", "SETSLOT", 100, "IMPORTING", source.node_id)
        plan = await provider.plan(PlanOptions())
        assert [c.address for c in plan.changes] == ["redis_repair.open_slot_100"]
        verify = await ainvoke("redis", "verify", "--addresses", ",".join(sandbox.addresses))
        assert verify.exit_code == 2 and "open slots: 100" in verify.output
        results = await provider.apply(plan.changes, ApplyOptions())
        assert results[0].status is ResultStatus.APPLIED, results
        after = await provider.observe()
        assert after.open_slots() == [] and after.slot_owners()[100] == target.node_id
        assert not (await provider.plan(PlanOptions())).changes
    finally:
        await provider.close()
    from redis.cluster import RedisCluster

    client = RedisCluster(host=thost, port=int(tport))
    assert client.get(key) == b"kept"
    client.close()
    cluster_check(sandbox.addresses[0])


async def replicas_in_sync(provider: RedisClusterProvider) -> None:
    """A replica that never finished its first sync is not allowed to fail over."""
    endpoints = await provider.transport.discover()
    for _ in range(100):
        states = []
        for endpoint in endpoints:
            info = await provider.transport.execute(endpoint, "INFO", "replication")
            assert isinstance(info, bytes)
            if b"role:slave" in info:
                states.append(b"master_link_status:up" in info)
        if states and all(states):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("replicas did not sync")


async def test_killed_master_shows_in_verify_and_plan(redis_factory: Any) -> None:
    sandbox = redis_factory(nodes=6, formed=True)
    addresses = ",".join(sandbox.addresses)
    provider = provider_for(sandbox.addresses)
    try:
        await replicas_in_sync(provider)
        observation = await provider.observe()
        victim = next(v for v in observation.members if v.myself.is_master)
        sandbox.kill_node(int(victim.endpoint_id.split(":")[1]))
        verify = await ainvoke("redis", "verify", "--addresses", addresses)
        assert verify.exit_code == 2, verify.output
        assert victim.endpoint_id in verify.output
        assert "✗ Cluster verification failed" in verify.output
        plan = await provider.plan(PlanOptions())
        assert any(
            victim.endpoint_id in n.address or victim.endpoint_id in n.message for n in plan.notices
        ), plan.notices
        # Once a replica took over, the dead node is a forget candidate (destructive).
        for _ in range(60):
            plan = await provider.plan(PlanOptions(allow_delete=True))
            forget = [c for c in plan.changes if c.address.startswith("redis_repair.forget_")]
            if forget:
                break
            await asyncio.sleep(0.5)
        assert forget and forget[0].is_destructive
        json_out = await ainvoke("redis", "verify", "--addresses", addresses, "-o", "json")
        assert json_out.exit_code == 2 and '"healthy": false' in json_out.output
    finally:
        await provider.close()


async def test_unreachable_cluster_is_one_clear_error(capfd: pytest.CaptureFixture[str]) -> None:
    from reconciler.cli.errors import run_cli

    code = await asyncio.to_thread(run_cli, cli, ["redis", "verify", "--addresses", "127.0.0.1:1"])
    err = capfd.readouterr().err
    assert code == 1
    assert "cannot reach 127.0.0.1:1" in err and "hint:" in err and "Traceback" not in err
