"""Desired layout → the steps that reach it from the live cluster (pure, no I/O).

:func:`plan_layout` compares a :class:`ClusterObservation` with a :class:`DesiredLayout`
and returns ordered :class:`Step` objects (create, repair, meet, replicate, move slots,
remove) plus notices for what it found and deliberately left alone. The provider turns
steps into engine ``Change`` objects and carries them out.

Order of the steps: repairs (open slots, forgotten dead nodes, re-introduced nodes,
uncovered slots, orphaned replicas) → new nodes meet the cluster → replicas are attached →
slots move → surplus nodes leave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.providers.redis.placement import (
    SPREAD_HOSTS,
    Placed,
    assign_replicas,
    choose_masters,
)
from reconciler.providers.redis.state import (
    SLOT_COUNT,
    ClusterNode,
    ClusterObservation,
    NodeView,
    slot_ranges,
)

REBALANCE_THRESHOLD_PERCENT = 2.0


@dataclass(frozen=True)
class DesiredLayout:
    masters: int = 3
    replicas_per_master: int = 1
    placement: str = SPREAD_HOSTS

    @property
    def node_count(self) -> int:
        return self.masters * (1 + self.replicas_per_master)


@dataclass(frozen=True)
class Member:
    """A node as a step refers to it: id (what apply addresses), address, placement."""

    node_id: str
    address: str
    host: str = ""
    zone: str | None = None
    endpoint: str = ""  # the transport's name for it (host:port as given, or a pod name)

    def to_json(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "address": self.address,
            "host": self.host,
            "zone": self.zone,
            "endpoint": self.endpoint or self.address,
        }


@dataclass(frozen=True)
class Step:
    """One planned operation; ``op`` selects how apply carries it out."""

    op: str  # create | fix_open_slot | forget | meet | assign_slots | replicate | move | remove
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LayoutNotice:
    level: str  # info | warning | error
    subject: str
    message: str
    kind: str = "note"


@dataclass
class LayoutPlan:
    steps: list[Step] = field(default_factory=list)
    notices: list[LayoutNotice] = field(default_factory=list)


# --------------------------------------------------------------------------- slot arithmetic


def split_slots(count: int) -> list[tuple[int, int]]:
    """Contiguous, even slot ranges for ``count`` masters, exactly as redis-cli splits them."""
    if count <= 0:
        return []
    per_node = SLOT_COUNT / count
    ranges = []
    first, cursor = 0, 0.0
    for index in range(count):
        last = round(cursor + per_node - 1)
        if last > SLOT_COUNT - 1 or index == count - 1:
            last = SLOT_COUNT - 1
        last = max(last, first)
        ranges.append((first, last))
        first = last + 1
        cursor += per_node
    return ranges


@dataclass(frozen=True)
class SlotMove:
    source: str
    target: str
    slots: tuple[int, ...]


def target_counts(current: Mapping[str, int], masters: Sequence[str]) -> dict[str, int]:
    """Even share per master; the remainder goes to those that already hold most."""
    if not masters:
        return {}
    base, extra = divmod(SLOT_COUNT, len(masters))
    ordered = sorted(masters, key=lambda m: (-current.get(m, 0), m))
    return {m: base + (1 if i < extra else 0) for i, m in enumerate(ordered)}


def needs_rebalance(
    current: Mapping[str, int],
    masters: Sequence[str],
    threshold_percent: float = REBALANCE_THRESHOLD_PERCENT,
) -> bool:
    targets = target_counts(current, masters)
    for master, target in targets.items():
        if target and abs(current.get(master, 0) - target) * 100.0 / target > threshold_percent:
            return True
    return False


def rebalance_moves(
    owned: Mapping[str, Sequence[int]],
    masters: Sequence[str],
    remove: Sequence[str] = (),
) -> list[SlotMove]:
    """Moves that leave ``masters`` with even shares and ``remove`` with nothing.

    Minimal in the number of moved slots: only surpluses move. Sources give their highest
    slots first so that the remaining ranges stay contiguous.
    """
    current = {m: len(owned.get(m, ())) for m in masters}
    targets = target_counts(current, masters)
    for gone in remove:
        targets[gone] = 0
    give: dict[str, list[int]] = {}
    for node in list(masters) + [r for r in remove if r not in masters]:
        have = sorted(owned.get(node, ()))
        surplus = len(have) - targets.get(node, 0)
        if surplus > 0:
            give[node] = have[len(have) - surplus :]
    deficits = {
        m: targets[m] - current.get(m, 0) for m in masters if targets[m] > current.get(m, 0)
    }
    moves: list[SlotMove] = []
    sources = sorted(give, key=lambda n: (n not in remove, -len(give[n]), n))
    sinks = sorted(deficits, key=lambda n: (-deficits[n], n))
    for source in sources:
        pending = give[source]
        for sink in sinks:
            if not pending:
                break
            need = deficits[sink]
            if need <= 0:
                continue
            take, pending = pending[:need], pending[need:]
            deficits[sink] -= len(take)
            moves.append(SlotMove(source, sink, tuple(take)))
    return moves


# --------------------------------------------------------------------------- helpers


def _placed(view: NodeView) -> Placed:
    return Placed(view.node_id, view.host, view.zone)


def _member(view: NodeView) -> Member:
    return Member(view.node_id, view.address, view.host, view.zone, view.endpoint_id)


def _ranges_json(slots: Sequence[int]) -> list[list[int]]:
    return [[a, b] for a, b in slot_ranges(slots)]


def _node_member(node: ClusterNode, views: Mapping[str, NodeView]) -> Member:
    view = views.get(node.id)
    if view is not None:
        return _member(view)
    return Member(node.id, node.address)


# --------------------------------------------------------------------------- planning


def plan_layout(
    observation: ClusterObservation,
    desired: DesiredLayout,
    *,
    allow_delete: bool = False,
    cluster_name: str = "redis",
    keys_in_uncovered: Mapping[int, str] | None = None,
) -> LayoutPlan:
    """Every step from the observed cluster to the desired layout, in execution order."""
    plan = LayoutPlan()
    if not observation.views:
        plan.notices.append(
            LayoutNotice(
                "error", f"redis_cluster.{cluster_name}", "no Redis node answered", "unreachable"
            )
        )
        return plan
    if not observation.members:
        _plan_create(observation, desired, plan, cluster_name)
        return plan
    _plan_existing(observation, desired, plan, allow_delete, keys_in_uncovered or {})
    return plan


def _usable_bare(observation: ClusterObservation, plan: LayoutPlan) -> list[NodeView]:
    usable = []
    for view in sorted(observation.bare, key=lambda v: _addr_key(v.address)):
        if view.dbsize > 0:
            plan.notices.append(
                LayoutNotice(
                    "error",
                    f"redis_node.{view.address}",
                    f"{view.endpoint_id} holds {view.dbsize} keys but belongs to no cluster; "
                    "refusing to use it (flush it or remove it from the target list)",
                    "refused",
                )
            )
        else:
            usable.append(view)
    return usable


def _plan_create(
    observation: ClusterObservation, desired: DesiredLayout, plan: LayoutPlan, cluster_name: str
) -> None:
    usable = _usable_bare(observation, plan)
    subject = f"redis_cluster.{cluster_name}"
    if len(usable) < desired.masters:
        plan.notices.append(
            LayoutNotice(
                "error",
                subject,
                f"{desired.masters} masters wanted but only {len(usable)} usable bare nodes "
                f"answered ({len(observation.unreachable)} unreachable)",
                "refused",
            )
        )
        return
    if len(usable) < desired.masters:
        return
    if len(observation.unreachable) > 0:
        plan.notices.append(
            LayoutNotice(
                "warning",
                subject,
                f"{len(observation.unreachable)} node(s) did not answer and are left out: "
                + ", ".join(u[0] for u in observation.unreachable),
                "unreachable",
            )
        )
    placed = [_placed(v) for v in usable]
    views = {v.node_id: v for v in usable}
    masters = choose_masters(placed, desired.masters, desired.placement)
    master_ids = {m.id for m in masters}
    spare = [p for p in placed if p.id not in master_ids]
    wanted = {m.id: desired.replicas_per_master for m in masters}
    assignment = assign_replicas(masters, wanted, spare, desired.placement)
    short = desired.node_count - desired.masters - len(assignment)
    if short > 0:
        plan.notices.append(
            LayoutNotice(
                "warning",
                subject,
                f"{short} replica(s) missing: {len(usable)} nodes for {desired.masters} masters × "
                f"{desired.replicas_per_master} replicas",
                "note",
            )
        )
    unused = [p for p in spare if p.id not in assignment]
    if unused:
        plan.notices.append(
            LayoutNotice(
                "info",
                subject,
                f"{len(unused)} bare node(s) left out of the cluster: "
                + ", ".join(views[p.id].address for p in unused),
                "note",
            )
        )
    ranges = split_slots(desired.masters)
    plan.steps.append(
        Step(
            "create",
            {
                "masters": [
                    dict(_member(views[m.id]).to_json(), slots=[list(r)])
                    for m, r in zip(masters, ranges, strict=True)
                ],
                "replicas": [
                    dict(_member(views[rid]).to_json(), master_id=mid)
                    for rid, mid in sorted(
                        assignment.items(), key=lambda kv: (kv[1], views[kv[0]].address)
                    )
                ],
            },
        )
    )


def _plan_existing(
    observation: ClusterObservation,
    desired: DesiredLayout,
    plan: LayoutPlan,
    allow_delete: bool,
    keys_in_uncovered: Mapping[int, str],
) -> None:
    live = observation.live_members()
    known = observation.known_nodes()
    ref = observation.reference()
    assert ref is not None
    # -------------------------------------------------------------- repairs
    for slot in sorted({o.slot for o in observation.open_slots()}):
        opens = [o for o in observation.open_slots() if o.slot == slot]
        owner = observation.slot_owners().get(slot)
        plan.steps.append(
            Step(
                "fix_open_slot",
                {
                    "slot": slot,
                    "owner_id": owner,
                    "migrating": sorted({o.node_id for o in opens if o.kind == "migrating"}),
                    "importing": sorted({o.node_id for o in opens if o.kind == "importing"}),
                    "targets": sorted(
                        {f"{o.node_id}->{o.other_id}" for o in opens if o.kind == "migrating"}
                    ),
                },
            )
        )
    for endpoint, address, reason in observation.unreachable:
        plan.notices.append(
            LayoutNotice(
                "warning",
                f"redis_node.{endpoint}",
                f"{address} did not answer: {reason}",
                "unreachable",
            )
        )
    dead_with_slots: list[ClusterNode] = []
    for node in observation.failed_nodes():
        if node.slots:
            dead_with_slots.append(node)
            plan.notices.append(
                LayoutNotice(
                    "error",
                    f"redis_node.{node.id}",
                    f"master {node.address} ({node.id[:8]}) is failed and still owns "
                    f"{node.slot_count} slots with no replica taking over; bring it back "
                    "(forgetting it would drop those slots)",
                    "refused",
                )
            )
            continue
        what = "failed" if node.failed else "address-less"
        if allow_delete:
            plan.steps.append(
                Step(
                    "forget",
                    {
                        "node_id": node.id,
                        "address": node.address,
                        "why": what,
                        "role": "master" if node.is_master else "replica",
                    },
                )
            )
        else:
            plan.notices.append(
                LayoutNotice(
                    "warning",
                    f"redis_node.{node.id}",
                    f"{what} node {node.address} ({node.id[:8]}) is still known to the cluster; "
                    "plan with --allow-delete to forget it on every live node",
                    "refused",
                )
            )
    for node in observation.suspect_nodes():
        if node.id not in live:
            plan.notices.append(
                LayoutNotice(
                    "warning",
                    f"redis_node.{node.id}",
                    f"{node.address} ({node.id[:8]}) is suspected failing (pfail)",
                    "drift",
                )
            )
    disagreeing = observation.disagreements()
    if disagreeing:
        plan.notices.append(
            LayoutNotice(
                "warning",
                "redis_repair.slot_map",
                "nodes disagree on the slot map: "
                + ", ".join(disagreeing)
                + " (usually settles within seconds; persistent disagreement needs a look)",
                "drift",
            )
        )
    # Nodes that answered under an address the cluster does not know (pod restarted with a
    # new IP): introduce them again by id instead of treating them as new nodes.
    for node_id, view in sorted(live.items()):
        hearsay = next((n for n in ref.nodes if n.id == node_id), None)
        if hearsay is None and view is not ref:
            if any(n.id == ref.node_id for n in view.nodes):
                plan.steps.append(
                    Step("meet", {**_member(view).to_json(), "why": "rejoin", "role": "member"})
                )
            else:
                plan.notices.append(
                    LayoutNotice(
                        "error",
                        f"redis_node.{view.address}",
                        f"{view.endpoint_id} belongs to another cluster (it and "
                        f"{ref.endpoint_id} do not know each other); left alone",
                        "refused",
                    )
                )
            continue
        # Any member that cannot reach it under the address it answers at now. A node
        # announced under another address (NAT, announce-ip) that is reached fine needs
        # nothing. The reference node itself counts too: after all pods restart at once,
        # the others know it only by its old IP.
        for other in observation.members:
            if other is view:
                continue
            seen = next((n for n in other.nodes if n.id == node_id), None)
            if seen is None:
                continue
            unreachable = (
                seen.no_address
                or seen.failed
                or seen.possibly_failed
                or seen.link_state == "disconnected"
            )
            if unreachable and (seen.address != view.address or seen.no_address):
                plan.steps.append(
                    Step(
                        "meet",
                        {
                            **_member(view).to_json(),
                            "why": "readdress",
                            "old_address": seen.address,
                            "role": "member",
                        },
                    )
                )
                break
    if dead_with_slots:
        # Its replica may still take over (or the node come back); reshaping the layout
        # now would fight the failover. Repairs above are all that is planned.
        plan.notices.append(
            LayoutNotice(
                "error",
                "redis_cluster.layout",
                "layout changes wait until every slot has a live master",
                "refused",
            )
        )
        return
    # -------------------------------------------------------------- masters
    owned: dict[str, list[int]] = {}
    for slot, owner in observation.slot_owners().items():
        owned.setdefault(owner, []).append(slot)
    live_masters = sorted(
        (nid for nid, v in live.items() if v.myself.is_master),
        key=lambda nid: (live[nid].address, nid),
    )
    serving = [m for m in live_masters if owned.get(m)]
    empty_masters = [m for m in live_masters if not owned.get(m)]
    uncovered = observation.uncovered_slots()
    bare = _usable_bare(observation, plan)
    bare_placed = [_placed(v) for v in bare]
    bare_views = {v.node_id: v for v in bare}
    new_masters: list[Member] = []
    meet_steps: list[Step] = []
    remove_masters: list[str] = []
    keep = list(serving)
    want = desired.masters
    if len(keep) < want:
        # Prefer empty masters already in the cluster, then bare nodes, spread over hosts.
        master_hosts = [live[m].host for m in keep]
        pool = [_placed(live[m]) for m in empty_masters] + bare_placed
        chosen = _pick_spread(pool, want - len(keep), master_hosts)
        for placed in chosen:
            if placed.id in bare_views:
                member = _member(bare_views[placed.id])
                meet_steps.append(
                    Step("meet", {**member.to_json(), "why": "join", "role": "master"})
                )
            else:
                member = _member(live[placed.id])
            new_masters.append(member)
        if len(keep) + len(new_masters) < want:
            plan.notices.append(
                LayoutNotice(
                    "warning",
                    "redis_cluster.masters",
                    f"{want} masters wanted, only {len(keep) + len(new_masters)} possible: add "
                    "bare nodes (empty, in no cluster) to grow further",
                    "note",
                )
            )
    elif len(keep) > want:
        surplus = len(keep) - want
        # Remove the masters holding fewest slots; ties: the highest address goes first.
        ranked = sorted(keep, key=lambda m: (len(owned.get(m, ())), _neg_addr(live[m].address)))
        candidates = ranked[:surplus]
        if allow_delete:
            remove_masters = candidates
            keep = [m for m in keep if m not in remove_masters]
        else:
            plan.notices.append(
                LayoutNotice(
                    "warning",
                    "redis_cluster.masters",
                    f"the layout asks for {want} masters and the cluster has {len(keep)}; removing "
                    + ", ".join(live[m].address for m in candidates)
                    + " (their slots would move to the others first) needs --allow-delete",
                    "refused",
                )
            )
    final_masters = keep + [m.node_id for m in new_masters]
    # Uncovered slots are assigned before any rebalance so the cluster serves every slot.
    if uncovered and final_masters:
        counts = {m: len(owned.get(m, ())) for m in final_masters}
        assign: dict[str, list[int]] = {}
        for slot in uncovered:
            holder = keys_in_uncovered.get(slot)
            if holder is None or holder not in counts:
                holder = min(counts, key=lambda m: (counts[m], m))
            assign.setdefault(holder, []).append(slot)
            counts[holder] += 1
        for holder, slots in sorted(assign.items()):
            member = (
                _member(live[holder])
                if holder in live
                else next(m for m in new_masters if m.node_id == holder)
            )
            plan.steps.append(
                Step("assign_slots", {**member.to_json(), "slots": _ranges_json(slots)})
            )
            owned.setdefault(holder, []).extend(slots)
    # -------------------------------------------------------------- replicas
    final_set = set(final_masters)
    members_by_id: dict[str, Member] = {nid: _member(v) for nid, v in live.items()}
    members_by_id.update({m.node_id: m for m in new_masters})
    current_replicas: dict[str, list[str]] = {m: [] for m in final_masters}
    free: list[str] = []  # live or bare nodes available as replicas
    for nid, view in sorted(live.items(), key=lambda kv: kv[1].address):
        me = view.myself
        if nid in final_set or nid in remove_masters:
            continue
        if me.is_replica and me.master_id in current_replicas:
            current_replicas[me.master_id].append(nid)
        elif me.is_master and owned.get(nid):
            continue  # dead-master bookkeeping; never repurpose a slot owner
        else:
            free.append(nid)
    # Replicas of removed masters, of dead masters, and masters without slots are free.
    excess: list[str] = []
    for master in final_masters:
        reps = current_replicas[master]
        if len(reps) > desired.replicas_per_master:
            # Keep those best placed; the rest become free.
            mplaced = _placed_of(master, live, members_by_id)
            reps_sorted = sorted(
                reps, key=lambda r: (live[r].host == mplaced.host, live[r].address)
            )
            keep_reps = reps_sorted[: desired.replicas_per_master]
            excess += [r for r in reps if r not in keep_reps]
            current_replicas[master] = keep_reps
    spare_bare = [b for b in bare_placed if b.id not in {m.node_id for m in new_masters}]
    pool_ids = free + excess
    pool = [_placed(live[n]) for n in pool_ids] + spare_bare
    wanted = {
        m: max(0, desired.replicas_per_master - len(current_replicas[m])) for m in final_masters
    }
    masters_placed = [_placed_of(m, live, members_by_id) for m in final_masters]
    existing = {m: [_placed(live[r]) for r in current_replicas[m]] for m in final_masters}
    assignment = assign_replicas(masters_placed, wanted, pool, desired.placement, existing)
    replicate_steps: list[Step] = []
    for node_id, master_id in sorted(assignment.items(), key=lambda kv: kv[0]):
        if node_id in bare_views:
            member = _member(bare_views[node_id])
            meet_steps.append(Step("meet", {**member.to_json(), "why": "join", "role": "replica"}))
            previous = None
        else:
            member = _member(live[node_id])
            previous = live[node_id].myself.master_id
        if previous == master_id:
            continue
        master_member = members_by_id[master_id]
        replicate_steps.append(
            Step(
                "replicate",
                {
                    **member.to_json(),
                    "master_id": master_id,
                    "master_address": master_member.address,
                    "previous_master_id": previous,
                    "previous_master_address": (
                        members_by_id[previous].address
                        if previous in members_by_id
                        else (known[previous].address if previous in known else None)
                    ),
                },
            )
        )
    missing = sum(wanted.values()) - len(assignment)
    if missing > 0:
        plan.notices.append(
            LayoutNotice(
                "warning",
                "redis_cluster.replicas",
                f"{missing} replica(s) short of {desired.replicas_per_master} per master: "
                "add bare nodes",
                "note",
            )
        )
    leftover_live = [n for n in pool_ids if n not in assignment]
    leftover_bare = [b.id for b in spare_bare if b.id not in assignment]
    if leftover_bare:
        plan.notices.append(
            LayoutNotice(
                "info",
                "redis_cluster.nodes",
                f"{len(leftover_bare)} bare node(s) not needed by the layout: "
                + ", ".join(bare_views[b].address for b in leftover_bare),
                "note",
            )
        )
    remove_replicas: list[str] = []
    for nid in leftover_live:
        view = live[nid]
        if nid in excess and not allow_delete:
            continue  # stays a replica of its master; reported below
        if allow_delete:
            remove_replicas.append(nid)
        else:
            plan.notices.append(
                LayoutNotice(
                    "warning",
                    f"redis_node.{view.address}",
                    f"{view.address} is not needed by the layout; removing it needs --allow-delete",
                    "refused",
                )
            )
    extra_kept = [n for n in excess if n not in assignment and n not in remove_replicas]
    if extra_kept:
        plan.notices.append(
            LayoutNotice(
                "info",
                "redis_cluster.replicas",
                f"{len(extra_kept)} replica(s) beyond {desired.replicas_per_master} per master kept "
                "(removing them needs --allow-delete): "
                + ", ".join(live[n].address for n in extra_kept),
                "note",
            )
        )
    # -------------------------------------------------------------- slots
    moves: list[SlotMove] = []
    if dead_with_slots:
        if new_masters or remove_masters:
            plan.notices.append(
                LayoutNotice(
                    "error",
                    "redis_cluster.slots",
                    "slots are not moved while a failed master still owns slots",
                    "refused",
                )
            )
    elif final_masters and (
        new_masters
        or remove_masters
        or needs_rebalance({m: len(owned.get(m, ())) for m in final_masters}, final_masters)
    ):
        moves = rebalance_moves(owned, final_masters, remove_masters)
    plan.steps += _dedupe(meet_steps) + replicate_steps
    for move in moves:
        plan.steps.append(
            Step(
                "move",
                {
                    "source": members_by_id[move.source].to_json()
                    if move.source in members_by_id
                    else Member(move.source, known[move.source].address).to_json(),
                    "target": members_by_id[move.target].to_json(),
                    "slots": _ranges_json(move.slots),
                    "count": len(move.slots),
                },
            )
        )
    for nid in remove_replicas + remove_masters:
        view = live[nid]
        plan.steps.append(
            Step(
                "remove",
                {
                    **_member(view).to_json(),
                    "role": "master" if nid in remove_masters else "replica",
                    "slots": len(owned.get(nid, ())),
                },
            )
        )


def _addr_key(address: str) -> tuple[int, ...]:
    ip, _, port = address.rpartition(":")
    return (*[int(p) for p in ip.split(".") if p.isdigit()], int(port or 0))


def _neg_addr(address: str) -> tuple[int, ...]:
    """Sort key that puts higher addresses first."""
    ip, _, port = address.rpartition(":")
    parts = [int(p) for p in ip.split(".") if p.isdigit()] + [int(port or 0)]
    return tuple(-p for p in parts)


def _placed_of(node_id: str, live: Mapping[str, NodeView], members: Mapping[str, Member]) -> Placed:
    if node_id in live:
        return _placed(live[node_id])
    member = members[node_id]
    return Placed(member.node_id, member.host, member.zone)


def _pick_spread(pool: Sequence[Placed], count: int, taken_hosts: Sequence[str]) -> list[Placed]:
    """``count`` nodes from ``pool``, each time from the host with the fewest masters."""
    load: dict[str, int] = {}
    for host in taken_hosts:
        load[host] = load.get(host, 0) + 1
    remaining = list(pool)
    chosen: list[Placed] = []
    while remaining and len(chosen) < count:
        best = min(remaining, key=lambda p: (load.get(p.host, 0), p.host, p.id))
        chosen.append(best)
        remaining.remove(best)
        load[best.host] = load.get(best.host, 0) + 1
    return chosen


def _dedupe(steps: Sequence[Step]) -> list[Step]:
    seen: set[str] = set()
    out = []
    for step in steps:
        key = f"{step.op}:{step.data.get('node_id')}"
        if key not in seen:
            seen.add(key)
            out.append(step)
    return out
