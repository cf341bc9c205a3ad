"""A new replica's first sync with an empty master, started at once.

With diskless replication (Redis' default since 7.0) a master answers a replica's full-sync
request only after ``repl-diskless-sync-delay`` seconds (default 5), so that replicas asking
meanwhile share one transfer. A master that holds no slot and no key has nothing to
transfer, yet no key may move to it before its replicas are in sync: for the new master of
a grow, that delay was the longest wait of the whole step. So while replicas attach to such
a master, its delay is 0, and its own value is set back once they are in sync, or failed.

A process killed inside that window leaves the master with delay 0 (a speed setting only:
its later full syncs start without waiting to be shared); a spec that sets
``repl-diskless-sync-delay`` in ``redis.config`` restores it on the next apply. A master
that refuses ``CONFIG`` (renamed, or an ACL user without it) keeps its delay and the
replica syncs as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from reconciler.providers.redis.replies import config_pairs, reply_text
from reconciler.providers.redis.transports import CommandError, NodeUnreachable, Reply

DELAY = "repl-diskless-sync-delay"

Execute = Callable[..., Awaitable[Reply]]


class FirstSyncs:
    """Masters whose sync delay is held at 0 while replicas attach: counted per master, so
    that concurrent joins of two replicas to one master set and restore it once."""

    def __init__(self, execute: Execute) -> None:
        """``execute(node_id, *command)`` runs one command on a node."""
        self._execute = execute
        self._holders: dict[str, int] = {}
        self._saved: dict[str, str] = {}
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def prompt(self, master_id: str) -> AsyncIterator[bool]:
        """Within: ``master_id`` starts full syncs without delay; yields whether it does
        (False: it refused CONFIG, or does not sync disklessly, and keeps its own delay)."""
        async with self._lock:
            held = self._holders.get(master_id, 0) > 0 or await self._hold(master_id)
            if held:
                self._holders[master_id] = self._holders.get(master_id, 0) + 1
        try:
            yield held
        finally:
            if held:
                async with self._lock:
                    self._holders[master_id] -= 1
                    if not self._holders[master_id]:
                        del self._holders[master_id]
                        await self._release(master_id)

    async def _hold(self, master_id: str) -> bool:
        try:
            found = config_pairs(
                await self._execute(master_id, "CONFIG", "GET", "repl-diskless-sync*")
            )
            if found.get("repl-diskless-sync", "no") != "yes" or found.get(DELAY, "0") == "0":
                return False
            await self._execute(master_id, "CONFIG", "SET", DELAY, "0")
        except (CommandError, NodeUnreachable):
            return False
        self._saved[master_id] = found[DELAY]
        return True

    async def _release(self, master_id: str) -> None:
        saved = self._saved.pop(master_id)
        with contextlib.suppress(CommandError, NodeUnreachable):
            # Unreachable now: the node is gone or restarting, and a restart reads its own
            # config file again anyway.
            await self._execute(master_id, "CONFIG", "SET", DELAY, saved)


async def in_sync(execute: Execute, replica_id: str) -> bool:
    """The replica's link to its master is up (its first full sync is done)."""
    info = reply_text(await execute(replica_id, "INFO", "replication"))
    return "master_link_status:up" in info
