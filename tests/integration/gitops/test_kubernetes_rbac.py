"""examples/kubernetes on a real kube-apiserver: the drift CronJob's command with its own token.

The manifest (ServiceAccount, Role, RoleBinding, node-reader ClusterRole, CronJob) is applied
to a fresh namespace; the CronJob's container args are run as they are, with the spec and
metrics paths moved to the test's directory and a TokenRequest token of the ServiceAccount
in KUBECONFIG (what the pod's mounted token would be). No controller-manager runs, so the
CronJob itself is only created, not scheduled. The Kafka half of the job's spec is tested in
test_drift.py; here the spec holds the Redis cluster in the namespace only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.sandbox.kubernetes import KubernetesSandbox, RedisPods
from tests.integration.conftest import EXAMPLE_RBAC
from tests.integration.gitops.conftest import run_cli

pytestmark = pytest.mark.integration

SPEC_IN_POD = "/etc/llm-analytics/cluster-spec.yaml"
METRICS_IN_POD = "/textfile/llm_analytics_drift.prom"


def cronjob_args() -> list[str]:
    docs = [d for d in yaml.safe_load_all(EXAMPLE_RBAC.read_text()) if d]
    (cronjob,) = [d for d in docs if d["kind"] == "CronJob"]
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    args: list[str] = container["args"]
    assert SPEC_IN_POD in args and METRICS_IN_POD in args
    return args


def redis_spec(path: Path, namespace: str) -> Path:
    document: dict[str, Any] = {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": "rbac"},
        "redis": {
            "connection": {
                "kubernetes": {
                    "namespace": namespace,
                    "selector": "app=redis-cluster",
                    "readyTimeoutSeconds": 30,
                }
            },
            "cluster": {"masters": 3, "replicasPerMaster": 1, "placement": "spread-hosts"},
        },
        "environments": {"prod": {"redis": {"cluster": {"masters": 3}}}},
    }
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_drift_cronjob_command_runs_with_its_service_account(
    kubernetes: KubernetesSandbox, redis_pods: Callable[..., RedisPods], tmp_path: Path
) -> None:
    pods = redis_pods(6)
    env = {"KUBECONFIG": str(pods.kubeconfig)}  # the ServiceAccount's token only
    spec = redis_spec(tmp_path / "cluster-spec.yaml", pods.namespace)
    metrics = tmp_path / "llm_analytics_drift.prom"
    args = [
        str(spec) if a == SPEC_IN_POD else str(metrics) if a == METRICS_IN_POD else a
        for a in cronjob_args()
    ]
    before = run_cli(*args, extra_env=env)
    assert before.code == 2, before.output  # no cluster yet: drift, and it could read it all
    created = run_cli("apply", "-f", str(spec), "--env", "prod", "--auto-approve", extra_env=env)
    assert created.code == 0, created.output
    assert "Acquired the apply lock (Kubernetes Lease" in created.stderr
    drift = run_cli(*args, extra_env=env)
    assert drift.code == 0, drift.output
    text = metrics.read_text()
    assert "llm_analytics_drift_last_check_success 1" in text, text
    assert "403" not in drift.output and "Forbidden" not in drift.output
