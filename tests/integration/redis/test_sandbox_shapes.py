"""The Redis sandbox's security shapes behave like the real thing (and Valkey is Valkey)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis

from reconciler.sandbox.redis import server_version, standard_acl_users

pytestmark = pytest.mark.integration


def wait_replicas_up(sandbox: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = []
        for port in sandbox.ports:
            info = sandbox.command(port, "INFO", "replication")
            if "role:slave" in info:
                states.append("master_link_status:up" in info)
        if states and all(states):
            return
        assert time.monotonic() < deadline, "replicas did not sync"
        time.sleep(0.2)


@pytest.mark.parametrize("server", ["redis", "valkey"])
def test_acl_users(server: str, redis_factory: Any) -> None:
    users = standard_acl_users("shape-")
    sandbox = redis_factory(nodes=6, formed=True, acl_users=users, server=server)
    host, port = sandbox.addresses[0].split(":")
    with pytest.raises(redis.AuthenticationError):  # default user is off
        redis.Redis(host=host, port=int(port)).ping()
    verify = redis.Redis(host=host, port=int(port), **sandbox.client_kwargs(user="verify"))
    assert verify.execute_command("CLUSTER", "INFO")
    with pytest.raises(redis.exceptions.NoPermissionError):
        verify.execute_command("CLUSTER", "SETSLOT", 1, "STABLE")
    with pytest.raises(redis.exceptions.NoPermissionError):  # cannot read secrets
        verify.execute_command("CONFIG", "GET", "masterauth")
    verify.close()
    wait_replicas_up(sandbox)  # replicas log in as masteruser "replication"
    for pid in sandbox.pids.values():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert not any(u.password in cmdline for u in users), cmdline
        assert f"{server}-server" in cmdline


def test_tls_shape(redis_factory: Any) -> None:
    sandbox = redis_factory(nodes=6, formed=True, tls=True, password="tls-shape-pw")
    assert sandbox.tls is not None and sandbox.tls.ca_file.exists()
    host, port = sandbox.addresses[0].split(":")
    with pytest.raises(redis.ConnectionError):  # no plaintext on the TLS port
        redis.Redis(host=host, port=int(port), password="tls-shape-pw", socket_timeout=2).ping()
    with redis.Redis(host=host, port=int(port), **sandbox.client_kwargs()) as client:
        assert client.ping()
    wait_replicas_up(sandbox)  # tls-replication yes
    nodes = sandbox.command(sandbox.ports[0], "CLUSTER", "NODES")
    assert all(f":{p}@{p + 10000}" in nodes for p in sandbox.ports)  # tls-cluster: bus on TLS


def test_valkey_version() -> None:
    assert server_version("valkey").startswith("8.1.")
    assert server_version("redis").startswith("7.")


def test_a_node_whose_port_was_taken_starts_on_another() -> None:
    """Between choosing a free port and the node binding it another process may take it
    (a busy machine's outgoing connections): the bare node starts again elsewhere."""
    from reconciler.sandbox.redis import RedisSandbox
    from tests.integration.ports import taken

    sandbox = RedisSandbox(6, formed=True)
    first = sandbox.ports[0]
    with taken(first):
        try:
            sandbox.start()
            assert first not in sandbox.ports and len(set(sandbox.ports)) == 6
            assert sandbox.addresses == [f"127.0.0.1:{p}" for p in sandbox.ports]
            assert sandbox.cluster_info(sandbox.ports[0])["cluster_state"] == "ok"
        finally:
            sandbox.stop()
