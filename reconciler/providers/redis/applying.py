"""Carrying out Redis changes: each change's typed step, matched on its type.

Nodes are addressed by node id against freshly discovered endpoints (an IP changes when a
pod restarts; an id does not). Consecutive slot moves run concurrently
(:class:`.moving.MoveRunner`), and so do consecutive joins (a replica's sync starts while
its new master is still joining); every other change runs alone, in plan order. Waits are
bounded (:mod:`.waiting`) and never wait for a node that cannot answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from reconciler.engine.payloads import parse_payload
from reconciler.engine.plan import Change
from reconciler.engine.providers import ApplyOptions, ChangeResult, ResultStatus
from reconciler.errors import ApplyFailed, ConnectionFailure, PlanRefused
from reconciler.providers.redis.auth import check_replication_auth
from reconciler.providers.redis.state import ClusterObservation, NodeView
from reconciler.providers.redis.steps import (
    AnyStep,
    AssignSlots,
    CreateCluster,
    ForgetNode,
    JoinNode,
    MoveSlots,
    PromoteReplica,
    RedisStep,
    ReintroduceNode,
    RemoveNode,
    ReplicateNode,
    SettleSlots,
)
from reconciler.providers.redis.syncing import FirstSyncs, in_sync
from reconciler.providers.redis.transports import (
    Arg,
    CommandError,
    NodeEndpoint,
    NodeUnreachable,
    Reply,
)
from reconciler.providers.redis.waiting import Pending, poll, wait_until

if TYPE_CHECKING:
    from reconciler.providers.redis.provider import RedisClusterProvider


async def apply_changes(
    provider: RedisClusterProvider, changes: Sequence[Change], options: ApplyOptions
) -> list[ChangeResult]:
    """Run ``changes`` in order; after a failure the rest are skipped (unless told to go on)."""
    applier = Applier(provider, options)
    results: list[ChangeResult] = []
    failed = False
    for batch in _batches(changes):
        if failed and not options.continue_on_error:
            results += [
                ChangeResult(c.address, ResultStatus.SKIPPED, "skipped after an earlier failure")
                for c in batch
            ]
            continue
        batch_results = await applier.run(batch)
        results += batch_results
        failed = failed or any(r.status is ResultStatus.FAILED for r in batch_results)
    if results and not failed:
        from reconciler.providers.redis.moving import prune_journal

        await prune_journal(applier)  # entries of moves a repair finished without a settle
    return results


# Kinds of step whose consecutive changes run concurrently, as one batch.
_CONCURRENT_KINDS = frozenset({"move_slots", "join"})


def _batches(changes: Sequence[Change]) -> list[list[Change]]:
    """Consecutive slot moves form one batch, and so do consecutive joins (each batch runs
    concurrently); other changes run alone."""
    batches: list[list[Change]] = []
    for change in changes:
        kind = change.payload.get("kind")
        if kind in _CONCURRENT_KINDS and batches and batches[-1][0].payload.get("kind") == kind:
            batches[-1].append(change)
        else:
            batches.append([change])
    return batches


class StepsFailed(ApplyFailed):
    """Some changes of a concurrent batch failed; each keeps its own outcome or error."""

    def __init__(self, failures: dict[str, str], outcomes: dict[str, str]) -> None:
        super().__init__("; ".join(f"{a}: {m}" for a, m in failures.items()))
        self.failures = failures
        self.outcomes = outcomes


def _message(problem: BaseException, what: str) -> str:
    if isinstance(problem, ApplyFailed | ConnectionFailure | CommandError):
        return problem.message
    return f"{what} failed: {problem}"


async def together(
    batch: Sequence[Change],
    step: Callable[[Change], Awaitable[str]],
    *,
    limit: int | None = None,
    what: str = "the step",
) -> dict[str, str]:
    """Run ``step`` for every change of ``batch`` at once (at most ``limit`` at a time);
    address -> outcome, or :class:`StepsFailed` naming what failed and what was done."""
    gate = asyncio.Semaphore(limit or len(batch) or 1)
    outcomes: dict[str, str] = {}

    async def one(change: Change) -> None:
        async with gate:
            outcomes[change.address] = await step(change)

    results = await asyncio.gather(*(one(c) for c in batch), return_exceptions=True)
    failures = {
        change.address: _message(result, what)
        for change, result in zip(batch, results, strict=True)
        if isinstance(result, BaseException)
    }
    if failures:
        raise StepsFailed(failures, outcomes)
    return outcomes


class Applier:
    """Carries out typed steps against freshly discovered endpoints."""

    def __init__(self, provider: RedisClusterProvider, options: ApplyOptions) -> None:
        self.provider = provider
        self.transport = provider.transport
        self.options = options
        self.endpoints: dict[str, NodeEndpoint] = {}  # node id -> endpoint
        self.observation: ClusterObservation | None = None
        self.first_syncs = FirstSyncs(self.exec)

    # ------------------------------------------------------------------ plumbing

    async def refresh(self) -> ClusterObservation:
        observation = await self.provider.observe()
        self.endpoints = await self.provider.endpoints_by_node(observation)
        self.observation = observation
        return observation

    def endpoint(self, node_id: str) -> NodeEndpoint:
        try:
            return self.endpoints[node_id]
        except KeyError:
            raise ApplyFailed(
                f"node {node_id[:12]} is not reachable now",
                hint="the cluster changed since the plan; plan again",
            ) from None

    async def exec(self, node_id: str, *args: Arg) -> Reply:
        return await self.transport.execute(self.endpoint(node_id), *args)

    async def view(self, node_id: str) -> NodeView:
        return await self.provider._read(self.endpoint(node_id))

    def members(self) -> list[str]:
        """Reachable cluster members (not bare), by node id."""
        assert self.observation is not None
        return [v.node_id for v in self.observation.members if v.node_id in self.endpoints]

    def masters(self) -> list[str]:
        assert self.observation is not None
        return [
            v.node_id
            for v in self.observation.members
            if v.myself.is_master and v.node_id in self.endpoints
        ]

    async def wait(self, what: str, predicate, timeout: float | None = None) -> None:
        await wait_until(what, predicate, timeout=timeout or self.provider.converge_timeout)

    async def knows(self, node_id: str, other: str) -> bool:
        view = await self.view(node_id)
        return any(n.id == other and not n.in_handshake and n.ip for n in view.nodes)

    def say(self, change: Change, message: str) -> None:
        self.options.progress.advanced(change, message)

    # ------------------------------------------------------------------ running

    async def run(self, batch: list[Change]) -> list[ChangeResult]:
        progress = self.options.progress
        for change in batch:
            progress.started(change)
        started = time.monotonic()
        try:
            if batch[0].payload.get("kind") == "move_slots":
                from reconciler.providers.redis.moving import MoveRunner

                outcomes = await MoveRunner(self).run(batch)
            else:
                await self.refresh()
                await self._still_bare(batch)  # before any of them meets another
                outcomes = await together(batch, self.carry_out)
        except (ApplyFailed, ConnectionFailure, CommandError, PlanRefused) as problem:
            message = str(problem.message if hasattr(problem, "message") else problem)
            failures: dict[str, str] = getattr(problem, "failures", {})
            done: dict[str, str] = getattr(problem, "outcomes", {})
            seconds = time.monotonic() - started
            results = [
                ChangeResult(c.address, ResultStatus.APPLIED, done[c.address], seconds)
                if c.address in done
                else ChangeResult(
                    c.address, ResultStatus.FAILED, failures.get(c.address, message), seconds
                )
                for c in batch
            ]
        else:
            results = [
                ChangeResult(
                    c.address,
                    ResultStatus.APPLIED,
                    outcomes.get(c.address, ""),
                    time.monotonic() - started,
                )
                for c in batch
            ]
        for result in results:
            progress.finished(result)
        return results

    async def carry_out(self, change: Change) -> str:
        """One change's step, dispatched on its type; returns a one-line outcome."""
        step: AnyStep = parse_payload(change, RedisStep)
        match step:
            case CreateCluster():
                await self.create(change, step)
            case JoinNode():
                await self.join(change, step)
            case ReintroduceNode():
                await self.reintroduce(change, step)
            case ReplicateNode():
                await self.replicate(step.node.node_id, step.master.node_id)
            case PromoteReplica():
                await self.promote(change, step)
            case ForgetNode():
                await self.forget(step.node.node_id)
            case RemoveNode():
                await self.remove(step)
            case AssignSlots():
                await self.assign(step)
            case SettleSlots():
                from reconciler.providers.redis.settling import Settler

                return await Settler(self, change).run(step)
            case MoveSlots():
                from reconciler.providers.redis.moving import MoveRunner

                return (await MoveRunner(self).run([change]))[change.address]
        return ""

    # ------------------------------------------------------------------ create and join

    async def create(self, change: Change, step: CreateCluster) -> None:
        everyone = step.members
        for member in everyone:
            view = await self.view(member.node_id)
            if not view.is_bare or view.dbsize:
                raise ApplyFailed(f"{member.address} is no longer a bare empty node; plan again")
        for replica in step.replicas:  # before any slot is assigned: refuse, do not half-create
            await check_replication_auth(
                self.transport,
                self.endpoint(replica.node.node_id),
                self.endpoint(replica.master.node_id),
            )
        for master in step.masters:
            await self._add_slots(master.node.node_id, master.slots)
        for epoch, member in enumerate(everyone, start=1):
            # Distinct config epochs avoid the collision-resolution dance at start-up.
            with contextlib.suppress(CommandError):
                await self.exec(member.node_id, "CLUSTER", "SET-CONFIG-EPOCH", epoch)
        first = step.masters[0].node
        for member in everyone[1:]:
            ip, _, port = member.address.rpartition(":")
            await self.exec(first.node_id, "CLUSTER", "MEET", ip, int(port))
        ids = {m.node_id for m in everyone}
        self.say(change, "waiting for every node to know every other")

        async def all_know() -> bool:
            for node in ids:
                view = await self.view(node)
                known = {n.id for n in view.nodes if not n.in_handshake and (n.ip or n.myself)}
                if not ids <= known:
                    return False
            return True

        await self.wait("all nodes know each other", all_know)
        for replica in step.replicas:
            await self.replicate(replica.node.node_id, replica.master.node_id)
        self.say(change, "waiting for cluster_state:ok on every node")
        await self.provider.wait_converged(report=lambda m: self.say(change, m))

    async def _add_slots(self, node_id: str, ranges: Sequence[Sequence[int]]) -> None:
        for start, end in ranges:
            try:
                await self.exec(node_id, "CLUSTER", "ADDSLOTSRANGE", start, end)
            except CommandError as problem:
                if "unknown subcommand" not in problem.message.lower():
                    raise
                await self.exec(node_id, "CLUSTER", "ADDSLOTS", *range(start, end + 1))

    async def replicate(self, node_id: str, master_id: str) -> None:
        await self.wait(
            f"{node_id[:12]} knows master {master_id[:12]}", lambda: self.knows(node_id, master_id)
        )
        view = await self.view(node_id)
        if view.myself.is_replica and view.myself.master_id == master_id:
            return
        if view.myself.is_master and view.myself.slots:
            raise ApplyFailed(f"{view.address} serves slots and cannot become a replica")
        # A replica that cannot log in to its master would never sync: refuse, say what to set.
        await check_replication_auth(
            self.transport, self.endpoint(node_id), self.endpoint(master_id)
        )
        master = await self.view(master_id)
        if master.myself.slots or master.dbsize:
            await self._replicate(node_id, master_id, view.address)
            return
        async with self.first_syncs.prompt(master_id) as prompt:
            await self._replicate(node_id, master_id, view.address)
            if prompt:  # the delay is set back once the sync it cut short is done
                await self.wait(
                    f"{view.address} in sync with {master.address}",
                    lambda: in_sync(self.exec, node_id),
                )

    async def _replicate(self, node_id: str, master_id: str, address: str) -> None:
        await self.exec(node_id, "CLUSTER", "REPLICATE", master_id)

        async def settled() -> bool:
            me = (await self.view(node_id)).myself
            return me.is_replica and me.master_id == master_id

        await self.wait(f"{address} replicates {master_id[:12]}", settled)

    def _introducer(self, node_id: str) -> str:
        introducer = next((m for m in self.members() if m != node_id), None)
        if introducer is None:
            raise ApplyFailed("no live cluster member to introduce the node")
        return introducer

    async def _meet(
        self, change: Change, node_id: str, address: str, *, also: Sequence[str] = ()
    ) -> None:
        """The introducer and every other reachable member (and ``also``) meet the node at
        once: each learns it first-hand, and the node learns every slot owner from their own
        messages instead of waiting for gossip to relay them (seconds, in a large cluster).
        After many pods restarted at once, the members could not even gossip a new address
        to each other (they only know each other's old IPs)."""
        introducer = self._introducer(node_id)
        ip, _, port = address.rpartition(":")
        await self.exec(introducer, "CLUSTER", "MEET", ip, int(port))
        others = [m for m in [*self.members(), *also] if m not in (node_id, introducer)]

        async def meet(member: str) -> None:
            with contextlib.suppress(CommandError, NodeUnreachable, ApplyFailed):
                await self.exec(member, "CLUSTER", "MEET", ip, int(port))

        await asyncio.gather(*(meet(m) for m in others))
        self.say(change, f"waiting until {address} is known")
        await self.wait(
            f"{address} is known to {introducer[:12]}", lambda: self.knows(introducer, node_id)
        )
        await self.wait(f"{address} knows the cluster", lambda: self.knows(node_id, introducer))
        # Once the node knows a member, a MEET from it carries its slots, so the node learns
        # every owner now instead of from their next pings (about a second, measured). Only
        # a master's message assigns slots: the masters meet it again, not the replicas.
        owners = [m for m in self.masters() if m != node_id]
        await asyncio.gather(*(meet(m) for m in owners))

    async def _sees_slot_map(self, change: Change, node_id: str, address: str) -> None:
        introducer = self._introducer(node_id)
        self.say(change, f"waiting until {address} sees the slot map its introducer sees")
        await self.wait(
            f"{address} sees the cluster as {introducer[:12]} does",
            lambda: self.sees_alike(node_id, introducer),
        )

    async def sees_alike(self, node_id: str, other: str) -> bool | Pending:
        """A node that has just met the cluster reports ``cluster_state:fail`` until gossip
        has named every slot's owner (``redis-cli --cluster add-node`` waits for the join
        too): wait until it names the owners ``other`` names, of the slots of live owners
        (a dead master never tells a newcomer its slots), and is ok when ``other`` is."""
        mine, theirs = await self.view(node_id), await self.view(other)
        live = {n.id for n in theirs.nodes if not (n.failed or n.possibly_failed)}
        have = mine.slot_map()
        if any(have.get(s) != o for s, o in theirs.slot_map().items() if o in live):
            return Pending(f"{mine.address} has not learnt every slot's owner yet")
        if theirs.info.state == "ok" and mine.info.state != "ok":
            return Pending(f"{mine.address} reports cluster_state:{mine.info.state}")
        return True

    async def _still_bare(self, batch: Sequence[Change]) -> None:
        """The nodes a batch of joins adds are still bare and empty, as when planned."""
        for change in batch:
            step = parse_payload(change, RedisStep)
            if isinstance(step, JoinNode):
                view = await self.view(step.node.node_id)
                if not view.is_bare or view.dbsize:
                    raise ApplyFailed(
                        f"{step.node.address} is no longer a bare empty node; plan again"
                    )

    async def join(self, change: Change, step: JoinNode) -> None:
        node_id = step.node.node_id
        # A new master may be joining alongside: it meets the replica too, so that the
        # replica's sync need not wait for that master's join to spread by gossip.
        also = [step.master.node_id] if step.master is not None else []
        await self._meet(change, node_id, step.node.address, also=also)
        if step.master is not None:  # first: the sync it starts is what takes longest
            await self.replicate(node_id, step.master.node_id)
        await self._sees_slot_map(change, node_id, step.node.address)

    async def reintroduce(self, change: Change, step: ReintroduceNode) -> None:
        node_id = step.node.node_id
        await self._meet(change, node_id, step.node.address)
        await self._sees_slot_map(change, node_id, step.node.address)

    # ------------------------------------------------------------------ repairs and removal

    async def promote(self, change: Change, step: PromoteReplica) -> None:
        """The replica takes over its failed master's slots (no vote needed)."""
        node_id = step.node.node_id
        me = (await self.view(node_id)).myself
        if not me.is_master:
            await self.exec(node_id, "CLUSTER", "FAILOVER", "TAKEOVER")
        self.say(change, f"waiting until {step.node.address} serves the failed master's slots")
        wanted = {s for a, b in step.slots for s in range(a, b + 1)}

        async def took_over() -> bool:
            mine = (await self.view(node_id)).myself
            return mine.is_master and wanted <= mine.slot_set()

        await self.wait(f"{step.node.address} took over", took_over)

    async def forget(self, dead: str) -> None:
        problems = []
        for node_id in self.members():
            if node_id == dead:
                continue
            try:
                await self.exec(node_id, "CLUSTER", "FORGET", dead)
            except CommandError as problem:
                if "Unknown node" in problem.message:
                    continue
                problems.append(f"{self.endpoints[node_id].address}: {problem.message}")
            except NodeUnreachable:
                continue  # it dies too: nothing to forget there
        if problems:
            raise ApplyFailed("CLUSTER FORGET failed on " + "; ".join(problems))

    async def remove(self, step: RemoveNode) -> None:
        node_id = step.node.node_id
        view = await self.view(node_id)
        me = view.myself
        if me.slots:
            raise ApplyFailed(
                f"{step.node.address} still serves {me.slot_count} slots; refusing "
                "to remove it (its slots must move first)"
            )
        if me.is_master and view.dbsize:
            raise ApplyFailed(
                f"{step.node.address} still holds {view.dbsize} keys; refusing to remove it"
            )

        async def orphaned() -> bool:
            observation = await self.refresh()
            return not any(
                v.myself.is_replica and v.myself.master_id == node_id for v in observation.members
            )

        # Replicas follow a master that lost its slots; give them a moment to move on.
        await self.wait(f"replicas of {step.node.address} move to another master", orphaned, 20)
        await self.forget(node_id)
        await self.exec(node_id, "CLUSTER", "RESET", "HARD")

    async def assign(self, step: AssignSlots) -> None:
        observation = self.observation
        assert observation is not None
        owners = observation.slot_owners()
        for start, end in step.slots:
            free = [s for s in range(start, end + 1) if s not in owners]
            if free:
                await self.exec(step.node.node_id, "CLUSTER", "ADDSLOTS", *free)
        await self.provider.wait_converged(need_ok=False)


async def poll_owner(
    applier: Applier, slots: Sequence[int], owner: str, *, what: str, timeout: float
) -> None:
    """Wait until every reachable master names ``owner`` for ``slots`` and none has them
    open (nodes that do not answer are not waited for)."""
    wanted = set(slots)

    async def agreed() -> bool | Pending:
        observation = await applier.refresh()
        behind = []
        for view in observation.members:
            if not view.myself.is_master:
                continue
            owners = view.slot_map()
            me = view.myself
            open_here = {s for s, _ in me.migrating} | {s for s, _ in me.importing}
            if any(owners.get(s) != owner for s in wanted) or wanted & open_here:
                behind.append(view.endpoint_id)
        return True if not behind else Pending("not yet on " + ", ".join(behind))

    await poll(agreed, what=what, timeout=timeout, interval=0.25)
