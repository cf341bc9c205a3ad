"""Synthetic cluster observations for planner tests (rendered as real CLUSTER NODES text)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reconciler.providers.redis.state import (
    ClusterObservation,
    NodeView,
    parse_cluster_info,
    parse_cluster_nodes,
    slot_ranges,
)


def nid(n: int) -> str:
    return f"{n:040x}"


@dataclass
class N:
    """One node: number, role, master number, slots, host, keys."""

    n: int
    role: str = "master"  # master | replica | bare
    master: int | None = None
    slots: Sequence[int] = ()
    host: str = "h0"
    zone: str | None = None
    keys: int = 0
    flags: set[str] = field(default_factory=set)
    migrating: dict[int, int] = field(default_factory=dict)
    importing: dict[int, int] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"10.0.0.{self.n}:6379"


def _line(node: N, me: bool) -> str:
    flags = set(node.flags)
    flags.add("master" if node.role != "replica" else "slave")
    if me:
        flags.add("myself")
    parts = [
        nid(node.n),
        f"{node.address}@16379",
        ",".join(sorted(flags)),
        nid(node.master) if node.master is not None else "-",
        "0",
        "0",
        "1",
        "connected",
    ]
    parts += [f"{a}-{b}" if a != b else str(a) for a, b in slot_ranges(node.slots)]
    if me:
        parts += [f"[{s}->-{nid(t)}]" for s, t in node.migrating.items()]
        parts += [f"[{s}-<-{nid(t)}]" for s, t in node.importing.items()]
    return " ".join(parts)


def observe(nodes: Sequence[N], down: Sequence[int] = ()) -> ClusterObservation:
    """Every node's view of the same cluster; bare nodes only know themselves."""
    members = [n for n in nodes if n.role != "bare"]
    assigned = sum(len(n.slots) for n in members)
    views = []
    for node in nodes:
        if node.n in down:
            continue
        if node.role == "bare":
            text = f"{nid(node.n)} :6379@16379 myself,master - 0 0 0 connected\n"
            info = "cluster_state:fail\ncluster_slots_assigned:0\ncluster_known_nodes:1\n"
        else:
            text = "\n".join(_line(n, n is node) for n in members) + "\n"
            state = "ok" if assigned == 16384 else "fail"
            info = (
                f"cluster_state:{state}\ncluster_slots_assigned:{assigned}\n"
                f"cluster_slots_ok:{assigned}\ncluster_known_nodes:{len(members)}\n"
                f"cluster_size:{sum(1 for n in members if n.slots)}\n"
            )
        views.append(
            NodeView(
                node.address,
                node.address,
                node.host,
                node.zone,
                tuple(parse_cluster_nodes(text)),
                parse_cluster_info(info),
                node.keys,
            )
        )
    unreachable = [(n.address, n.address, "connection refused") for n in nodes if n.n in down]
    return ClusterObservation(views, unreachable)


def even(masters: int) -> list[range]:
    from reconciler.providers.redis.layout import split_slots

    return [range(a, b + 1) for a, b in split_slots(masters)]
