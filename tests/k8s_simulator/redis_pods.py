"""Redis "pods" for the simulator: real redis-server processes on distinct loopback IPs.

Each pod gets its own address 127.0.0.X (Linux routes all of 127/8 to lo) and the same port
6379, like pods of a StatefulSet, plus a simulated Kubernetes node (host) and zone. A pod
restart can move it to a new IP while keeping its data directory (and so nodes.conf and its
cluster node id), as a rescheduled pod with a persistent volume would.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.k8s_simulator.server import KubeSimulator, SimPod

REDIS_PORT = 6379


def _free_ip(used: set[str], start: int = 2) -> str:
    """A 127.0.0.X (or 127.0.Y.X) address whose port 6379 and bus port are free."""
    for index in range(start, 250 * 250):
        ip = f"127.0.{index // 250}.{index % 250}"
        if index % 250 < 2 or ip in used:
            continue
        if _port_free(ip, REDIS_PORT) and _port_free(ip, REDIS_PORT + 10000):
            return ip
    raise RuntimeError("no free loopback address")


def _port_free(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


@dataclass
class RedisPod:
    name: str
    ip: str
    node_name: str
    zone: str
    workdir: Path
    process: subprocess.Popen[bytes] | None = None


class RedisPods:
    """N Redis pods in one namespace of a :class:`KubeSimulator`."""

    def __init__(
        self,
        simulator: KubeSimulator,
        namespace: str = "llm-analytics-hub",
        labels: dict[str, str] | None = None,
        hosts: int = 3,
        node_timeout_ms: int = 1000,
        password: str | None = None,
        first_ip_index: int = 2,
    ) -> None:
        self.simulator = simulator
        self.namespace = namespace
        self.labels = labels or {"app": "redis-cluster"}
        self.hosts = hosts
        self.node_timeout_ms = node_timeout_ms
        self.password = password
        self.root = Path(tempfile.mkdtemp(prefix="k8s-sim-redis-"))
        self.pods: dict[str, RedisPod] = {}
        self._used: set[str] = set()
        self._next_ip = first_ip_index
        for host in range(hosts):
            simulator.add_node(
                f"node-{host}",
                {
                    "kubernetes.io/hostname": f"node-{host}",
                    "topology.kubernetes.io/zone": f"zone-{chr(ord('a') + host)}",
                },
            )

    def _ip(self) -> str:
        ip = _free_ip(self._used, self._next_ip)
        self._used.add(ip)
        self._next_ip = int(ip.split(".")[2]) * 250 + int(ip.split(".")[3]) + 1
        return ip

    def add(self, count: int) -> list[str]:
        """Start ``count`` more pods (round-robin over the hosts); returns their names."""
        names = []
        for _ in range(count):
            index = len(self.pods)
            name = f"redis-cluster-{index}"
            host = index % self.hosts
            pod = RedisPod(
                name=name,
                ip=self._ip(),
                node_name=f"node-{host}",
                zone=f"zone-{chr(ord('a') + host)}",
                workdir=self.root / name,
            )
            pod.workdir.mkdir(parents=True)
            self.pods[name] = pod
            self._launch(pod)
            self.simulator.add_pod(
                SimPod(
                    name=name,
                    namespace=self.namespace,
                    labels=dict(self.labels),
                    pod_ip=pod.ip,
                    node_name=pod.node_name,
                )
            )
            names.append(name)
        for name in names:
            self._wait_up(self.pods[name])
        return names

    def _launch(self, pod: RedisPod) -> None:
        # bind-source-addr: outgoing cluster-bus connections come from the pod IP, as in a
        # real pod network (otherwise they would leave from 127.0.0.1).
        argv = [
            "redis-server",
            "--bind",
            pod.ip,
            "--bind-source-addr",
            pod.ip,
            "--port",
            str(REDIS_PORT),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(pod.workdir),
            "--logfile",
            str(pod.workdir / "redis.log"),
            "--daemonize",
            "no",
        ]
        if self.password:
            argv += ["--requirepass", self.password, "--masterauth", self.password]
        pod.process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )

    def _wait_up(self, pod: RedisPod, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((pod.ip, REDIS_PORT), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis pod {pod.name} did not start on {pod.ip}")

    def addresses(self) -> list[str]:
        return [f"{p.ip}:{REDIS_PORT}" for p in self.pods.values()]

    def _terminate(self, pod: RedisPod) -> None:
        if pod.process is not None and pod.process.poll() is None:
            pod.process.terminate()
            try:
                pod.process.wait(10)
            except subprocess.TimeoutExpired:
                pod.process.kill()
                pod.process.wait(5)
        pod.process = None

    def kill(self, name: str) -> None:
        """The pod's server dies; the pod object stays (not Ready)."""
        pod = self.pods[name]
        if pod.process is not None:
            pod.process.kill()
            pod.process.wait(5)
            pod.process = None
        sim = self.simulator.pod(self.namespace, name)
        sim.ready = False

    def restart(self, name: str, new_ip: bool = True) -> str:
        """Restart the pod's server (on a new IP by default), keeping nodes.conf."""
        pod = self.pods[name]
        self._terminate(pod)
        sim = self.simulator.pod(self.namespace, name)
        sim.ready = False
        if new_ip:
            pod.ip = self._ip()
        self._launch(pod)
        self._wait_up(pod)
        sim.pod_ip = pod.ip
        sim.restarts += 1
        sim.ready = True
        return pod.ip

    def stop(self) -> None:
        for pod in self.pods.values():
            self._terminate(pod)
        shutil.rmtree(self.root, ignore_errors=True)
