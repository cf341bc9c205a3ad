"""Moving hash slots between masters without losing or leaving behind a key.

The per-slot protocol is the one Redis documents (and ``redis-cli --cluster`` follows):
``SETSLOT IMPORTING`` on the target, then ``SETSLOT MIGRATING`` on the source, then
``GETKEYSINSLOT`` + moving the keys until the source has none left in the slot, then
``SETSLOT NODE`` on the target, the source and every other master. Clients see ASK/MOVED
redirects, never a missing key.

Keys move without a window for loss: plain ``MIGRATE`` deletes the source's copy as soon as
the target has it, before the target's replicas do, so a target killed then loses them (its
promoted replica never had them). Instead each batch is copied (``MIGRATE ... COPY``), the
target's replicas acknowledge it (``WAIT``), and only then a script on the source deletes
the keys that did not change since they were digested (``DUMP`` + expiry); a key a client
wrote on the source meanwhile stays and is copied again (``REPLACE`` of this move's own
older copy). An interruption can leave a key on both sides: the repair keeps the owner's
copy when identical and the source's when not (see ``repairing.py``).

What makes it fast: slots are handled in groups, and every step of a group is one pipelined
round trip per node (``SETSLOT`` for 256 slots at once, ``GETKEYSINSLOT`` for 256 slots at
once, one digest + ``MIGRATE COPY`` per slot with up to ``batch_keys`` keys, one ``WAIT``,
then the deletes and the next listing, all pipelined). Several groups
and several source→target moves run concurrently. ``redis-cli`` does one slot and ten keys
per round trip.

``MIGRATE`` logs in on the target with the transport's credentials (``AUTH2 user pass`` for
an ACL user, ``AUTH pass`` for ``requirepass``): the source node opens that connection, and a
target with a password refuses unauthenticated ``RESTORE`` commands (``NOAUTH``). On TLS clusters
(``tls-cluster yes``) the source connects to the target over TLS by itself.

``MIGRATE`` never uses ``REPLACE`` on a key it did not copy itself: when the target already
holds a key (``BUSYKEY``), both copies are compared with ``DUMP``; an identical copy counts
as copied (the source's is deleted), different ones stop the move with
:class:`MigrationConflict` and the slot is left open for a person to look at.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence

from msgspec import Struct, field

from reconciler.engine.polling import retries
from reconciler.errors import ApplyFailed, ConnectionFailure
from reconciler.providers.redis.replies import reply_text
from reconciler.providers.redis.state import format_ranges, parse_cluster_nodes
from reconciler.providers.redis.transports import (
    Command,
    CommandError,
    NodeEndpoint,
    NodeTransport,
    NodeUnreachable,
    Reply,
)
from reconciler.providers.redis.waiting import Pending, poll

_SOURCE_RETRIES = 12  # x 0.5 s: how long a source may take to turn into a replica
_NOREPLICAS_RETRIES = 20  # x 0.5 s: Valkey 8 replicas slow to acknowledge a SETSLOT
_WAIT_MS = 1000  # one WAIT for the target's replicas; repeated up to replica_ack_timeout_ms


# Lua run on the source per slot (keys in ARGV, all of one slot; ASKING carries over into
# the script): each key's digest, SHA1 of its DUMP and absolute expiry, or "" when it is gone.
DIGEST = (
    "local out = {} for i, k in ipairs(ARGV) do local d = redis.pcall('DUMP', k) "
    "if type(d) == 'string' then out[i] = redis.sha1hex(d .. ':' .. "
    "redis.call('PEXPIRETIME', k)) else out[i] = '' end end return out"
)
# ARGV: key, digest, key, digest ...: UNLINK each key whose digest is unchanged; returns the
# keys that changed since (written by a client after the copy: they stay and are copied again).
DELETE_UNCHANGED = (
    "local kept = {} for i = 1, #ARGV, 2 do local k = ARGV[i] if ARGV[i + 1] ~= '' then "
    "local d = redis.pcall('DUMP', k) if type(d) == 'string' then "
    "if redis.sha1hex(d .. ':' .. redis.call('PEXPIRETIME', k)) == ARGV[i + 1] then "
    "redis.call('UNLINK', k) else kept[#kept + 1] = k end end end end return kept"
)


class MigrationError(ApplyFailed):
    """A slot could not be moved; it may be left open (the next plan repairs it)."""


class MigrationConflict(MigrationError):
    """A key exists on both sides of a move with different values."""


class ReshardSettings(Struct, frozen=True):
    batch_keys: int = 1000  # keys per GETKEYSINSLOT / MIGRATE
    slots_per_group: int = 256  # slots handled together in one pipelined round trip
    parallel_groups: int = 2  # groups of one move in flight at once
    parallel_moves: int = 3  # source→target moves in flight at once
    migrate_timeout_ms: int = 60_000
    # How long the target's replicas may take to acknowledge a batch of copied keys (WAIT)
    # before the move stops with the source still holding them.
    replica_ack_timeout_ms: int = 10_000
    # Tell the other masters about each new owner right away (redis-cli does); they learn it
    # by gossip within a second anyway, and a stale master only adds one MOVED hop.
    notify_masters: bool = True


class MoveStats(Struct):
    slots: int = 0
    keys: int = 0
    seconds: float = 0.0
    replaced_identical: int = 0


class Resharder(Struct):
    """Moves slots between masters addressed by node id."""

    transport: NodeTransport
    endpoints: dict[str, NodeEndpoint]  # node id -> endpoint (every reachable node)
    masters: list[str]  # node ids of all masters (SETSLOT NODE goes to each)
    settings: ReshardSettings = field(default_factory=ReshardSettings)
    on_progress: Callable[[str], None] | None = None
    # Awaited with the number of keys about to be copied (the apply's rate limit, shared by
    # all moves); ``None``: unlimited, a round's slots go in one pipelined batch.
    pace: Callable[[int], Awaitable[None]] | None = None

    def _migrate(
        self,
        target: NodeEndpoint,
        keys: Sequence[bytes],
        *,
        copy: bool = False,
        replace: bool = False,
    ) -> Command:
        """``MIGRATE host port "" 0 timeout [COPY] [REPLACE] [AUTH ...|AUTH2 ...] KEYS k ...``."""
        return (
            "MIGRATE",
            target.ip,
            target.port,
            "",
            0,
            self.settings.migrate_timeout_ms,
            *(("COPY",) if copy else ()),
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
        """Move every key of ``slots`` from source to target until none is left, losing none.

        Each round, pipelined per node: on the source a digest of up to ``batch_keys`` keys
        per slot and ``MIGRATE ... COPY`` of them; ``WAIT`` on the target until its online
        replicas hold the copies; on the source a script deleting the keys whose digest is
        unchanged, then the next listing. A target that dies mid-move thus loses nothing (its
        promoted replica holds every key the source deleted). A key written on the source in
        between (it serves a key as long as it holds it) is kept there and copied again with
        ``REPLACE``: the target's copy is this move's own, older one.

        ``asking`` prefixes each command with ASKING (the source only imports the slots, as
        when a repair moves keys back); ``first`` are GETKEYSINSLOT replies already read.
        """
        stats = MoveStats()
        self._endpoint(target)  # reachable, or MigrationError
        replicas = await self._online_replicas(target)
        batch = self.settings.batch_keys
        recopy: set[bytes] = set()  # copied, then changed on the source: copy with REPLACE
        pending = list(slots)
        replies = first
        if replies is None:
            replies = await self._pipe(
                source, [("CLUSTER", "GETKEYSINSLOT", s, batch) for s in pending]
            )
        while pending:
            work = _listed(pending, replies)
            if not work:
                break
            replies = []
            for chunk in self._paced_chunks(work):
                if self.pace is not None:
                    await self.pace(sum(len(keys) for _, keys in chunk))
                replies += await self._round(source, target, chunk, recopy, replicas, asking, stats)
            # Once a slot is MIGRATING no new key can appear on the source; the listing
            # after the deletes says which slots still hold keys.
            pending = [slot for slot, _ in work]
        return stats

    def _paced_chunks(
        self, work: list[tuple[int, list[bytes]]]
    ) -> list[list[tuple[int, list[bytes]]]]:
        """The round's slots in one chunk; when paced, in chunks of about ``batch_keys``
        keys (whole slots), each waiting for its share of the rate limit."""
        if self.pace is None:
            return [work]
        chunks: list[list[tuple[int, list[bytes]]]] = [[]]
        held = 0
        for slot, keys in work:
            if chunks[-1] and held + len(keys) > self.settings.batch_keys:
                chunks.append([])
                held = 0
            chunks[-1].append((slot, keys))
            held += len(keys)
        return chunks

    async def _round(
        self,
        source: str,
        target: str,
        work: list[tuple[int, list[bytes]]],
        recopy: set[bytes],
        replicas: int,
        asking: bool,
        stats: MoveStats,
    ) -> list[Reply | CommandError]:
        """Copy, replicate and delete the listed keys of ``work``; its next listings."""
        tgt = self._endpoint(target)
        digests = await self._copy(source, tgt, work, recopy, asking, stats)
        if replicas:
            await self._replicated(target, replicas, work[0][0])
        deletes: list[Command] = [
            ("EVAL", DELETE_UNCHANGED, 0, *_pairs(keys, digests[slot])) for slot, keys in work
        ]
        batch = self.settings.batch_keys
        listings: list[Command] = [("CLUSTER", "GETKEYSINSLOT", s, batch) for s, _ in work]
        results = await self._pipe(source, _asked(deletes, asking) + listings)
        kept_replies = results[1 : 2 * len(work) : 2] if asking else results[: len(work)]
        for (slot, _keys), kept in zip(work, kept_replies, strict=True):
            if isinstance(kept, CommandError):
                raise MigrationError(
                    f"deleting the copied keys of slot {slot} on "
                    f"{self._endpoint(source).address}: {kept.message}"
                )
            changed = {k for k in (kept or []) if isinstance(k, bytes)}  # type: ignore[union-attr]
            recopy |= changed
            gone = sum(1 for d in digests[slot] if d)
            stats.keys += gone - len(changed)
        return results[len(results) - len(work) :]

    async def _copy(
        self,
        source: str,
        tgt: NodeEndpoint,
        work: list[tuple[int, list[bytes]]],
        recopy: set[bytes],
        asking: bool,
        stats: MoveStats,
    ) -> dict[int, list[bytes]]:
        """Digest and ``MIGRATE ... COPY`` each slot's keys; slot -> digests (b"": gone)."""
        commands: list[Command] = []
        shape: list[tuple[int, str]] = []
        for slot, keys in work:
            commands.append(("EVAL", DIGEST, 0, *keys))
            shape.append((slot, "digest"))
            fresh = [k for k in keys if k not in recopy]
            again = [k for k in keys if k in recopy]
            if fresh:
                commands.append(self._migrate(tgt, fresh, copy=True))
                shape.append((slot, "fresh"))
            if again:
                commands.append(self._migrate(tgt, again, copy=True, replace=True))
                shape.append((slot, "again"))
        results = await self._pipe(source, _asked(commands, asking))
        if asking:
            results = results[1::2]
        digests: dict[int, list[bytes]] = {}
        busy: dict[int, list[bytes]] = {}
        for (slot, kind), result in zip(shape, results, strict=True):
            if kind == "digest":
                if isinstance(result, CommandError) or not isinstance(result, list):
                    raise MigrationError(
                        f"reading the keys of slot {slot} on {self._endpoint(source).address}: "
                        f"{getattr(result, 'message', result)}"
                    )
                digests[slot] = [d if isinstance(d, bytes) else b"" for d in result]
                continue
            if not isinstance(result, CommandError):
                continue
            if "BUSYKEY" in result.message and kind == "fresh":
                busy[slot] = [k for k in dict(work)[slot] if k not in recopy]
                continue
            if result.code == "NOKEY" or "NOKEY" in result.message:
                continue  # the keys expired or were deleted meanwhile
            raise MigrationError(
                f"MIGRATE of slot {slot} from {self._endpoint(source).address} to "
                f"{tgt.address} failed: {result.message}; the slot is left open and the next "
                "plan will finish the move"
            )
        for slot, keys in busy.items():
            stats.replaced_identical += await self._resolve_busy(source, tgt, slot, keys, asking)
        return digests

    async def _resolve_busy(
        self, source: str, tgt: NodeEndpoint, slot: int, keys: list[bytes], asking: bool
    ) -> int:
        """Keys of a batch refused with BUSYKEY: each is copied alone; one the target already
        holds counts as copied if both copies are identical (the source's is then deleted),
        else the move stops naming the key (never a blind REPLACE)."""
        singles = [self._migrate(tgt, [k], copy=True) for k in keys]
        results = await self._pipe(source, _asked(singles, asking))
        if asking:
            results = results[1::2]
        both = []
        for key, result in zip(keys, results, strict=True):
            if not isinstance(result, CommandError) or "NOKEY" in result.message:
                continue
            if "BUSYKEY" not in result.message:
                raise MigrationError(f"MIGRATE of {key!r} (slot {slot}): {result.message}")
            both.append(key)
        if not both:
            return 0
        dumps: list[Command] = [("DUMP", k) for k in both]
        mine = (
            (await self._pipe(source, _asked(dumps, asking)))[1::2]
            if asking
            else (await self._pipe(source, dumps))
        )
        theirs = (await self.transport.pipeline(tgt, _asked(dumps, True)))[1::2]
        for key, a, b in zip(both, mine, theirs, strict=True):
            if isinstance(a, CommandError) or isinstance(b, CommandError) or a != b:
                raise MigrationConflict(
                    f"slot {slot}: key {key.decode(errors='replace')!r} exists on both "
                    f"{self._endpoint(source).address} and {tgt.address} with different values; "
                    "the move stopped and the slot is left open. Decide which copy wins (delete "
                    "the other), then run apply again"
                )
        return len(both)

    async def _online_replicas(self, node_id: str) -> int:
        """Replicas of ``node_id`` that are attached and streaming (``state=online``)."""
        try:
            info = await self.transport.execute(self._endpoint(node_id), "INFO", "replication")
        except CommandError:
            return 0
        text = info.decode(errors="replace") if isinstance(info, bytes) else str(info)
        return sum(
            1 for line in text.splitlines() if line.startswith("slave") and "state=online" in line
        )

    async def _replicated(self, target: str, replicas: int, slot: int) -> None:
        """``WAIT`` until the target's replicas acknowledge everything written to it so far.

        WAIT counts the writes of its own connection only, and MIGRATE writes through the
        source's: a marker written and deleted on ours (in a slot the target imports, with
        ASKING) comes after the copies in the replication stream, so its acknowledgement
        covers them. WAITs are short (below any client read timeout) and repeated; a replica
        that went away meanwhile is not waited for."""
        marker = slot_tag(slot) + b"llm-analytics:copy-ack"
        budget = self.settings.replica_ack_timeout_ms / 1000
        commands: list[Command] = [
            ("ASKING",),
            ("SET", marker, b"1", "PX", 60_000),
            ("ASKING",),
            ("DEL", marker),
            ("WAIT", replicas, _WAIT_MS),
        ]
        started = time.monotonic()
        while True:
            replies = await self._pipe(target, commands)
            problems = [r for r in replies if isinstance(r, CommandError)]
            if problems:
                raise MigrationError(
                    f"waiting for the replicas of {self._endpoint(target).address}: "
                    f"{problems[0].message}; the source keeps its keys, the slot is left open"
                )
            acked = replies[-1] if isinstance(replies[-1], int) else 0
            if acked >= replicas:
                return
            replicas = min(replicas, await self._online_replicas(target))
            if acked >= replicas:
                return
            if time.monotonic() - started >= budget:
                raise MigrationError(
                    f"{replicas - acked} replica(s) of {self._endpoint(target).address} did not "
                    f"acknowledge the copied keys within {budget:.0f}s; the source keeps its "
                    "copies and the slot is left open (the next plan settles it)"
                )

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

    async def close_on_replicas(
        self, masters: Sequence[str], slots: Sequence[int], *, timeout: float
    ) -> list[str]:
        """Close ``slots`` where a replica of ``masters`` still shows them open; which
        replicas did (``address (slots)``), to report.

        Valkey 8 replicas take their master's slot states by replication. A replica whose
        full sync ends during a move (its first one, after a cluster was just created) loads
        the states the master had when the sync started; a slot it has already seen
        assigned to the target stays open there for good, and the master's closing
        ``SETSLOT NODE`` never reached it (it was not streaming yet). Seen in about one of
        25 grows started right after ``init``, under load. A replica refuses SETSLOT itself,
        so ``SETSLOT STABLE`` goes to its master, whose replication closes it there; it is
        sent again each round until the replicas show the slots closed, bounded by
        ``timeout``. One ``CLUSTER NODES`` per replica and round; Redis 7 replicas never
        show open slots.
        """
        moved = set(slots)
        found: dict[str, set[int]] = {}

        async def closed() -> bool | Pending:
            left: list[str] = []
            for master in masters:
                stray: set[int] = set()
                for replica in await self._replicas_of(master):
                    open_there = await self._open_on(replica) & moved
                    if open_there:
                        stray |= open_there
                        found.setdefault(replica.address, set()).update(open_there)
                        left.append(f"{replica.address} ({format_ranges(sorted(open_there))})")
                if stray:
                    await self.stabilise(master, sorted(stray))
            return True if not left else Pending("open on " + ", ".join(left))

        await poll(
            closed,
            what="the replicas show the moved slots closed, as their masters do",
            timeout=timeout,
            interval=0.25,
            hint="a replica whose replication link is down gets its master's SETSLOT once it "
            "is back; plan again then",
        )
        return [f"{address} ({format_ranges(sorted(s))})" for address, s in sorted(found.items())]

    async def _open_on(self, endpoint: NodeEndpoint) -> set[int]:
        """Slots MIGRATING or IMPORTING on that node, by its own ``CLUSTER NODES``."""
        try:
            text = await self.transport.execute(endpoint, "CLUSTER", "NODES")
        except (CommandError, NodeUnreachable):
            return set()  # a replica going away does not undo the move
        me = next((n for n in parse_cluster_nodes(reply_text(text)) if n.myself), None)
        return {s for s, _ in (*me.migrating, *me.importing)} if me is not None else set()

    async def _replicas_of(self, master: str) -> list[NodeEndpoint]:
        """Its reachable replicas; none when it is no master now (a source that gave away
        its last slot turns into a replica) or does not answer."""
        if master not in self.endpoints:
            return []
        try:
            text = await self.transport.execute(
                self.endpoints[master], "CLUSTER", "REPLICAS", master
            )
        except (CommandError, NodeUnreachable):
            return []
        ids = [line.split()[0] for line in _lines(text) if line.strip()]
        return [self.endpoints[i] for i in ids if i in self.endpoints]

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


