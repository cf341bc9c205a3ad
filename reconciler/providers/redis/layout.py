"""Desired layout → the changes that reach it from the live cluster (pure, no I/O).

:func:`plan_layout` compares a :class:`ClusterObservation` (plus the :class:`SlotEvidence`
read for troubled slots) with a :class:`DesiredLayout` and returns typed steps
(:mod:`.steps`), each one engine ``Change`` (:meth:`LayoutPlan.changes`), plus notices for
what it found and deliberately left alone.

Order of the steps: repairs (replicas take over from failed masters, troubled slots are
settled, re-addressed nodes re-introduced) → new nodes join (as masters, or as replicas of
X) → replicas are attached or moved → dead nodes are forgotten (no live replica follows them
any more) → slots move → surplus nodes leave. Everything after the repairs is planned from the slot map the repairs leave behind,
so one apply takes a broken cluster all the way to the layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from msgspec import Struct, field

from reconciler.engine.plan import Change, Notice, NoticeLevel
from reconciler.providers.redis.placement import (
    SPREAD_HOSTS,
    Placed,
    assign_replicas,
    choose_masters,
)
from reconciler.providers.redis.repairing import SlotEvidence, plan_slot_repairs
from reconciler.providers.redis.state import (
    SLOT_COUNT,
    ClusterObservation,
    NodeView,
    slot_ranges,
)
from reconciler.providers.redis.steps import (
    AnyStep,
    AssignSlots,
    CreateCluster,
    CreateMaster,
    CreateReplica,
    ForgetNode,
    JoinNode,
    MoveSlots,
    NodeRef,
    ReintroduceNode,
    RemoveNode,
    ReplicateNode,
    forget_address,
    node_address,
    node_ref,
    to_change,
    view_ref,
)

REBALANCE_THRESHOLD_PERCENT = 2.0


class DesiredLayout(Struct, frozen=True):
    masters: int = 3
    replicas_per_master: int = 1
    placement: str = SPREAD_HOSTS

    @property
    def node_count(self) -> int:
        return self.masters * (1 + self.replicas_per_master)


class LayoutPlan(Struct):
    """Typed steps in execution order, and notices."""

    steps: list[AnyStep] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    def changes(self) -> list[Change]:
        return [to_change(step) for step in self.steps]

    def deduplicated(self) -> LayoutPlan:
        """At most one change per address (the engine keys fingerprints, targeting and
        results by address): a later step for the same resource waits for the next plan."""
        seen: set[str] = set()
        kept: list[AnyStep] = []
        notices = list(self.notices)
        for step in self.steps:
            address = step.address()
            if address in seen:
                notices.append(
                    _notice(
                        "info",
                        address,
                        f"a second change to this resource ({step.kind}) waits for the next plan",
                    )
                )
                continue
            seen.add(address)
            kept.append(step)
        return LayoutPlan(kept, notices)

    def kinds(self) -> list[str]:
        return [step.kind for step in self.steps]


def _notice(
    level: str,
    address: str,
    message: str,
    kind: str = "note",
    *,
    attribute: str | None = None,
    before: object = None,
    after: object = None,
) -> Notice:
    return Notice(
        level=NoticeLevel(level),
        address=address,
        message=message,
        kind=kind,
        attribute=attribute,
        before=before,
        after=after,
    )


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


class SlotMove(Struct, frozen=True):
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


# --------------------------------------------------------------------------- planning


def plan_layout(
    observation: ClusterObservation,
    desired: DesiredLayout,
    *,
    allow_delete: bool = False,
    cluster_name: str = "redis",
    evidence: SlotEvidence | None = None,
) -> LayoutPlan:
    """Every step from the observed cluster to the desired layout, in execution order."""
    plan = LayoutPlan()
    if not observation.views:
        plan.notices.append(
            _notice(
                "error", f"redis_cluster.{cluster_name}", "no Redis node answered", "unreachable"
            )
        )
        return plan
    if not observation.members:
        _plan_create(observation, desired, plan, cluster_name)
        return plan
    _Existing(
        observation, desired, plan, allow_delete, evidence or SlotEvidence(), cluster_name
    ).run()
    return plan.deduplicated()


def _usable_bare(observation: ClusterObservation, plan: LayoutPlan) -> list[NodeView]:
    usable = []
    for view in sorted(observation.bare, key=lambda v: _addr_key(v.address)):
        if view.dbsize > 0:
            plan.notices.append(
                _notice(
                    "error",
                    node_address(view.endpoint_id),
                    f"{view.endpoint_id} holds {view.dbsize} keys but belongs to no cluster; "
                    "refusing to use it (flush it or remove it from the target list)",
                    "refused",
                    attribute="keys",
                    before=view.dbsize,
                    after=0,
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
            _notice(
                "error",
                subject,
                f"{desired.masters} masters wanted but only {len(usable)} usable bare nodes "
                f"answered ({len(observation.unreachable)} unreachable)",
                "refused",
                attribute="masters",
                after=desired.masters,
            )
        )
        return
    if observation.unreachable:
        plan.notices.append(
            _notice(
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
        # A new cluster is made to the layout or not at all: a partial one would be
        # "created" and then reported short forever.
        plan.notices.append(
            _notice(
                "error",
                subject,
                f"the layout needs {desired.node_count} nodes ({desired.masters} masters × "
                f"{1 + desired.replicas_per_master}) placed by {desired.placement}, but only "
                f"{desired.masters + len(assignment)} of the {len(usable)} usable bare nodes "
                "fit: add nodes or ask for fewer replicas",
                "refused",
                attribute="replicas",
                before=len(assignment),
                after=desired.node_count - desired.masters,
            )
        )
        return
    unused = [p for p in spare if p.id not in assignment]
    if unused:
        plan.notices.append(
            _notice(
                "info",
                subject,
                f"{len(unused)} bare node(s) left out of the cluster: "
                + ", ".join(views[p.id].address for p in unused),
            )
        )
    ranges = split_slots(desired.masters)
    plan.steps.append(
        CreateCluster(
            cluster=cluster_name,
            masters=[
                CreateMaster(node=view_ref(views[m.id]), slots=[r])
                for m, r in zip(masters, ranges, strict=True)
            ],
            replicas=[
                CreateReplica(node=view_ref(views[rid]), master=view_ref(views[mid]))
                for rid, mid in sorted(
                    assignment.items(), key=lambda kv: (kv[1], views[kv[0]].address)
                )
            ],
        )
    )


class _Existing:
    """Planning against a formed cluster, as named steps run in order by :meth:`run`."""

    def __init__(
        self,
        observation: ClusterObservation,
        desired: DesiredLayout,
        plan: LayoutPlan,
        allow_delete: bool,
        evidence: SlotEvidence,
        cluster_name: str,
    ) -> None:
        self.obs = observation
        self.desired = desired
        self.plan = plan
        self.allow_delete = allow_delete
        self.evidence = evidence
        self.cluster = f"redis_cluster.{cluster_name}"
        self.live = observation.live_members()
        self.known = observation.known_nodes()
        self.owners_after: dict[int, str] = {}
        self.promoted: dict[str, str] = {}  # failed master id -> the replica taking over
        self.new_masters: list[NodeRef] = []
        self.remove_masters: list[str] = []
        self.final_masters: list[str] = []
        self.joins: dict[str, JoinNode] = {}
        self.forgets: list[ForgetNode] = []
        self.bare: dict[str, NodeView] = {}

    # ------------------------------------------------------------------ the steps

    def run(self) -> None:
        self.report_unreachable()
        self.plan_slot_repairs()
        self.plan_dead_nodes()
        self.report_suspects()
        self.plan_reintroductions()
        self.choose_masters()
        self.plan_uncovered()
        replicate, remove_replicas = self.plan_replicas()
        moves = self.plan_moves()
        removes = [self._remove(nid, "replica") for nid in remove_replicas] + [
            self._remove(nid, "master") for nid in self.remove_masters
        ]
        # Dead nodes are forgotten once no live replica follows them any more (a replica
        # refuses to forget its master): after the joins and replica moves.
        self.plan.steps += [*self.joins.values(), *replicate, *self.forgets, *moves, *removes]

    def report_unreachable(self) -> None:
        for endpoint, address, reason in self.obs.unreachable:
            self.plan.notices.append(
                _notice(
                    "warning",
                    node_address(endpoint),
                    f"{address} did not answer: {reason}",
                    "unreachable",
                )
            )

    def plan_slot_repairs(self) -> None:
        repair = plan_slot_repairs(self.obs, self.evidence)
        self.plan.steps += repair.promotions
        if repair.settle is not None:
            self.plan.steps.append(repair.settle)
        self.plan.notices += repair.notices
        self.owners_after = repair.owners_after
        self.promoted = {p.failed_master.node_id: p.node.node_id for p in repair.promotions}

    def plan_dead_nodes(self) -> None:
        still_owning = set(self.owners_after.values())
        for node in self.obs.failed_nodes():
            subject = forget_subject(self.obs, node.id)
            if node.id in still_owning:
                self.plan.notices.append(
                    _notice(
                        "error",
                        subject,
                        f"master {node.address} ({node.id[:8]}) is failed and still owns "
                        f"{node.slot_count} slots and no live master can take them; bring it "
                        "back",
                        "refused",
                    )
                )
                continue
            what = "failed" if node.failed else "address-less"
            role = "master" if node.is_master else "replica"
            if self.allow_delete:
                self.forgets.append(
                    ForgetNode(node=node_ref(self.obs, node.id), why=what, role=role)
                )
            else:
                self.plan.notices.append(
                    _notice(
                        "warning",
                        subject,
                        f"{what} node {node.address} ({node.id[:8]}) is still known to the "
                        "cluster; plan with --allow-delete to forget it on every live node",
                        "refused",
                        attribute="member",
                        before=True,
                        after=None,
                    )
                )

    def report_suspects(self) -> None:
        for node in self.obs.suspect_nodes():
            if node.id not in self.live:
                self.plan.notices.append(
                    _notice(
                        "warning",
                        forget_subject(self.obs, node.id),
                        f"{node.address} ({node.id[:8]}) is suspected failing (pfail)",
                        "drift",
                    )
                )
        disagreeing = self.obs.disagreements()
        if disagreeing:
            self.plan.notices.append(
                _notice(
                    "warning",
                    self.cluster,
                    "nodes disagree on the slot map: "
                    + ", ".join(disagreeing)
                    + " (usually settles within seconds; persistent disagreement needs a look)",
                    "drift",
                )
            )

    def plan_reintroductions(self) -> None:
        """Nodes that answer under an address some member cannot reach them at (a pod
        restarted with a new IP) are introduced again by id, not treated as new nodes."""
        ref = self.obs.reference()
        assert ref is not None
        for node_id, view in sorted(self.live.items()):
            hearsay = next((n for n in ref.nodes if n.id == node_id), None)
            if hearsay is None and view is not ref:
                if any(n.id == ref.node_id for n in view.nodes):
                    self.plan.steps.append(ReintroduceNode(node=view_ref(view)))
                else:
                    self.plan.notices.append(
                        _notice(
                            "error",
                            node_address(view.endpoint_id),
                            f"{view.endpoint_id} belongs to another cluster (it and "
                            f"{ref.endpoint_id} do not know each other); left alone",
                            "refused",
                        )
                    )
                continue
            old = self._unreachable_address(view) or self._stale_own_address(view)
            if old is not None:
                self.plan.steps.append(ReintroduceNode(node=view_ref(view), old_address=old))

    def _unreachable_address(self, view: NodeView) -> str | None:
        """The address a member knows ``view``'s node at, when it cannot reach it there.

        A node announced under another address that is reached fine needs nothing; the
        reference node counts too (after all pods restart, the others know its old IP)."""
        for other in self.obs.members:
            if other is view:
                continue
            seen = next((n for n in other.nodes if n.id == view.node_id), None)
            if seen is None:
                continue
            unreachable = (
                seen.no_address
                or seen.failed
                or seen.possibly_failed
                or seen.link_state == "disconnected"
            )
            if unreachable and (seen.address != view.address or seen.no_address):
                return seen.address
        return None

    def _stale_own_address(self, view: NodeView) -> str | None:
        """The old address a restarted node still gives for itself while the others reach
        it at its new one (Redis learns its own IP only from a MEET): its CLUSTER SLOTS
        would send clients to the old address. A node the others know at some other
        address (NAT, announced IPs) is not this case."""
        own = view.myself.address
        if own == view.address:
            return None
        for other in self.obs.members:
            if other is view:
                continue
            seen = next((n for n in other.nodes if n.id == view.node_id), None)
            if seen is not None and seen.address == view.address:
                return own
        return None

    # ------------------------------------------------------------------ masters

    def _is_master_after(self, node_id: str) -> bool:
        if node_id in self.promoted.values():
            return True
        view = self.live[node_id]
        return view.myself.is_master

    def _master_after(self, node_id: str) -> str | None:
        """The master a live replica follows once the repairs are done."""
        master = self.live[node_id].myself.master_id
        if master in self.promoted and self.promoted[master] != node_id:
            return self.promoted[master]
        return master

    def owned(self) -> dict[str, list[int]]:
        owned: dict[str, list[int]] = {}
        for slot, owner in self.owners_after.items():
            owned.setdefault(owner, []).append(slot)
        return owned

    def choose_masters(self) -> None:
        owned = self.owned()
        live_masters = sorted(
            (nid for nid in self.live if self._is_master_after(nid)),
            key=lambda nid: (self.live[nid].address, nid),
        )
        keep = [m for m in live_masters if owned.get(m)]
        empty = [m for m in live_masters if not owned.get(m)]
        self.bare = {v.node_id: v for v in _usable_bare(self.obs, self.plan)}
        want = self.desired.masters
        if len(keep) < want:
            pool = [_placed(self.live[m]) for m in empty] + [_placed(v) for v in self.bare.values()]
            chosen = _pick_spread(
                pool, want - len(keep), [self.live[m].host for m in keep], prefer=set(empty)
            )
            for placed in chosen:
                if placed.id in self.bare:
                    ref = view_ref(self.bare[placed.id])
                    self.joins[placed.id] = JoinNode(node=ref, role="master")
                else:
                    ref = view_ref(self.live[placed.id])
                self.new_masters.append(ref)
            if len(keep) + len(self.new_masters) < want:
                self.plan.notices.append(
                    _notice(
                        "warning",
                        self.cluster,
                        f"{want} masters wanted, only {len(keep) + len(self.new_masters)} "
                        "possible: add bare nodes (empty, in no cluster) to grow further",
                        attribute="masters",
                        before=len(keep),
                        after=want,
                    )
                )
        elif len(keep) > want:
            # Remove the masters holding fewest slots; ties: the highest address goes first.
            ranked = sorted(
                keep, key=lambda m: (len(owned.get(m, ())), _neg_addr(self.live[m].address))
            )
            candidates = ranked[: len(keep) - want]
            if self.allow_delete:
                self.remove_masters = candidates
                keep = [m for m in keep if m not in candidates]
            else:
                self.plan.notices.append(
                    _notice(
                        "warning",
                        self.cluster,
                        f"the layout asks for {want} masters and the cluster has {len(keep)}; "
                        "removing "
                        + ", ".join(self.live[m].address for m in candidates)
                        + " (their slots would move to the others first) needs --allow-delete",
                        "refused",
                        attribute="masters",
                        before=len(keep),
                        after=want,
                    )
                )
        self.final_masters = keep + [m.node_id for m in self.new_masters]

    def plan_uncovered(self) -> None:
        """Slots no node serves (and the repairs left alone: no keys, nothing open) go to
        the live masters with fewest slots, before any rebalance."""
        uncovered = [s for s in range(SLOT_COUNT) if s not in self.owners_after]
        targets = [m for m in self.final_masters if m in self.live]
        if not uncovered or not targets:
            return
        owned = self.owned()
        counts = {m: len(owned.get(m, ())) for m in targets}
        assign: dict[str, list[int]] = {}
        for slot in uncovered:
            holder = min(counts, key=lambda m: (counts[m], m))
            assign.setdefault(holder, []).append(slot)
            counts[holder] += 1
            self.owners_after[slot] = holder
        for holder, slots in sorted(assign.items()):
            self.plan.steps.append(
                AssignSlots(node=view_ref(self.live[holder]), slots=_ranges(slots))
            )

    # ------------------------------------------------------------------ replicas

    def _refs(self) -> dict[str, NodeRef]:
        refs = {nid: view_ref(v) for nid, v in self.live.items()}
        refs.update({m.node_id: m for m in self.new_masters})
        return refs

    def _ref(self, node_id: str) -> NodeRef:
        return self._refs().get(node_id) or node_ref(self.obs, node_id)

    def plan_replicas(self) -> tuple[list[ReplicateNode], list[str]]:
        """Replicas attached (bare nodes join as replicas, free members replicate) so every
        final master has its share, best placed first; returns the steps and the replicas
        to remove (only with --allow-delete)."""
        refs = self._refs()
        current, free = self._current_replicas()
        excess = self._trim_excess(current)
        spare_bare = [_placed(v) for bid, v in self.bare.items() if bid not in self.joins]
        pool_ids = free + excess
        wanted = {
            m: max(0, self.desired.replicas_per_master - len(current[m]))
            for m in self.final_masters
        }
        assignment = assign_replicas(
            [_placed_ref(refs[m]) for m in self.final_masters],
            wanted,
            [_placed(self.live[n]) for n in pool_ids] + spare_bare,
            self.desired.placement,
            {m: [_placed(self.live[r]) for r in current[m]] for m in self.final_masters},
        )
        replicate: list[ReplicateNode] = []
        for node_id, master_id in sorted(assignment.items()):
            if node_id in self.bare:
                self.joins[node_id] = JoinNode(
                    node=view_ref(self.bare[node_id]), role="replica", master=refs[master_id]
                )
                continue
            previous = None if self._is_master_after(node_id) else self._master_after(node_id)
            if previous == master_id:
                continue
            replicate.append(
                ReplicateNode(
                    node=refs[node_id],
                    master=refs[master_id],
                    previous_master=self._ref(previous) if previous else None,
                )
            )
        self._report_replica_shortfall(sum(wanted.values()) - len(assignment))
        leftover_bare = [b.id for b in spare_bare if b.id not in assignment]
        if leftover_bare:
            self.plan.notices.append(
                _notice(
                    "info",
                    self.cluster,
                    f"{len(leftover_bare)} bare node(s) not needed by the layout: "
                    + ", ".join(self.bare[b].address for b in leftover_bare),
                )
            )
        leftover = [n for n in pool_ids if n not in assignment]
        return replicate, self._surplus_replicas(leftover, excess)

    def _current_replicas(self) -> tuple[dict[str, list[str]], list[str]]:
        """Replicas each final master has after the repairs, and the members free to be
        replicas (replicas of removed or dead masters, masters without slots)."""
        owned = self.owned()
        final = set(self.final_masters)
        current: dict[str, list[str]] = {m: [] for m in self.final_masters}
        free: list[str] = []
        for nid in sorted(self.live, key=lambda n: self.live[n].address):
            if nid in final or nid in self.remove_masters:
                continue
            if self._is_master_after(nid):
                if not owned.get(nid):
                    free.append(nid)  # a slot owner is never repurposed
                continue
            master = self._master_after(nid)
            if master in current:
                current[master].append(nid)
            else:
                free.append(nid)
        return current, free

    def _trim_excess(self, current: dict[str, list[str]]) -> list[str]:
        """Masters with more replicas than wanted keep the best placed; the rest are free."""
        refs = self._refs()
        excess: list[str] = []
        for master in self.final_masters:
            reps = current[master]
            if len(reps) > self.desired.replicas_per_master:
                host = refs[master].host
                ranked = sorted(
                    reps, key=lambda r: (self.live[r].host == host, self.live[r].address)
                )
                keep = ranked[: self.desired.replicas_per_master]
                excess += [r for r in reps if r not in keep]
                current[master] = keep
        return excess

    def _report_replica_shortfall(self, missing: int) -> None:
        if missing > 0:
            self.plan.notices.append(
                _notice(
                    "warning",
                    self.cluster,
                    f"{missing} replica(s) short of {self.desired.replicas_per_master} per "
                    "master: add bare nodes",
                    attribute="replicas_per_master",
                    after=self.desired.replicas_per_master,
                )
            )

    def _surplus_replicas(self, leftover: list[str], excess: list[str]) -> list[str]:
        removed: list[str] = []
        kept_extra: list[str] = []
        for nid in leftover:
            view = self.live[nid]
            if self.allow_delete:
                removed.append(nid)
            elif nid in excess:
                kept_extra.append(nid)  # stays a replica of its master
            else:
                self.plan.notices.append(
                    _notice(
                        "warning",
                        node_address(view.endpoint_id),
                        f"{view.address} is not needed by the layout; removing it needs "
                        "--allow-delete",
                        "refused",
                        attribute="member",
                        before=True,
                        after=None,
                    )
                )
        if kept_extra:
            self.plan.notices.append(
                _notice(
                    "info",
                    self.cluster,
                    f"{len(kept_extra)} replica(s) beyond {self.desired.replicas_per_master} per "
                    "master kept (removing them needs --allow-delete): "
                    + ", ".join(self.live[n].address for n in kept_extra),
                )
            )
        return removed

    # ------------------------------------------------------------------ slots and removals

    def plan_moves(self) -> list[MoveSlots]:
        owned = self.owned()
        masters = self.final_masters
        if not masters:
            return []
        if any(owner not in self.live for owner in owned):
            self.plan.notices.append(
                _notice(
                    "error",
                    self.cluster,
                    "layout changes wait until every slot has a live master",
                    "refused",
                )
            )
            return []
        counts = {m: len(owned.get(m, ())) for m in masters}
        if not (self.new_masters or self.remove_masters or needs_rebalance(counts, masters)):
            return []
        return [
            MoveSlots(
                source=self._ref(move.source),
                target=self._ref(move.target),
                slots=_ranges(move.slots),
            )
            for move in rebalance_moves(owned, masters, self.remove_masters)
        ]

    def _remove(self, node_id: str, role: str) -> RemoveNode:
        return RemoveNode(
            node=view_ref(self.live[node_id]),
            role=role,
            slots=len(self.owned().get(node_id, ())),
        )


# --------------------------------------------------------------------------- helpers


def forget_subject(observation: ClusterObservation, node_id: str) -> str:
    """The address of a node known only from the others' tables (its entry there)."""
    if observation.view_by_node_id(node_id) is not None:
        return node_address(observation.name_of(node_id))
    return forget_address(node_id)


