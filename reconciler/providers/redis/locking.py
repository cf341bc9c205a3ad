"""The apply lock of a Redis deployment reached directly (``host:port`` addresses).

One key, ``{llm-analytics}:apply-lock``, taken with ``SET key value NX PX ttl``:

- **Atomic**: ``SET ... NX`` succeeds for exactly one client.
- **Expiring**: ``PX ttl``; the holder renews it with a compare-and-``PEXPIRE`` script, so a
  crashed run frees it within the TTL (Redis measures the TTL, not our clock).
- **Fencing token**: ``INCR {llm-analytics}:apply-lock:token`` before each attempt; the
  token is part of the value, so every holder's value is unique and tokens only grow.
- **Safe release**: a compare-and-``DEL`` script (Lua) deletes the key only while it still
  holds this run's value, never a lock another run took after ours expired.
- **Named holder**: the value is JSON with the :class:`LockOwner`; waiting runs ``GET`` it.
- **Takeover of a dead holder**: a waiting run on the holder's host that proves it dead
  (see :func:`reconciler.engine.locking.holder_is_provably_dead`) swaps the value it read
  for its own in one script (compare-and-``SET``), instead of waiting for the TTL.

Both keys share the hash tag ``{llm-analytics}``, so in a Redis Cluster they live in one
slot on one master; commands follow ``MOVED``/``ASK`` redirections, so the lock keeps
working while slots move (MIGRATE keeps the key's TTL). A cluster that serves no slot yet
(not created) cannot hold a key: :class:`LockUnavailable` says so and the CLI decides.
When the Redis target is Kubernetes pods, the CLI uses a Kubernetes Lease instead
(:mod:`reconciler.providers.kubernetes_lease`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from reconciler.engine.locking import (
    DEFAULT_TTL_SECONDS,
    LockAttempt,
    LockLost,
    LockOwner,
    LockUnavailable,
)
from reconciler.engine.polling import retries
from reconciler.errors import ReconcilerError
from reconciler.providers.redis.transports import (
    CommandError,
    NodeEndpoint,
    NodeTransport,
    NodeUnreachable,
    Reply,
)
from reconciler.spec.models import RedisConnection

log = logging.getLogger(__name__)

LOCK_KEY = "{llm-analytics}:apply-lock"
TOKEN_KEY = "{llm-analytics}:apply-lock:token"

# KEYS[1] = lock key, ARGV[1] = our value, ARGV[2] = TTL in ms.
RENEW_SCRIPT = """\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS[1] = lock key, ARGV[1] = our value.
RELEASE_SCRIPT = """\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# KEYS[1] = lock key, ARGV[1] = the dead holder's value, ARGV[2] = ours, ARGV[3] = TTL ms.
TAKEOVER_SCRIPT = """\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_REDIRECTS = 8


def encode_value(owner: LockOwner, token: int) -> str:
    """The lock key's value: unique per attempt (the token) and naming the holder."""
    return json.dumps({"token": token, "owner": owner.to_dict()}, sort_keys=True)


def decode_value(value: Reply) -> tuple[LockOwner | None, int | None]:
    """(owner, token) from a lock value; (None, None) when unreadable."""
    if not isinstance(value, bytes | str):
        return None, None
    try:
        body = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(body, dict):
        return None, None
    token = body.get("token")
    return LockOwner.from_dict(body.get("owner")), token if isinstance(token, int) else None


def redirect_target(error: CommandError) -> str | None:
    """``host:port`` of a ``MOVED``/``ASK`` reply (``MOVED 3999 127.0.0.1:6381``)."""
    parts = error.message.split()
    return parts[2] if len(parts) >= 3 and error.code in ("MOVED", "ASK") else None


def _endpoint_at(address: str) -> NodeEndpoint:
    host = address.rsplit(":", 1)[0].strip("[]")
    return NodeEndpoint(id=address, address=address, host=host)


