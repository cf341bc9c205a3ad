"""How commands reach Redis nodes: one protocol, a direct (redis-py) implementation.

A :class:`NodeTransport` finds the nodes of a deployment and runs arbitrary Redis commands
on one of them. The provider never talks to a node in any other way, so the same planning
and resharding code runs against plain ``host:port`` lists and against Kubernetes pods
(``reconciler.providers.redis.kubernetes``, imported only when a Kubernetes target is used).

Replies are normalised to :data:`Reply`: ``None``, ``int``, ``bytes`` (bulk and status
strings alike) or nested lists of those. An error reply raises :class:`CommandError` from
:meth:`NodeTransport.execute` and is returned as a :class:`CommandError` value in the list
of :meth:`NodeTransport.pipeline`, in the position of the command that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

from msgspec import Struct

from reconciler.errors import ConnectionFailure
from reconciler.providers.redis.replies import reply_text

Reply: TypeAlias = "int | bytes | list[Reply] | None"
Arg: TypeAlias = "str | bytes | int"
Command: TypeAlias = "Sequence[Arg]"


class NodeEndpoint(Struct, frozen=True):
    """One Redis node as a transport can reach it.

    ``id`` addresses the node for :meth:`NodeTransport.execute` (``host:port`` as given, or a
    pod name); ``address`` is ``ip:port`` as the other nodes see it, which is what
    ``CLUSTER MEET`` needs; ``host`` and ``zone`` are its placement identity (an IP in direct
    mode, a Kubernetes node name and topology zone for pods).
    """

    id: str
    address: str
    host: str
    zone: str | None = None

    @property
    def ip(self) -> str:
        return self.address.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


class CommandError(Exception):
    """A Redis error reply (``ERR ...``, ``BUSYKEY ...``, ``MOVED ...``)."""

    def __init__(self, message: str, endpoint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint

    @property
    def code(self) -> str:
        """The error code: the first word of the message (``ERR``, ``BUSYKEY``, ``MOVED``)."""
        return self.message.split(" ", 1)[0] if self.message else ""


class NodeUnreachable(ConnectionFailure):
    """One node did not answer (refused, timed out, pod gone); others may still be fine."""


@runtime_checkable
class NodeTransport(Protocol):
    """Finds the nodes of a Redis deployment and runs commands on them."""

    kind: str  # "direct" or "kubernetes"

    async def discover(self) -> list[NodeEndpoint]:
        """Every node of the deployment (reachable or not), in a stable order."""
        ...

    async def execute(self, endpoint: NodeEndpoint, *args: Arg) -> Reply:
        """Run one command on one node; raises CommandError or NodeUnreachable."""
        ...

    async def pipeline(
        self, endpoint: NodeEndpoint, commands: Sequence[Command]
    ) -> list[Reply | CommandError]:
        """Run commands in order on one connection of one node (ASKING applies to the next).

        Error replies are returned in place; only transport failures raise.
        """
        ...

    def request_counts(self) -> dict[str, int]:
        """Commands sent so far, by command name."""
        ...

    def migrate_auth(self) -> tuple[Arg, ...]:
        """What ``MIGRATE`` needs to log in on the target node with the same credentials:
        ``("AUTH2", user, password)``, ``("AUTH", password)`` or ``()``."""
        ...

    async def close(self) -> None: ...


def migrate_auth_args(username: str | None, password: str | None) -> tuple[Arg, ...]:
    """``AUTH2 user pass`` with an ACL user, ``AUTH pass`` for the default user, else ()."""
    if password is None or password == "":
        return ()
    if username and username != "default":
        return ("AUTH2", username, password)
    return ("AUTH", password)


def carries_credentials(args: Sequence[Arg]) -> bool:
    """``ACL SETUSER`` with a password rule (``>pass``, ``<pass``, ``#sha``, ``!sha``): its
    arguments must not travel where they are recorded (an exec URL, a process list)."""

    if (
        len(args) < 3
        or reply_text(args[0]).upper() != "ACL"
        or reply_text(args[1]).upper() != "SETUSER"
    ):
        return False
    return any(reply_text(a)[:1] in (">", "<", "#", "!") for a in args[3:])


def command_name(args: Sequence[Arg]) -> str:
    """``CLUSTER SETSLOT`` for container commands, ``MIGRATE`` otherwise (for counters)."""

    name = reply_text(args[0]).upper() if args else ""
    if name in {"CLUSTER", "CONFIG", "CLIENT", "MEMORY", "DEBUG", "OBJECT"} and len(args) > 1:
        return f"{name} {reply_text(args[1]).upper()}"
    return name


def split_address(address: str, default_port: int = 6379) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``) → (host, port)."""
    address = address.strip()
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    if address.count(":") == 1:
        host, port = address.split(":")
        return host, int(port)
    return address, default_port


class DirectTransport:
    """redis-py (``redis.asyncio``) connections to a list of ``host:port`` addresses.

    Placement identity is the node's IP (what ``redis-cli --cluster create`` spreads
    replicas by); ``host_labels`` maps ``host:port`` → a host name for tests that simulate
    several machines on one loopback interface.
    """

    kind = "direct"

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        tls_ca_file: str | None = None,
        tls_cert_file: str | None = None,
        tls_key_file: str | None = None,
        tls_check_hostname: bool = False,
        host_labels: Mapping[str, str] | None = None,
        zone_labels: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not addresses:
            raise ValueError("no Redis addresses given")
        self._addresses = [a.strip() for a in addresses if a.strip()]
        self._username = username
        self._password = password
        self._tls = tls
        self._tls_files = (tls_ca_file, tls_cert_file, tls_key_file)
        self._tls_check_hostname = tls_check_hostname
        self._ssl_context: ssl.SSLContext | None = None
        self._host_labels = dict(host_labels or {})
        self._zone_labels = dict(zone_labels or {})
        self._timeout = timeout
        self._clients: dict[str, object] = {}
        self._counts: Counter[str] = Counter()

    async def discover(self) -> list[NodeEndpoint]:
        endpoints = []
        for given in self._addresses:
            host, port = split_address(given)
            ip = await _resolve(host)
            endpoints.append(
                NodeEndpoint(
                    id=f"{host}:{port}",
                    address=f"{ip}:{port}",
                    host=self._host_labels.get(given, ip),
                    zone=self._zone_labels.get(given),
                )
            )
        return endpoints

    def _client(self, endpoint: NodeEndpoint):
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        client = self._clients.get(endpoint.id)
        if client is None:
            host, port = split_address(endpoint.id)
            options: dict[str, object] = {"connection_class": _connection_class(self._tls)}
            if self._tls:
                options["shared_ssl_context"] = self._tls_context(endpoint)
            pool = aioredis.ConnectionPool(
                host=host,
                port=port,
                username=self._username,
                password=self._password,
                socket_timeout=self._timeout,
                socket_connect_timeout=min(self._timeout, 5.0),
                # Retrying hides a dead node behind back-off; we report it instead.
                retry=Retry(NoBackoff(), 0),
                protocol=2,
                **options,  # type: ignore[arg-type]
            )
            client = aioredis.Redis(connection_pool=pool, protocol=2)
            # Raw replies only: redis-py's per-command parsers would reshape CLUSTER NODES etc.
            client.response_callbacks.clear()
            self._clients[endpoint.id] = client
        return client

    def _tls_context(self, endpoint: NodeEndpoint) -> ssl.SSLContext:
        """The client SSL context: the CA (or the system store), the client certificate."""
        if self._ssl_context is None:
            ca, cert, key = self._tls_files
            try:
                context = ssl.create_default_context(cafile=ca)
                context.check_hostname = self._tls_check_hostname
                context.verify_mode = ssl.CERT_REQUIRED
                if cert or key:
                    context.load_cert_chain(certfile=cert or "", keyfile=key)
            except (OSError, ssl.SSLError) as problem:
                raise ConnectionFailure(
                    endpoint.id,
                    f"cannot load the TLS files ({problem})",
                    hint="check connection.tls caFile / certFile / keyFile (local paths)",
                ) from None
            self._ssl_context = context
        return self._ssl_context

    def _failure(self, endpoint: NodeEndpoint, problem: Exception) -> ConnectionFailure:
        import redis.exceptions as rex

        text = str(problem) or type(problem).__name__
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return ConnectionFailure(
                endpoint.id,
                f"TLS certificate not trusted ({text})",
                hint="check connection.tls.caFile: it must be the CA that signed the nodes' "
                "certificates (and checkHostname: the certificate must name the address)",
            )
        if isinstance(problem, ssl.SSLError) or "SSL" in text or "TLS" in text:
            return NodeUnreachable(
                endpoint.id,
                f"TLS handshake failed ({text})",
                hint="check that the node speaks TLS on this port (tls-port) and, with "
                "tls-auth-clients yes, connection.tls certFile/keyFile",
            )
        if isinstance(problem, rex.AuthenticationError) or "WRONGPASS" in text or "NOAUTH" in text:
            return ConnectionFailure(
                endpoint.id,
                f"authentication failed ({text})",
                hint="check the Redis username/password (connection.username / connection.password)",
            )
        return NodeUnreachable(
            endpoint.id,
            text,
            hint="check that the node is running and the address/port (and TLS setting) are right",
        )

    async def execute(self, endpoint: NodeEndpoint, *args: Arg) -> Reply:
        import redis.exceptions as rex

        self._counts[command_name(args)] += 1
        client = self._client(endpoint)
        try:
            reply = await client.execute_command(*args)
        except rex.ResponseError as problem:
            if isinstance(
                problem, rex.AuthenticationError | rex.AuthenticationWrongNumberOfArgsError
            ):
                raise self._failure(endpoint, problem) from None
            if "NOAUTH" in str(problem) or "WRONGPASS" in str(problem):
                raise self._failure(endpoint, problem) from None
            raise CommandError(_error_text(problem), endpoint.id) from None
        except (TimeoutError, rex.ConnectionError, rex.TimeoutError, OSError) as problem:
            raise self._failure(endpoint, problem) from None
        return _normalise(reply)

    async def pipeline(
        self, endpoint: NodeEndpoint, commands: Sequence[Command]
    ) -> list[Reply | CommandError]:
        import redis.exceptions as rex

        if not commands:
            return []
        for args in commands:
            self._counts[command_name(args)] += 1
        client = self._client(endpoint)
        pipe = client.pipeline(transaction=False)
        for args in commands:
            pipe.execute_command(*args)
        try:
            replies = await pipe.execute(raise_on_error=False)
        except (TimeoutError, rex.ConnectionError, rex.TimeoutError, OSError) as problem:
            raise self._failure(endpoint, problem) from None
        out: list[Reply | CommandError] = []
        for reply in replies:
            if isinstance(reply, rex.ResponseError):
                if "NOAUTH" in str(reply) or "WRONGPASS" in str(reply):
                    raise self._failure(endpoint, reply)
                out.append(CommandError(_error_text(reply), endpoint.id))
            else:
                out.append(_normalise(reply))
        return out

    def request_counts(self) -> dict[str, int]:
        return dict(self._counts)

    def migrate_auth(self) -> tuple[Arg, ...]:
        return migrate_auth_args(self._username, self._password)

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            # Closing a dead connection must not fail a run.
            with contextlib.suppress(Exception):
                await client.aclose()  # type: ignore[attr-defined]


def _error_text(problem: Exception) -> str:
    """The error reply as the server sent it: redis-py strips known codes (ERR, MOVED ...)."""
    text = str(problem.args[0]) if problem.args else str(problem)
    code = getattr(problem, "status_code", None)
    return f"{code} {text}" if code else text


def _normalise(reply: object) -> Reply:
    if reply is None or isinstance(reply, bytes):
        return reply
    if isinstance(reply, bool):
        return int(reply)
    if isinstance(reply, int):
        return reply
    if isinstance(reply, str):
        return reply.encode()
    if isinstance(reply, list | tuple):
        return [_normalise(item) for item in reply]
    if isinstance(reply, float):
        return repr(reply).encode()
    raise TypeError(f"unexpected reply type {type(reply).__name__}")


_CONNECTIONS: dict[bool, type] = {}


def _connection_class(tls: bool) -> type:
    """redis-py's asyncio connection, packing commands with hiredis' C packer (as redis-py's
    synchronous client does; its asyncio client packs in Python, about a quarter of a
    reshard's CPU under cProfile), and with ``tls`` over one given SSL context, built once (redis-py
    would build one per connection, loading the system CA store each time: ~0.3 s of CPU
    apiece, enough to time out connects to a dozen nodes on a busy machine)."""
    if tls not in _CONNECTIONS:
        import hiredis
        import redis.asyncio as aioredis

        class HiredisPackedConnection(aioredis.Connection):
            def pack_command(self, *args: Any) -> list[bytes]:
                # Like redis-py: a command name with spaces ("CONFIG GET") is several words.
                first = args[0]
                if isinstance(first, str) and " " in first:
                    args = (*first.encode().split(), *args[1:])
                elif isinstance(first, bytes) and b" " in first:
                    args = (*first.split(), *args[1:])
                return [hiredis.pack_command(args)]

        class SharedContextSSLConnection(HiredisPackedConnection):
            def __init__(self, *, shared_ssl_context: ssl.SSLContext, **kwargs: object):
                self._shared_ssl_context = shared_ssl_context
                super().__init__(**kwargs)  # type: ignore[arg-type]

            def _connection_arguments(self) -> Mapping[str, object]:
                return {**super()._connection_arguments(), "ssl": self._shared_ssl_context}

        _CONNECTIONS[False] = HiredisPackedConnection
        _CONNECTIONS[True] = SharedContextSSLConnection
    return _CONNECTIONS[tls]


async def _resolve(host: str) -> str:
    """The IPv4/IPv6 address of ``host``: CLUSTER MEET accepts IP addresses only."""
    try:
        socket.inet_pton(socket.AF_INET, host)
        return host
    except OSError:
        pass
    try:
        socket.inet_pton(socket.AF_INET6, host)
        return host
    except OSError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as problem:
        raise ConnectionFailure(
            host, f"cannot resolve host name ({problem.strerror})", hint="check the address list"
        ) from None
    return str(infos[0][4][0])