def _lines(reply: Reply) -> list[str]:
    """``CLUSTER REPLICAS``: one ``CLUSTER NODES`` line per item (or one text)."""
    if isinstance(reply, list):
        return [reply_text(item) for item in reply]
    return reply_text(reply).splitlines()


def _listed(
    slots: Sequence[int], replies: Sequence[Reply | CommandError]
) -> list[tuple[int, list[bytes]]]:
    """(slot, keys) of the GETKEYSINSLOT replies that listed keys."""
    work: list[tuple[int, list[bytes]]] = []
    for slot, reply in zip(slots, replies, strict=True):
        if isinstance(reply, CommandError):
            raise MigrationError(f"GETKEYSINSLOT {slot}: {reply.message}")
        keys = [k for k in (reply or []) if isinstance(k, bytes)]  # type: ignore[union-attr]
        if keys:
            work.append((slot, keys))
    return work


def _pairs(keys: Sequence[bytes], digests: Sequence[bytes]) -> list[bytes]:
    """key, digest, key, digest ... (a digest list shorter than the keys is an error)."""
    if len(keys) != len(digests):
        raise MigrationError(f"{len(digests)} digests for {len(keys)} keys")
    return [a for pair in zip(keys, digests, strict=True) for a in pair]


def _asked(commands: Sequence[Command], asking: bool) -> list[Command]:
    """Each command preceded by ASKING when ``asking`` (replies: take every second one)."""
    if not asking:
        return list(commands)
    return [c for command in commands for c in (("ASKING",), command)]


@functools.cache
def _slot_tags() -> dict[int, bytes]:
    """A short hash tag for every slot (CRC16/XMODEM mod 16384, Redis's key hash)."""
    tags: dict[int, bytes] = {}
    i = 0
    while len(tags) < 16384:
        tag = str(i).encode()
        tags.setdefault(binascii.crc_hqx(tag, 0) % 16384, tag)
        i += 1
    return tags


def slot_tag(slot: int) -> bytes:
    """``{tag}``: a key starting with it hashes to ``slot``."""
    return b"{" + _slot_tags()[slot] + b"}"


async def _gather_all(coroutines: Sequence) -> None:
    """Run all; on the first failure let the others finish their group, then re-raise."""
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