class RedisLock:
    """The apply lock in a Redis key (see the module docstring)."""

    lock_order = 20
    #: The CLI may go on without this lock when Redis cannot hold keys yet (no slots served).
    optional_when_unavailable = True

    def __init__(
        self,
        transport: NodeTransport,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        key: str = LOCK_KEY,
        token_key: str = TOKEN_KEY,
        where: str = "",
    ) -> None:
        if ttl_seconds < 1:
            raise ReconcilerError(f"a Redis lock TTL must be at least 1s, got {ttl_seconds:g}s")
        self.transport = transport
        self.ttl_seconds = ttl_seconds
        self.renew_interval = max(0.5, ttl_seconds / 3)
        self.key = key
        self.token_key = token_key
        self.description = f"Redis key {key}" + (f" on {where}" if where else "")
        self._ttl_ms = int(ttl_seconds * 1000)
        self._endpoint: NodeEndpoint | None = None
        self._value: str | None = None
        self._token: int | None = None

    @classmethod
    def from_connection(
        cls,
        connection: RedisConnection,
        addresses: Sequence[str] | None = None,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
    ) -> RedisLock:
        """The lock for the spec's nodes (or the overriding addresses), same credentials."""
        from reconciler.providers.redis.transports import DirectTransport
        from reconciler.secrets import resolve_secret

        nodes = list(addresses or connection.addresses or [])
        if not nodes:
            raise ReconcilerError(
                "the Redis lock needs node addresses (redis.connection."
                "addresses or --redis-addresses)"
            )
        tls = connection.tls
        transport = DirectTransport(
            nodes,
            username=connection.username,
            password=resolve_secret(connection.password, what="redis password"),
            tls=bool(tls and tls.enabled),
            tls_ca_file=tls.ca_file if tls else None,
            tls_cert_file=tls.cert_file if tls else None,
            tls_key_file=tls.key_file if tls else None,
            tls_check_hostname=bool(tls and tls.check_hostname),
        )
        where = nodes[0] + (f" (+{len(nodes) - 1} more)" if len(nodes) > 1 else "")
        return cls(transport, ttl_seconds=ttl_seconds, where=where)

    @property
    def token(self) -> int | None:
        return self._token

    # ------------------------------------------------------------------ commands

    async def _run(self, *args: Any) -> Reply:
        """Run one command on the node serving the lock's slot, following redirections and
        trying the next node when one does not answer."""
        candidates = await self.transport.discover()
        tried = 0
        last: Exception | None = None
        async for attempt in retries(attempts=_REDIRECTS + len(candidates)):
            endpoint = self._endpoint or candidates[tried % len(candidates)]
            try:
                return await self.transport.execute(endpoint, *args)
            except NodeUnreachable as problem:
                last = problem
                self._endpoint = None
                tried += 1
                if tried >= len(candidates):
                    raise
            except CommandError as problem:
                last = problem
                target = redirect_target(problem)
                if problem.code == "MOVED" and target:
                    self._endpoint = _endpoint_at(target)
                elif problem.code == "ASK" and target:
                    reply = (
                        await self.transport.pipeline(_endpoint_at(target), [("ASKING",), args])
                    )[1]
                    if not isinstance(reply, CommandError):
                        return reply
                    if reply.code != "TRYAGAIN":
                        raise ReconcilerError(f"Redis lock: {reply.message}") from None
                    attempt.retry_in(0.05)
                elif problem.code == "TRYAGAIN":
                    attempt.retry_in(0.05)  # a multi-key operation during a migration
                elif (
                    problem.code == "CLUSTERDOWN"
                    and "not served" in problem.message
                    and self._endpoint is None
                    and tried + 1 < len(candidates)
                ):
                    tried += 1  # a node outside the cluster (bare, not met yet): the next one
                elif problem.code == "CLUSTERDOWN" and "not served" in problem.message:
                    raise LockUnavailable(
                        f"the Redis cluster serves no hash slot for {self.key} yet (is it "
                        "created?), so no lock key can be stored"
                    ) from None
                else:
                    raise ReconcilerError(f"Redis lock: {problem.message}") from None
        raise ReconcilerError(f"Redis lock: too many redirections ({last})")

    # ------------------------------------------------------------------ LockBackend

    async def try_acquire(self, owner: LockOwner) -> LockAttempt:
        for _ in range(3):
            token = int(await self._run("INCR", self.token_key))  # type: ignore[arg-type]
            value = encode_value(owner, token)
            if await self._run("SET", self.key, value, "NX", "PX", self._ttl_ms) is not None:
                self._value, self._token = value, token
                return LockAttempt(True, token=token)
            current = await self._run("GET", self.key)
            if current is None:
                continue  # it expired between SET and GET: try again at once
            holder, _ = decode_value(current)
            return LockAttempt(
                False,
                holder=holder,
                detail="" if holder else "the lock value is not readable",
                observed=current,
            )
        return LockAttempt(False, detail="the lock changed hands while we looked")

    async def take_over(self, owner: LockOwner, stale: LockAttempt) -> LockAttempt:
        """Replace the dead holder's value seen in ``stale`` by ours, in one script: if the
        key holds anything else by then (renewed, expired, taken), nothing changes."""
        if not isinstance(stale.observed, bytes | str):
            return stale
        token = int(await self._run("INCR", self.token_key))  # type: ignore[arg-type]
        value = encode_value(owner, token)
        swapped = await self._run(
            "EVAL", TAKEOVER_SCRIPT, 1, self.key, stale.observed, value, self._ttl_ms
        )
        if swapped == 1:
            self._value, self._token = value, token
            return LockAttempt(True, token=token)
        current = await self._run("GET", self.key)
        holder, _ = decode_value(current) if current is not None else (None, None)
        return LockAttempt(False, holder=holder, detail="the lock changed hands meanwhile")

    async def renew(self) -> None:
        if self._value is None:
            raise LockLost(f"{self.key} is not held")
        renewed = await self._run("EVAL", RENEW_SCRIPT, 1, self.key, self._value, self._ttl_ms)
        if renewed != 1:
            self._value = self._token = None
            raise LockLost(f"{self.key} expired or was taken over by another run")

    async def release(self) -> None:
        value, self._value, self._token = self._value, None, None
        if value is not None:
            await self._run("EVAL", RELEASE_SCRIPT, 1, self.key, value)

    async def close(self) -> None:
        await self.transport.close()

    async def holder(self) -> LockOwner | None:
        """Who holds the lock now (for status output and tests)."""
        owner, _ = decode_value(await self._run("GET", self.key))
        return owner


__all__ = [
    "LOCK_KEY",
    "RELEASE_SCRIPT",
    "RENEW_SCRIPT",
    "TAKEOVER_SCRIPT",
    "TOKEN_KEY",
    "RedisLock",
    "decode_value",
    "encode_value",
    "redirect_target",
]
