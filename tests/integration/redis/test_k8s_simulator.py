"""The Kubernetes API simulator answers kubernetes-asyncio like a real API server."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.stream import WsApiClient

from reconciler.providers.redis.kubernetes import KubernetesTransport, exit_code_of
from reconciler.spec.models import KubernetesTarget
from tests.k8s_simulator import KubeSimulator, SimPod

pytestmark = pytest.mark.integration


async def api(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


async def test_pods_nodes_and_selectors(k8s_simulator: KubeSimulator, kubeconfig: Path) -> None:
    k8s_simulator.add_node("n1", {"topology.kubernetes.io/zone": "z1"})
    k8s_simulator.add_pod(SimPod("a-0", "sel", {"app": "a", "tier": "db"}, "127.0.9.1", "n1"))
    k8s_simulator.add_pod(SimPod("b-0", "sel", {"app": "b"}, "127.0.9.2", "n1", ready=False))
    async with await api(kubeconfig) as api_client:
        core = client.CoreV1Api(api_client)
        pods = await core.list_namespaced_pod("sel", label_selector="app=a")
        assert [p.metadata.name for p in pods.items] == ["a-0"]
        assert pods.items[0].status.pod_ip == "127.0.9.1"
        assert pods.items[0].spec.node_name == "n1"
        assert (await core.list_namespaced_pod("sel", label_selector="app in (a,b)")).items
        assert not (await core.list_namespaced_pod("sel", label_selector="app!=a,app!=b")).items
        node = await core.read_node("n1")
        assert node.metadata.labels["topology.kubernetes.io/zone"] == "z1"
        with pytest.raises(ApiException) as caught:
            await core.read_namespaced_pod("missing", "sel")
        assert caught.value.status == 404


async def test_exec_reports_exit_status(k8s_simulator: KubeSimulator, kubeconfig: Path) -> None:
    k8s_simulator.add_pod(SimPod("x-0", "exec", {"app": "x"}, "127.0.9.3", "n1"))
    transport = KubernetesTransport(KubernetesTarget(namespace="exec", selector="app=x"))
    try:
        ok = await transport.exec("x-0", ["sh", "-c", "printf out; printf err >&2"])
        assert (ok.stdout, ok.stderr, ok.exit_code) == (b"out", b"err", 0)
        failed = await transport.exec("x-0", ["sh", "-c", "exit 3"])
        assert failed.exit_code == 3 and failed.status["status"] == "Failure"
        missing = await transport.exec("x-0", ["no-such-binary-here"])
        assert missing.exit_code != 0
    finally:
        await transport.close()
    assert exit_code_of({"status": "Success"}) == 0


async def test_wrong_token_is_refused(k8s_simulator: KubeSimulator, tmp_path: Path) -> None:
    path = k8s_simulator.write_kubeconfig(tmp_path / "kc")
    path.write_text(path.read_text().replace(k8s_simulator.token, "nope"))
    async with await api(path) as api_client:
        with pytest.raises(ApiException) as caught:
            await client.CoreV1Api(api_client).list_namespaced_pod("any")
        assert caught.value.status == 401


async def test_leases(kubeconfig: Path) -> None:
    async with await api(kubeconfig) as api_client:
        leases = client.CoordinationV1Api(api_client)
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name="apply-lock"),
            spec=client.V1LeaseSpec(holder_identity="me", lease_duration_seconds=30),
        )
        created = await leases.create_namespaced_lease("locks", body)
        with pytest.raises(ApiException) as caught:
            await leases.create_namespaced_lease("locks", body)
        assert caught.value.status == 409
        current = await leases.read_namespaced_lease("apply-lock", "locks")
        assert current.spec.holder_identity == "me"
        current.spec.holder_identity = "you"
        replaced = await leases.replace_namespaced_lease("apply-lock", "locks", current)
        assert replaced.metadata.resource_version != created.metadata.resource_version
        stale = created
        stale.spec.holder_identity = "late"
        with pytest.raises(ApiException) as caught:
            await leases.replace_namespaced_lease("apply-lock", "locks", stale)
        assert caught.value.status == 409
        await leases.delete_namespaced_lease("apply-lock", "locks")


async def test_ws_client_is_the_exec_path(kubeconfig: Path, k8s_simulator: KubeSimulator) -> None:
    """kubernetes-asyncio's own preloaded exec mode works against the simulator too."""
    k8s_simulator.add_pod(SimPod("w-0", "ws", {"app": "w"}, "127.0.9.4", "n1"))
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    async with WsApiClient(configuration) as ws_client:
        output = await client.CoreV1Api(ws_client).connect_get_namespaced_pod_exec(
            "w-0", "ws", command=["echo", "hello"], stdout=True, stderr=True, stdin=False, tty=False
        )
    assert "hello" in output
