"""Real services for integration tests, started lazily once per session.

Fixtures:
  kafka_single, kafka_cluster, kafka_secure   one KafkaSandbox of each shape (KAFKA_VERSION picks
                                              the Kafka version; default 4.4.0)
  kafka_tls, kafka_mtls, kafka_scram          TLS shapes: server-auth SSL, mutual TLS (principal
                                              User:CN=<user>), SASL_SSL + SCRAM-SHA-512
  redis_factory(nodes=6, formed=False, password=None, replicas=1, **options)
                                              a new started RedisSandbox, stopped at session end
                                              (tests that reshape a cluster take their own);
                                              options: acl_users=, admin_user=,
                                              replication_user=, tls=True, plain_port=,
                                              tls_auth_clients=, server="valkey"
  redis_cluster                               a shared formed 6-node cluster (3 masters x 1 replica)
                                              for read-mostly tests
  kubernetes                                  one KubernetesSandbox (etcd + kube-apiserver 1.36 +
                                              kwok, RBAC on; admin client for set-up)
  tool_namespace(prefix)                      a fresh namespace with examples/kubernetes' RBAC
                                              applied and a kubeconfig holding a TokenRequest
                                              token of its ServiceAccount: the tool under test
                                              always runs with it
  redis_pods(count=6, password=None, **shape) Redis pods in a new tool_namespace (shape:
                                              acl_users, tls, tls_auth_clients); exports
                                              KUBECONFIG with its ServiceAccount token

When a test fails, the log tail of every sandbox it used is attached to its report.
"""

from __future__ import annotations

import itertools
import secrets
import signal
from collections import defaultdict
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from reconciler.sandbox import KafkaSandbox, RedisSandbox
from reconciler.sandbox.kubernetes import KubernetesSandbox, RedisPods

Sandbox = KafkaSandbox | RedisSandbox | KubernetesSandbox
EXAMPLE_RBAC = (
    Path(__file__).resolve().parents[2] / "examples" / "kubernetes" / "drift-cronjob.yaml"
)
TOOL_SERVICE_ACCOUNT = "llm-analytics"

# nodeid of the running test -> sandboxes redis_factory made for it
_made_for: defaultdict[str, list[Sandbox]] = defaultdict(list)
_current: list[str] = [""]
_started: list[str] = []


def _kafka(shape: str) -> Iterator[KafkaSandbox]:
    sandbox = KafkaSandbox(shape)  # type: ignore[arg-type]
    try:
        sandbox.start()
        _started.append(
            f"kafka {sandbox.version} {shape}: {sandbox.bootstrap_servers} "
            f"(ready in {sandbox.startup_seconds:.1f}s)"
        )
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="session")
def kafka_single() -> Iterator[KafkaSandbox]:
    """One combined broker+controller node, PLAINTEXT."""
    yield from _kafka("single")


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[KafkaSandbox]:
    """Three combined nodes with a three-voter quorum (RF=3; stop_broker/start_broker)."""
    yield from _kafka("cluster")


@pytest.fixture(scope="session")
def kafka_secure() -> Iterator[KafkaSandbox]:
    """One node with SASL_PLAINTEXT/PLAIN, StandardAuthorizer; users admin (super), alice, bob, carol."""
    yield from _kafka("secure")


@pytest.fixture(scope="session")
def kafka_tls() -> Iterator[KafkaSandbox]:
    """One node, SSL with server-only authentication (sandbox CA: ``ca_file``)."""
    yield from _kafka("tls")


@pytest.fixture(scope="session")
def kafka_mtls() -> Iterator[KafkaSandbox]:
    """One node, SSL with client certificates required; ``cert_files(user)`` for admin
    (super user), ops (OPS_GRANTS) and alice (no grants)."""
    yield from _kafka("mtls")


@pytest.fixture(scope="session")
def kafka_scram() -> Iterator[KafkaSandbox]:
    """One node, SASL_SSL with SCRAM-SHA-512; users admin (super), ops (OPS_GRANTS), alice."""
    yield from _kafka("scram")


@pytest.fixture(scope="session")
def redis_factory() -> Iterator[Callable[..., RedisSandbox]]:
    """Start a fresh Redis sandbox per call; all are stopped at session end."""
    made: list[RedisSandbox] = []

    def factory(
        nodes: int = 6,
        formed: bool = False,
        password: str | None = None,
        replicas: int = 1,
        **options: Any,
    ) -> RedisSandbox:
        sandbox = RedisSandbox(
            nodes, formed=formed, password=password, replicas=replicas, **options
        )
        made.append(sandbox)
        _made_for[_current[0]].append(sandbox)
        sandbox.start()
        return sandbox

    try:
        yield factory
    finally:
        for sandbox in made:
            sandbox.stop()


