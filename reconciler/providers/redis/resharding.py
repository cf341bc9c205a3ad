"""Moving hash slots between masters without losing or leaving behind a key.

The per-slot protocol is the one Redis documents (and ``redis-cli --cluster`` follows):
``SETSLOT IMPORTING`` on the target, then ``SETSLOT MIGRATING`` on the source, then
``GETKEYSINSLOT`` + ``MIGRATE ... KEYS`` until the source has no key left in the slot, then
``SETSLOT NODE`` on the target, the source and every other master. Clients see ASK/MOVED
redirects, never a missing key.

What makes it fast: slots are handled in groups, and every step of a group is one pipelined
round trip per node (``SETSLOT`` for 256 slots at once, ``GETKEYSINSLOT`` for 256 slots at
once, one ``MIGRATE`` per slot with up to ``batch_keys`` keys, all pipelined). Several groups
and several source→target moves run concurrently. ``redis-cli`` does one slot and ten keys
per round trip.

``MIGRATE`` logs in on the target with the transport's credentials (``AUTH2 user pass`` for
an ACL user, ``AUTH pass`` for ``requirepass``): the source node opens that connection, and a
target with a password refuses unauthenticated ``RESTORE`` commands (``NOAUTH``). On TLS clusters
(``tls-cluster yes``) the source connects to the target over TLS by itself.

``MIGRATE`` never uses ``REPLACE`` by default: when the target already holds a key
(``BUSYKEY``), both copies are compared with ``DUMP``; identical copies are resolved with a
single-key ``REPLACE``, different ones stop the move with :class:`MigrationConflict` and the
slot is left open for a person to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from reconciler.engine.polling import retries
from reconciler.errors import ApplyFailed, ConnectionFailure
from reconciler.providers.redis.transports import (
    Command,
    CommandError,
    NodeEndpoint,
    NodeTransport,
    Reply,
)

_SOURCE_RETRIES = 12  # x 0.5 s: how long a source may take to turn into a replica
_NOREPLICAS_RETRIES = 20  # x 0.5 s: Valkey 8 replicas slow to acknowledge a SETSLOT


class MigrationError(ApplyFailed):
    """A slot could not be moved; it may be left open (the next plan repairs it)."""


class MigrationConflict(MigrationError):
    """A key exists on both sides of a move with different values."""


@dataclass(frozen=True)
class ReshardSettings:
    batch_keys: int = 1000  # keys per GETKEYSINSLOT / MIGRATE
    slots_per_group: int = 256  # slots handled together in one pipelined round trip
    parallel_groups: int = 2  # groups of one move in flight at once
    parallel_moves: int = 3  # source→target moves in flight at once
    migrate_timeout_ms: int = 60_000
    # Tell the other masters about each new owner right away (redis-cli does); they learn it
    # by gossip within a second anyway, and a stale master only adds one MOVED hop.
    notify_masters: bool = True


@dataclass
class MoveStats:
    slots: int = 0
    keys: int = 0
    seconds: float = 0.0
    replaced_identical: int = 0


@dataclass
class Resharder:
    """Moves slots between masters addressed by node id."""

    transport: NodeTransport
    endpoints: dict[str, NodeEndpoint]  # node id -> endpoint (every reachable node)
    masters: list[str]  # node ids of all masters (SETSLOT NODE goes to each)
    settings: ReshardSettings = field(default_factory=ReshardSettings)
    on_progress: Callable[[str], None] | None = None

    def _migrate(
        self, target: NodeEndpoint, keys: Sequence[bytes], *, replace: bool = False
    ) -> Command:
        """``MIGRATE host port "" 0 timeout [REPLACE] [AUTH ...|AUTH2 ...] KEYS k ...``."""
        return (
            "MIGRATE",
            target.ip,
            target.port,
            "",
            0,
            self.settings.migrate_timeout_ms,
            *(("REPLACE",) if replace else ()),
            *self.transport.migrate_auth(),
            "KEYS",
            *keys,
        )

    def _endpoint(self, node_id: str) -> NodeEndpoint:
        try:
            return self.endpoints[node_id]
        except KeyError:
            raise MigrationError(f"node {node_id} is not reachable") from None

    async def _pipe(self, node_id: str, commands: Sequence[Command]) -> list[Reply | CommandError]:
        return await self.transport.pipeline(self._endpoint(node_id), commands)

    async def _pipe_ok(self, node_id: str, commands: Sequence[Command], what: str) -> None:
        """Pipelined SETSLOTs that must all succeed.

        Valkey 8 replicates SETSLOT to the node's replicas and answers ``NOREPLICAS`` when
        they do not acknowledge in time (a busy machine); the slot state is then unchanged,
        so those commands are sent again (SETSLOT is idempotent), a few times.
        """
        pending = list(commands)
        async for attempt in retries(attempts=_NOREPLICAS_RETRIES + 1, interval=0.5):
            retry: list[Command] = []
            for command, reply in zip(pending, await self._pipe(node_id, pending), strict=True):
                if not isinstance(reply, CommandError):
                    continue
                if reply.code == "NOREPLICAS" and attempt.number < _NOREPLICAS_RETRIES:
                    retry.append(command)
                    continue
                raise MigrationError(
                    f"{what} on {self._endpoint(node_id).address}: {reply.message}"
                )
            if not retry:
                return
            pending = retry

    # ------------------------------------------------------------------ moves

    async def move(self, source: str, target: str, slots: Sequence[int]) -> MoveStats:
        """Move ``slots`` from ``source`` to ``target`` (node ids); returns what moved."""
        started = time.monotonic()
        stats = MoveStats()
        size = self.settings.slots_per_group
        groups = [list(slots[i : i + size]) for i in range(0, len(slots), size)]
        gate = asyncio.Semaphore(self.settings.parallel_groups)

        async def run(group: list[int]) -> None:
            async with gate:
                moved = await self.move_group(source, target, group)
                stats.keys += moved.keys
                stats.replaced_identical += moved.replaced_identical
                stats.slots += len(group)
                if self.on_progress:
                    self.on_progress(f"{stats.slots}/{len(slots)} slots, {stats.keys} keys")

        await _gather_all([run(g) for g in groups])
        stats.seconds = time.monotonic() - started
        return stats

    async def move_group(
        self, source: str, target: str, slots: Sequence[int], *, open_slots: bool = True
    ) -> MoveStats:
        """One pipelined group of slots through the whole protocol."""
        stats = MoveStats()
        first: list[Reply | CommandError] | None = None
        if open_slots:
            await self._pipe_ok(
                target,
                [("CLUSTER", "SETSLOT", s, "IMPORTING", source) for s in slots],
                "SETSLOT IMPORTING",
            )
            # MIGRATING and the first GETKEYSINSLOT share one round trip: on one connection
            # the listing runs after the slot is MIGRATING, so no new key can appear later.
            batch = self.settings.batch_keys
            replies = await self._pipe(
                source,
                [
                    *(("CLUSTER", "SETSLOT", s, "MIGRATING", target) for s in slots),
                    *(("CLUSTER", "GETKEYSINSLOT", s, batch) for s in slots),
                ],
            )
            again: list[Command] = []
            for slot, reply in zip(slots, replies[: len(slots)], strict=True):
                if isinstance(reply, CommandError):
                    if reply.code == "NOREPLICAS":
                        again.append(("CLUSTER", "SETSLOT", slot, "MIGRATING", target))
                        continue
                    raise MigrationError(
                        f"SETSLOT MIGRATING on {self._endpoint(source).address}: {reply.message}"
                    )
            first = replies[len(slots) :]
            if again:
                # Those listings ran before their slot was MIGRATING: list again afterwards.
                await self._pipe_ok(source, again, "SETSLOT MIGRATING")
                first = None
        moved = await self.drain(source, target, slots, first=first)
        stats.keys += moved.keys
        stats.replaced_identical += moved.replaced_identical
        await self.assign(target, slots, source=source)
        return stats

    async def drain(
        self,
        source: str,
        target: str,
        slots: Sequence[int],
        *,
        asking: bool = False,
        first: list[Reply | CommandError] | None = None,
    ) -> MoveStats:
        """Migrate every key of ``slots`` from source to target until none is left.

        ``asking`` prefixes each MIGRATE with ASKING (needed when the source only imports
        the slot, as when keys are moved back during a repair); ``first`` are GETKEYSINSLOT
        replies for ``slots`` already read.
        """
        stats = MoveStats()
        tgt = self._endpoint(target)
        pending = list(slots)
        batch = self.settings.batch_keys
        while pending:
            if first is not None:
                replies, first = first, None
            else:
                replies = await self._pipe(
                    source, [("CLUSTER", "GETKEYSINSLOT", s, batch) for s in pending]
                )
            work: list[tuple[int, list[bytes]]] = []
            for slot, reply in zip(pending, replies, strict=True):
                if isinstance(reply, CommandError):
                    raise MigrationError(f"GETKEYSINSLOT {slot}: {reply.message}")
                keys = [k for k in (reply or []) if isinstance(k, bytes)]  # type: ignore[union-attr]
                if keys:
                    work.append((slot, keys))
            if not work:
                break
            commands: list[Command] = []
            for _slot, keys in work:
                if asking:
                    commands.append(("ASKING",))
                commands.append(self._migrate(tgt, keys))
            results = await self._pipe(source, commands)
            if asking:
                results = results[1::2]
            for (slot, keys), result in zip(work, results, strict=True):
                if isinstance(result, CommandError):
                    if "BUSYKEY" in result.message:
                        stats.replaced_identical += await self._resolve_busy(
                            source, target, slot, asking=asking
                        )
                        continue
                    if result.code == "NOKEY" or "NOKEY" in result.message:
                        continue  # the keys expired or were deleted meanwhile
                    raise MigrationError(
                        f"MIGRATE of slot {slot} from {self._endpoint(source).address} to "
                        f"{tgt.address} failed: {result.message}; the slot is left open and "
                        "the next plan will finish the move"
                    )
                stats.keys += len(keys)
            # Once a slot is MIGRATING no new key can appear on the source, so a slot that
            # returned less than a full batch and migrated cleanly is empty. Redis itself
            # refuses SETSLOT NODE on a source that still holds keys of the slot.
            pending = [
                slot
                for (slot, keys), result in zip(work, results, strict=True)
                if len(keys) >= batch or isinstance(result, CommandError)
            ]
        return stats

    async def _resolve_busy(self, source: str, target: str, slot: int, *, asking: bool) -> int:
        """Keys of ``slot`` that exist on both sides: equal copies are replaced, else stop."""
        tgt = self._endpoint(target)
        reply = await self.transport.execute(
            self._endpoint(source), "CLUSTER", "GETKEYSINSLOT", slot, self.settings.batch_keys
        )
        replaced = 0
        for key in [k for k in (reply or []) if isinstance(k, bytes)]:  # type: ignore[union-attr]
            prefix: list[Command] = [("ASKING",)] if asking else []
            first = await self._pipe(source, [*prefix, self._migrate(tgt, [key])])
            result = first[-1]
            if not isinstance(result, CommandError) or "NOKEY" in result.message:
                continue
            if "BUSYKEY" not in result.message:
                raise MigrationError(f"MIGRATE of {key!r} (slot {slot}): {result.message}")
            mine = (await self._pipe(source, [*prefix, ("DUMP", key)]))[-1]
            theirs = (await self._pipe(target, [("ASKING",), ("DUMP", key)]))[-1]
            if isinstance(mine, CommandError) or isinstance(theirs, CommandError) or mine != theirs:
                raise MigrationConflict(
                    f"slot {slot}: key {key.decode(errors='replace')!r} exists on both "
                    f"{self._endpoint(source).address} and {tgt.address} with different values; "
                    "the move stopped and the slot is left open. Decide which copy wins (delete "
                    "the other), then run apply again"
                )
            last = (await self._pipe(source, [*prefix, self._migrate(tgt, [key], replace=True)]))[
                -1
            ]
            if isinstance(last, CommandError) and "NOKEY" not in last.message:
                raise MigrationError(f"MIGRATE REPLACE of {key!r} (slot {slot}): {last.message}")
            replaced += 1
        return replaced

    async def assign(self, owner: str, slots: Sequence[int], *, source: str | None = None) -> None:
        """SETSLOT NODE owner: on the owner first, then on the source and every other master."""
        commands: list[Command] = [("CLUSTER", "SETSLOT", s, "NODE", owner) for s in slots]
        await self._pipe_ok(owner, commands, "SETSLOT NODE")
        # Once the owner has it, the source and the other masters are told at the same time.
        telling = asyncio.ensure_future(self._tell_others(owner, source, commands))
        try:
            if source is not None and source != owner:
                await self._source_gives_up(source, commands)
        finally:
            await telling

    async def _source_gives_up(self, source: str, commands: list[Command]) -> None:
        """SETSLOT NODE on the source, once the owner has the slots.

        A master that just gave away its last slot turns into a replica of the new owner
        (cluster-allow-replica-migration) as soon as it hears of the owner's claim; the slot
        is the owner's then. Valkey 8 also replicates SETSLOT to the source's replicas and
        waits for them: while the source turns into a replica it answers ``NOREPLICAS`` or
        closes the connection. Both are retried for a few seconds (the owner's claim, with a
        higher epoch, already wins; the retry only closes the source's migrating state).
        """
        async for attempt in retries(attempts=_SOURCE_RETRIES + 1, interval=0.5):
            try:
                replies = await self._pipe(source, commands)
            except ConnectionFailure:
                replies = None
                if attempt.number >= _SOURCE_RETRIES:
                    raise
            problems = [r for r in replies or [] if isinstance(r, CommandError)]
            if replies is not None and not problems:
                return
            if any("only with masters" in p.message for p in problems):
                return
            if attempt.number >= _SOURCE_RETRIES or any(p.code != "NOREPLICAS" for p in problems):
                first = problems[0]
                raise MigrationError(
                    f"SETSLOT NODE on {self._endpoint(source).address}: {first.message}"
                )

    async def _tell_others(self, owner: str, source: str | None, commands: list[Command]) -> None:
        if not self.settings.notify_masters:
            return
        others = [m for m in self.masters if m not in (owner, source) and m in self.endpoints]

        async def tell(node: str) -> None:
            # Other masters would learn by gossip; telling them shortens the window of
            # redirect loops. Errors here are harmless, like in redis-cli.
            with contextlib.suppress(Exception):
                await self._pipe(node, commands)

        await asyncio.gather(*(tell(m) for m in others))

    async def stabilise(self, node_id: str, slots: Sequence[int]) -> None:
        """SETSLOT STABLE. Valkey 8 replicas show their primary's open slots too but refuse
        SETSLOT ("only with masters"): they follow their primary by replication."""
        try:
            await self._pipe_ok(
                node_id, [("CLUSTER", "SETSLOT", s, "STABLE") for s in slots], "SETSLOT STABLE"
            )
        except MigrationError as problem:
            if "only with masters" not in str(problem):
                raise


async def estimate_keys(
    transport: NodeTransport, endpoint: NodeEndpoint, slots: Sequence[int], sample: int = 256
) -> int:
    """Keys in ``slots`` on ``endpoint``: exact for up to ``sample`` slots, sampled above."""
    if not slots:
        return 0
    ordered = sorted(slots)
    if len(ordered) <= sample:
        chosen = ordered
    else:
        step = len(ordered) / sample
        chosen = [ordered[int(i * step)] for i in range(sample)]
    replies = await transport.pipeline(
        endpoint, [("CLUSTER", "COUNTKEYSINSLOT", s) for s in chosen]
    )
    total = sum(r for r in replies if isinstance(r, int))
    return round(total * len(ordered) / len(chosen))


async def _gather_all(coroutines: Sequence) -> None:
    """Run all; on the first failure let the others finish their group, then re-raise."""
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
