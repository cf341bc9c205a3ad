"""Carrying out a :class:`SettleSlots` step: every troubled slot ends with its one owner.

On the nodes that answer, in three phases over all groups of slots:

1. **claim**: the owner closes the slots and claims those it does not own yet (via
   ``SETSLOT IMPORTING``, so its ``SETSLOT NODE`` bumps its config epoch and its claim wins
   over a dead node's); every other reachable master is told; masters holding keys of slots
   they do not own learn the owner (so they serve queries and can MIGRATE). A slot that a
   drained master still claims is claimed only after its keys left (a newer claim makes the
   old owner delete its keys: Redis drops "dirty" slots);
2. a bounded wait until the masters giving and taking keys serve queries (a master that was
   in the minority waits out its rejoin delay);
3. **keys**: each drained master's keys that also exist on the owner are resolved
   explicitly (identical: the non-owner's copy is deleted; different: the plan's preferred
   copy is kept, else the repair stops and names the key), the rest are migrated; then
   ``SETSLOT STABLE`` / ``SETSLOT NODE owner`` there.

Then the journal entries of the slots are removed and a bounded wait follows until every
reachable master names the owner. A node that does not answer is never waited for.
"""

from __future__ import annotations

import contextlib

from msgspec import Struct

from reconciler.engine.plan import Change
from reconciler.errors import ApplyFailed
from reconciler.providers.redis.applying import Applier, poll_owner
from reconciler.providers.redis.journal import JournalUnavailable
from reconciler.providers.redis.resharding import MigrationConflict, Resharder
from reconciler.providers.redis.state import expand_ranges, format_ranges
from reconciler.providers.redis.steps import SettleSlots, SlotSettlement
from reconciler.providers.redis.transports import Command, CommandError, NodeUnreachable
from reconciler.providers.redis.waiting import Pending, poll


class SettleStats(Struct):
    slots: int = 0
    keys_moved: int = 0
    identical: int = 0
    preferred: int = 0