def _placed(view: NodeView) -> Placed:
    return Placed(view.node_id, view.host, view.zone)


def _placed_ref(ref: NodeRef) -> Placed:
    return Placed(ref.node_id, ref.host, ref.zone)


def _ranges(slots: Sequence[int]) -> list[tuple[int, int]]:
    return slot_ranges(slots)


def _addr_key(address: str) -> tuple[int, ...]:
    ip, _, port = address.rpartition(":")
    return (*[int(p) for p in ip.split(".") if p.isdigit()], int(port or 0))


def _neg_addr(address: str) -> tuple[int, ...]:
    """Sort key that puts higher addresses first."""
    ip, _, port = address.rpartition(":")
    parts = [int(p) for p in ip.split(".") if p.isdigit()] + [int(port or 0)]
    return tuple(-p for p in parts)


def _pick_spread(
    pool: Sequence[Placed],
    count: int,
    taken_hosts: Sequence[str],
    prefer: set[str] | None = None,
) -> list[Placed]:
    """``count`` nodes from ``pool``, each time from the host with the fewest masters;
    among equals, ``prefer`` (members already in the cluster) before bare nodes."""
    prefer = prefer or set()
    load: dict[str, int] = {}
    for host in taken_hosts:
        load[host] = load.get(host, 0) + 1
    remaining = list(pool)
    chosen: list[Placed] = []
    while remaining and len(chosen) < count:
        best = min(remaining, key=lambda p: (load.get(p.host, 0), p.id not in prefer, p.host, p.id))
        chosen.append(best)
        remaining.remove(best)
        load[best.host] = load.get(best.host, 0) + 1
    return chosen
