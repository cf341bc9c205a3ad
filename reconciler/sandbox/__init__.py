"""Real Kafka and Redis on loopback for tests, the demo and benchmarks (never product code)."""

from reconciler.sandbox._process import SandboxError
from reconciler.sandbox.kafka import KafkaSandbox
from reconciler.sandbox.redis import RedisSandbox

__all__ = ["KafkaSandbox", "RedisSandbox", "SandboxError"]
