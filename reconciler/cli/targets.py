"""The composition root: builds the providers a command needs from the spec and overrides.

This is the one place that knows which provider serves which part of the spec. Heavy
client libraries are imported here lazily, only for the targets actually used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from msgspec import Struct

from reconciler.errors import ReconcilerError
from reconciler.spec.models import ClusterSpec

if TYPE_CHECKING:
    from reconciler.engine.locking import LockBackend
    from reconciler.engine.providers import Provider
    from reconciler.providers.kafka.client import KafkaAdmin
    from reconciler.providers.redis.provider import RedisClusterProvider
    from reconciler.spec.models import KafkaConnection, RedisSpec

TARGETS = ("kafka", "redis")
# A spec path -> ``file:line:column`` (LoadedSpec.where).
Locate = Callable[[tuple[str | int, ...]], str]


class ConnectionOverrides(Struct, frozen=True):
    bootstrap_servers: str | None = None
    redis_addresses: str | None = None
    namespace: str | None = None


def selected_targets(spec: ClusterSpec, target: str | Sequence[str] | None) -> list[str]:
    """The target families a command works on: those the ``--target`` selectors (families,
    resource types, addresses, globs) can reach, or every one the spec defines."""
    from reconciler.engine.selection import Selection

    available = [name for name in TARGETS if getattr(spec, name) is not None]
    if not available:
        raise ReconcilerError("the spec defines neither kafka nor redis; nothing to do")
    selectors = [target] if isinstance(target, str) else list(target or ())
    chosen = Selection.of(selectors).families(available)
    if not chosen:
        shown = ", ".join(selectors)
        raise ReconcilerError(
            f"--target {shown}: matches nothing the spec defines ({', '.join(available)})"
        )
    return chosen


def kafka_connection(
    spec: ClusterSpec | None, overrides: ConnectionOverrides
) -> KafkaConnection | None:
    """The one place a command's Kafka connection is resolved: the spec's connection, the
    ``LLM_ANALYTICS_*`` variables merged over it (docs/spec.md), ``--bootstrap-servers``
    over both. ``None`` when nothing says where the brokers are."""
    from reconciler.spec.connection_env import kafka_connection_from_env

    base = spec.kafka.connection if spec is not None and spec.kafka is not None else None
    return kafka_connection_from_env(base, bootstrap_servers=overrides.bootstrap_servers)


def redis_spec(redis: RedisSpec, overrides: ConnectionOverrides) -> RedisSpec:
    """The spec's Redis section with its connection resolved the same way: the variables
    merged over it, ``--redis-addresses`` / ``-n`` over both."""
    from reconciler.spec.connection_env import redis_connection_from_env

    connection = redis_connection_from_env(
        redis.connection, addresses=overrides.redis_addresses, namespace=overrides.namespace
    )
    return redis if connection is None else redis.model_copy(update={"connection": connection})


@asynccontextmanager
async def open_kafka_admin(
    spec: ClusterSpec | None, overrides: ConnectionOverrides
) -> AsyncIterator[KafkaAdmin]:
    """A started admin connection for the spec's (or the overridden) Kafka cluster."""
    from reconciler.providers.kafka.client import KafkaAdmin, connection_settings

    admin = KafkaAdmin(connection_settings(kafka_connection(spec, overrides)))
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def open_providers(
    spec: ClusterSpec,
    targets: Sequence[str],
    overrides: ConnectionOverrides,
    locate: Locate | None = None,
) -> AsyncIterator[list[Provider]]:
    """Providers for the targets, in dependency order (topics, ACLs, Redis users and
    configs, Redis layout). ``locate`` gives ``file:line:column`` of a spec path, for the
    problems providers find in the spec (e.g. a broker config Kafka reports read-only)."""
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
            providers += _identity_providers(admin, spec, locate)
        if "redis" in targets and spec.redis is not None:
            from reconciler.providers.redis.provider import RedisClusterProvider

            resolved = redis_spec(spec.redis, overrides)
            redis_provider = RedisClusterProvider.from_spec(resolved)
            stack.push_async_callback(redis_provider.close)
            # Users and configs first: nodes a layout change adds have them before any slot.
            providers += _redis_access(redis_provider, resolved)
            providers.append(redis_provider)
        yield providers


