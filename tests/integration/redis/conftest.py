"""Fixtures for the Redis integration tests: Redis pods on the real Kubernetes API server.

Direct-mode tests use ``redis_factory`` / ``redis_cluster`` from tests/integration/conftest.py.
``redis_pods(count, password=None)`` makes a fresh namespace set up like examples/kubernetes
(ServiceAccount, Role, RoleBinding), starts ``count`` Redis pods in it and exports KUBECONFIG
with that ServiceAccount's token: the tool under test runs with the examples' RBAC only.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest

from reconciler.sandbox.kubernetes import KubernetesSandbox, RedisPods
from tests.integration.conftest import ToolNamespace

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_pods(
    kubernetes: KubernetesSandbox,
    tool_namespace: Callable[..., ToolNamespace],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., RedisPods]]:
    """``redis_pods(count, password=None)``: pods in a fresh namespace, stopped afterwards.

    The returned object's ``kubeconfig`` (also exported as KUBECONFIG) holds the namespace's
    ServiceAccount token; ``pods.client`` is the fixtures' admin client.
    """
    made: list[RedisPods] = []

    def make(count: int = 6, password: str | None = None) -> RedisPods:
        namespace = tool_namespace("redis")
        pods = kubernetes.redis_pods(namespace.name, password=password)
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


def cluster_check(address: str, password: str | None = None) -> str:
    """``redis-cli --cluster check``; fails the test unless it reports no [ERR]/[WARNING]."""
    argv = ["redis-cli", "--cluster", "check", address]
    env = None
    if password:
        import os

        env = {**os.environ, "REDISCLI_AUTH": password}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "[ERR]" not in output and "[WARNING]" not in output, output
    assert "[OK] All 16384 slots covered." in output, output
    return output
