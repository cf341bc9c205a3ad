"""Carrying out consecutive :class:`MoveSlots` steps: concurrent, journaled, watched.

Before moving, the cluster must be healthy and agree (no open slot, no master down, every
node ``cluster_state:ok`` with the same slot map): ``redis-cli --cluster rebalance`` right
after ``add-node`` fails with ``Unknown node``/``CLUSTERDOWN`` for want of exactly this.

Each move goes group by group (``ReshardSettings.slots_per_group``) through
:meth:`Resharder.move_group`; each group is written to the journal of moves in progress
before its slots open and removed once the target owns them. A watchdog counts the keys
left on the source in the slots in flight: a progress line at least every 10 s, and when no
key moved for the stall time (``--stall-timeout``, else ``$LLM_ANALYTICS_STALL_TIMEOUT``, else
the provider's ``stall_timeout``) the move stops, names the stuck slots and why, and
fails (the slots stay open; the next plan settles them).

A rate limit in the moves' payloads (``redis.cluster.moveRate``, ``--redis-move-rate``) paces
every batch of keys through one token bucket shared by all the moves of the apply
(:mod:`.pacing`). Once every move succeeded, the rate they achieved is recorded in the
cluster for the next plan's ETA (not when the limit held them back).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from msgspec import Struct, field, structs

from reconciler.engine.payloads import parse_payload
from reconciler.engine.plan import Change
from reconciler.errors import ApplyFailed
from reconciler.providers.redis.applying import Applier, together
from reconciler.providers.redis.journal import JournalUnavailable
from reconciler.providers.redis.pacing import (
    HELD_BACK_SHARE,
    TokenBucket,
    batch_keys,
    measured,
)
from reconciler.providers.redis.resharding import Resharder
from reconciler.providers.redis.state import ClusterObservation, format_ranges
from reconciler.providers.redis.steps import MoveSlots
from reconciler.providers.redis.transports import CommandError, NodeUnreachable
from reconciler.providers.redis.waiting import Pending, poll
from reconciler.spec.units import MoveRate, approximate_size, parse_move_rate

PROGRESS_EVERY = 10.0
WATCH_INTERVAL = 2.0


class _Progress(Struct):
    total: int
    slots: int = 0
    keys: int = 0
    identical: int = 0
    in_flight: dict[int, list[int]] = field(default_factory=dict)  # group index -> slots
    remaining: int | None = None  # keys left on the source in the slots in flight
    changed_at: float = field(default_factory=time.monotonic)
    limit: MoveRate | None = None

    def line(self) -> str:
        flying = sorted(s for group in self.in_flight.values() for s in group)
        detail = f"; in flight: slots {format_ranges(flying)}" if flying else ""
        if flying and self.remaining is not None:
            detail += f" ({self.remaining:,} keys left there)"
        if self.limit is not None:
            detail += f"; limited to {self.limit} for all moves"
        return f"{self.slots}/{self.total} slots, {self.keys:,} keys{detail}"


def rate_limit(batch: list[Change]) -> MoveRate | None:
    """The rate limit the moves were planned with (the lowest, should they differ)."""
    limits: list[MoveRate] = []
    for change in batch:
        text = parse_payload(change, MoveSlots).rate_limit
        if text:
            limits.append(parse_move_rate(text))  # validated with the payload
    if not limits:
        return None
    unit = "keys" if any(limit.unit == "keys" for limit in limits) else "bytes"
    return min((lim for lim in limits if lim.unit == unit), key=lambda lim: lim.per_second)


def _bytes_per_key(change: Change) -> float | None:
    """Mean bytes per key of the move, from the plan's sampled impact."""
    keys, moved = change.impact.get("keys_to_move"), change.impact.get("bytes_to_move")
    if isinstance(keys, int | float) and isinstance(moved, int | float) and keys > 0:
        return float(moved) / float(keys)
    return None


