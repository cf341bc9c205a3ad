"""What the product's Kubernetes code meets on a real kube-apiserver 1.36 (RBAC on, kwok nodes).

The tool's side always uses a ServiceAccount token (TokenRequest) bound to the Role of
examples/kubernetes; only set-up and checks use the fixtures' admin client.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.stream import WsApiClient

from reconciler.providers.redis.kubernetes import KubernetesTransport, exit_code_of
from reconciler.sandbox.kubernetes import KubernetesSandbox, RedisPods
from reconciler.spec.models import KubernetesTarget
from tests.integration.conftest import ToolNamespace

pytestmark = pytest.mark.integration


async def api(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


async def test_pods_nodes_and_selectors(redis_pods: Callable[..., RedisPods]) -> None:
    pods = redis_pods(3)
    assert pods.kubeconfig is not None
    async with await api(pods.kubeconfig) as api_client:
        core = client.CoreV1Api(api_client)
        found = await core.list_namespaced_pod(
            pods.namespace, label_selector="app.kubernetes.io/name=redis-cluster"
        )
        assert sorted(p.metadata.name for p in found.items) == sorted(pods.pods)
        first = next(p for p in found.items if p.metadata.name == "redis-cluster-0")
        assert first.status.pod_ip == pods.pods["redis-cluster-0"].ip
        assert first.spec.node_name == "node-0"
        assert first.status.phase == "Running"
        assert {c.type: c.status for c in first.status.conditions}["Ready"] == "True"
        selected = await core.list_namespaced_pod(
            pods.namespace,
            label_selector="app in (redis-cluster),statefulset.kubernetes.io/pod-name!=redis-cluster-0",
        )
        assert len(selected.items) == 2
        node = await core.read_node("node-1")  # the examples' ClusterRole: get nodes
        assert node.metadata.labels["topology.kubernetes.io/zone"] == "zone-b"
        with pytest.raises(ApiException) as caught:
            await core.read_namespaced_pod("missing", pods.namespace)
        assert caught.value.status == 404


async def test_exec_reports_exit_status(redis_pods: Callable[..., RedisPods]) -> None:
    """kwok (patched) reports a non-zero exit as a kubelet does: NonZeroExitCode + code."""
    pods = redis_pods(1)
    transport = KubernetesTransport(
        KubernetesTarget(namespace=pods.namespace, kubeconfig=str(pods.kubeconfig))
    )
    try:
        ok = await transport.exec("redis-cluster-0", ["sh", "-c", "printf out; printf err >&2"])
        assert (ok.stdout, ok.stderr, ok.exit_code) == (b"out", b"err", 0)
        failed = await transport.exec("redis-cluster-0", ["sh", "-c", "exit 3"])
        assert failed.exit_code == 3, failed.status
        assert failed.status["status"] == "Failure"
        assert failed.status["reason"] == "NonZeroExitCode"
        missing = await transport.exec("redis-cluster-0", ["no-such-binary-here"])
        assert missing.exit_code != 0
        ip = pods.pods["redis-cluster-0"].ip
        ping = await transport.exec("redis-cluster-0", ["redis-cli", "-h", ip, "PING"])
        assert ping.stdout.strip() == b"PONG"
    finally:
        await transport.close()
    assert exit_code_of({"status": "Success"}) == 0


async def test_wrong_token_is_refused(
    kubernetes: KubernetesSandbox, tool_namespace: Callable[..., ToolNamespace], tmp_path: Path
) -> None:
    namespace = tool_namespace("token")
    path = kubernetes.write_kubeconfig(tmp_path / "kc", "not-a-token", namespace=namespace.name)
    async with await api(path) as api_client:
        with pytest.raises(ApiException) as caught:
            await client.CoreV1Api(api_client).list_namespaced_pod(namespace.name)
        assert caught.value.status == 401


async def test_leases_conflict_on_a_stale_resource_version(
    tool_namespace: Callable[..., ToolNamespace],
) -> None:
    namespace = tool_namespace("leases")
    async with await api(namespace.kubeconfig) as api_client:
        leases = client.CoordinationV1Api(api_client)
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name="apply-lock"),
            spec=client.V1LeaseSpec(holder_identity="me", lease_duration_seconds=30),
        )
        created = await leases.create_namespaced_lease(namespace.name, body)
        with pytest.raises(ApiException) as caught:
            await leases.create_namespaced_lease(namespace.name, body)
        assert caught.value.status == 409
        current = await leases.read_namespaced_lease("apply-lock", namespace.name)
        assert current.spec.holder_identity == "me"
        current.spec.holder_identity = "you"
        replaced = await leases.replace_namespaced_lease("apply-lock", namespace.name, current)
        assert replaced.metadata.resource_version != created.metadata.resource_version
        stale = created
        stale.spec.holder_identity = "late"
        with pytest.raises(ApiException) as caught:
            await leases.replace_namespaced_lease("apply-lock", namespace.name, stale)
        assert caught.value.status == 409
        with pytest.raises(ApiException) as caught:  # the Role has no delete on leases
            await leases.delete_namespaced_lease("apply-lock", namespace.name)
        assert caught.value.status == 403


async def test_ws_client_is_the_exec_path(redis_pods: Callable[..., RedisPods]) -> None:
    """kubernetes-asyncio's own preloaded exec mode works against the API server too."""
    pods = redis_pods(1)
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(pods.kubeconfig), client_configuration=configuration
    )
    async with WsApiClient(configuration) as ws_client:
        output = await client.CoreV1Api(ws_client).connect_get_namespaced_pod_exec(
            "redis-cluster-0",
            pods.namespace,
            command=["echo", "hello"],
            stdout=True,
            stderr=True,
            stdin=False,
            tty=False,
        )
    assert "hello" in output


