"""The typed steps of a Redis plan: one :class:`Payload` model per kind of change (pure).

Every Redis change is built from exactly one of these models (:func:`to_change`): the model
is what ``apply`` executes (matched on its type in :mod:`.applying`), and the only source of
the change's address, displayed attributes, reason, risks and human steps. A saved plan is
checked against :data:`RedisStep` on load (:meth:`RedisClusterProvider.check_saved`).

Addresses (docs/plan-format.md, "Addresses"): a node is always ``redis_node.<name>`` where
``<name>`` is :attr:`NodeRef.name` — the endpoint it answers at (``host:port`` as given, or
its pod name), or, for a node no endpoint answers for (a dead node known only from the
cluster's node table), the ``ip:port`` the cluster last knew it at. Node ids are in the
payload, never in an address.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from reconciler.engine.payloads import Payload, change_from_payload
from reconciler.engine.plan import Action, Change, Risk
from reconciler.model_defaults import new_list
from reconciler.providers.redis.state import (
    SLOT_COUNT,
    ClusterObservation,
    NodeView,
    expand_ranges,
    format_ranges,
)

PROVIDER = "redis"


def _move_rate(text: str) -> str:
    from reconciler.spec.units import parse_move_rate

    parse_move_rate(text)  # raises ValueError with the reason
    return text


SlotRanges = list[tuple[int, int]]


class NodeRef(BaseModel):
    """A node as a step refers to it: its id (what apply addresses), its address as the
    cluster sees it, its name (the address scheme) and its placement."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_id: str = Field(min_length=40, max_length=40, pattern="^[0-9a-f]{40}$")
    address: str
    name: str
    host: str = ""
    zone: str | None = None

    @property
    def short(self) -> str:
        return self.node_id[:12]


def node_ref(observation: ClusterObservation, node_id: str) -> NodeRef:
    """The reference to a node the observation knows (reachable, or by hearsay)."""
    view = observation.view_by_node_id(node_id)
    if view is not None:
        return view_ref(view)
    node = observation.known_nodes().get(node_id)
    return NodeRef(
        node_id=node_id,
        address=node.address if node is not None else "",
        name=observation.name_of(node_id),
    )


def view_ref(view: NodeView) -> NodeRef:
    return NodeRef(
        node_id=view.node_id,
        address=view.address,
        name=view.endpoint_id,
        host=view.host,
        zone=view.zone,
    )


def node_address(name: str) -> str:
    """A live node (or one whose endpoint is known but does not answer)."""
    return f"redis_node.{name}"


def forget_address(node_id: str) -> str:
    """The entry of a node no endpoint answers for (dead, replaced) in the others' tables."""
    return f"redis_repair.forget_{node_id[:12]}"


def settle_address(slots: Sequence[int]) -> str:
    """A group of slots to settle: ``open_slot_N`` (one slot), ``open_slots_FIRST-LAST``."""
    first, last = min(slots), max(slots)
    return (
        f"redis_repair.open_slot_{first}"
        if first == last
        else (f"redis_repair.open_slots_{first}-{last}")
    )


def _ranges_text(ranges: Sequence[Sequence[int]]) -> str:
    return format_ranges(ranges, limit=SLOT_COUNT)


def _count(ranges: Sequence[Sequence[int]]) -> int:
    return sum(int(b) - int(a) + 1 for a, b in ranges)


class _Step(Payload):
    """What every step knows about the change it is (the engine only sees the result)."""

    def address(self) -> str:
        raise NotImplementedError

    def action(self) -> Action:
        return Action.UPDATE

    def risks(self) -> frozenset[Risk]:
        return frozenset()

    def reason(self) -> str:
        raise NotImplementedError

    def lines(self) -> tuple[str, ...]:
        raise NotImplementedError

    def before(self) -> dict[str, Any]:
        return {}


# --------------------------------------------------------------------------- create