class MoveRunner:
    def __init__(self, applier: Applier) -> None:
        self.applier = applier
        self.provider = applier.provider
        self.limit: MoveRate | None = None
        self.bucket: TokenBucket | None = None
        self.moved: list[tuple[int, float, float | None]] = []  # keys, seconds, bytes/key

    async def run(self, batch: list[Change]) -> dict[str, str]:
        self.limit = rate_limit(batch)
        observation = await self._preflight(batch)
        if self.limit is not None:
            self.bucket = TokenBucket(self.limit.per_second)
        outcomes = await together(
            batch,
            lambda change: self.move(change, observation),
            limit=self.provider.reshard.parallel_moves,
            what="slot move",
        )
        await self.provider.wait_converged()
        await prune_journal(self.applier)
        await self._record_rate()
        return outcomes

    async def _record_rate(self) -> None:
        """Keep the rate these moves achieved in the cluster for the next plan (best effort:
        without it plans estimate with the documented default)."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        busy = sum(seconds for _, seconds, _ in self.moved)
        waited = self.bucket.waited if self.bucket is not None else 0.0
        rate = measured(self.moved, now, held_back=waited > HELD_BACK_SHARE * busy)
        if rate is not None:
            with contextlib.suppress(JournalUnavailable, NodeUnreachable, CommandError):
                await self.provider.journal.record_rate(rate)

    async def _preflight(self, batch: list[Change]) -> ClusterObservation:
        observation = await self.applier.refresh()
        if observation.open_slots():
            raise ApplyFailed(
                "slots are open: " + ", ".join(str(o.slot) for o in observation.open_slots()[:10]),
                hint="plan again: open slots are repaired first",
            )
        down = [
            n.address
            for n in observation.known_nodes().values()
            if n.is_master and n.slots and (n.failed or n.possibly_failed)
        ]
        if down:
            raise ApplyFailed("masters are down: " + ", ".join(down))
        for change in batch:
            self.applier.say(change, "waiting until all nodes agree")
        observation = await self.provider.wait_converged(
            report=lambda m: self.applier.say(batch[0], m)
        )
        await self.applier.refresh()
        targets = {parse_payload(c, MoveSlots).target.node_id for c in batch}
        await self._replicas_synced(batch[0], observation, targets)
        return observation

    async def _replicas_synced(
        self, change: Change, observation: ClusterObservation, targets: set[str]
    ) -> None:
        """The targets' replicas hold a synced copy before keys arrive: MIGRATE deletes the
        source's copy, so a target that crashes with an unsynced replica loses them."""
        replicas = [
            v
            for v in observation.members
            if v.myself.is_replica
            and v.myself.master_id in targets
            and v.node_id in self.applier.endpoints
        ]

        async def synced() -> bool | Pending:
            behind = []
            for view in replicas:
                info = await self.applier.exec(view.node_id, "INFO", "replication")
                text = info.decode(errors="replace") if isinstance(info, bytes) else str(info)
                if "master_link_status:up" not in text or "master_sync_in_progress:1" in text:
                    behind.append(view.endpoint_id)
            return True if not behind else Pending("not yet in sync: " + ", ".join(behind))

        if replicas:
            self.applier.say(change, "waiting until the target masters' replicas are in sync")
            await poll(
                synced,
                what="the target masters' replicas are in sync",
                timeout=self.provider.converge_timeout,
                interval=0.25,
                report=lambda m: self.applier.say(change, m),
            )

    async def move(self, change: Change, observation: ClusterObservation) -> str:
        step = parse_payload(change, MoveSlots)
        source, target = step.source.node_id, step.target.node_id
        owners = observation.slot_owners()
        slots = [s for s in step.slot_list() if owners.get(s) == source]  # resume-safe
        settings = self.provider.reshard
        per_key = _bytes_per_key(change)
        resharder = Resharder(
            self.applier.transport, self.applier.endpoints, self.applier.masters(), settings
        )
        if self.limit is not None and self.bucket is not None:
            if per_key is None and self.limit.unit == "bytes":
                per_key = await self._sampled_bytes_per_key(step, slots)
            settings = structs.replace(
                settings, batch_keys=batch_keys(self.limit, per_key, settings.batch_keys)
            )
            resharder.settings = settings
            resharder.pace = self._pacer(self.bucket, self.limit, per_key)
        progress = _Progress(total=len(slots), limit=self.limit)
        size = settings.slots_per_group
        groups = [slots[i : i + size] for i in range(0, len(slots), size)]
        gate = asyncio.Semaphore(settings.parallel_groups)
        journal = self.provider.journal

        async def run(index: int, group: list[int]) -> None:
            async with gate:
                try:
                    await journal.record(group, source, target)
                except (JournalUnavailable, NodeUnreachable) as problem:
                    raise ApplyFailed(
                        f"cannot record slots {format_ranges(group)} in the journal of moves "
                        f"in progress ({problem}); they were not moved"
                    ) from None
                progress.in_flight[index] = group
                moved = await resharder.move_group(source, target, group)
                del progress.in_flight[index]
                progress.slots += len(group)
                progress.keys += moved.keys
                progress.identical += moved.replaced_identical
                progress.changed_at = time.monotonic()
                with contextlib.suppress(JournalUnavailable, NodeUnreachable, CommandError):
                    await journal.clear(group)
                self.applier.say(change, progress.line())

        started = time.monotonic()
        work = asyncio.ensure_future(_gather_all([run(i, g) for i, g in enumerate(groups)]))
        await self._watch(change, step, work, progress, resharder)
        closed = await resharder.close_on_replicas(
            [source, target], slots, timeout=self.provider.converge_timeout
        )
        if closed:
            self.applier.say(change, "closed slots left open on replica " + ", ".join(closed))
        seconds = time.monotonic() - started
        self.moved.append((progress.keys, seconds, per_key))
        rate = progress.keys / seconds if seconds else 0.0
        speed = f"{rate:,.0f} keys/s"
        if per_key is not None:
            speed += f", ~{approximate_size(rate * per_key)}/s"
        if self.limit is not None:
            speed += f"; limited to {self.limit} for all moves"
        return f"moved {progress.slots} slots, {progress.keys} keys in {seconds:.1f}s ({speed})" + (
            f", {progress.identical} identical duplicates resolved" if progress.identical else ""
        )

    @staticmethod
    def _pacer(
        bucket: TokenBucket, limit: MoveRate, per_key: float | None
    ) -> Callable[[int], Awaitable[None]]:
        """Each batch of keys takes its share of the apply's limit (bytes: sampled size)."""
        weight = 1.0 if limit.unit == "keys" else max(per_key or 1.0, 1.0)

        async def pace(keys: int) -> None:
            await bucket.take(keys * weight)

        return pace

    async def _sampled_bytes_per_key(self, step: MoveSlots, slots: list[int]) -> float | None:
        """Mean ``MEMORY USAGE`` of a sample of the moving keys (a byte limit needs it)."""
        from reconciler.providers.redis.sizing import bytes_per_key

        try:
            endpoint = self.applier.endpoint(step.source.node_id)
            return await bytes_per_key(self.applier.transport, endpoint, slots)
        except (NodeUnreachable, CommandError, ApplyFailed):
            return None

    async def _watch(
        self,
        change: Change,
        step: MoveSlots,
        work: asyncio.Future[None],
        progress: _Progress,
        resharder: Resharder,
    ) -> None:
        """Report progress at least every 10 s; stop a move that moves nothing for too long."""
        stall = self.applier.options.stall_seconds(self.provider.stall_timeout)
        last_line = time.monotonic()
        try:
            while True:
                done, _ = await asyncio.wait({work}, timeout=min(WATCH_INTERVAL, stall))
                if done:
                    work.result()
                    return
                await self._measure(step, progress)
                now = time.monotonic()
                if now - last_line >= PROGRESS_EVERY:
                    last_line = now
                    self.applier.say(change, progress.line())
                if now - progress.changed_at >= stall:
                    reason = await self._why_stuck(step)
                    work.cancel()
                    with contextlib.suppress(BaseException):
                        await work
                    flying = sorted(s for g in progress.in_flight.values() for s in g)
                    raise ApplyFailed(
                        f"slot move {step.source.address} -> {step.target.address} made no "
                        f"progress for {stall:.0f}s: slots {format_ranges(flying)} are stuck "
                        f"({reason}); {progress.slots}/{progress.total} slots moved",
                        hint="the stuck slots stay open and are recorded in the journal; fix "
                        "the cause, then plan and apply again to settle them and go on",
                    )
        finally:
            if not work.done():
                work.cancel()

    async def _measure(self, step: MoveSlots, progress: _Progress) -> None:
        """Keys left on the source in the slots in flight; a decrease is progress."""
        flying = [s for g in progress.in_flight.values() for s in g]
        if not flying:
            return
        try:
            replies = await self.applier.transport.pipeline(
                self.applier.endpoint(step.source.node_id),
                [("CLUSTER", "COUNTKEYSINSLOT", s) for s in flying],
            )
        except (NodeUnreachable, CommandError, ApplyFailed):
            return  # no measurement is no progress
        left = sum(r for r in replies if isinstance(r, int))
        if progress.remaining is None or left < progress.remaining:
            progress.changed_at = time.monotonic()
        progress.remaining = left

    async def _why_stuck(self, step: MoveSlots) -> str:
        for ref in (step.target, step.source):
            endpoint = self.applier.endpoints.get(ref.node_id)
            if endpoint is None:
                return f"{ref.address} is not reachable"
            try:
                await asyncio.wait_for(self.applier.transport.execute(endpoint, "PING"), 5)
            except (NodeUnreachable, CommandError, TimeoutError) as problem:
                return f"{ref.address} does not answer ({problem})"
        return (
            f"both {step.source.address} and {step.target.address} answer, but MIGRATE moves "
            "no key (a blocked or overloaded node?)"
        )


async def prune_journal(applier: Applier) -> None:
    """Drop journal entries of slots open nowhere (moves that finished; under the lock no
    other move runs). Best effort: a stale entry only makes the next plan look closer."""
    with contextlib.suppress(JournalUnavailable, NodeUnreachable, CommandError):
        entries = await applier.provider.journal.read()
        if entries:
            observation = await applier.refresh()
            still_open = {o.slot for o in observation.open_slots()}
            await applier.provider.journal.clear([s for s in entries if s not in still_open])


async def _gather_all(coroutines: list) -> None:
    """Run all; on the first failure let the others finish their group, then re-raise."""
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
