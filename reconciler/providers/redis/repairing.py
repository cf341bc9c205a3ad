"""Repairs that always converge: who owns each troubled slot, decided from what answers (pure).

A cluster left behind by a crash mid-reshard has slots open on the nodes that survived,
slots owned by a failed master, keys of one slot on two masters, and nodes that import from
a node that no longer exists. Waiting for the nodes to agree does not help: a node importing
from a dead node never will. Instead the plan decides, per slot, from evidence read once:

1. a failed master that still owns slots and has a live replica: the replica takes over
   (``CLUSTER FAILOVER TAKEOVER``: no vote needed from the failed master's peers);
2. the owner of each troubled slot: the live master that claims it (several: the highest
   config epoch, Redis's own rule); none: the live owner most members name; none (the owner
   is dead with no replica): the live master holding most of its keys, else the target of
   the interrupted move, else the least loaded master (that last case loses the dead
   node's keys: flagged ``data-loss``);
3. keys of the slot on any other master are migrated to the owner; identical copies on two
   masters keep the owner's; differing ones keep the copy of the interrupted move's source
   (a move copies a key, waits for the target's replicas, then deletes it on the source:
   while the source holds a key it serves it, so a write after the copy went to the source
   and the target's copy is the older one); without a move to tell which copy is newer,
   differing copies stop the repair and name the key;
4. ``SETSLOT STABLE`` where the slot is open, ``SETSLOT NODE owner`` on every reachable
   master.

Troubled slots: open anywhere, owned by a failed node, uncovered, claimed by several
masters, or listed in the journal of slot moves in progress (a move interrupted after both
sides lost their MIGRATING/IMPORTING state leaves no other trace).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from msgspec import Struct, field

from reconciler.engine.plan import Notice, NoticeLevel
from reconciler.providers.redis.state import ClusterObservation, NodeView, OpenSlot, slot_ranges
from reconciler.providers.redis.steps import (
    NodeRef,
    PromoteReplica,
    SettleSlots,
    SlotSettlement,
    node_ref,
)


class SlotEvidence(Struct, frozen=True):
    """What plan-time reads found about the troubled slots (beyond CLUSTER NODES)."""

    keys: Mapping[int, Mapping[str, int]] = field(default_factory=dict)  # slot -> id -> keys
    journal: Mapping[int, tuple[str, str]] = field(default_factory=dict)  # slot -> (src, dst)
    duplicates: Mapping[int, tuple[int, int]] = field(default_factory=dict)  # (both, differing)
    # Replicas of failed masters: node id -> master_repl_offset (0: never synced).
    offsets: Mapping[str, int] = field(default_factory=dict)
    journal_unread: str = ""  # why the journal could not be read ("": it was)


class SlotRepair(Struct):
    promotions: list[PromoteReplica] = field(default_factory=list)
    settle: SettleSlots | None = None
    owners_after: dict[int, str] = field(default_factory=dict)  # the whole slot map after
    notices: list[Notice] = field(default_factory=list)
    settled_slots: set[int] = field(default_factory=set)


def troubled_slots(observation: ClusterObservation, journal: Mapping[int, object]) -> list[int]:
    """Slots whose owner has to be decided (read their keys on every live master)."""
    live_masters = _live_masters(observation)
    troubled = {o.slot for o in observation.open_slots()} | set(journal)
    owners = observation.slot_owners()
    troubled |= {s for s, owner in owners.items() if owner not in live_masters}
    troubled |= set(observation.uncovered_slots())
    claims: Counter[int] = Counter()
    for view in live_masters.values():
        claims.update(view.myself.slot_set())
    troubled |= {s for s, n in claims.items() if n > 1}
    return sorted(troubled)


def _live_masters(observation: ClusterObservation) -> dict[str, NodeView]:
    return {nid: v for nid, v in observation.live_members().items() if v.myself.is_master}


class _Facts:
    """The observation's answers the per-slot decisions need, computed once."""

    def __init__(self, observation: ClusterObservation) -> None:
        self.obs = observation
        self.owners = observation.slot_owners()
        self.members = observation.live_members()
        self.masters = _live_masters(observation)
        self.claims: dict[int, list[str]] = {}
        for node_id, view in sorted(self.masters.items()):
            for slot in view.myself.slot_set():
                self.claims.setdefault(slot, []).append(node_id)
        self.opens: dict[int, list[OpenSlot]] = {}
        for entry in observation.open_slots():
            self.opens.setdefault(entry.slot, []).append(entry)
        self.maps = [v.slot_map() for v in self.members.values()]
        self.failed = {n.id for n in observation.failed_nodes() if n.failed}
        self.waiting: set[str] = set()  # owners neither live nor failed
        self.masters_after: set[str] = set(self.masters)  # plus replicas taking over
        self._refs: dict[str, NodeRef] = {}
        self._names: dict[str, str] = {}

    def ref(self, node_id: str) -> NodeRef:
        if node_id not in self._refs:
            self._refs[node_id] = node_ref(self.obs, node_id)
        return self._refs[node_id]

    def name(self, node_id: str | None) -> str:
        if node_id is None:
            return "nobody"
        if node_id not in self._names:
            self._names[node_id] = self.obs.name_of(node_id)
        return self._names[node_id]


