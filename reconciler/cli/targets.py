"""The composition root: builds the providers a command needs from the spec and overrides.

This is the one place that knows which provider serves which part of the spec. Heavy
client libraries are imported here lazily, only for the targets actually used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.errors import ReconcilerError
from reconciler.spec.models import ClusterSpec

if TYPE_CHECKING:
    from reconciler.engine.providers import Provider
    from reconciler.providers.kafka.client import KafkaAdmin

TARGETS = ("kafka", "redis")


@dataclass(frozen=True)
class ConnectionOverrides:
    bootstrap_servers: str | None = None
    redis_addresses: str | None = None
    namespace: str | None = None


def selected_targets(spec: ClusterSpec, target: str | None) -> list[str]:
    """The targets a command works on: the one asked for, or every one the spec defines."""
    available = [name for name in TARGETS if getattr(spec, name) is not None]
    if target is None:
        if not available:
            raise ReconcilerError("the spec defines neither kafka nor redis; nothing to do")
        return available
    if target not in available:
        raise ReconcilerError(f"--target {target}: the spec has no `{target}` section")
    return [target]


@asynccontextmanager
async def open_kafka_admin(
    spec: ClusterSpec | None, overrides: ConnectionOverrides
) -> AsyncIterator[KafkaAdmin]:
    """A started admin connection for the spec's (or the overridden) Kafka cluster."""
    from reconciler.providers.kafka.client import KafkaAdmin, connection_settings

    connection = spec.kafka.connection if spec is not None and spec.kafka is not None else None
    admin = KafkaAdmin(connection_settings(connection, overrides.bootstrap_servers))
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def open_providers(
    spec: ClusterSpec, targets: Sequence[str], overrides: ConnectionOverrides
) -> AsyncIterator[list[Provider]]:
    """Providers for the targets, in dependency order (topics, ACLs, Redis)."""
    providers: list[Provider] = []
    async with AsyncExitStack() as stack:
        if "kafka" in targets and spec.kafka is not None:
            from reconciler.providers.kafka.topics import KafkaTopicsProvider
            from reconciler.spec.resolving import resolve_topics

            admin = await stack.enter_async_context(open_kafka_admin(spec, overrides))
            providers.append(
                KafkaTopicsProvider(admin, resolve_topics(spec.kafka), spec.kafka.ownership.topics)
            )
            if spec.kafka.acls or spec.kafka.ownership.acls.principals:
                providers.append(_acl_provider(admin, spec))
        if "redis" in targets and spec.redis is not None:
            from reconciler.providers.redis.provider import RedisClusterProvider

            addresses = overrides.redis_addresses.split(",") if overrides.redis_addresses else None
            redis_provider = RedisClusterProvider.from_spec(
                spec.redis, addresses=addresses, namespace=overrides.namespace
            )
            stack.push_async_callback(redis_provider.close)
            providers.append(redis_provider)
        yield providers


def _acl_provider(admin: KafkaAdmin, spec: ClusterSpec) -> Provider:
    from reconciler.providers.kafka.acls import KafkaAclsProvider

    assert spec.kafka is not None
    return KafkaAclsProvider.from_spec(admin, spec.kafka)