class Settler:
    def __init__(self, applier: Applier, change: Change) -> None:
        self.applier = applier
        self.change = change
        self.transport = applier.transport
        self.stats = SettleStats()
        # (owner, first slot of the group) -> slots a drained master still claims
        self.contested: dict[tuple[str, int], list[int]] = {}

    async def run(self, step: SettleSlots) -> str:
        provider = self.applier.provider
        await self.applier.refresh()
        for group in step.groups:
            await self.claim(group)
        await self.owners_ready(
            {n for g in step.groups if g.drain for n in [g.owner.node_id, *self._reachable(g)[0]]}
        )
        for group in step.groups:
            await self.bring_keys(group)
        every = [s for g in step.groups for s in expand_ranges(g.slots)]
        with contextlib.suppress(JournalUnavailable, NodeUnreachable, CommandError):
            await self.applier.provider.journal.clear(every)
        for group in step.groups:
            await poll_owner(
                self.applier,
                expand_ranges(group.slots),
                group.owner.node_id,
                what=f"every reachable master names {group.owner.address} the owner of "
                f"{len(expand_ranges(group.slots))} settled slot(s)",
                timeout=self.applier.provider.converge_timeout,
            )
        closed = await Resharder(
            self.transport, self.applier.endpoints, self.applier.masters(), provider.reshard
        ).close_on_replicas(self.applier.masters(), every, timeout=provider.converge_timeout)
        if closed:
            self.applier.say(self.change, "closed on replica " + ", ".join(closed))
        from reconciler.providers.redis.moving import prune_journal

        await prune_journal(self.applier)
        s = self.stats
        return (
            f"settled {s.slots} slot(s); {s.keys_moved} key(s) moved to their owner; "
            f"duplicates: {s.identical} identical copies dropped, {s.preferred} resolved by "
            "the plan's preference"
        )

    # ------------------------------------------------------------------ phases

    def _reachable(self, group: SlotSettlement) -> tuple[list[str], set[str]]:
        """(masters to drain, nodes where the slots are open or drained), reachable ones."""
        endpoints = self.applier.endpoints
        drained = [n.node_id for n in group.drain if n.node_id in endpoints]
        involved = {n.node_id for n in group.open_on if n.node_id in endpoints} | set(drained)
        return drained, involved

    async def claim(self, group: SlotSettlement) -> None:
        """The owner stops migrating the slots and claims those it does not own yet (via
        IMPORTING, so its SETSLOT NODE bumps its config epoch and wins over a dead node's
        claim); the slots are closed and assigned on every node not holding their keys."""
        applier = self.applier
        slots = expand_ranges(group.slots)
        owner = group.owner.node_id
        if owner not in applier.endpoints:
            raise ApplyFailed(
                f"{group.owner.address}, chosen to own slots {format_ranges(group.slots)}, does "
                "not answer now; nothing was changed for them",
                hint="plan again",
            )
        applier.say(self.change, f"settling {len(slots)} slot(s) on {group.owner.address}")
        drained, involved = self._reachable(group)
        view = await applier.view(owner)
        mine = view.myself.slot_set()
        await self._pipe_ok(owner, [("CLUSTER", "SETSLOT", s, "STABLE") for s in slots])
        foreign = [s for s in slots if s not in mine]
        source = next(iter(drained), None) or next(
            (n.id for n in view.nodes if n.id != owner and n.is_master), None
        )
        if foreign and source is not None:
            await self._pipe_ok(
                owner, [("CLUSTER", "SETSLOT", s, "IMPORTING", source) for s in foreign]
            )
        for node in sorted(involved - {owner} - set(drained)):
            await self._pipe_ok(node, [("CLUSTER", "SETSLOT", s, "STABLE") for s in slots])
        # A slot a drained master still claims is claimed by the owner only after that
        # master's keys left: a newer claim makes the old owner delete its keys of the slot
        # (Redis drops "dirty" slots on a config update), which is how keys get lost.
        claims = {n: (await applier.view(n)).myself.slot_set() for n in drained}
        contested = {s for s in slots if any(s in c for c in claims.values())}
        self.contested[group.owner.node_id, group.slots[0][0]] = sorted(contested)
        await self._assign(owner, [s for s in slots if s not in contested], skip=set(drained))
        for node in drained:
            # A master holding keys of a slot it does not own learns the owner now (allowed
            # with keys there; its IMPORTING stays): it must not believe a dead node owns
            # them, or its cluster_state stays fail and it refuses MIGRATE.
            await self._pipe_ok(
                node,
                [("CLUSTER", "SETSLOT", s, "NODE", owner) for s in slots if s not in claims[node]],
            )
        self.stats.slots += len(slots)

    async def owners_ready(self, owners: set[str]) -> None:
        """Masters that give or take keys must serve queries (cluster_state:ok; a master that
        was in the minority waits out its rejoin delay); bounded, naming who is not ready."""

        async def ready() -> bool | Pending:
            waiting = []
            for owner in sorted(owners):
                view = await self.applier.view(owner)
                if view.info.state != "ok":
                    waiting.append(view.endpoint_id)
            return (
                True if not waiting else Pending("cluster_state is not ok on " + ", ".join(waiting))
            )

        if owners:
            await poll(
                ready,
                what="the masters giving and taking keys serve queries",
                timeout=self.applier.provider.converge_timeout,
                report=lambda m: self.applier.say(self.change, m),
            )

    async def bring_keys(self, group: SlotSettlement) -> None:
        """Keys on other masters go to the owner; then those masters close and assign."""
        slots = expand_ranges(group.slots)
        owner = group.owner.node_id
        drained, _ = self._reachable(group)
        for node in drained:
            await self._drain(node, owner, slots, group)
        contested = self.contested.get((owner, group.slots[0][0]), [])
        if contested:
            await self._assign(owner, contested, skip=set())  # the old claimants are empty now
        for node in drained:
            await self._pipe_ok(node, [("CLUSTER", "SETSLOT", s, "STABLE") for s in slots])
            await self._pipe_ok(node, [("CLUSTER", "SETSLOT", s, "NODE", owner) for s in slots])

    async def _drain(self, node: str, owner: str, slots: list[int], group: SlotSettlement) -> None:
        """Move ``node``'s keys of the slots to the owner, duplicates resolved first."""
        claimed = (await self.applier.view(node)).myself.slot_set()
        foreign = [s for s in slots if s not in claimed]
        # Importing lets ASKING reach the keys a node holds in slots it does not own.
        await self._pipe_ok(node, [("CLUSTER", "SETSLOT", s, "IMPORTING", owner) for s in foreign])
        await self._resolve_duplicates(node, owner, slots, group)
        resharder = Resharder(
            self.transport,
            self.applier.endpoints,
            self.applier.masters(),
            self.applier.provider.reshard,
        )
        moved = await resharder.drain(node, owner, foreign, asking=True)
        self.stats.keys_moved += moved.keys
        own = [s for s in slots if s in claimed]
        if own:
            moved = await resharder.drain(node, owner, own)
            self.stats.keys_moved += moved.keys

    async def _resolve_duplicates(
        self, node: str, owner: str, slots: list[int], group: SlotSettlement
    ) -> None:
        counts = await self._pipe(node, [("CLUSTER", "COUNTKEYSINSLOT", s) for s in slots])
        busy = [(s, c) for s, c in zip(slots, counts, strict=True) if isinstance(c, int) and c > 0]
        if not busy:
            return
        listed = await self._pipe(node, [("CLUSTER", "GETKEYSINSLOT", s, c) for s, c in busy])
        keys = [
            k for reply in listed if isinstance(reply, list) for k in reply if isinstance(k, bytes)
        ]
        exists = await self._asking(owner, [("EXISTS", k) for k in keys])
        both = [k for k, e in zip(keys, exists, strict=True) if e == 1]
        if not both:
            return
        mine = await self._asking(node, [("DUMP", k) for k in both])
        theirs = await self._asking(owner, [("DUMP", k) for k in both])
        drop_here: list[bytes] = []
        drop_there: list[bytes] = []
        prefer = group.prefer.node_id if group.prefer else None
        for key, a, b in zip(both, mine, theirs, strict=True):
            if a == b:
                drop_here.append(key)
                self.stats.identical += 1
            elif prefer == node:
                drop_there.append(key)
                self.stats.preferred += 1
            elif prefer == owner:
                drop_here.append(key)
                self.stats.preferred += 1
            else:
                raise MigrationConflict(
                    f"key {key.decode(errors='replace')!r} exists on both "
                    f"{self.applier.endpoints[node].address} and "
                    f"{self.applier.endpoints[owner].address} with different values, and no "
                    "interrupted move tells which copy is newer; the repair stopped. Delete "
                    "the copy that must not win, then run apply again"
                )
        if drop_here:
            await self._asking(node, [("DEL", k) for k in drop_here])
        if drop_there:
            await self._asking(owner, [("DEL", k) for k in drop_there])

    async def _assign(self, owner: str, slots: list[int], skip: set[str]) -> None:
        """SETSLOT NODE on the owner first, then on every other reachable master (but those
        in ``skip``: they still hold keys of the slots)."""
        commands: list[Command] = [("CLUSTER", "SETSLOT", s, "NODE", owner) for s in slots]
        await self._pipe_ok(owner, commands)
        for master in self.applier.masters():
            if master == owner or master in skip:
                continue
            with contextlib.suppress(NodeUnreachable):
                for reply in await self._pipe(master, commands):
                    if isinstance(reply, CommandError) and not _harmless(reply):
                        raise ApplyFailed(
                            f"SETSLOT NODE on {self.applier.endpoints[master].address}: "
                            f"{reply.message}"
                        )

    # ------------------------------------------------------------------ commands

    async def _pipe(self, node: str, commands: list[Command]) -> list[object]:
        if not commands:
            return []
        return list(await self.transport.pipeline(self.applier.endpoint(node), commands))

    async def _pipe_ok(self, node: str, commands: list[Command]) -> None:
        for reply in await self._pipe(node, commands):
            if isinstance(reply, CommandError):
                raise ApplyFailed(f"{self.applier.endpoints[node].address}: {reply.message}")

    async def _asking(self, node: str, commands: list[Command]) -> list[object]:
        """Each command prefixed with ASKING (reaches keys of a slot the node imports)."""
        paired: list[Command] = [c for command in commands for c in (("ASKING",), command)]
        replies = await self._pipe(node, paired)
        return replies[1::2]


def _harmless(reply: CommandError) -> bool:
    """SETSLOT NODE errors on other masters that gossip fixes: a master that just turned
    into a replica, or one that has not heard of the owner yet."""
    return "only with masters" in reply.message or "Unknown node" in reply.message