class CreateMaster(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    node: NodeRef
    slots: SlotRanges


class CreateReplica(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    node: NodeRef
    master: NodeRef


class CreateCluster(_Step):
    """Bare nodes become a cluster: slots split over the masters, replicas attached."""

    kind: Literal["create_cluster"] = "create_cluster"
    cluster: str
    masters: list[CreateMaster]
    replicas: list[CreateReplica] = Field(default_factory=new_list)

    @property
    def members(self) -> list[NodeRef]:
        return [m.node for m in self.masters] + [r.node for r in self.replicas]

    def address(self) -> str:
        return f"redis_cluster.{self.cluster}"

    def action(self) -> Action:
        return Action.CREATE

    def displayed(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "masters": len(self.masters),
            "replicas": len(self.replicas),
            "slots_assigned": sum(_count(m.slots) for m in self.masters),
        }
        for master in self.masters:
            shown[f"master.{master.node.name}"] = _ranges_text(master.slots)
        for replica in self.replicas:
            shown[f"replica.{replica.node.name}"] = replica.master.name
        return shown

    def reason(self) -> str:
        return f"{len(self.members)} bare nodes, no cluster yet"

    def lines(self) -> tuple[str, ...]:
        return tuple(
            [
                f"master {m.node.address} ({m.node.host}) slots {format_ranges(m.slots)}"
                for m in self.masters
            ]
            + [
                f"replica {r.node.address} ({r.node.host}) of {r.master.address}"
                for r in self.replicas
            ]
        )


# --------------------------------------------------------------------------- nodes


class JoinNode(_Step):
    """A bare node meets the cluster, as a master (slots come by moves) or as a replica."""

    kind: Literal["join"] = "join"
    node: NodeRef
    role: Literal["master", "replica"]
    master: NodeRef | None = None  # for a replica

    def address(self) -> str:
        return node_address(self.node.name)

    def action(self) -> Action:
        return Action.CREATE

    def displayed(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"member": True, "role": self.role}
        if self.master is not None:
            shown["replica_of"] = self.master.name
        return shown

    def reason(self) -> str:
        return f"joins the cluster as a {self.role}"

    def lines(self) -> tuple[str, ...]:
        lines = [f"CLUSTER MEET {self.node.address} (node {self.node.short})"]
        if self.master is not None:
            lines.append(
                f"CLUSTER REPLICATE {self.master.short} on {self.node.address} "
                f"(replica of {self.master.address})"
            )
        return tuple(lines)


class ReintroduceNode(_Step):
    """A member answers at an address some members cannot reach it at (a pod restarted with
    a new IP): CLUSTER MEET it again by id, from every member."""

    kind: Literal["reintroduce"] = "reintroduce"
    node: NodeRef
    old_address: str | None = None  # None: the cluster lost it entirely

    def address(self) -> str:
        return node_address(self.node.name)

    def risks(self) -> frozenset[Risk]:
        return frozenset()

    def displayed(self) -> dict[str, Any]:
        return {"address": self.node.address}

    def before(self) -> dict[str, Any]:
        return {"address": self.old_address}

    def reason(self) -> str:
        if self.old_address is None:
            return f"node {self.node.short} is not known to the cluster"
        return (
            f"node {self.node.short} answers at {self.node.address}; the cluster knows it "
            f"at {self.old_address}"
        )

    def lines(self) -> tuple[str, ...]:
        return (
            f"re-introduce node {self.node.short} at its new address {self.node.address} "
            "(CLUSTER MEET)",
        )


class ReplicateNode(_Step):
    """A member becomes (or moves to become) the replica of a master."""

    kind: Literal["replicate"] = "replicate"
    node: NodeRef
    master: NodeRef
    previous_master: NodeRef | None = None

    def address(self) -> str:
        return node_address(self.node.name)

    def risks(self) -> frozenset[Risk]:
        # A replica that changes master resyncs its data from scratch.
        return frozenset({Risk.DISRUPTIVE}) if self.previous_master else frozenset()

    def displayed(self) -> dict[str, Any]:
        return {"replica_of": self.master.name}

    def before(self) -> dict[str, Any]:
        return {"replica_of": self.previous_master.name if self.previous_master else None}

    def reason(self) -> str:
        return (
            "replicas rebalanced across masters"
            if self.previous_master
            else ("a master lacks replicas")
        )

    def lines(self) -> tuple[str, ...]:
        return (
            f"CLUSTER REPLICATE {self.master.short} on {self.node.address} "
            f"(replica of {self.master.address})",
        )


class PromoteReplica(_Step):
    """A failed master still owns slots and its replica did not take over: the replica
    takes over without the failed master's agreement (CLUSTER FAILOVER TAKEOVER)."""

    kind: Literal["promote"] = "promote"
    node: NodeRef
    failed_master: NodeRef
    slots: SlotRanges
    replication_offset: int | None = None  # 0: it never synced (its master's data is lost)

    def address(self) -> str:
        return node_address(self.node.name)

    def risks(self) -> frozenset[Risk]:
        if self.replication_offset == 0 and self.slots:
            return frozenset({Risk.DISRUPTIVE, Risk.DATA_LOSS})
        return frozenset({Risk.DISRUPTIVE})

    def displayed(self) -> dict[str, Any]:
        return {"role": "master", "slots": _ranges_text(self.slots) or None}

    def before(self) -> dict[str, Any]:
        return {"role": "replica", "slots": None}

    def reason(self) -> str:
        what = (
            f"still owns {_count(self.slots)} slots"
            if self.slots
            else "left keys of an interrupted move on it"
        )
        synced = (
            "; this replica never synced: the master's keys are lost"
            if self.replication_offset == 0
            else ""
        )
        return f"its master {self.failed_master.address} is failed and {what}{synced}"

    def lines(self) -> tuple[str, ...]:
        return (
            f"CLUSTER FAILOVER TAKEOVER on {self.node.address} (a live replica of the "
            f"failed {self.failed_master.address}; it takes over without a vote)",
        )


class ForgetNode(_Step):
    """A failed or address-less node is removed from every live node's table."""

    kind: Literal["forget"] = "forget"
    node: NodeRef
    why: Literal["failed", "address-less"]
    role: Literal["master", "replica"]

    def address(self) -> str:
        return forget_address(self.node.node_id)

    def action(self) -> Action:
        return Action.DELETE

    def risks(self) -> frozenset[Risk]:
        return frozenset({Risk.DESTRUCTIVE})

    def displayed(self) -> dict[str, Any]:
        return {"member": None, "role": None}

    def before(self) -> dict[str, Any]:
        return {"member": True, "role": self.role}

    def reason(self) -> str:
        return f"{self.why} {self.role} {self.node.address} is still known to the cluster"

    def lines(self) -> tuple[str, ...]:
        return (f"CLUSTER FORGET {self.node.node_id} on every live node",)


class RemoveNode(_Step):
    """A live node the layout has no place for leaves (a master after its slots moved)."""

    kind: Literal["remove"] = "remove"
    node: NodeRef
    role: Literal["master", "replica"]
    slots: int = 0  # slots it served when planned (they move first)

    def address(self) -> str:
        return node_address(self.node.name)

    def action(self) -> Action:
        return Action.DELETE

    def risks(self) -> frozenset[Risk]:
        return frozenset({Risk.DESTRUCTIVE, Risk.DISRUPTIVE})

    def displayed(self) -> dict[str, Any]:
        return {"member": None, "role": None}

    def before(self) -> dict[str, Any]:
        return {"member": True, "role": self.role}

    def reason(self) -> str:
        return f"the layout has no place for this {self.role}"

    def lines(self) -> tuple[str, ...]:
        return (
            f"CLUSTER FORGET {self.node.short} on every other node",
            f"CLUSTER RESET HARD on {self.node.address} (it leaves the cluster empty)",
        )


# --------------------------------------------------------------------------- slots


class AssignSlots(_Step):
    """Slots served by nobody (and holding no key anywhere) are given to a master."""

    kind: Literal["assign_slots"] = "assign_slots"
    node: NodeRef
    slots: SlotRanges

    def address(self) -> str:
        return f"redis_repair.uncovered_slots_{self.node.name}"

    def risks(self) -> frozenset[Risk]:
        return frozenset({Risk.DISRUPTIVE})

    def displayed(self) -> dict[str, Any]:
        return {"owner": self.node.name, "slots": _ranges_text(self.slots)}

    def reason(self) -> str:
        return f"{_count(self.slots)} slots are served by no node"

    def lines(self) -> tuple[str, ...]:
        return (
            f"assign {_count(self.slots)} uncovered slots {format_ranges(self.slots)} "
            f"to {self.node.address}",
        )


class MoveSlots(_Step):
    """Slots move from one master to another, key by key (MIGRATE), resumable."""

    kind: Literal["move_slots"] = "move_slots"
    source: NodeRef
    target: NodeRef
    slots: SlotRanges
    estimated_keys: int | None = None
    # The limit of the whole apply's moves (``2000keys/s``, ``20971520/s``); None: unlimited.
    rate_limit: Annotated[str, AfterValidator(_move_rate)] | None = None

    @property
    def count(self) -> int:
        return _count(self.slots)

    def slot_list(self) -> list[int]:
        return expand_ranges(self.slots)

    def address(self) -> str:
        return f"redis_slots.{self.source.name}->{self.target.name}"

    def risks(self) -> frozenset[Risk]:
        return frozenset({Risk.SLOW})

    def displayed(self) -> dict[str, Any]:
        return {
            "owner": self.target.name,
            "slots": _ranges_text(self.slots),
            "slot_count": self.count,
            "estimated_keys": self.estimated_keys,
        }

    def before(self) -> dict[str, Any]:
        return {"owner": self.source.name}

    def reason(self) -> str:
        return "rebalance slots across the masters"

    def lines(self) -> tuple[str, ...]:
        estimate = f" (~{self.estimated_keys:,} keys)" if self.estimated_keys is not None else ""
        if self.rate_limit:
            from reconciler.spec.units import parse_move_rate

            estimate += f", at most {parse_move_rate(self.rate_limit)} for all moves"
        return (
            f"move {self.count} slots {format_ranges(self.slots)} from "
            f"{self.source.address} to {self.target.address}{estimate}",
        )


class SlotSettlement(BaseModel):
    """How a group of slots is brought back to one owner.

    ``drain``: nodes that hold keys of these slots without owning them; their keys are
    migrated to the owner (a key present on both sides is resolved by ``prefer``).
    ``open_on``: nodes where the slots are MIGRATING/IMPORTING (set STABLE).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    slots: SlotRanges
    owner: NodeRef
    previous_owner: str | None = None  # name of the owner before (None: nobody)
    drain: list[NodeRef] = Field(default_factory=new_list)
    open_on: list[NodeRef] = Field(default_factory=new_list)
    # When a key exists on a drained node and on the owner with different values: whose copy
    # wins. The interrupted move's source (or the replica that took it over) holds the copy
    # written last: a move deletes a key on the source only after the target and its
    # replicas hold it, and until then the source serves it (writes go there).
    prefer: NodeRef | None = None
    # The previous owner is failed with no replica: its copies of these slots' keys are lost.
    abandoned: bool = False
    why: str


class SettleSlots(_Step):
    """Open slots, slots owned by a dead node and keys left behind by an interrupted move
    are settled in one change: each slot gets one owner decided from the live majority view
    and the keys each node holds; keys go to the owner; SETSLOT NODE on every reachable
    node. Nothing waits for agreement from a node that cannot answer."""

    kind: Literal["settle_slots"] = "settle_slots"
    groups: list[SlotSettlement]
    duplicates: int = 0  # keys found on two nodes when planned
    differing: int = 0  # ... of which with different values (the loser's copy is dropped)

    def address(self) -> str:
        return settle_address([s for g in self.groups for s in (g.slots[0][0], g.slots[-1][1])])

    def risks(self) -> frozenset[Risk]:
        risks = {Risk.DISRUPTIVE}
        if self.differing or any(g.abandoned for g in self.groups):
            risks.add(Risk.DATA_LOSS)
        return frozenset(risks)

    def displayed(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"state": "stable"}
        for group in self.groups:
            shown[f"owner.{_ranges_text(group.slots)}"] = group.owner.name
        shown["duplicate_keys"] = self.duplicates
        shown["differing_duplicate_keys"] = self.differing
        return shown

    def before(self) -> dict[str, Any]:
        return {f"owner.{_ranges_text(group.slots)}": group.previous_owner for group in self.groups}

    def reason(self) -> str:
        count = sum(_count(g.slots) for g in self.groups)
        return f"{count} slot(s) are open, orphaned or have keys on a node that does not own them"

    def lines(self) -> tuple[str, ...]:
        lines = []
        for group in self.groups:
            text = f"slots {format_ranges(group.slots)} ({group.why}): owner {group.owner.address}"
            if group.drain:
                text += "; migrate their keys from " + ", ".join(n.address for n in group.drain)
            if group.prefer is not None:
                text += (
                    f"; a key on both sides with different values keeps {group.prefer.address}'s "
                    "copy (the source of the interrupted move: it served the key until its copy "
                    "was deleted, so it holds the copy written last)"
                )
            if group.open_on:
                text += "; SETSLOT STABLE on " + ", ".join(n.address for n in group.open_on)
            lines.append(text + "; SETSLOT NODE on every reachable node")
        if self.duplicates:
            lines.append(
                f"{self.duplicates} key(s) exist on two nodes ({self.differing} with different "
                "values): of identical copies the owner's is kept; of differing ones the "
                "preferred copy is kept and the other deleted"
            )
        return tuple(lines)


AnyStep = (
    CreateCluster
    | JoinNode
    | ReintroduceNode
    | ReplicateNode
    | PromoteReplica
    | ForgetNode
    | RemoveNode
    | AssignSlots
    | MoveSlots
    | SettleSlots
)
#: The payload union a saved Redis change is checked against (discriminated by ``kind``).
RedisStep = Annotated[AnyStep, Field(discriminator="kind")]


def to_change(step: AnyStep) -> Change:
    """The engine change that carries out ``step`` (everything derived from the step)."""
    address = step.address()
    resource_type, _, name = address.partition(".")
    return change_from_payload(
        step,
        before=step.before(),
        address=address,
        provider=PROVIDER,
        resource_type=resource_type,
        name=name,
        action=step.action(),
        risks=step.risks(),
        reason=step.reason(),
        steps=step.lines(),
    )
