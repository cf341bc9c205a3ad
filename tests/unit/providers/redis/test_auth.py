"""Redis credentials without a server: MIGRATE's AUTH arguments, what the Kubernetes
transport puts in the exec argv (never a password) and on stdin, the replication check."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pytest

from reconciler.errors import ConnectionFailure
from reconciler.providers.redis import kubernetes as k
from reconciler.providers.redis.auth import ReplicationAuthError, check_replication_auth
from reconciler.providers.redis.resharding import Resharder
from reconciler.providers.redis.transports import (
    Arg,
    CommandError,
    DirectTransport,
    NodeEndpoint,
    Reply,
    migrate_auth_args,
)
from reconciler.spec.models import KubernetesTarget, RedisTlsPodFiles

SECRET = 's3cr3t-"quoted"-pw'
NODE = NodeEndpoint(id="redis-0", address="10.0.0.1:6379", host="n1")


def test_migrate_auth_args() -> None:
    assert migrate_auth_args(None, None) == ()
    assert migrate_auth_args("ops", None) == ()
    assert migrate_auth_args(None, "pw") == ("AUTH", "pw")
    assert migrate_auth_args("default", "pw") == ("AUTH", "pw")
    assert migrate_auth_args("ops", "pw") == ("AUTH2", "ops", "pw")
    assert DirectTransport(["h:1"], username="ops", password="pw").migrate_auth() == (
        "AUTH2",
        "ops",
        "pw",
    )


def test_migrate_command_carries_auth_before_keys() -> None:
    transport = DirectTransport(["h:1"], username="ops", password="pw")
    resharder = Resharder(transport, {}, [])
    command = resharder._migrate(NODE, [b"a", b"b"], replace=True)
    assert list(command) == [
        "MIGRATE",
        "10.0.0.1",
        6379,
        "",
        0,
        60_000,
        "REPLACE",
        "AUTH2",
        "ops",
        "pw",
        "KEYS",
        b"a",
        b"b",
    ]


class Recording(k.KubernetesTransport):
    """The Kubernetes transport with exec replaced by a recorder."""

    def __init__(self, *args: Any, reply: bytes = b"OK\n", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[list[str], bytes | None]] = []
        self.reply = reply

    async def _exec(
        self, pod: str, command: Sequence[str], stdin: bytes | None = None
    ) -> k.ExecResult:
        self.calls.append((list(command), stdin))
        return k.ExecResult(self.reply, b"", 0, {"status": "Success"})


def target(**extra: Any) -> KubernetesTarget:
    return KubernetesTarget(namespace="ns", **extra)


async def test_password_goes_on_stdin_never_in_argv() -> None:
    transport = Recording(target(), username="ops", password=SECRET)
    await transport.execute(NODE, "PING")
    transport.reply = b'PONG\n"x"\n'
    await transport.pipeline(NODE, [("PING",), ("ECHO", "x")])
    transport.reply = b"OK\n"
    await transport.execute(
        NODE, "MIGRATE", "10.0.0.2", 6379, "", 0, 1000, *transport.migrate_auth(), "KEYS", "k"
    )
    assert len(transport.calls) == 3
    for argv, stdin in transport.calls:
        assert not any(SECRET in a for a in argv), argv
        assert "-a" not in argv
        assert stdin is not None and stdin.startswith(SECRET.encode() + b"\n")
    # the MIGRATE (with AUTH2) went through the stdin pipeline form
    assert b"AUTH2" in (transport.calls[2][1] or b"")


async def test_pod_password_env_sends_no_secret_at_all() -> None:
    transport = Recording(target(pod_password_env="REDIS_PASSWORD"), username="ops")
    await transport.execute(NODE, "PING")
    await transport.pipeline(NODE, [("ECHO", *transport.migrate_auth())])
    for argv, _stdin in transport.calls:
        assert any("${REDIS_PASSWORD}" in a for a in argv), argv
    assert transport.migrate_auth()[:2] == ("AUTH2", "ops")
    assert transport.migrate_auth()[2] == k.POD_PASSWORD.decode("latin-1")


async def test_tls_files_in_the_pod() -> None:
    files = RedisTlsPodFiles(ca_file="/tls/ca.crt", cert_file="/tls/c.crt", key_file="/tls/c.key")
    transport = Recording(target(), tls=True, tls_files=files)
    await transport.execute(NODE, "PING")
    argv = transport.calls[0][0]
    assert argv[argv.index("--cacert") + 1] == "/tls/ca.crt"
    assert argv[argv.index("--cert") + 1] == "/tls/c.crt"
    assert argv[argv.index("--key") + 1] == "/tls/c.key"
    assert "--tls" in argv


def failed(stderr: bytes, stdout: bytes = b"") -> k.ExecResult:
    status = {"status": "Failure", "message": "command terminated: sh -c exec redis-cli ..."}
    return k.ExecResult(stdout, stderr, 1, status)


def test_tls_failures_are_named_after_what_redis_cli_said() -> None:
    files = RedisTlsPodFiles(ca_file="/tls/ca.crt")
    transport = k.KubernetesTransport(target(), tls=True, tls_files=files)
    untrusted = b"Could not connect to Redis at 10.0.0.1:6379: SSL_connect failed: certificate verify failed\n"
    with pytest.raises(ConnectionFailure) as caught:
        transport._check(NODE, failed(untrusted))
    assert "TLS certificate not trusted" in caught.value.message
    assert "inPod.caFile" in str(caught.value.hint)
    closed = b"\nI/O error\n\nI/O error\nError: Server closed the connection\n"
    with pytest.raises(k.NodeUnreachable) as unreachable:
        transport._check(NODE, failed(closed))
    assert "TLS: the node closed the connection (Error: Server closed the connection)" in (
        unreachable.value.message
    )
    assert "certFile/keyFile" in str(unreachable.value.hint)
    plain = k.KubernetesTransport(target())
    with pytest.raises(k.NodeUnreachable) as other:
        plain._check(NODE, failed(b"Error: something else\n"))
    assert other.value.message.endswith("redis-cli failed (exit 1): Error: something else")
    with pytest.raises(k.NodeUnreachable) as silent:
        plain._check(NODE, failed(b""))
    assert "command terminated" in silent.value.message  # nothing else to go by


async def test_no_shell_with_a_password_is_refused() -> None:
    transport = Recording(target(), password=SECRET)
    transport._no_shell = True
    with pytest.raises(ConnectionFailure) as caught:
        await transport.execute(NODE, "PING")
    assert SECRET not in str(caught.value)


def test_line_break_in_password_is_refused() -> None:
    with pytest.raises(ConnectionFailure):
        k.KubernetesTransport(target(), password="a\nb")


class FakeNodes:
    """CONFIG GET / ACL GETUSER answers of a replica and a master."""

    def __init__(self, replica: dict[str, str], acl: Reply | CommandError) -> None:
        self.replica = replica
        self.acl = acl

    async def execute(self, endpoint: NodeEndpoint, *args: Arg) -> Reply:
        if args[:2] == ("CONFIG", "GET"):
            name = str(args[2])
            return [name.encode(), self.replica.get(name, "").encode()]
        if isinstance(self.acl, CommandError):
            raise self.acl
        return self.acl


MASTER = NodeEndpoint(id="m", address="10.0.0.9:6379", host="n2")


def getuser(flags: list[str], passwords: list[str]) -> Reply:
    return [
        b"flags",
        [f.encode() for f in flags],
        b"passwords",
        [hashlib.sha256(p.encode()).hexdigest().encode() for p in passwords],
    ]


async def check(replica: dict[str, str], acl: Reply | CommandError) -> None:
    await check_replication_auth(FakeNodes(replica, acl), NODE, MASTER)  # type: ignore[arg-type]


async def test_replication_auth_check() -> None:
    await check({}, getuser(["on", "nopass"], []))  # no password needed
    await check({"masterauth": "pw"}, getuser(["on"], ["pw"]))
    await check({"masteruser": "repl", "masterauth": "pw"}, getuser(["on"], ["other", "pw"]))
    with pytest.raises(ReplicationAuthError, match="no masterauth"):
        await check({}, getuser(["on"], ["pw"]))
    with pytest.raises(ReplicationAuthError, match="not a password"):
        await check({"masterauth": "wrong"}, getuser(["on"], ["pw"]))
    with pytest.raises(ReplicationAuthError, match="switched off"):
        await check({"masterauth": "pw"}, getuser(["off"], ["pw"]))
    with pytest.raises(ReplicationAuthError, match="does not exist"):
        await check({"masteruser": "ghost", "masterauth": "pw"}, None)
    # nodes that do not let us look are not judged
    await check({}, CommandError("NOPERM this user has no permissions"))


async def test_replication_auth_message_has_no_secret() -> None:
    with pytest.raises(ReplicationAuthError) as caught:
        await check({"masterauth": "very-secret-1"}, getuser(["on"], ["pw"]))
    assert "very-secret-1" not in str(caught.value)


async def test_every_node_unreachable_keeps_the_nodes_cause_and_hint() -> None:
    from reconciler.providers.redis.layout import DesiredLayout
    from reconciler.providers.redis.provider import RedisClusterProvider

    class Closing(Recording):
        async def discover(self) -> list[NodeEndpoint]:
            return [NODE, NodeEndpoint(id="redis-1", address="10.0.0.2:6379", host="n2")]

        async def _exec(
            self, pod: str, command: Sequence[str], stdin: bytes | None = None
        ) -> k.ExecResult:
            return failed(b"I/O error\nError: Server closed the connection\n")

    provider = RedisClusterProvider(Closing(target(), tls=True), DesiredLayout())
    with pytest.raises(ConnectionFailure) as caught:
        await provider.observe()
    text = str(caught.value)
    assert text.count("cannot reach") == 1, text
    assert "TLS: the node closed the connection" in text and "certFile/keyFile" in text