def _acl_provider(admin: KafkaAdmin, spec: ClusterSpec) -> Provider:
    from reconciler.providers.kafka.acls import KafkaAclsProvider

    assert spec.kafka is not None
    return KafkaAclsProvider.from_spec(admin, spec.kafka)


def _redis_access(layout: RedisClusterProvider, redis: RedisSpec) -> list[Provider]:
    """``redis.users`` / ``redis.config`` providers on the layout provider's transport."""
    from reconciler.providers.redis.access import access_providers

    return access_providers(layout.transport, redis, cluster_name=layout.cluster_name)


def _identity_providers(
    admin: KafkaAdmin, spec: ClusterSpec, locate: Locate | None = None
) -> list[Provider]:
    """Quotas, SCRAM users and broker configs, when the spec lists or owns any."""
    assert spec.kafka is not None
    kafka, ownership = spec.kafka, spec.kafka.ownership
    found: list[Provider] = []
    if (
        kafka.quotas
        or ownership.quotas.users
        or ownership.quotas.client_ids
        or ownership.quotas.ips
    ):
        from reconciler.providers.kafka.quotas import KafkaQuotasProvider

        found.append(KafkaQuotasProvider.from_spec(admin, kafka))
    if kafka.users or ownership.users.names or ownership.users.prefixes:
        from reconciler.providers.kafka.users import KafkaUsersProvider

        found.append(KafkaUsersProvider.from_spec(admin, kafka))
    if kafka.brokers is not None:
        from reconciler.providers.kafka.brokers import KafkaBrokersProvider

        found.append(KafkaBrokersProvider.from_spec(admin, kafka, locate))
    return found


def lock_backends(
    overrides: ConnectionOverrides,
    ttl: float,
    *,
    kafka: bool = False,
    kafka_connection: KafkaConnection | None = None,
    redis: RedisSpec | None = None,
) -> list[LockBackend]:
    """The apply locks of the targeted systems (docs/locking.md):

    - Kafka: the consumer group ``llm-analytics-apply-lock`` in the cluster itself;
    - Redis through Kubernetes: the Lease ``llm-analytics-redis-apply-lock`` in its namespace;
    - Redis by address: the key ``{llm-analytics}:apply-lock`` in the cluster itself.
    """
    backends: list[LockBackend] = []
    if kafka:
        from reconciler.providers.kafka.locking import KafkaGroupLock

        backends.append(KafkaGroupLock.from_connection(kafka_connection, ttl_seconds=ttl))
    if redis is not None:
        backends.append(_redis_lock(redis_spec(redis, overrides), ttl))
    return backends


def _redis_lock(redis: RedisSpec, ttl: float) -> LockBackend:
    """The Redis cluster's own key when reached by address, else the Kubernetes Lease."""
    connection = redis.connection
    if connection.addresses:
        from reconciler.providers.redis.locking import RedisLock

        return RedisLock.from_connection(connection, list(connection.addresses), ttl_seconds=ttl)
    from reconciler.providers.kubernetes_lease import KubernetesLeaseLock

    assert connection.kubernetes is not None
    return KubernetesLeaseLock(connection.kubernetes, ttl_seconds=ttl)


def spec_lock_backends(
    spec: ClusterSpec, targets: Sequence[str], overrides: ConnectionOverrides, ttl: float
) -> list[LockBackend]:
    """The locks of the spec's targeted sections."""
    return lock_backends(
        overrides,
        ttl,
        kafka="kafka" in targets and spec.kafka is not None,
        kafka_connection=kafka_connection(spec, overrides) if "kafka" in targets else None,
        redis=spec.redis if "redis" in targets else None,
    )
