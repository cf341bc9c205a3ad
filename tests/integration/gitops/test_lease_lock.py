"""The Kubernetes Lease apply lock against the Kubernetes API simulator (tests/k8s_simulator)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.engine.locking import LockHeld, LockLost, LockOwner, LockSet
from reconciler.providers.kubernetes_lease import REDIS_LEASE_NAME, KubernetesLeaseLock
from reconciler.spec.models import KubernetesTarget
from tests.k8s_simulator import KubeSimulator

pytestmark = pytest.mark.integration

NAMESPACE = "llm-analytics-hub"


@functools.cache
def owner(name: str) -> LockOwner:
    return LockOwner(
        host=f"host-{name}",
        pid=7,
        user=name,
        started_at="2024-05-01T12:00:00Z",
        command=f"apply by {name}",
    )


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[tuple[KubeSimulator, KubernetesTarget]]:
    sim = KubeSimulator().start()
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
    try:
        yield sim, KubernetesTarget(namespace=NAMESPACE, kubeconfig=str(kubeconfig))
    finally:
        sim.stop()


async def test_lease_is_exclusive_names_its_holder_and_is_released(
    simulator: tuple[KubeSimulator, KubernetesTarget],
) -> None:
    sim, target = simulator
    first, second = KubernetesLeaseLock(target, ttl_seconds=5), KubernetesLeaseLock(target)
    try:
        got = await first.try_acquire(owner("alice"))
        assert got.acquired and got.token == 1
        refused = await second.try_acquire(owner("bob"))
        assert not refused.acquired and refused.holder == owner("alice")
        await first.renew()
        await first.release()
        lease = sim.leases[(NAMESPACE, REDIS_LEASE_NAME)]
        assert lease["spec"]["holderIdentity"] is None
        taken = await second.try_acquire(owner("bob"))
        assert taken.acquired and taken.token == 2  # leaseTransitions is the fencing token
    finally:
        await second.release()
        await first.close()
        await second.close()


async def test_an_abandoned_lease_expires_and_its_old_holder_learns_it(
    simulator: tuple[KubeSimulator, KubernetesTarget],
) -> None:
    _, target = simulator
    crashed = KubernetesLeaseLock(target, ttl_seconds=1)
    waiting = KubernetesLeaseLock(target, ttl_seconds=1)
    try:
        assert (await crashed.try_acquire(owner("crashed"))).acquired
        for _ in range(40):
            attempt = await waiting.try_acquire(owner("waiting"))
            if attempt.acquired:
                break
            await asyncio.sleep(0.25)
        assert attempt.acquired
        with pytest.raises(LockLost, match="taken over by waiting@host-waiting"):
            await crashed.renew()
    finally:
        await waiting.release()
        await crashed.close()
        await waiting.close()


async def test_lock_set_renews_the_lease_while_work_runs(
    simulator: tuple[KubeSimulator, KubernetesTarget],
) -> None:
    sim, target = simulator
    async with LockSet(
        [KubernetesLeaseLock(target, ttl_seconds=1)], owner("long"), timeout=0
    ) as held:
        before = sim.leases[(NAMESPACE, REDIS_LEASE_NAME)]["metadata"]["resourceVersion"]
        await held.guard(asyncio.sleep(1.5))
        after = sim.leases[(NAMESPACE, REDIS_LEASE_NAME)]["metadata"]["resourceVersion"]
        assert not held.lost and after != before
    assert sim.leases[(NAMESPACE, REDIS_LEASE_NAME)]["spec"]["holderIdentity"] is None


def lease_spec(path: Path, target: KubernetesTarget) -> Path:
    import yaml

    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "llm-analytics/v1",
                "kind": "ClusterSpec",
                "metadata": {"name": "k8s"},
                "redis": {
                    "connection": {
                        "kubernetes": {
                            "namespace": target.namespace,
                            "kubeconfig": target.kubeconfig,
                            "readyTimeoutSeconds": 20,
                        }
                    },
                    "cluster": {"masters": 3, "replicasPerMaster": 0, "placement": "none"},
                },
            }
        )
    )
    return path


async def test_apply_to_kubernetes_redis_holds_the_lease(
    simulator: tuple[KubeSimulator, KubernetesTarget], tmp_path: Path
) -> None:
    from tests.integration.gitops.conftest import run_cli
    from tests.k8s_simulator import RedisPods

    sim, target = simulator
    pods = RedisPods(sim, namespace=NAMESPACE)
    holder = KubernetesLeaseLock(target)
    try:
        pods.add(3)
        spec = lease_spec(tmp_path / "spec.yaml", target)
        assert (await holder.try_acquire(owner("operator"))).acquired
        refused = await asyncio.to_thread(
            run_cli, "apply", "-f", str(spec), "--auto-approve", "--lock-timeout", "1s"
        )
        assert refused.code == 3, refused.output
        assert f"Kubernetes Lease {NAMESPACE}/{REDIS_LEASE_NAME}" in refused.stderr
        assert "is held by operator@host-operator (pid 7)" in refused.stderr
        await holder.release()
        applied = await asyncio.to_thread(
            run_cli, "apply", "-f", str(spec), "--auto-approve", "--lock-timeout", "10s"
        )
        assert applied.code == 0, applied.output
        assert f"Acquired the apply lock (Kubernetes Lease {NAMESPACE}/" in applied.stderr
        assert "Released the apply lock (Kubernetes Lease" in applied.stderr
        lease = sim.leases[(NAMESPACE, REDIS_LEASE_NAME)]
        assert lease["spec"]["holderIdentity"] is None
        assert lease["spec"]["leaseTransitions"] == 2
    finally:
        await holder.close()
        pods.stop()


async def test_a_provably_dead_holder_is_taken_over_before_the_lease_expires(
    simulator: tuple[KubeSimulator, KubernetesTarget],
) -> None:
    import dataclasses
    import subprocess
    import sys

    sim, target = simulator
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a process of this host that has exited
    me = LockOwner.current("taker")
    dead = dataclasses.replace(me, pid=child.pid, user="dead", run_id="d" * 32)
    crashed, waiting = KubernetesLeaseLock(target, ttl_seconds=60), KubernetesLeaseLock(target)
    try:
        assert (await crashed.try_acquire(dead)).acquired  # and never renewed: it "crashed"
        async with LockSet([waiting], me, timeout=0) as locks:
            assert locks.held
            lease = sim.leases[(NAMESPACE, REDIS_LEASE_NAME)]
            assert lease["spec"]["leaseTransitions"] == 2
            assert lease["spec"]["holderIdentity"].startswith(f"{me.host}/{me.pid}/")
        # A live holder (this very process) is not taken over.
        assert (await crashed.try_acquire(dataclasses.replace(me, run_id="l" * 32))).acquired
        with pytest.raises(LockHeld):
            async with LockSet([KubernetesLeaseLock(target)], me, timeout=0):
                pass
    finally:
        await crashed.close()
