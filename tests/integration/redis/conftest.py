"""Fixtures for the Redis integration tests.

Direct-mode tests use ``redis_factory`` / ``redis_cluster``, Kubernetes ones ``redis_pods``
(Redis pods on the sandbox's real kube-apiserver, KUBECONFIG holding a ServiceAccount token
bound to the examples' Role), all from tests/integration/conftest.py.
"""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.integration


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
