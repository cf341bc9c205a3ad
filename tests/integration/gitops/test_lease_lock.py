"""The Kubernetes Lease apply lock against the sandbox's real kube-apiserver.

The lock always runs with the ServiceAccount token of the examples' Role (get, create and
update on leases); the test reads the Lease with the admin client.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.locking import LockHeld, LockLost, LockOwner, LockSet
from reconciler.providers.kubernetes_lease import REDIS_LEASE_NAME, KubernetesLeaseLock
from reconciler.sandbox.kubernetes import KubernetesSandbox
from reconciler.spec.models import KubernetesTarget
from tests.integration.conftest import ToolNamespace

pytestmark = pytest.mark.integration


@functools.cache
def owner(name: str) -> LockOwner:
    return LockOwner(
        host=f"host-{name}",
        pid=7,
        user=name,
        started_at="2024-05-01T12:00:00Z",
        command=f"apply by {name}",
    )


class Leases:
    """The Lease of one test namespace, read with the admin client."""

    def __init__(self, sandbox: KubernetesSandbox, namespace: str) -> None:
        self.sandbox = sandbox
        self.namespace = namespace

    def get(self) -> dict[str, Any]:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{REDIS_LEASE_NAME}"
        lease: dict[str, Any] = self.sandbox.client.get(path)
        return lease


@pytest.fixture
def simulator(
    kubernetes: KubernetesSandbox, tool_namespace: Callable[..., ToolNamespace]
) -> tuple[Leases, KubernetesTarget]:
    namespace = tool_namespace("lease")
    return Leases(kubernetes, namespace.name), KubernetesTarget(
        namespace=namespace.name, kubeconfig=str(namespace.kubeconfig)
    )


async def test_lease_is_exclusive_names_its_holder_and_is_released(
    simulator: tuple[Leases, KubernetesTarget],
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
        lease = sim.get()
        assert lease["spec"].get("holderIdentity") is None
        taken = await second.try_acquire(owner("bob"))
        assert taken.acquired and taken.token == 2  # leaseTransitions is the fencing token
    finally:
        await second.release()
        await first.close()
        await second.close()


async def test_an_abandoned_lease_expires_and_its_old_holder_learns_it(
    simulator: tuple[Leases, KubernetesTarget],
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
    simulator: tuple[Leases, KubernetesTarget],
) -> None:
    sim, target = simulator
    async with LockSet(
        [KubernetesLeaseLock(target, ttl_seconds=1)], owner("long"), timeout=0
    ) as held:
        before = sim.get()["metadata"]["resourceVersion"]
        await held.guard(asyncio.sleep(1.5))
        after = sim.get()["metadata"]["resourceVersion"]
        assert not held.lost and after != before
    assert sim.get()["spec"].get("holderIdentity") is None


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


def test_apply_to_kubernetes_redis_holds_the_lease(
    kubernetes: KubernetesSandbox,
    tool_namespace: Callable[..., ToolNamespace],
    tmp_path: Path,
) -> None:
    from tests.integration.gitops.conftest import run_cli

    namespace = tool_namespace("lease-apply")
    target = KubernetesTarget(namespace=namespace.name, kubeconfig=str(namespace.kubeconfig))
    leases = Leases(kubernetes, namespace.name)
    kubernetes.redis_pods(namespace.name).add(3)
    spec = lease_spec(tmp_path / "spec.yaml", target)
    holder = KubernetesLeaseLock(target)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(holder.try_acquire(owner("operator"))).acquired
        refused = run_cli("apply", "-f", str(spec), "--auto-approve", "--lock-timeout", "1s")
        assert refused.code == 3, refused.output
        assert f"Kubernetes Lease {namespace.name}/{REDIS_LEASE_NAME}" in refused.stderr
        assert "is held by operator@host-operator (pid 7)" in refused.stderr
        loop.run_until_complete(holder.release())
    finally:
        loop.run_until_complete(holder.close())
        loop.close()
    applied = run_cli("apply", "-f", str(spec), "--auto-approve", "--lock-timeout", "10s")
    assert applied.code == 0, applied.output
    assert f"Acquired the apply lock (Kubernetes Lease {namespace.name}/" in applied.stderr
    assert "Released the apply lock (Kubernetes Lease" in applied.stderr
    lease = leases.get()
    assert lease["spec"].get("holderIdentity") is None
    assert lease["spec"]["leaseTransitions"] == 2


# --------------------------------------------------------------------------- two processes


def _redis_spec(path: Path, target: KubernetesTarget, replicas: int) -> Path:
    lease_spec(path, target)
    import yaml

    document = yaml.safe_load(path.read_text())
    document["redis"]["cluster"]["replicasPerMaster"] = replicas
    document["redis"]["cluster"]["placement"] = "spread-hosts"
    path.write_text(yaml.safe_dump(document))
    return path


def _actions(log: str) -> list[float]:
    from tests.integration.gitops.conftest import stamped

    return [
        at
        for at, message in stamped(log)
        if message.startswith(("✓ redis_", "✗ redis_"))
        or (message.startswith("redis_") and message.endswith("ing..."))
    ]


def _event(log: str, prefix: str) -> float:
    from tests.integration.gitops.conftest import stamped

    times = [at for at, message in stamped(log) if message.startswith(prefix)]
    assert times, f"no {prefix!r} line in:\n{log}"
    return times[-1]


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_applies_with_the_lease_run_one_after_the_other(
    kubernetes: KubernetesSandbox,
    tool_namespace: Callable[..., ToolNamespace],
    tmp_path: Path,
) -> None:
    """Both start while the Lease is held; once it is free one runs, the other waits for it."""
    import subprocess

    from tests.integration.gitops.conftest import cli_argv, cli_env

    namespace = tool_namespace("lease-two")
    target = KubernetesTarget(namespace=namespace.name, kubeconfig=str(namespace.kubeconfig))
    kubernetes.redis_pods(namespace.name).add(6)
    # a: 3 masters; b: 3 masters with a replica each. Whichever goes second has work to do
    # only after the first is done (b adds replicas to a's cluster; a after b has none).
    specs = {
        "a": _redis_spec(tmp_path / "a.yaml", target, replicas=0),
        "b": _redis_spec(tmp_path / "b.yaml", target, replicas=1),
    }
    logs = {name: tmp_path / f"{name}.log" for name in specs}
    holder = KubernetesLeaseLock(target, ttl_seconds=120)  # no heartbeat: outlive slow starts
    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(holder.try_acquire(owner("gate"))).acquired
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, spec in specs.items():
            with logs[name].open("wb") as stream:
                procs[name] = subprocess.Popen(
                    cli_argv("apply", "-f", str(spec), "--auto-approve", "--lock-timeout", "3m"),
                    stdout=subprocess.DEVNULL,
                    stderr=stream,
                    stdin=subprocess.DEVNULL,
                    env=cli_env(),
                )
        for name in specs:
            log = logs[name]
            _wait(
                lambda log=log: "Waiting for the apply lock" in log.read_text(),  # type: ignore[misc]
                60,
                f"apply {name} to wait: {log.read_text()}",
            )
        loop.run_until_complete(holder.release())
        for name, process in procs.items():
            assert process.wait(240) == 0, logs[name].read_text()
    finally:
        loop.run_until_complete(holder.close())
        loop.close()
        for process in procs.values():
            if process.poll() is None:
                process.kill()
                process.wait(30)
    text = {name: log.read_text() for name, log in logs.items()}
    for log in text.values():
        assert "held by gate@host-gate (pid 7)" in log, log
    acquired = {name: _event(log, "Acquired the apply lock") for name, log in text.items()}
    first, second = sorted(text, key=lambda name: acquired[name])
    assert f"(pid {procs[first].pid})" in text[second], text[second]  # it waited for the first
    released_first = _event(text[first], "Released the apply lock")
    assert released_first <= acquired[second]
    first_actions, second_actions = _actions(text[first]), _actions(text[second])
    assert first_actions, text[first]
    assert max(first_actions) <= released_first
    if second_actions:
        assert acquired[second] <= min(second_actions)
        assert max(first_actions) <= min(second_actions)


HOLDER_TTL = 12

HOLD_FOREVER = """
import asyncio, sys
TTL = int(sys.argv[3])
from reconciler.engine.locking import LockOwner, LockSet
from reconciler.providers.kubernetes_lease import KubernetesLeaseLock
from reconciler.spec.models import KubernetesTarget

