"""A Kubernetes API simulator for tests (pods, nodes, leases, exec) backed by real processes.

Test fixture only: product code never imports it.
"""

from tests.k8s_simulator.redis_pods import RedisPods
from tests.k8s_simulator.server import KubeSimulator, SimPod

__all__ = ["KubeSimulator", "RedisPods", "SimPod"]
