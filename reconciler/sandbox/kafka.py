"""A real Kafka (KRaft) on loopback for tests, the demo and benchmarks.

Shapes:
  ``single``   one combined broker+controller node.
  ``cluster``  three combined nodes with a three-voter controller quorum (RF=3 topics; one node
               can be stopped and started again); PLAINTEXT, the StandardAuthorizer with
               ``User:ANONYMOUS`` (every client) a super user, so that ACLs can be managed
               and are seen to reach every broker.
  ``secure``   one node whose listeners speak SASL_PLAINTEXT with PLAIN, the StandardAuthorizer,
               ``super.users=User:admin`` and ``allow.everyone.if.no.acl.found=false``.
  ``tls``      one node, SSL client listener with server-only authentication (a CA and broker
               certificate made per sandbox); clients are ``User:ANONYMOUS`` (a super user, so
               that ACLs for other principals can be managed); StandardAuthorizer.
  ``mtls``     one node, SSL with ``ssl.client.auth=required``: the client certificate's
               subject is the principal (``User:CN=ops``, through ``ssl.principal.mapping.rules``);
               StandardAuthorizer, ``User:CN=admin`` is the super user, ``User:CN=ops`` gets
               the grants of :data:`OPS_GRANTS`.
  ``scram``    one node, SASL_SSL with SCRAM-SHA-512 and SCRAM-SHA-256 (no PLAIN; users
               created when the storage is formatted, ``--add-scram``), StandardAuthorizer,
               ``User:admin`` super user, ``User:ops`` with :data:`OPS_GRANTS`.

The TLS shapes share one layout: the CA and every certificate live in ``<workdir>/tls``, the
controller listener is SSL with mutual authentication (the broker's own certificate,
``User:CN=broker``, a super user), and the broker keystore is PKCS12.

Jars come from Maven Central (see :mod:`reconciler.sandbox.jars`); every process is stopped and
the temporary directory removed by :meth:`KafkaSandbox.stop`, at interpreter exit, or when the
object is garbage collected.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import ssl
import subprocess
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from reconciler.engine.polling import retries
from reconciler.sandbox import _process as proc
from reconciler.sandbox._process import HOST, SandboxError
from reconciler.sandbox.jars import (
    KafkaDistribution,
    default_version,
    ensure_kafka,
    select_java,
    uses_log4j2,
)

Shape = Literal["single", "cluster", "secure", "tls", "mtls", "scram"]
SHAPES: tuple[str, ...] = get_args(Shape)
TLS_SHAPES = frozenset({"tls", "mtls", "scram"})
# Shapes whose clients authenticate as a named user (``client_config(user)``).
USER_SHAPES = frozenset({"secure", "mtls", "scram"})

SECURE_USERS: dict[str, str] = {
    "admin": "admin-secret",
    "alice": "alice-secret",
    "bob": "bob-secret",
    "carol": "carol-secret",
}
SUPER_USER = "admin"
PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
SCRAM_MECHANISM = "SCRAM-SHA-512"  # what clients of the scram shape use by default
# Enabled on the scram listener, each user having credentials for both.
SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
# Users of the mtls (client certificates CN=<user>) and scram (SCRAM credentials) shapes.
TLS_USERS = ("admin", "ops", "alice")
BROKER_CN = "broker"
# "CN=ops,O=llm-analytics sandbox" -> "CN=ops": the principal is User:CN=ops.
PRINCIPAL_MAPPING_RULES = "RULE:^(CN=[^,]+)(,.*)?$/$1/,DEFAULT"
# What the non-super user ``ops`` may do on mtls and scram: (resource type, name, pattern,
# operation) with ALLOW from any host; the protocol's codes are in ``_ACL_CODES``.
OPS_TOPIC_PREFIX = "ops-"
OPS_GRANTS: tuple[tuple[str, str, str, str], ...] = (
    ("TOPIC", OPS_TOPIC_PREFIX, "PREFIXED", "ALL"),
    ("GROUP", "llm-analytics-apply-lock", "LITERAL", "ALL"),
    ("CLUSTER", "kafka-cluster", "LITERAL", "DESCRIBE"),
    ("CLUSTER", "kafka-cluster", "LITERAL", "DESCRIBE_CONFIGS"),
)
_ACL_CODES = {
    "TOPIC": 2,
    "GROUP": 3,
    "CLUSTER": 4,
    "LITERAL": 3,
    "PREFIXED": 4,
    "ALL": 2,
    "DESCRIBE": 8,
    "DESCRIBE_CONFIGS": 10,
    "ALLOW": 3,
}
# Variable names ``connection_env()`` uses for the password it hands out.
SANDBOX_PASSWORD_VARIABLE = "LLM_ANALYTICS_SANDBOX_KAFKA_PASSWORD"
# Small heap; extra or overriding options (later ones win) from $LLM_ANALYTICS_KAFKA_JVM_OPTS.
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
BROKER_JVM_OPTS = ["-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
# The storage formatter runs for a second: a client compiler and serial GC start fastest.
TOOL_JVM_OPTS = ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding, not starting '-'."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _jaas(users: dict[str, str]) -> str:
    credentials = " ".join(f'user_{name}="{password}"' for name, password in users.items())
    return (
        f'{PLAIN_LOGIN} required username="{SUPER_USER}" '
        f'password="{users[SUPER_USER]}" {credentials};'
    )


class _Node:
    """One combined broker+controller process."""

    def __init__(self, node_id: int, root: Path, port: int, controller_port: int) -> None:
        self.node_id = node_id
        self.dir = root / f"node-{node_id}"
        self.port = port
        self.controller_port = controller_port

    @property
    def properties_file(self) -> Path:
        return self.dir / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.dir / "kafka.log"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


class KafkaSandbox(proc.Sandbox):
    """Real Kafka nodes on 127.0.0.1, in a temporary directory, on free ports."""

    def __init__(
        self,
        shape: Shape = "single",
        *,
        version: str | None = None,
        workdir: Path | None = None,
    ) -> None:
        if shape not in SHAPES:
            raise ValueError(f"unknown Kafka sandbox shape {shape!r}; expected one of {SHAPES}")
        self.shape: str = shape
        self.version: str = version or default_version()
        self._own(f"{proc.TEMP_PREFIX}kafka-{shape}-", workdir)
        self.users: dict[str, str] = dict(SECURE_USERS) if shape == "secure" else {}
        if shape == "scram":  # fresh passwords per sandbox: nothing can be hard-coded to them
            self.users = {name: f"{name}-{secrets.token_urlsafe(12)}" for name in TLS_USERS}
        self.tls_dir: Path | None = self.workdir / "tls" if shape in TLS_SHAPES else None
        self.ca_file: Path | None = None
        # mtls: user -> (certificate file, key file), CN=<user>
        self.client_certs: dict[str, tuple[Path, Path]] = {}
        self._store_password = secrets.token_urlsafe(12)
        self._nodes: dict[int, _Node] = {}
        self._place_nodes(3 if shape == "cluster" else 1)
        self.node_ids: list[int] = sorted(self._nodes)
        self.cluster_id = new_cluster_id()
        self._dist: KafkaDistribution | None = None
        self._java: Path | None = None
        self.startup_seconds: float | None = None

    # ------------------------------------------------------------------ public API

    def start(self, timeout: float = 180) -> None:
        """Resolve the jars, format storage, start every node; block until all serve metadata."""
        if self._started:
            return
        began = time.monotonic()
        try:
            self._dist = ensure_kafka(self.version)
            self._java = select_java(self._dist)
            self._make_certificates()
            for attempt in range(3):
                try:
                    self._launch(max(5.0, timeout - (time.monotonic() - began)))
                    break
                except SandboxError as problem:
                    # A free port chosen can be taken by another process before the node
                    # binds it (a busy machine's outgoing connections): other ports, anew.
                    if "Address already in use" not in str(problem) or attempt == 2:
                        raise
                    self._relocate()
            if self.shape in ("mtls", "scram"):
                self._grant_ops()
        except BaseException:
            self.stop()
            raise
        self._started = True
        self.startup_seconds = time.monotonic() - began

    def _place_nodes(self, count: int) -> None:
        """Every node on fresh free ports (client and controller listener each)."""
        ports = proc.free_ports(2 * count)
        self._nodes = {
            i + 1: _Node(i + 1, self.workdir, ports[2 * i], ports[2 * i + 1]) for i in range(count)
        }
        self.bootstrap_servers: str = ",".join(n.address for n in self._nodes.values())

    def _launch(self, timeout: float) -> None:
        began = time.monotonic()
        self._write_configs()
        self._format_all(timeout)
        for node in self._nodes.values():
            self._spawn(node)
        remaining = max(5.0, timeout - (time.monotonic() - began))
        self._wait_for_brokers(set(self.node_ids), remaining, "the Kafka sandbox to start")

    def _relocate(self) -> None:
        """Stop the nodes of a failed start, wipe their storage, give them other ports."""
        proc.terminate(
            [
                self._resources.procs.pop(f"node-{i}")
                for i in list(self._nodes)
                if f"node-{i}" in self._resources.procs
            ],
            grace=5,
        )
        for node in self._nodes.values():
            shutil.rmtree(node.dir, ignore_errors=True)
        self._place_nodes(len(self._nodes))

    def stop_broker(self, node_id: int) -> None:
        """Stop one node gracefully (SIGTERM, wait) and wait until metadata no longer lists it."""
        node = self._node(node_id)
        process = self._resources.procs.pop(f"node-{node_id}", None)
        if process is not None:
            proc.terminate([process], grace=60)
        others = {i for i in self.node_ids if i != node_id and self._running(i)}
        if others:
            self._wait_for_brokers(
                others, 60, f"broker {node.node_id} to leave the metadata", exact=True
            )

    def start_broker(self, node_id: int, timeout: float = 120) -> None:
        """Start a stopped node again and wait until it is back in the metadata."""
        node = self._node(node_id)
        if self._running(node_id):
            return
        self._spawn(node)
        wanted = {i for i in self.node_ids if self._running(i)}
        self._wait_for_brokers(wanted, timeout, f"broker {node_id} to rejoin")

    def client_config(self, user: str | None = None) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients (user shapes: as ``user``, default admin).

        ``secure``: SASL_PLAINTEXT + PLAIN; ``tls``: SSL trusting the sandbox CA; ``mtls``:
        SSL with the user's client certificate; ``scram``: SASL_SSL + SCRAM-SHA-512.
        """
        config: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers}
        if self.shape not in USER_SHAPES and user is not None:
            raise ValueError(f"the {self.shape!r} Kafka sandbox has no users")
        if self.shape in TLS_SHAPES:
            config["ssl_context"] = self.ssl_context(user)
            config["security_protocol"] = "SSL"
        if self.shape not in USER_SHAPES:
            return config
        user = user or SUPER_USER
        if user not in self.user_names:
            raise ValueError(f"unknown sandbox user {user!r}; known: {self.user_names}")
        if self.shape == "secure":
            config.update(
                security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="PLAIN",
                sasl_plain_username=user,
                sasl_plain_password=self.users[user],
            )
        elif self.shape == "scram":
            config.update(
                security_protocol="SASL_SSL",
                sasl_mechanism=SCRAM_MECHANISM,
                sasl_plain_username=user,
                sasl_plain_password=self.users[user],
            )
        return config

    @property
    def user_names(self) -> list[str]:
        """Users a client can be (``client_config(user)``); [] on shapes without users."""
        if self.shape == "mtls":
            return list(TLS_USERS)
        return list(self.users)

    @property
    def security_protocol(self) -> str:
        """Kafka's ``security.protocol`` for clients of this sandbox."""
        return {
            "secure": "SASL_PLAINTEXT",
            "tls": "SSL",
            "mtls": "SSL",
            "scram": "SASL_SSL",
        }.get(self.shape, "PLAINTEXT")

    @property
    def sasl_mechanism(self) -> str | None:
        return {"secure": "PLAIN", "scram": SCRAM_MECHANISM}.get(self.shape)

    def principal(self, user: str | None = None) -> str:
        """The Kafka principal a client of ``user`` is (ACLs name it)."""
        if self.shape not in USER_SHAPES:
            return "User:ANONYMOUS"
        user = user or SUPER_USER
        if user not in self.user_names:
            raise ValueError(f"unknown sandbox user {user!r}; known: {self.user_names}")
        return f"User:CN={user}" if self.shape == "mtls" else f"User:{user}"

    def cert_files(self, user: str | None = None) -> tuple[Path, Path]:
        """mtls: the (certificate, key) PEM files of ``user`` (default admin)."""
        if self.shape != "mtls":
            raise ValueError(f"the {self.shape!r} Kafka sandbox has no client certificates")
        user = user or SUPER_USER
        if user not in self.client_certs:
            raise ValueError(
                f"no client certificate for {user!r}; known: {sorted(self.client_certs)}"
            )
        return self.client_certs[user]

    def ssl_context(self, user: str | None = None) -> ssl.SSLContext:
        """An SSL context trusting the sandbox CA (mtls: presenting ``user``'s certificate)."""
        if self.ca_file is None:
            raise ValueError(f"the {self.shape!r} Kafka sandbox has no TLS (or is not started)")
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if self.shape == "mtls":
            cert, key = self.cert_files(user)
            context.load_cert_chain(str(cert), str(key))
        return context

    def connection_env(
        self, user: str | None = None, *, password_variable: str = SANDBOX_PASSWORD_VARIABLE
    ) -> dict[str, str]:
        """The ``LLM_ANALYTICS_*`` variables that connect the CLI to this sandbox as ``user``.

        The password is never one of the tool's variables: ``LLM_ANALYTICS_SASL_PASSWORD_ENV``
        names ``password_variable``, which this dictionary also sets.
        """
        env = {
            "LLM_ANALYTICS_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "LLM_ANALYTICS_SECURITY_PROTOCOL": self.security_protocol,
        }
        if self.ca_file is not None:
            env["LLM_ANALYTICS_SSL_CAFILE"] = str(self.ca_file)
        if self.shape == "mtls":
            cert, key = self.cert_files(user)
            env["LLM_ANALYTICS_SSL_CERTFILE"] = str(cert)
            env["LLM_ANALYTICS_SSL_KEYFILE"] = str(key)
        if self.sasl_mechanism is not None:
            name = user or SUPER_USER
            if name not in self.users:
                raise ValueError(f"unknown sandbox user {name!r}; known: {sorted(self.users)}")
            env.update(
                {
                    "LLM_ANALYTICS_SASL_MECHANISM": self.sasl_mechanism,
                    "LLM_ANALYTICS_SASL_USERNAME": name,
                    "LLM_ANALYTICS_SASL_PASSWORD_ENV": password_variable,
                    password_variable: self.users[name],
                }
            )
        return env

    def spec_connection(
        self, user: str | None = None, *, password_env: str = SANDBOX_PASSWORD_VARIABLE
    ) -> dict[str, Any]:
        """``kafka.connection`` of a spec (YAML form) for this sandbox as ``user``.

        The SASL password is a ``{fromEnv: password_env}`` reference (``users[user]`` is the
        value to put in that variable).
        """
        security: dict[str, Any] = {"protocol": self.security_protocol}
        if self.sasl_mechanism is not None:
            name = user or SUPER_USER
            if name not in self.users:
                raise ValueError(f"unknown sandbox user {name!r}; known: {sorted(self.users)}")
            security["sasl"] = {
                "mechanism": self.sasl_mechanism,
                "username": name,
                "password": {"fromEnv": password_env},
            }
        if self.ca_file is not None:
            tls: dict[str, Any] = {"caFile": str(self.ca_file)}
            if self.shape == "mtls":
                cert, key = self.cert_files(user)
                tls.update(certFile=str(cert), keyFile=str(key))
            security["tls"] = tls
        return {"bootstrapServers": self.bootstrap_servers, "security": security}

    def log_tail(self, lines: int = 80) -> str:
        """The last lines of every node's log file."""
        return proc.log_tails((node.log_file for node in self._nodes.values()), lines)

    # ------------------------------------------------------------------ extras

    @property
    def pids(self) -> dict[int, int]:
        """Process id of every running node."""
        return {
            node_id: process.pid
            for node_id in self.node_ids
            if (process := self._resources.procs.get(f"node-{node_id}")) and process.poll() is None
        }

    def run_tool(self, main: str, *args: str, timeout: float = 120) -> str:
        """Run one of Kafka's Java tools (e.g. ``org.apache.kafka.tools.ConfigCommand``)
        from the sandbox's distribution; its stdout. Raises on a non-zero exit."""
        node = self._nodes[self.node_ids[0]]
        argv = self._java_argv(node, main, *args, jvm_opts=TOOL_JVM_OPTS)
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=node.dir
        )
        if done.returncode != 0:
            raise SandboxError(f"{main} failed (exit {done.returncode}): {done.stderr[-2000:]}")
        return done.stdout

    def __repr__(self) -> str:
        return (
            f"KafkaSandbox(shape={self.shape!r}, version={self.version!r}, "
            f"bootstrap_servers={self.bootstrap_servers!r})"
        )

    # ------------------------------------------------------------------ internals

    def _node(self, node_id: int) -> _Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise ValueError(f"no node {node_id}; nodes are {self.node_ids}") from None

    def _running(self, node_id: int) -> bool:
        process = self._resources.procs.get(f"node-{node_id}")
        return process is not None and process.poll() is None

    def _properties(self, node: _Node) -> dict[str, str]:
        cluster = self.shape == "cluster"
        voters = ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in self._nodes.values())
        replication = "3" if cluster else "1"
        min_isr = "2" if cluster else "1"
        listener = {
            "secure": "SASL_PLAINTEXT",
            "tls": "SSL",
            "mtls": "SSL",
            "scram": "SASL_SSL",
        }.get(self.shape, "PLAINTEXT")
        controller = "SSL" if self.shape in TLS_SHAPES else listener
        props = {
            "node.id": str(node.node_id),
            "process.roles": "broker,controller",
            "controller.quorum.voters": voters,
            "listeners": f"{listener}://{node.address},CONTROLLER://{HOST}:{node.controller_port}",
            "advertised.listeners": f"{listener}://{node.address}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": listener,
            "listener.security.protocol.map": f"{listener}:{listener},CONTROLLER:{controller}",
            "log.dirs": str(node.dir / "data"),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.replication.factor": replication,
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": replication,
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": "5",
            "share.coordinator.state.topic.replication.factor": replication,
            "share.coordinator.state.topic.min.isr": min_isr,
            "num.io.threads": "4",
            "num.network.threads": "2",
            "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
            "controller.quorum.election.timeout.ms": "1000",
            "controller.quorum.fetch.timeout.ms": "2000",
            "broker.heartbeat.interval.ms": "1000",
            "broker.session.timeout.ms": "6000",
        }
        if self.shape == "secure":
            jaas = _jaas(self.users)
            props.update(
                {
                    "sasl.enabled.mechanisms": "PLAIN",
                    "sasl.mechanism.inter.broker.protocol": "PLAIN",
                    "sasl.mechanism.controller.protocol": "PLAIN",
                    "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas,
                    "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
                    "listener.name.controller.plain.sasl.jaas.config": jaas,
                    "authorizer.class.name": STANDARD_AUTHORIZER,
                    "super.users": f"User:{SUPER_USER}",
                    "allow.everyone.if.no.acl.found": "false",
                }
            )
        if self.shape == "cluster":
            props.update(
                {
                    "authorizer.class.name": STANDARD_AUTHORIZER,
                    "super.users": "User:ANONYMOUS",
                    "allow.everyone.if.no.acl.found": "false",
                }
            )
        if self.shape in TLS_SHAPES:
            props.update(self._tls_properties())
        return props

    def _tls_properties(self) -> dict[str, str]:
        """SSL settings shared by tls, mtls and scram (see the module docstring)."""
        assert self.tls_dir is not None
        broker = f"User:CN={BROKER_CN}"
        props = {
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.tls_dir / f"{BROKER_CN}.p12"),
            "ssl.keystore.password": self._store_password,
            "ssl.key.password": self._store_password,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.tls_dir / "ca.pem"),
            "ssl.principal.mapping.rules": PRINCIPAL_MAPPING_RULES,
            # The broker talks to its controller listener with its own certificate.
            "listener.name.controller.ssl.client.auth": "required",
            "authorizer.class.name": STANDARD_AUTHORIZER,
            "allow.everyone.if.no.acl.found": "false",
        }
        if self.shape == "tls":
            props["ssl.client.auth"] = "none"
            props["super.users"] = f"{broker};User:ANONYMOUS"
        elif self.shape == "mtls":
            props["ssl.client.auth"] = "required"
            props["super.users"] = f"{broker};User:CN={SUPER_USER}"
        else:  # scram
            login = (
                f'{SCRAM_LOGIN} required username="{SUPER_USER}" '
                f'password="{self.users[SUPER_USER]}";'
            )
            props.update(
                {
                    "ssl.client.auth": "none",
                    "sasl.enabled.mechanisms": ",".join(SCRAM_MECHANISMS),
                    "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
                    "super.users": f"{broker};User:{SUPER_USER}",
                }
            )
            for mechanism in SCRAM_MECHANISMS:  # every enabled mechanism needs its login
                props[f"listener.name.sasl_ssl.{mechanism.lower()}.sasl.jaas.config"] = login
        return props

    def _make_certificates(self) -> None:
        """The sandbox CA, the broker keystore and (mtls) a client certificate per user."""
        if self.tls_dir is None:
            return
        from reconciler.sandbox.certs import SandboxCA

        authority = SandboxCA(self.tls_dir)
        authority.issue_pkcs12(BROKER_CN, self._store_password, server=True)
        self.ca_file = authority.ca_file
        if self.shape == "mtls":
            for user in TLS_USERS:
                issued = authority.issue_pem(user)
                self.client_certs[user] = (issued.cert_file, issued.key_file)

    def _grant_ops(self) -> None:
        """Create the ACLs of :data:`OPS_GRANTS` for ``ops`` (as the super user)."""
        config = self.client_config()
        principal = self.principal("ops")

        async def grant() -> None:
            from aiokafka.admin import AIOKafkaAdminClient
            from aiokafka.protocol.admin import CreateAclsRequest

            admin = AIOKafkaAdminClient(request_timeout_ms=15_000, **config)
            await admin.start()
            try:
                for kind, name, pattern, operation in OPS_GRANTS:
                    request = CreateAclsRequest(
                        _ACL_CODES[kind],
                        name,
                        _ACL_CODES[pattern],
                        principal,
                        "*",
                        _ACL_CODES[operation],
                        _ACL_CODES["ALLOW"],
                    )
                    response = await admin._send_request(request)
                    for code, message in response.creation_responses:
                        if code:
                            raise SandboxError(
                                f"granting {operation} on {kind} {name} to {principal} failed: "
                                f"error {code} {message}"
                            )
            finally:
                await admin.close()

        proc.run_async(grant)

    def _write_configs(self) -> None:
        for node in self._nodes.values():
            node.dir.mkdir(parents=True, exist_ok=True)
            lines = [f"{key}={value}" for key, value in self._properties(node).items()]
            node.properties_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self._log_config().write_text(self._log_template(), encoding="utf-8")

    def _log_config(self) -> Path:
        name = "log4j2.properties" if uses_log4j2(self.version) else "log4j.properties"
        return self.workdir / name

    def _log_template(self) -> str:
        name = self._log_config().name
        return resources.files("reconciler.sandbox").joinpath(name).read_text(encoding="utf-8")

    def _java_argv(
        self, node: _Node, main: str, *args: str, jvm_opts: list[str] = BROKER_JVM_OPTS
    ) -> list[str]:
        assert self._dist is not None and self._java is not None
        log_config = self._log_config()
        log_flag = (
            f"-Dlog4j2.configurationFile={log_config}"
            if uses_log4j2(self.version)
            else f"-Dlog4j.configuration=file:{log_config}"
        )
        return [
            str(self._java),
            *jvm_opts,
            *os.environ.get("LLM_ANALYTICS_KAFKA_JVM_OPTS", "").split(),
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={node.dir}",
            log_flag,
            "-cp",
            self._dist.classpath,
            main,
            *args,
        ]

    def _format_all(self, timeout: float) -> None:
        """Format every node's storage (in parallel) with the sandbox's cluster id."""
        running: list[tuple[_Node, subprocess.Popen[bytes]]] = []
        for node in self._nodes.values():
            argv = self._java_argv(
                node,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                self.cluster_id,
                "-c",
                str(node.properties_file),
                "--ignore-formatted",
                *self._scram_format_args(),
                jvm_opts=TOOL_JVM_OPTS,
            )
            running.append((node, proc.spawn(argv, log_file=node.log_file, cwd=node.dir)))
        deadline = time.monotonic() + timeout
        for node, process in running:
            try:
                code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.terminate([p for _, p in running], grace=1)
                raise SandboxError(
                    f"formatting Kafka storage timed out\n{self.log_tail()}"
                ) from None
            if code != 0:
                raise SandboxError(
                    f"formatting the storage of node {node.node_id} failed (exit {code})\n"
                    f"{proc.tail(node.log_file, 40)}"
                )

    def _scram_format_args(self) -> list[str]:
        """scram: ``--add-scram`` for every user (the credentials go into the metadata log)."""
        if self.shape != "scram":
            return []
        args: list[str] = []
        for name, password in self.users.items():
            for mechanism in SCRAM_MECHANISMS:
                args += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        return args

    def _spawn(self, node: _Node) -> None:
        argv = self._java_argv(node, "kafka.Kafka", str(node.properties_file))
        self._resources.procs[f"node-{node.node_id}"] = proc.spawn(
            argv,
            log_file=node.log_file,
            cwd=node.dir,
            detached=self._resources.detached,
        )

    def _failure_detail(self) -> str:
        text = self.log_tail()
        if "UnsupportedClassVersionError" in text:
            text += "\nhint: the Kafka jars need a newer Java; install one under /usr/lib/jvm"
        return text

    def _wait_for_brokers(
        self, wanted: set[int], timeout: float, what: str, *, exact: bool = False
    ) -> None:
        """Poll until every running node's own metadata lists ``wanted`` (exactly, if ``exact``).

        Each node is asked on its own (a bootstrap connection to its address alone is a
        MetadataRequest answered by that node), so a node that is listed but not yet accepting
        connections, or whose metadata cache lags, does not count as ready.
        """
        base = self.client_config()
        base.pop("bootstrap_servers")

        def dead() -> list[int]:
            return [i for i in wanted if not self._running(i)]

        def ok(view: set[int] | None) -> bool:
            return view is not None and ((view == wanted) if exact else wanted <= view)

        async def view_of(node: _Node) -> set[int] | None:
            from aiokafka.client import AIOKafkaClient

            client = AIOKafkaClient(bootstrap_servers=node.address, request_timeout_ms=5000, **base)
            try:
                await client.bootstrap()
                return {int(broker.nodeId) for broker in client.cluster.brokers()}
            except Exception:  # not up yet: connection refused, authorizer not ready, ...
                return None
            finally:
                with contextlib.suppress(Exception):
                    await client.close()

        views: dict[int, set[int] | None] = {}

        async def poll() -> None:
            proc.quiet_probe_logs("aiokafka")
            async for _ in retries(timeout=timeout, interval=0.25):
                if dead():
                    return
                asked = [n for n in self._nodes.values() if self._running(n.node_id)]
                for node in asked:
                    views[node.node_id] = await view_of(node)
                if asked and all(ok(views[n.node_id]) for n in asked):
                    return

        proc.run_async(poll)
        if dead():
            raise SandboxError(
                f"Kafka node(s) {dead()} exited while waiting for {what}\n{self._failure_detail()}"
            )
        running = [i for i in self.node_ids if self._running(i)]
        if not running or not all(ok(views.get(i)) for i in running):
            seen = {i: sorted(v) if v is not None else "no answer" for i, v in views.items()}
            raise SandboxError(
                f"timed out after {timeout:.0f}s waiting for {what} "
                f"(brokers listed by each node: {seen}; want {sorted(wanted)})\n"
                f"{self._failure_detail()}"
            )


__all__ = [
    "OPS_GRANTS",
    "SECURE_USERS",
    "SHAPES",
    "TLS_USERS",
    "KafkaSandbox",
    "SandboxError",
    "Shape",
]
