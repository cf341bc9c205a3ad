"""Kafka on production-shaped security: TLS, mutual TLS and SASL_SSL with SCRAM-SHA-512.

Real brokers only (the ``tls``, ``mtls`` and ``scram`` sandboxes), no mocks:

- the providers and the CLI plan, apply and report drift of a spec with topics and ACLs,
  with the credentials from the spec (``fromEnv`` references, ``${VAR}`` interpolation) and
  from ``LLM_ANALYTICS_*`` variables (:mod:`reconciler.spec.connection_env`);
- a wrong password, a SCRAM-vs-PLAIN mismatch, an untrusted CA, a missing client certificate,
  plaintext spoken to a TLS listener, and a peer that accepts and never answers each end the
  command with exit 1 within 10 s, naming the endpoint and the real cause, no traceback.
  Wall-clock bounds are kept apart from process start-up, which alone can take seconds on a
  loaded machine (:class:`Timing`): the tool's own time, from its first connection attempt
  to its exit (measured inside the CLI process), stays within the connect deadline, and the
  whole run, less what a run that fails at once costs right before it, within 10 s;
- no password appears in any output or file, with ``--debug`` too.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.engine.applying import apply_plan
from reconciler.engine.plan import Action
from reconciler.engine.planning import build_plan
from reconciler.engine.providers import ApplyOptions, PlanOptions, ResultStatus
from reconciler.errors import CONNECT_TIMEOUT_SECONDS, ConnectionFailure
from reconciler.providers.kafka.acls import KafkaAclsProvider
from reconciler.providers.kafka.client import KafkaAdmin, NewTopicRequest, connection_settings
from reconciler.providers.kafka.topics import KafkaTopicsProvider
from reconciler.sandbox import KafkaSandbox
from reconciler.sandbox.certs import SandboxCA
from reconciler.spec.connection_env import kafka_connection_from_env
from reconciler.spec.loading import load_spec
from reconciler.spec.resolving import resolve_topics
from tests.integration.gitops.conftest import Result, admin_call, run_cli

SHAPES = ("tls", "mtls", "scram")
PASSWORD_VARIABLE = "LLM_ANALYTICS_TEST_KAFKA_PASSWORD"
# The acceptance bound for a failing command, less the process start-up of the moment.
FAIL_WITHIN_SECONDS = 10.0
# What the tool may spend after its connect deadline: the diagnosis' last step, the message.
AFTER_DEADLINE_SECONDS = 2.0
TIMER_LOG = "T_CLI_TIMER_LOG"
# Put on the CLI's PYTHONPATH: every connection (aiokafka's, the diagnosis' probes) is made
# with loop.create_connection; the time from the first one to exit goes to a file.
TIMER = """\
import asyncio.base_events
import atexit
import os
import time

_first = []
_create_connection = asyncio.base_events.BaseEventLoop.create_connection


async def _timed(self, *args, **kwargs):
    if not _first:
        _first.append(time.monotonic())
    return await _create_connection(self, *args, **kwargs)


asyncio.base_events.BaseEventLoop.create_connection = _timed


@atexit.register
def _report():
    if _first:
        with open(os.environ["T_CLI_TIMER_LOG"], "w") as log:
            log.write(repr(time.monotonic() - _first[0]))
"""


@dataclass(frozen=True)
class Timing:
    """How long one CLI run took, with start-up told apart from the tool's own time."""

    elapsed: float  # the whole run, wall clock, process start-up included
    startup: float  # a run that fails at once (a refused port), made just before this one
    own: float | None  # first connection attempt -> exit, inside the CLI (None: none made)

    def __str__(self) -> str:
        own = "no connection" if self.own is None else f"{self.own:.1f}s from first connect"
        return f"{self.elapsed:.1f}s in all, {own}, start-up {self.startup:.1f}s"


def _measured(args: tuple[str, ...], env: dict[str, str]) -> tuple[Result, float, float | None]:
    with tempfile.TemporaryDirectory(prefix="cli-timer-") as directory:
        Path(directory, "sitecustomize.py").write_text(TIMER)
        log = Path(directory, "own.txt")
        path = os.pathsep.join(filter(None, [directory, os.environ.get("PYTHONPATH")]))
        began = time.monotonic()
        result = cli(*args, env={**env, "PYTHONPATH": path, TIMER_LOG: str(log)}, timeout=60)
        elapsed = time.monotonic() - began
        own = float(log.read_text()) if log.exists() else None
    return result, elapsed, own