@pytest.fixture(scope="session")
def redis_cluster(redis_factory: Callable[..., RedisSandbox]) -> RedisSandbox:
    """A formed 6-node cluster (3 masters x 1 replica) shared by read-mostly tests."""
    sandbox = redis_factory(nodes=6, formed=True)
    _started.append(f"redis formed cluster: {','.join(sandbox.addresses)}")
    return sandbox


@pytest.fixture(scope="session")
def kubernetes() -> Iterator[KubernetesSandbox]:
    """etcd + kube-apiserver + kwok with three nodes (node-0..2 in zone-a..c)."""
    sandbox = KubernetesSandbox(nodes=3)
    try:
        sandbox.start()
        _started.append(
            f"kubernetes {sandbox.server} (etcd + kube-apiserver + kwok, "
            f"ready in {sandbox.startup_seconds:.1f}s)"
        )
        yield sandbox
    finally:
        sandbox.stop()


@dataclass
class ToolNamespace:
    """A namespace set up like examples/kubernetes, and the tool's credentials in it."""

    name: str
    token: str  # of the ServiceAccount bound to the examples' Role
    kubeconfig: Path


_namespaces = itertools.count(1)


@pytest.fixture(scope="session")
def tool_namespace(
    kubernetes: KubernetesSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., ToolNamespace]:
    """``tool_namespace(prefix)``: a new namespace with the examples' ServiceAccount, Role,
    RoleBinding and CronJob, and a kubeconfig with a TokenRequest token of that account."""

    def make(prefix: str = "ns") -> ToolNamespace:
        name = f"{prefix}-{next(_namespaces)}-{secrets.token_hex(2)}"
        kubernetes.apply_manifests(EXAMPLE_RBAC.read_text(encoding="utf-8"), name)
        token = kubernetes.service_account_token(name, TOOL_SERVICE_ACCOUNT)
        path = tmp_path_factory.mktemp("kube") / "kubeconfig"
        kubernetes.write_kubeconfig(path, token, namespace=name)
        return ToolNamespace(name, token, path)

    return make


@pytest.fixture
def redis_pods(
    kubernetes: KubernetesSandbox,
    tool_namespace: Callable[..., ToolNamespace],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., RedisPods]]:
    """``redis_pods(count, password=None, **shape)``: pods in a fresh namespace, stopped
    afterwards; ``shape`` is :meth:`KubernetesSandbox.redis_pods`' (``acl_users``, ``tls``,
    ``tls_auth_clients``).

    The returned object's ``kubeconfig`` (also exported as KUBECONFIG) holds the namespace's
    ServiceAccount token; ``pods.client`` is the fixtures' admin client.
    """
    made: list[RedisPods] = []

    def make(count: int = 6, password: str | None = None, **shape: Any) -> RedisPods:
        namespace = tool_namespace("redis")
        pods = kubernetes.redis_pods(namespace.name, password=password, **shape)
        pods.kubeconfig = namespace.kubeconfig
        made.append(pods)
        pods.add(count)
        monkeypatch.setenv("KUBECONFIG", str(namespace.kubeconfig))
        return pods

    try:
        yield make
    finally:
        for pods in made:
            pods.stop()


# ----------------------------------------------------------------------------- lifetime


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """Let SIGTERM (CI timeouts, ``timeout``) end the session like Ctrl-C: fixtures tear down."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)


# ----------------------------------------------------------------------------- reporting


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    _current[0] = item.nodeid
    try:
        return (yield)
    finally:
        _current[0] = ""
        _made_for.pop(item.nodeid, None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        _attach_log_tails(item, report)
    return report


def _attach_log_tails(item: pytest.Item, report: pytest.TestReport) -> None:
    """Append the log tail of every sandbox the test used to its report."""
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    used: dict[int, tuple[str, Sandbox]] = {}
    for name, value in funcargs.items():
        if isinstance(value, KafkaSandbox | RedisSandbox | KubernetesSandbox):
            used[id(value)] = (name, value)
    for index, sandbox in enumerate(_made_for.get(item.nodeid, [])):
        used.setdefault(id(sandbox), (f"redis_factory #{index + 1}", sandbox))
    for name, sandbox in used.values():
        try:
            text = sandbox.log_tail()
        except Exception as exc:  # a report must never fail
            text = f"(no log tail: {exc})"
        report.sections.append((f"sandbox log tail: {name} {sandbox!r}", text))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _started:
        terminalreporter.write_sep("-", "sandboxes")
        for line in _started:
            terminalreporter.write_line(line)
