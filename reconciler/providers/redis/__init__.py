"""Redis Cluster provider: transports, live model, layout planning, resharding.

``RedisClusterProvider`` is imported lazily so that the pure modules (state, layout,
placement) can be used without loading redis-py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.providers.redis.provider import RedisClusterProvider

__all__ = ["RedisClusterProvider"]


def __getattr__(name: str) -> Any:
    if name == "RedisClusterProvider":
        from reconciler.providers.redis.provider import RedisClusterProvider

        return RedisClusterProvider
    raise AttributeError(name)