def startup_seconds() -> float:
    """How long a CLI run that fails at once (a refused port) takes here, right now: the
    interpreter, the imports and the message, without any wait for a peer."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result, elapsed, _ = _measured(
        ("kafka", "verify", "--bootstrap-servers", f"127.0.0.1:{port}"), {}
    )
    assert result.code == 1, result.output
    return elapsed


def timed_cli(*args: str, env: dict[str, str]) -> tuple[Result, Timing]:
    """Run the CLI, timed (:class:`Timing`), right after a start-up baseline run."""
    startup = startup_seconds()
    result, elapsed, own = _measured(args, env)
    return result, Timing(elapsed, startup, own)


def assert_within_deadline(timing: Timing, output: str) -> None:
    """The tool's own time within its connect deadline (plus what follows it), and the
    whole run within 10 s of the start-up this machine needs at the moment."""
    deadline = CONNECT_TIMEOUT_SECONDS + AFTER_DEADLINE_SECONDS
    assert timing.own is not None, f"the CLI made no connection: {output}"
    assert timing.own < deadline, f"{timing} (tool's own bound {deadline:g}s): {output}"
    assert timing.elapsed - timing.startup < FAIL_WITHIN_SECONDS, f"{timing}: {output}"


@pytest.fixture(params=SHAPES)
def secured(request: pytest.FixtureRequest) -> KafkaSandbox:
    """Each TLS shape in turn (the session fixtures start lazily, once)."""
    sandbox: KafkaSandbox = request.getfixturevalue(f"kafka_{request.param}")
    return sandbox


def principal_for(sandbox: KafkaSandbox, name: str) -> str:
    return f"User:CN={name}" if sandbox.shape == "mtls" else f"User:{name}"


def spec_document(
    sandbox: KafkaSandbox,
    prefix: str,
    *,
    connection: dict[str, Any] | None = None,
    user: str | None = None,
) -> dict[str, Any]:
    app = principal_for(sandbox, f"{prefix}-app")
    return {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": f"security-{sandbox.shape}"},
        "kafka": {
            "connection": connection
            or sandbox.spec_connection(user, password_env=PASSWORD_VARIABLE),
            "defaults": {"replicationFactor": 1},
            "topics": [
                {"name": f"{prefix}-events", "partitions": 2, "config": {"retention.ms": "1d"}},
                {"name": f"{prefix}-audit", "partitions": 1},
            ],
            "acls": [
                {"role": "producer", "principal": app, "topicPrefixes": [prefix]},
                {
                    "role": "consumer",
                    "principal": app,
                    "topicPrefixes": [prefix],
                    "groupPrefixes": [prefix],
                },
            ],
            "ownership": {
                "topics": {"prefixes": [prefix]},
                "acls": {"principals": [app]},
            },
        },
    }


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def password_env(sandbox: KafkaSandbox, user: str | None = None) -> dict[str, str]:
    """The spec's ``fromEnv`` variable with the user's password (SASL shapes only)."""
    if sandbox.sasl_mechanism is None:
        return {}
    return {PASSWORD_VARIABLE: sandbox.users[user or "admin"]}


def providers_for(admin: KafkaAdmin, spec: Any) -> list[Any]:
    return [
        KafkaTopicsProvider(admin, resolve_topics(spec.kafka), spec.kafka.ownership.topics),
        KafkaAclsProvider.from_spec(admin, spec.kafka),
    ]


async def plan_apply_drift(admin: KafkaAdmin, spec: Any, prefix: str) -> None:
    """Plan creates topics and ACLs, apply converges, an out-of-band change is drift."""
    providers = providers_for(admin, spec)
    plan = await build_plan(providers, PlanOptions())
    created = {c.address for c in plan.changes if c.action is Action.CREATE}
    assert f"kafka_topic.{prefix}-events" in created
    assert f"kafka_topic.{prefix}-audit" in created
    assert any(address.startswith("kafka_acl.") for address in created), created
    results = await apply_plan(plan, providers, ApplyOptions())
    assert all(r.status is ResultStatus.APPLIED for r in results), results

    again = await build_plan(providers_for(admin, spec), PlanOptions())
    assert not again.has_changes, [c.address for c in again.changes]

    assert await admin.alter_topic_configs({f"{prefix}-events": {"retention.ms": "3600000"}}) == {
        f"{prefix}-events": None
    }
    drift = await build_plan(providers_for(admin, spec), PlanOptions())
    (change,) = drift.actionable
    assert change.address == f"kafka_topic.{prefix}-events"
    (attribute,) = change.attributes
    assert (attribute.before, attribute.after) == ("3600000", "86400000")


# --------------------------------------------------------------------------- provider level


async def test_providers_plan_apply_drift_with_credentials_from_the_spec(
    secured: KafkaSandbox,
    tmp_path: Path,
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = unique_name(secured.shape)
    for name, value in password_env(secured).items():
        monkeypatch.setenv(name, value)
    spec = load_spec(write(tmp_path / "spec.yaml", spec_document(secured, prefix))).spec
    assert spec.kafka is not None
    async with KafkaAdmin(connection_settings(spec.kafka.connection)) as admin:
        await plan_apply_drift(admin, spec, prefix)


async def test_providers_with_the_connection_from_environment_variables(
    secured: KafkaSandbox,
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> None:
    """The spec names only a (wrong) bootstrap address; the environment gives the rest."""
    prefix = unique_name(secured.shape)
    document = spec_document(secured, prefix, connection={"bootstrapServers": "nowhere:9092"})
    spec = load_spec(write(tmp_path / "spec.yaml", document)).spec
    assert spec.kafka is not None
    environ = secured.connection_env(password_variable=PASSWORD_VARIABLE)
    connection = kafka_connection_from_env(spec.kafka.connection, environ)
    assert connection is not None
    assert connection.bootstrap_list == secured.bootstrap_servers.split(",")
    settings = _with_environ(environ, lambda: connection_settings(connection))
    async with KafkaAdmin(settings) as admin:
        await plan_apply_drift(admin, spec, prefix)


def _with_environ(environ: dict[str, str], call: Callable[[], Any]) -> Any:
    """Run ``call`` with ``environ`` exported (secrets resolve from os.environ)."""
    import os

    saved = {k: os.environ.get(k) for k in environ}
    os.environ.update(environ)
    try:
        return call()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def test_ops_is_authenticated_as_its_principal_and_held_to_its_grants(
    unique_name: Callable[[str], str], request: pytest.FixtureRequest
) -> None:
    """mtls and scram: ``ops`` may manage ``ops-*`` topics only; a topic outside its
    prefix is refused by the authorizer (the principal is really User:CN=ops / User:ops)."""
    for shape in ("mtls", "scram"):
        sandbox: KafkaSandbox = request.getfixturevalue(f"kafka_{shape}")
        async with KafkaAdmin(sandbox.client_config("ops")) as admin:
            mine = f"ops-{unique_name(shape)}"
            other = unique_name(f"{shape}-not-ops")
            results = await admin.create_topics(
                [NewTopicRequest(mine, 1, 1, {}), NewTopicRequest(other, 1, 1, {})]
            )
            assert results[mine] is None, results
            assert results[other] is not None and "TopicAuthorizationFailed" in results[other]


async def test_scram_sha_256_and_the_ops_user(
    kafka_scram: KafkaSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = kafka_scram.spec_connection("ops", password_env=PASSWORD_VARIABLE)
    connection["security"]["sasl"]["mechanism"] = "SCRAM-SHA-256"
    document = spec_document(kafka_scram, "unused", connection=connection)
    monkeypatch.setenv(PASSWORD_VARIABLE, kafka_scram.users["ops"])
    spec = load_spec(write(tmp_path / "spec.yaml", document)).spec
    assert spec.kafka is not None
    settings = connection_settings(spec.kafka.connection)
    assert settings["sasl_mechanism"] == "SCRAM-SHA-256"
    async with KafkaAdmin(settings) as admin:
        state = await admin.cluster_state(with_configs=False)
        assert state.brokers


def encrypted_copy(key_file: Path, target: Path, password: str) -> Path:
    """The PEM key re-written encrypted with ``password`` (keyPassword in the spec)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    target.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode()),
        )
    )
    return target