def plan_slot_repairs(observation: ClusterObservation, evidence: SlotEvidence) -> SlotRepair:
    """Promotions and one settlement that give every troubled slot one live owner."""
    facts = _Facts(observation)
    repair = SlotRepair(owners_after=dict(facts.owners))
    promoted = _plan_promotions(facts, repair, evidence)
    facts.masters_after = {*facts.masters, *promoted.values()}
    counts = Counter(repair.owners_after.values())
    groups: dict[tuple[object, ...], list[int]] = {}
    decided: dict[tuple[object, ...], SlotSettlement] = {}
    for slot in troubled_slots(observation, evidence.journal):
        decision = _decide(facts, evidence, slot, promoted, counts)
        if decision is None:
            continue
        key = (
            decision.owner.node_id,
            tuple(n.node_id for n in decision.drain),
            tuple(n.node_id for n in decision.open_on),
            decision.prefer.node_id if decision.prefer else None,
            decision.previous_owner,
            decision.abandoned,
            decision.why,
        )
        groups.setdefault(key, []).append(slot)
        decided[key] = decision
        repair.owners_after[slot] = decision.owner.node_id
        repair.settled_slots.add(slot)
    for node_id in sorted(facts.waiting):
        repair.notices.append(
            Notice(
                level=NoticeLevel.ERROR,
                address=f"redis_node.{facts.name(node_id)}",
                kind="refused",
                message=f"master {facts.name(node_id)} does not answer but the cluster has not "
                "marked it failed yet; its slots are left alone until it answers or is "
                "marked failed (seconds: cluster-node-timeout), then plan again",
            )
        )
    if groups:
        settlements = [
            decided[key].model_copy(update={"slots": slot_ranges(slots)})
            for key, slots in sorted(groups.items(), key=lambda kv: kv[1][0])
        ]
        both = sum(evidence.duplicates.get(s, (0, 0))[0] for s in repair.settled_slots)
        differing = sum(evidence.duplicates.get(s, (0, 0))[1] for s in repair.settled_slots)
        repair.settle = SettleSlots(groups=settlements, duplicates=both, differing=differing)
    return repair


def _plan_promotions(facts: _Facts, repair: SlotRepair, evidence: SlotEvidence) -> dict[str, str]:
    """Failed masters whose data lives on in a replica — they still own slots, or their
    replica holds keys (the target of an interrupted move dies with keys of slots it was
    importing) — are taken over by their most up to date live replica: dead id -> replica."""
    promoted: dict[str, str] = {}
    for node in facts.obs.failed_nodes():
        if not node.failed:
            continue
        replicas = [
            v
            for v in facts.members.values()
            if v.myself.is_replica and v.myself.master_id == node.id
        ]
        if not replicas or not (node.slots or any(v.dbsize for v in replicas)):
            continue
        chosen = max(
            replicas, key=lambda v: (evidence.offsets.get(v.node_id, 0), v.dbsize, v.endpoint_id)
        )
        promoted[node.id] = chosen.node_id
        repair.promotions.append(
            PromoteReplica(
                node=facts.ref(chosen.node_id),
                failed_master=facts.ref(node.id),
                slots=list(node.slots),
                replication_offset=evidence.offsets.get(chosen.node_id),
            )
        )
        for slot in node.slot_set():
            repair.owners_after[slot] = chosen.node_id
    return promoted


def _decide(
    facts: _Facts,
    evidence: SlotEvidence,
    slot: int,
    promoted: Mapping[str, str],
    counts: Counter[str],
) -> SlotSettlement | None:
    current = facts.owners.get(slot)
    keys = {
        n: c for n, c in evidence.keys.get(slot, {}).items() if c > 0 and n in facts.masters_after
    }
    journal = evidence.journal.get(slot)
    opens = facts.opens.get(slot, [])
    target = _move_target(opens, journal)
    if target is not None and target in promoted:
        target = promoted[target]  # the target died: its replica holds what it had
    source = _move_source(opens, journal)
    if source is not None and source in promoted:
        source = promoted[source]  # the source died: its replica serves its keys now
    elif source is not None and source not in facts.masters and current != target:
        source = current  # the source died and was failed over: the owner is its heir
    if current is None and not keys and not opens and journal is None:
        return None  # merely uncovered: the layout assigns it (ADDSLOTS)
    if current is not None and current not in facts.members and current not in facts.failed:
        # Unreachable from here but not failed in the cluster's eyes: its replica may still
        # take over, or the node come back; deciding now could fight the failover.
        facts.waiting.add(current)
        return None
    owner, why, abandoned = _choose_owner(facts, slot, current, keys, target, promoted, counts)
    if owner is None:
        return None  # no live master at all: nothing to decide with
    drain = sorted(n for n in keys if n != owner)
    open_on = sorted({o.node_id for o in opens if o.node_id in facts.members})
    claims = facts.claims.get(slot, [])
    if not drain and not open_on and claims == [owner] and current == owner:
        return None  # nothing wrong (a finished journal entry)
    promoted_to = promoted.get(current) if current else None
    if promoted_to == owner and not drain and not open_on:
        return None  # the promotion alone settles it
    prefer = source if source is not None and (source == owner or source in drain) else None
    if drain:
        why = why or "keys on a master that does not own it"
    return SlotSettlement(
        slots=[(slot, slot)],
        owner=facts.ref(owner),
        previous_owner=facts.name(current) if current else None,
        drain=[facts.ref(n) for n in drain],
        open_on=[facts.ref(n) for n in open_on],
        prefer=facts.ref(prefer) if prefer else None,
        abandoned=abandoned,
        why=why or _open_why(facts, opens),
    )


