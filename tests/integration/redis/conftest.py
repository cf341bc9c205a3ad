"""Fixtures for the Redis integration tests: the Kubernetes API simulator and its pods.

Direct-mode tests use ``redis_factory`` / ``redis_cluster`` from tests/integration/conftest.py.
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.k8s_simulator import KubeSimulator, RedisPods

pytestmark = pytest.mark.integration

_namespaces = itertools.count(1)


@pytest.fixture(scope="session")
def k8s_simulator() -> Iterator[KubeSimulator]:
    simulator = KubeSimulator().start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def kubeconfig(
    k8s_simulator: KubeSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A kubeconfig pointing at the simulator, exported as KUBECONFIG."""
    path = k8s_simulator.write_kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def redis_pods(
    k8s_simulator: KubeSimulator, kubeconfig: Path
) -> Iterator[Callable[..., RedisPods]]:
    """``redis_pods(count, password=None)``: pods in a fresh namespace, stopped afterwards."""
    made: list[RedisPods] = []

    def make(count: int = 6, password: str | None = None) -> RedisPods:
        pods = RedisPods(
            k8s_simulator, namespace=f"redis-test-{next(_namespaces)}", password=password
        )
        made.append(pods)
        pods.add(count)
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