def test_mtls_with_an_encrypted_key_and_its_password_never_leaks(
    kafka_mtls: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    key_password = "key-pw-" + unique_name("k")[-6:] + "-Zq81"
    _cert, key = kafka_mtls.cert_files("admin")
    connection = kafka_mtls.spec_connection()
    connection["security"]["tls"].update(
        keyFile=str(encrypted_copy(key, tmp_path / "admin-key.enc.pem", key_password)),
        keyPassword={"fromEnv": "LLM_ANALYTICS_TEST_KEY_PASSWORD"},
    )
    prefix = unique_name("enc")
    spec = write(tmp_path / "spec.yaml", spec_document(kafka_mtls, prefix, connection=connection))
    env = {"LLM_ANALYTICS_TEST_KEY_PASSWORD": key_password}
    planfile = tmp_path / "plan.json"
    runs = [
        cli("--debug", "plan", "-f", str(spec), "-o", "json", "--out", str(planfile), env=env),
        cli("--debug", "apply", str(planfile), "--auto-approve", env=env),
        cli("--debug", "drift", "-f", str(spec), "-o", "json", env=env),
    ]
    assert [r.code for r in runs] == [0, 0, 0], [r.output for r in runs]
    wrong = cli(
        "--debug",
        "plan",
        "-f",
        str(spec),
        env={"LLM_ANALYTICS_TEST_KEY_PASSWORD": "wrong-" + key_password},
    )
    assert wrong.code == 1, wrong.output
    assert "cannot load it with its key" in wrong.stderr
    for text in [*(r.output for r in runs), wrong.output, planfile.read_text()]:
        assert key_password not in text


# --------------------------------------------------------------------------- CLI level


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> Result:
    return run_cli("--no-color", *args, extra_env=env, timeout=timeout)


def test_cli_plan_apply_drift_verify_and_acls_with_credentials_from_the_spec(
    secured: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    prefix = unique_name(secured.shape)
    spec = write(tmp_path / "spec.yaml", spec_document(secured, prefix))
    env = password_env(secured)

    plan = cli("plan", "-f", str(spec), "--detailed-exitcode", env=env)
    assert plan.code == 2, plan.output
    assert f"{prefix}-events" in plan.stdout
    apply = cli("apply", "-f", str(spec), "--auto-approve", env=env)
    assert apply.code == 0, apply.output
    again = cli("plan", "-f", str(spec), "--detailed-exitcode", env=env)
    assert again.code == 0, again.output
    drift = cli("drift", "-f", str(spec), env=env)
    assert drift.code == 0, drift.output

    config = secured.client_config()
    admin_call(config, "alter_topic_configs", {f"{prefix}-events": {"retention.ms": "3600000"}})
    drifted = cli("drift", "-f", str(spec), "-o", "json", env=env)
    assert drifted.code == 2, drifted.output
    assert f"{prefix}-events" in drifted.stdout

    verify = cli("kafka", "verify", "-f", str(spec), env=env)
    assert verify.code in (0, 2), verify.output  # 2: the drift above
    assert "Traceback" not in verify.output

    namespace = unique_name("ns")
    acls = cli("kafka", "acls", "create", "-n", namespace, "-f", str(spec), env=env)
    assert acls.code == 0, acls.output
    listed = cli("kafka", "acls", "create", "-n", namespace, "-f", str(spec), "--dry-run", env=env)
    assert listed.code == 0, listed.output


def test_cli_with_credentials_interpolated_from_the_environment(
    secured: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Every connection value of the spec is a ``${VAR}``: a CI job keeps one file."""
    prefix = unique_name(secured.shape)
    security: dict[str, Any] = {"protocol": "${KAFKA_PROTOCOL}", "tls": {"caFile": "${KAFKA_CA}"}}
    env = {
        "KAFKA_BOOTSTRAP": secured.bootstrap_servers,
        "KAFKA_PROTOCOL": secured.security_protocol,
        "KAFKA_CA": str(secured.ca_file),
        **password_env(secured, "admin"),
    }
    if secured.shape == "mtls":
        cert, key = secured.cert_files("admin")
        security["tls"].update(certFile="${KAFKA_CERT}", keyFile="${KAFKA_KEY}")
        env.update(KAFKA_CERT=str(cert), KAFKA_KEY=str(key))
    if secured.sasl_mechanism is not None:
        security["sasl"] = {
            "mechanism": "${KAFKA_MECHANISM}",
            "username": "${KAFKA_USER}",
            "password": {"fromEnv": PASSWORD_VARIABLE},
        }
        env.update(KAFKA_MECHANISM=secured.sasl_mechanism, KAFKA_USER="admin")
    connection = {"bootstrapServers": "${KAFKA_BOOTSTRAP}", "security": security}
    spec = write(tmp_path / "spec.yaml", spec_document(secured, prefix, connection=connection))
    apply = cli("apply", "-f", str(spec), "--auto-approve", env=env)
    assert apply.code == 0, apply.output
    again = cli("plan", "-f", str(spec), "--detailed-exitcode", env=env)
    assert again.code == 0, again.output


def test_cli_with_the_connection_from_llm_analytics_variables(
    secured: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    prefix = unique_name(secured.shape)
    document = spec_document(secured, prefix, connection={"bootstrapServers": "nowhere:9092"})
    spec = write(tmp_path / "spec.yaml", document)
    env = secured.connection_env(password_variable=PASSWORD_VARIABLE)
    apply = cli("apply", "-f", str(spec), "--auto-approve", env=env)
    assert apply.code == 0, apply.output
    listed = cli("kafka", "topics", "list", env=env)
    assert listed.code == 0, listed.output
    assert f"{prefix}-events" in listed.stdout


# --------------------------------------------------------------------------- failures


def assert_fails_with(result: Result, timing: Timing, endpoint: str, *causes: str) -> None:
    assert result.code == 1, result.output
    assert_within_deadline(timing, result.output)
    assert endpoint in result.stderr, result.stderr
    for cause in causes:
        assert cause in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert "unexpected" not in result.stderr.lower()
    assert "cannot reach" not in result.stderr  # the peer was reached: the cause is named


def timed_plan(spec: Path, env: dict[str, str]) -> tuple[Result, Timing]:
    return timed_cli("plan", "-f", str(spec), env=env)


def test_a_wrong_scram_password_is_an_authentication_failure(
    kafka_scram: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    spec = write(tmp_path / "spec.yaml", spec_document(kafka_scram, unique_name("bad"), user="ops"))
    wrong = "not-" + kafka_scram.users["ops"]
    result, timing = timed_plan(spec, {PASSWORD_VARIABLE: wrong})
    assert_fails_with(
        result,
        timing,
        kafka_scram.bootstrap_servers,
        "authentication failed (SASL SCRAM-SHA-512 as ops)",
    )
    assert wrong not in result.output


def test_plain_against_a_scram_listener_names_the_mechanisms(
    kafka_scram: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    connection = kafka_scram.spec_connection("ops", password_env=PASSWORD_VARIABLE)
    connection["security"]["sasl"]["mechanism"] = "PLAIN"
    document = spec_document(kafka_scram, unique_name("mech"), connection=connection)
    spec = write(tmp_path / "spec.yaml", document)
    result, timing = timed_plan(spec, password_env(kafka_scram, "ops"))
    assert_fails_with(
        result,
        timing,
        kafka_scram.bootstrap_servers,
        "SASL mechanism mismatch: the client uses PLAIN",
        "the listener enables SCRAM-",
    )
    assert "SCRAM-SHA-512" in result.stderr and "SCRAM-SHA-256" in result.stderr


def test_a_wrong_plain_password_is_an_authentication_failure(
    kafka_secure: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    connection = {
        "bootstrapServers": kafka_secure.bootstrap_servers,
        "security": {
            "protocol": "SASL_PLAINTEXT",
            "sasl": {
                "mechanism": "PLAIN",
                "username": "alice",
                "password": {"fromEnv": PASSWORD_VARIABLE},
            },
        },
    }
    document = spec_document(kafka_secure, unique_name("plain"), connection=connection)
    spec = write(tmp_path / "spec.yaml", document)
    result, timing = timed_plan(spec, {PASSWORD_VARIABLE: "wrong-password-for-alice"})
    assert_fails_with(
        result,
        timing,
        kafka_secure.bootstrap_servers,
        "authentication failed (SASL PLAIN as alice)",
    )


def test_an_untrusted_ca_is_named(
    kafka_tls: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    other = SandboxCA(tmp_path / "other-ca", name="some other CA")
    connection = kafka_tls.spec_connection()
    connection["security"]["tls"]["caFile"] = str(other.ca_file)
    spec = write(
        tmp_path / "spec.yaml", spec_document(kafka_tls, unique_name("ca"), connection=connection)
    )
    result, timing = timed_plan(spec, {})
    assert_fails_with(
        result,
        timing,
        kafka_tls.bootstrap_servers,
        "TLS: certificate verify failed",
        str(other.ca_file),
    )


def test_a_missing_client_certificate_is_named(
    kafka_mtls: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    connection = kafka_mtls.spec_connection()
    del connection["security"]["tls"]["certFile"]
    del connection["security"]["tls"]["keyFile"]
    spec = write(
        tmp_path / "spec.yaml",
        spec_document(kafka_mtls, unique_name("nocert"), connection=connection),
    )
    result, timing = timed_plan(spec, {})
    assert_fails_with(
        result,
        timing,
        kafka_mtls.bootstrap_servers,
        "TLS: the broker requires a client certificate (mutual TLS) and none was given",
    )


def test_a_client_certificate_from_another_ca_is_refused(
    kafka_mtls: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    stranger = SandboxCA(tmp_path / "other-ca").issue_pem("admin")  # same CN, wrong CA
    connection = kafka_mtls.spec_connection()
    connection["security"]["tls"].update(
        certFile=str(stranger.cert_file), keyFile=str(stranger.key_file)
    )
    spec = write(
        tmp_path / "spec.yaml",
        spec_document(kafka_mtls, unique_name("stranger"), connection=connection),
    )
    result, timing = timed_plan(spec, {})
    assert_fails_with(
        result,
        timing,
        kafka_mtls.bootstrap_servers,
        "TLS: the broker refused the client certificate",
    )


def test_plaintext_against_a_tls_listener_is_named(
    kafka_tls: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    connection = {"bootstrapServers": kafka_tls.bootstrap_servers}
    spec = write(
        tmp_path / "spec.yaml",
        spec_document(kafka_tls, unique_name("plain"), connection=connection),
    )
    result, timing = timed_plan(spec, {})
    assert_fails_with(result, timing, kafka_tls.bootstrap_servers, "the listener speaks TLS")


def test_tls_against_a_plaintext_listener_is_named(
    kafka_single: KafkaSandbox,
    kafka_tls: KafkaSandbox,
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> None:
    connection = kafka_tls.spec_connection()
    connection["bootstrapServers"] = kafka_single.bootstrap_servers
    spec = write(
        tmp_path / "spec.yaml", spec_document(kafka_tls, unique_name("tls"), connection=connection)
    )
    result, timing = timed_plan(spec, {})
    assert_fails_with(
        result, timing, kafka_single.bootstrap_servers, "the listener probably does not speak TLS"
    )


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A plain Python socket that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL"])
def test_a_silent_peer_is_not_kafka_within_the_deadline(
    silent_listener: str,
    kafka_tls: KafkaSandbox,
    protocol: str,
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> None:
    if protocol == "SSL":
        connection = kafka_tls.spec_connection()
        connection["bootstrapServers"] = silent_listener
    else:
        connection = {"bootstrapServers": silent_listener}
    spec = write(
        tmp_path / "spec.yaml",
        spec_document(kafka_tls, unique_name("silent"), connection=connection),
    )
    for command in (("plan", "-f", str(spec)), ("kafka", "verify", "-f", str(spec))):
        result, timing = timed_cli(*command, env={})
        assert_fails_with(result, timing, silent_listener, "no answer", "not a Kafka broker")


def test_a_silent_bootstrap_address_next_to_a_live_one_costs_nothing(
    silent_listener: str,
    kafka_scram: KafkaSandbox,
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> None:
    connection = kafka_scram.spec_connection(password_env=PASSWORD_VARIABLE)
    connection["bootstrapServers"] = f"{silent_listener},{kafka_scram.bootstrap_servers}"
    spec = write(
        tmp_path / "spec.yaml",
        spec_document(kafka_scram, unique_name("mixed"), connection=connection),
    )
    result, timing = timed_cli(
        "plan", "-f", str(spec), "--detailed-exitcode", env=password_env(kafka_scram)
    )
    assert result.code == 2, result.output
    assert_within_deadline(timing, result.output)
    assert timing.own is not None and timing.own < CONNECT_TIMEOUT_SECONDS, timing  # no wait


async def test_provider_level_failures_carry_their_kind(kafka_scram: KafkaSandbox) -> None:
    config = {**kafka_scram.client_config("ops"), "sasl_plain_password": "wrong"}
    with pytest.raises(ConnectionFailure) as caught:
        async with KafkaAdmin(config):
            pass
    assert caught.value.kind == "authentication"
    assert caught.value.endpoint == kafka_scram.bootstrap_servers


# --------------------------------------------------------------------------- no leaks


def test_no_password_leaks_with_debug_json_markdown_saved_plans_and_failures(
    kafka_scram: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Every command with --debug, -o json, -o markdown, a saved plan, drift metrics, and
    failing runs: no password of any user in any stdout, stderr or written file."""
    prefix = unique_name("leak")
    spec = write(tmp_path / "spec.yaml", spec_document(kafka_scram, prefix))
    env = {**password_env(kafka_scram), "LLM_ANALYTICS_DEBUG": "1"}
    planfile = tmp_path / "plan.json"
    metrics = tmp_path / "drift.prom"
    namespace = unique_name("ns")

    def debug(*args: str, environment: dict[str, str] = env) -> Result:
        return cli("--debug", *args, env=environment)

    runs = {
        "plan --out": debug("plan", "-f", str(spec), "-o", "markdown", "--out", str(planfile)),
        "plan json": debug("plan", "-f", str(spec), "-o", "json"),
        "show": debug("show", str(planfile), "-o", "json"),
        "apply planfile": debug("apply", str(planfile), "--auto-approve"),
        "drift": debug("drift", "-f", str(spec), "--metrics-file", str(metrics)),
        "drift json": debug("drift", "-f", str(spec), "-o", "json"),
        "verify": debug("kafka", "verify", "-f", str(spec), "-o", "json"),
        "acls create": debug(
            "kafka", "acls", "create", "-n", namespace, "-f", str(spec), "-o", "json"
        ),
        "acls markdown": debug(
            "kafka",
            "acls",
            "create",
            "-n",
            namespace,
            "-f",
            str(spec),
            "--dry-run",
            "-o",
            "markdown",
        ),
        "apply spec": debug("apply", "-f", str(spec), "--auto-approve"),
    }
    wrong_password = "wrong-" + kafka_scram.users["admin"]
    failures = {
        "wrong password": debug(
            "plan", "-f", str(spec), environment={**env, PASSWORD_VARIABLE: wrong_password}
        ),
        "wrong password json": debug(
            "plan",
            "-f",
            str(spec),
            "-o",
            "json",
            environment={**env, PASSWORD_VARIABLE: wrong_password},
        ),
    }
    for name in ("plan --out", "apply planfile", "drift", "acls create", "apply spec"):
        assert runs[name].code == 0, (name, runs[name].output)
    for name, failed in failures.items():
        assert failed.code == 1, (name, failed.output)
        assert "authentication failed (SASL SCRAM-SHA-512 as admin)" in failed.stderr
    assert "DEBUG" in runs["apply planfile"].stderr  # --debug really talked

    texts = {
        f"{name} {stream}": text
        for name, result in {**runs, **failures}.items()
        for stream, text in (("stdout", result.stdout), ("stderr", result.stderr))
    }
    texts["plan file"] = planfile.read_text()
    texts["metrics file"] = metrics.read_text()
    secrets = [*kafka_scram.users.values(), wrong_password]
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a password leaked into {where}"