async def main() -> None:
    target = KubernetesTarget(namespace=sys.argv[1], kubeconfig=sys.argv[2])
    owner = LockOwner(host="other-host", pid=99, user="elsewhere",
                      started_at="2024-05-01T12:00:00Z", command="apply on another host")
    async with LockSet([KubernetesLeaseLock(target, ttl_seconds=TTL)], owner, timeout=0) as held:
        print("held", flush=True)
        await held.guard(asyncio.sleep(3600))

asyncio.run(main())
"""


def test_a_killed_holder_on_another_host_loses_the_lease_after_its_ttl(
    kubernetes: KubernetesSandbox,
    tool_namespace: Callable[..., ToolNamespace],
    tmp_path: Path,
) -> None:
    import subprocess
    import sys
    import time

    from tests.integration.gitops.conftest import run_cli

    namespace = tool_namespace("lease-kill")
    target = KubernetesTarget(namespace=namespace.name, kubeconfig=str(namespace.kubeconfig))
    leases = Leases(kubernetes, namespace.name)
    kubernetes.redis_pods(namespace.name).add(3)
    spec = lease_spec(tmp_path / "spec.yaml", target)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD_FOREVER,
            namespace.name,
            str(namespace.kubeconfig),
            str(HOLDER_TTL),
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        # It renews (every third of its TTL): later than its TTL it still holds the Lease.
        first = leases.get()["spec"]["renewTime"]
        time.sleep(HOLDER_TTL / 3 + 2)
        assert leases.get()["spec"]["holderIdentity"].startswith("other-host/")
        assert leases.get()["spec"]["renewTime"] != first
        refused = run_cli("apply", "-f", str(spec), "--auto-approve", "--lock-timeout", "0")
        assert refused.code == 3 and "elsewhere@other-host (pid 99)" in refused.stderr
        holder.kill()  # SIGKILL: no release, no more renewals
        holder.wait(10)
        last_renewal = _micro(leases.get()["spec"]["renewTime"])
        after = run_cli("apply", "-f", str(spec), "--auto-approve", "--lock-timeout", "90s")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
    assert after.code == 0, after.output
    if "Waiting for the apply lock" in after.stderr:  # (a slow start may find it expired)
        assert "elsewhere@other-host (pid 99)" in after.stderr
    assert "Acquired the apply lock" in after.stderr
    lease = leases.get()
    assert lease["spec"].get("holderIdentity") is None  # released by the apply
    assert lease["spec"]["leaseTransitions"] == 2  # taken over once
    # Not before the dead holder's TTL had run out (1 s for the API server's rounding).
    taken_at = _micro(lease["spec"]["acquireTime"])
    assert (taken_at - last_renewal).total_seconds() >= HOLDER_TTL - 1, (last_renewal, taken_at)


def _micro(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_provably_dead_holder_is_taken_over_before_the_lease_expires(
    kubernetes: KubernetesSandbox, tool_namespace: Callable[..., ToolNamespace]
) -> None:
    import subprocess
    import sys

    from msgspec import structs

    namespace = tool_namespace("lease-takeover")
    target = KubernetesTarget(namespace=namespace.name, kubeconfig=str(namespace.kubeconfig))
    leases = Leases(kubernetes, namespace.name)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a process of this host that has exited
    me = LockOwner.current("taker")
    dead = structs.replace(me, pid=child.pid, user="dead", run_id="d" * 32)
    crashed, waiting = KubernetesLeaseLock(target, ttl_seconds=60), KubernetesLeaseLock(target)
    try:
        assert (await crashed.try_acquire(dead)).acquired  # and never renewed: it "crashed"
        async with LockSet([waiting], me, timeout=0) as locks:
            assert locks.held
            lease = leases.get()
            assert lease["spec"]["leaseTransitions"] == 2
            assert lease["spec"]["holderIdentity"].startswith(f"{me.host}/{me.pid}/")
        # A live holder (this very process) is not taken over.
        assert (await crashed.try_acquire(structs.replace(me, run_id="l" * 32))).acquired
        with pytest.raises(LockHeld):
            async with LockSet([KubernetesLeaseLock(target)], me, timeout=0):
                pass
    finally:
        await crashed.close()
