"""A process that takes the apply lock and holds it until killed (for takeover tests).

``python -m tests.integration.gitops.lock_holder kafka[:GROUP] BOOTSTRAP TTL`` or
``... redis HOST:PORT,... TTL``: prints ``HELD <token>`` once the lock is held, then keeps
it alive with the heartbeat forever.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any


async def hold(kind: str, where: str, ttl: float) -> None:
    from reconciler.engine.locking import HeldLock, LockOwner

    backend: Any
    if kind.startswith("kafka"):
        from reconciler.providers.kafka.locking import LOCK_GROUP, KafkaGroupLock

        group = kind.partition(":")[2] or LOCK_GROUP
        backend = KafkaGroupLock({"bootstrap_servers": where}, ttl_seconds=ttl, group=group)
    else:
        from reconciler.providers.redis.locking import RedisLock
        from reconciler.providers.redis.transports import DirectTransport

        backend = RedisLock(DirectTransport(where.split(",")), ttl_seconds=ttl)
    attempt = await backend.try_acquire(LockOwner.current("lock_holder test process"))
    if not attempt.acquired:
        print(f"NOT HELD {attempt}", flush=True)
        return
    HeldLock(backend, attempt).start()
    print(f"HELD {attempt.token}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(hold(sys.argv[1], sys.argv[2], float(sys.argv[3])))