def _move_target(opens: list[OpenSlot], journal: tuple[str, str] | None) -> str | None:
    """The target of the interrupted move of a slot: the importing side, else the journal's."""
    for entry in opens:
        if entry.kind == "importing":
            return entry.node_id
    for entry in opens:
        if entry.kind == "migrating":
            return entry.other_id
    return journal[1] if journal else None


def _move_source(opens: list[OpenSlot], journal: tuple[str, str] | None) -> str | None:
    """The source of the interrupted move of a slot: the migrating side, else the journal's."""
    for entry in opens:
        if entry.kind == "migrating":
            return entry.node_id
    for entry in opens:
        if entry.kind == "importing":
            return entry.other_id
    return journal[0] if journal else None


def _choose_owner(
    facts: _Facts,
    slot: int,
    current: str | None,
    keys: Mapping[str, int],
    target: str | None,
    promoted: Mapping[str, str],
    counts: Counter[str],
) -> tuple[str | None, str, bool]:
    """(owner, why, abandoned) for one slot; see the module docstring for the order."""
    masters = facts.masters
    claims = facts.claims.get(slot, [])
    finish = _live_move(facts, slot, claims)
    if finish is not None:
        return finish, f"finishing the move from {facts.name(claims[0])}", False
    if len(claims) == 1:
        return claims[0], "", False
    if claims:
        best = max(claims, key=lambda n: (masters[n].myself.config_epoch, keys.get(n, 0), n))
        return best, "claimed by several masters", False
    if current is not None and current in promoted:
        return promoted[current], "", False
    votes = Counter(m.get(slot) for m in facts.maps)
    named = [n for n, _ in votes.most_common() if n in masters]
    if named:
        return named[0], "", False
    dead = current is not None and current not in masters
    if keys:
        best = max(keys, key=lambda n: (keys[n], n == target, n))
        return best, f"owner {facts.name(current)} is gone", dead
    if target in masters:
        return target, f"owner {facts.name(current)} is gone", dead
    if not masters:
        return None, "", False
    least = min(masters, key=lambda n: (counts.get(n, 0), n))
    counts[least] += 1
    if current is None:
        return least, "served by no node", False
    return least, f"owner {facts.name(current)} is failed with no replica", True


def _live_move(facts: _Facts, slot: int, claims: list[str]) -> str | None:
    """The target of a move both of whose sides still answer and are still open (the owner
    MIGRATING to it, it IMPORTING from the owner): the move is finished, like
    ``redis-cli --cluster fix`` does."""
    if len(claims) != 1:
        return None
    owner = claims[0]
    opens = facts.opens.get(slot, [])
    for entry in opens:
        if entry.kind == "migrating" and entry.node_id == owner and entry.other_id in facts.masters:
            importing = any(
                o.kind == "importing" and o.node_id == entry.other_id and o.other_id == owner
                for o in opens
            )
            if importing:
                return entry.other_id
    return None


def _open_why(facts: _Facts, opens: list[OpenSlot]) -> str:
    parts = []
    for entry in opens:
        verb = "importing from" if entry.kind == "importing" else "migrating to"
        where = facts.name(entry.node_id)
        if entry.seen_on:
            where = f"replica {facts.name(entry.seen_on)} only (closed through its master {where})"
        parts.append(f"{verb} {facts.name(entry.other_id)} on {where}")
    return "open: " + ", ".join(parts) if parts else "interrupted move"


def settled_refs(settle: SettleSlots | None) -> list[NodeRef]:
    """Every node a settlement touches (for tests and the applier)."""
    if settle is None:
        return []
    refs: dict[str, NodeRef] = {}
    for group in settle.groups:
        for ref in [group.owner, *group.drain, *group.open_on]:
            refs[ref.node_id] = ref
    return list(refs.values())
