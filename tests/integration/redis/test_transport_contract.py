"""One contract, two transports: redis-py to host:port, and redis-cli in Kubernetes pods.

Every test runs against both; the Kubernetes side goes through kubernetes-asyncio (its
kubeconfig loading, API client and exec websocket) against the sandbox's real kube-apiserver,
with a ServiceAccount token bound to the examples' Role; kwok plays the kubelet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from reconciler.errors import ConnectionFailure
from reconciler.providers.redis.state import parse_cluster_nodes
from reconciler.providers.redis.transports import (
    CommandError,
    DirectTransport,
    NodeEndpoint,
    NodeTransport,
    NodeUnreachable,
)
from reconciler.sandbox.kubernetes import RedisPods
from reconciler.spec.models import KubernetesTarget

pytestmark = pytest.mark.integration


@dataclass
class Bench:
    transport: NodeTransport
    endpoints: list[NodeEndpoint]
    kill: Callable[[int], None]  # kill node i


async def _make(
    kind: str,
    redis_factory: Any,
    redis_pods: Any,
    password: str | None = None,
    wrong_password: bool = False,
) -> Bench:
    given = "wrong" if wrong_password else password
    if kind == "direct":
        sandbox = redis_factory(nodes=3, password=password)
        transport: NodeTransport = DirectTransport(sandbox.addresses, password=given)
        endpoints = await transport.discover()

        def kill(i: int) -> None:
            sandbox.kill_node(sandbox.ports[i])
    else:
        from reconciler.providers.redis.kubernetes import KubernetesTransport

        pods: RedisPods = redis_pods(3, password=password)
        transport = KubernetesTransport(
            KubernetesTarget(namespace=pods.namespace, ready_timeout_seconds=10), password=given
        )
        endpoints = await transport.discover()

        def kill(i: int) -> None:
            pods.kill(endpoints[i].id)

    return Bench(transport, endpoints, kill)


@pytest.fixture(params=["direct", "kubernetes"])
async def bench(
    request: pytest.FixtureRequest, redis_factory: Any, redis_pods: Any
) -> AsyncIterator[Bench]:
    made = await _make(request.param, redis_factory, redis_pods)
    try:
        yield made
    finally:
        await made.transport.close()


async def _own_all_slots(bench: Bench) -> None:
    """Node 0 serves every slot, so that key commands work on it."""
    first = bench.endpoints[0]
    await bench.transport.execute(first, "CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    for _ in range(100):
        info = await bench.transport.execute(first, "CLUSTER", "INFO")
        assert isinstance(info, bytes)
        if b"cluster_state:ok" in info:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("single-node cluster did not become ok")


async def test_discover(bench: Bench) -> None:
    assert len(bench.endpoints) == 3
    assert len({e.id for e in bench.endpoints}) == 3
    assert len({e.address for e in bench.endpoints}) == 3
    for endpoint in bench.endpoints:
        assert endpoint.host
        reply = await bench.transport.execute(endpoint, "PING")
        assert reply == b"PONG"
    if bench.transport.kind == "kubernetes":
        assert {e.host for e in bench.endpoints} == {"node-0", "node-1", "node-2"}
        assert {e.zone for e in bench.endpoints} == {"zone-a", "zone-b", "zone-c"}
        assert all(e.address.endswith(":6379") for e in bench.endpoints)


async def test_replies_are_normalised(bench: Bench) -> None:
    endpoint = bench.endpoints[0]
    assert await bench.transport.execute(endpoint, "DBSIZE") == 0
    myid = await bench.transport.execute(endpoint, "CLUSTER", "MYID")
    assert isinstance(myid, bytes) and len(myid) == 40
    nodes = await bench.transport.execute(endpoint, "CLUSTER", "NODES")
    assert isinstance(nodes, bytes)
    (me,) = parse_cluster_nodes(nodes)
    assert me.id == myid.decode() and me.myself
    slots = await bench.transport.execute(endpoint, "CLUSTER", "SLOTS")
    assert slots == []
    assert await bench.transport.execute(endpoint, "ECHO", "") == b""


async def test_error_replies_raise(bench: Bench) -> None:
    endpoint = bench.endpoints[0]
    with pytest.raises(CommandError) as caught:
        await bench.transport.execute(endpoint, "NOSUCHCOMMAND", "x")
    assert caught.value.code == "ERR"
    with pytest.raises(CommandError) as caught:
        await bench.transport.execute(endpoint, "GET", "somekey")
    assert caught.value.code == "CLUSTERDOWN"


async def test_binary_values_round_trip(bench: Bench) -> None:
    await _own_all_slots(bench)
    endpoint = bench.endpoints[0]
    value = bytes(range(256)) + b'"quoted"\n\\'
    assert await bench.transport.execute(endpoint, "SET", b"bin\x00key", value) == b"OK"
    assert await bench.transport.execute(endpoint, "GET", b"bin\x00key") == value
    dump = await bench.transport.execute(endpoint, "DUMP", b"bin\x00key")
    assert isinstance(dump, bytes) and len(dump) > 256


async def test_pipeline_keeps_order_and_errors_in_place(bench: Bench) -> None:
    await _own_all_slots(bench)
    endpoint = bench.endpoints[0]
    replies = await bench.transport.pipeline(
        endpoint,
        [
            ("SET", "a", "1"),
            ("INCR", "a"),
            ("NOSUCHCOMMAND",),
            ("GET", "a"),
            ("MGET", "a", "{a}missing"),
            ("CLUSTER", "COUNTKEYSINSLOT", 15495),
            ("CLUSTER", "GETKEYSINSLOT", 15495, 10),
        ],
    )
    assert replies[:2] == [b"OK", 2]
    assert isinstance(replies[2], CommandError)
    assert replies[3:] == [b"2", [b"2", None], 1, [b"a"]]
    assert await bench.transport.pipeline(endpoint, []) == []


async def test_pipeline_shares_one_connection_for_asking(bench: Bench) -> None:
    """ASKING applies to the next command only on the same connection."""
    await _own_all_slots(bench)
    first, second = bench.endpoints[0], bench.endpoints[1]
    ip, port = first.ip, first.port
    await bench.transport.execute(second, "CLUSTER", "MEET", ip, port)
    owner = await bench.transport.execute(first, "CLUSTER", "MYID")
    assert isinstance(owner, bytes)
    for _ in range(100):
        nodes = await bench.transport.execute(second, "CLUSTER", "NODES")
        assert isinstance(nodes, bytes)
        info = await bench.transport.execute(second, "CLUSTER", "INFO")
        assert isinstance(info, bytes)
        if owner in nodes and b"handshake" not in nodes and b"cluster_state:ok" in info:
            break
        await asyncio.sleep(0.05)
    slot = 15495  # the slot of "a"
    await bench.transport.execute(second, "CLUSTER", "SETSLOT", slot, "IMPORTING", owner)
    with pytest.raises(CommandError) as caught:
        await bench.transport.execute(second, "SET", "a", "x")
    assert caught.value.code == "MOVED"
    replies = await bench.transport.pipeline(second, [("ASKING",), ("SET", "a", "x")])
    assert replies == [b"OK", b"OK"]
    await bench.transport.execute(second, "CLUSTER", "SETSLOT", slot, "STABLE")


async def test_dead_node_is_unreachable(bench: Bench) -> None:
    bench.kill(2)
    with pytest.raises(NodeUnreachable) as caught:
        await bench.transport.execute(bench.endpoints[2], "PING")
    assert bench.endpoints[2].id in str(caught.value)
    assert await bench.transport.execute(bench.endpoints[0], "PING") == b"PONG"


async def test_request_counts(bench: Bench) -> None:
    endpoint = bench.endpoints[0]
    await bench.transport.execute(endpoint, "PING")
    await bench.transport.pipeline(endpoint, [("CLUSTER", "COUNTKEYSINSLOT", 1)] * 3)
    counts = bench.transport.request_counts()
    assert counts["PING"] >= 1 and counts["CLUSTER COUNTKEYSINSLOT"] == 3


@pytest.mark.parametrize("kind", ["direct", "kubernetes"])
async def test_wrong_password_is_a_connection_failure(
    kind: str, redis_factory: Any, redis_pods: Any
) -> None:
    made = await _make(kind, redis_factory, redis_pods, password="s3cret", wrong_password=True)
    try:
        with pytest.raises(ConnectionFailure) as caught:
            await made.transport.execute(made.endpoints[0], "PING")
        assert "authentication" in str(caught.value)
        assert not isinstance(caught.value, NodeUnreachable)
    finally:
        await made.transport.close()
    good = await _make(kind, redis_factory, redis_pods, password="s3cret")
    try:
        assert await good.transport.execute(good.endpoints[0], "PING") == b"PONG"
    finally:
        await good.transport.close()