@pytest.mark.parametrize("verbs", [["create"], ["get"]])
async def test_exec_needs_both_get_and_create_on_pods_exec(
    kubernetes: KubernetesSandbox,
    redis_pods: Callable[..., RedisPods],
    tmp_path: Path,
    verbs: list[str],
) -> None:
    """On 1.36 a WebSocket exec is authorized as both verbs: either alone is denied."""
    pods = redis_pods(1)
    ns = pods.namespace
    name = f"exec-only-{verbs[0]}"
    kubernetes.client.create(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name},
        },
        ns,
    )
    kubernetes.client.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                {"apiGroups": [""], "resources": ["pods/exec"], "verbs": verbs},
            ],
        },
        ns,
    )
    kubernetes.client.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        },
        ns,
    )
    token = kubernetes.service_account_token(ns, name)
    kubeconfig = kubernetes.write_kubeconfig(tmp_path / "kc", token, namespace=ns)
    transport = KubernetesTransport(KubernetesTarget(namespace=ns, kubeconfig=str(kubeconfig)))
    try:
        from reconciler.providers.redis.transports import NodeUnreachable

        with pytest.raises(NodeUnreachable) as caught:
            await transport.exec("redis-cluster-0", ["echo", "hello"])
        assert "403" in str(caught.value), caught.value
    finally:
        await transport.close()


def _denied(call: Callable[[], Any]) -> int:
    from reconciler.sandbox.kubernetes import KubeApiError

    with pytest.raises(KubeApiError) as caught:
        call()
    return caught.value.status


def test_the_examples_token_is_denied_what_the_job_does_not_need(
    kubernetes: KubernetesSandbox,
    redis_pods: Callable[..., RedisPods],
    tool_namespace: Callable[..., ToolNamespace],
) -> None:
    pods = redis_pods(1)
    other = tool_namespace("other")
    ns = pods.namespace
    kubernetes.client.create(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}},
        ns,
    )
    assert pods.kubeconfig is not None
    import yaml

    token = yaml.safe_load(pods.kubeconfig.read_text())["users"][0]["user"]["token"]
    tool = kubernetes.client_for(token)
    assert tool.get(f"/api/v1/namespaces/{ns}/pods")["items"]  # what it needs works
    assert _denied(lambda: tool.get(f"/api/v1/namespaces/{ns}/secrets")) == 403
    assert _denied(lambda: tool.get(f"/api/v1/namespaces/{ns}/secrets/s")) == 403
    assert _denied(lambda: tool.delete("Pod", "redis-cluster-0", ns)) == 403
    assert _denied(lambda: tool.get(f"/api/v1/namespaces/{other.name}/pods")) == 403
    assert _denied(lambda: tool.get("/api/v1/pods")) == 403
    assert _denied(lambda: tool.get(f"/api/v1/namespaces/{ns}/configmaps")) == 403
    assert kubernetes.client.exists("Pod", "redis-cluster-0", ns)
