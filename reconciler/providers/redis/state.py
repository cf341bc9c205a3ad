"""The live model of a Redis Cluster, parsed from ``CLUSTER NODES`` / ``CLUSTER INFO`` text.

Pure: no I/O. One :class:`NodeView` is what one node believes about the cluster; a
:class:`ClusterObservation` puts every node's view together and answers the questions the
planner and ``redis verify`` ask (who owns which slot, which slots are open, do all nodes
agree on the slot map, which nodes are failed or address-less).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from msgspec import Struct, field

SLOT_COUNT = 16384


class ClusterNode(Struct, frozen=True):
    """One line of ``CLUSTER NODES``."""

    id: str
    ip: str  # "" when the node has no known address (noaddr, or a fresh node's own line)
    port: int
    bus_port: int
    hostname: str | None
    flags: frozenset[str]
    master_id: str | None
    ping_sent: int
    pong_received: int
    config_epoch: int
    link_state: str
    slots: tuple[tuple[int, int], ...] = ()
    migrating: tuple[tuple[int, str], ...] = ()  # (slot, destination node id)
    importing: tuple[tuple[int, str], ...] = ()  # (slot, source node id)

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def myself(self) -> bool:
        return "myself" in self.flags

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def is_replica(self) -> bool:
        return "slave" in self.flags or "replica" in self.flags

    @property
    def failed(self) -> bool:
        return "fail" in self.flags

    @property
    def possibly_failed(self) -> bool:
        return "fail?" in self.flags or "pfail" in self.flags

    @property
    def no_address(self) -> bool:
        return "noaddr" in self.flags

    @property
    def in_handshake(self) -> bool:
        return "handshake" in self.flags

    @property
    def slot_count(self) -> int:
        return sum(end - start + 1 for start, end in self.slots)

    def slot_set(self) -> set[int]:
        return {s for start, end in self.slots for s in range(start, end + 1)}


class ClusterInfo(Struct, frozen=True):
    """``CLUSTER INFO`` fields (all of them in ``fields``, the common ones typed)."""

    state: str
    slots_assigned: int
    slots_ok: int
    slots_pfail: int
    slots_fail: int
    known_nodes: int
    size: int
    current_epoch: int
    my_epoch: int
    fields: dict[str, str] = field(default_factory=dict)


def _int(text: str, default: int = 0) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def parse_cluster_info(text: str | bytes) -> ClusterInfo:
    """Parse ``CLUSTER INFO``; unknown fields are kept in ``fields``."""
    if isinstance(text, bytes):
        text = text.decode()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields[key] = value.strip()
    if "cluster_state" not in fields:
        raise ValueError(f"not CLUSTER INFO output: {text[:80]!r}")
    return ClusterInfo(
        state=fields.get("cluster_state", "unknown"),
        slots_assigned=_int(fields.get("cluster_slots_assigned", "0")),
        slots_ok=_int(fields.get("cluster_slots_ok", "0")),
        slots_pfail=_int(fields.get("cluster_slots_pfail", "0")),
        slots_fail=_int(fields.get("cluster_slots_fail", "0")),
        known_nodes=_int(fields.get("cluster_known_nodes", "0")),
        size=_int(fields.get("cluster_size", "0")),
        current_epoch=_int(fields.get("cluster_current_epoch", "0")),
        my_epoch=_int(fields.get("cluster_my_epoch", "0")),
        fields=fields,
    )


def _parse_address(text: str) -> tuple[str, int, int, str | None]:
    """``ip:port@cport[,hostname]`` → (ip, port, bus port, hostname)."""
    hostname = None
    if "," in text:
        text, hostname = text.split(",", 1)
        hostname = hostname or None
    address, _, bus = text.partition("@")
    ip, _, port = address.rpartition(":")
    ip = ip.strip("[]")
    return ip, _int(port), _int(bus), hostname


def parse_cluster_nodes(text: str | bytes) -> list[ClusterNode]:
    """Parse ``CLUSTER NODES`` (one node per line) into :class:`ClusterNode` objects."""
    if isinstance(text, bytes):
        text = text.decode()
    nodes = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 8 or len(parts[0]) != 40:
            raise ValueError(f"not a CLUSTER NODES line: {line[:80]!r}")
        node_id, address, flags, master, ping, pong, epoch, link = parts[:8]
        ip, port, bus, hostname = _parse_address(address)
        slots: list[tuple[int, int]] = []
        migrating: list[tuple[int, str]] = []
        importing: list[tuple[int, str]] = []
        for item in parts[8:]:
            if item.startswith("["):
                body = item.strip("[]")
                if "->-" in body:
                    slot, other = body.split("->-")
                    migrating.append((int(slot), other))
                elif "-<-" in body:
                    slot, other = body.split("-<-")
                    importing.append((int(slot), other))
                continue
            start, _, end = item.partition("-")
            slots.append((int(start), int(end or start)))
        nodes.append(
            ClusterNode(
                id=node_id,
                ip=ip,
                port=port,
                bus_port=bus,
                hostname=hostname,
                flags=frozenset(f for f in flags.split(",") if f and f != "noflags"),
                master_id=None if master == "-" else master,
                ping_sent=_int(ping),
                pong_received=_int(pong),
                config_epoch=_int(epoch),
                link_state=link,
                slots=tuple(slots),
                migrating=tuple(migrating),
                importing=tuple(importing),
            )
        )
    return nodes


def slot_ranges(slots: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, merged inclusive ranges: {0,1,2,5} → [(0, 2), (5, 5)]."""
    ranges: list[tuple[int, int]] = []
    for slot in sorted(set(slots)):
        if ranges and ranges[-1][1] == slot - 1:
            ranges[-1] = (ranges[-1][0], slot)
        else:
            ranges.append((slot, slot))
    return ranges


def format_ranges(ranges: Iterable[Sequence[int]] | Iterable[int], limit: int = 6) -> str:
    """``0-4095,8192`` style text; long lists are shortened with ``(+N more ranges)``."""
    items = list(ranges)
    pairs: list[tuple[int, int]]
    if items and isinstance(items[0], int):
        pairs = slot_ranges(int(i) for i in items)  # type: ignore[call-overload]
    else:
        pairs = [(int(r[0]), int(r[1])) for r in items]  # type: ignore[index]
    texts = [f"{a}-{b}" if a != b else f"{a}" for a, b in pairs]
    if len(texts) > limit:
        return ",".join(texts[:limit]) + f" (+{len(texts) - limit} more ranges)"
    return ",".join(texts)


def expand_ranges(ranges: Iterable[Sequence[int]]) -> list[int]:
    return [s for start, end in ranges for s in range(start, end + 1)]


class NodeView(Struct, frozen=True):
    """What one reachable node reports: its CLUSTER NODES / CLUSTER INFO and key count."""

    endpoint_id: str  # the transport endpoint that answered
    address: str  # the endpoint's address as other nodes should see it
    host: str
    zone: str | None
    nodes: tuple[ClusterNode, ...]
    info: ClusterInfo
    dbsize: int

    @property
    def myself(self) -> ClusterNode:
        for node in self.nodes:
            if node.myself:
                return node
        raise ValueError(f"{self.endpoint_id}: CLUSTER NODES has no 'myself' line")

    @property
    def node_id(self) -> str:
        return self.myself.id

    @property
    def is_bare(self) -> bool:
        """Knows no other node and serves no slot: free to join or create a cluster."""
        me = self.myself
        return self.info.known_nodes <= 1 and not me.slots and len(self.nodes) <= 1

    def slot_map(self) -> dict[int, str]:
        """slot → owner id, as this node believes."""
        owners: dict[int, str] = {}
        for node in self.nodes:
            for start, end in node.slots:
                for slot in range(start, end + 1):
                    owners[slot] = node.id
        return owners

    def slot_map_signature(self) -> tuple[tuple[str, tuple[tuple[int, int], ...]], ...]:
        """A comparable form of the slot map (owner → ranges), ignoring failed bookkeeping."""
        return tuple(sorted((n.id, n.slots) for n in self.nodes if n.slots))


class OpenSlot(Struct, frozen=True):
    """A slot MIGRATING or IMPORTING on ``node_id``, the master that ``SETSLOT`` closes it on.

    ``seen_on``: a replica that shows the slot open while its master (``node_id``) does not.
    Valkey 8 replicas take their master's slot states by replication; one whose full sync
    ended during a move can keep a slot open that its master closed (see
    :meth:`~reconciler.providers.redis.resharding.Resharder.close_on_replicas`). A
    ``SETSLOT STABLE`` on its master, replicated, closes it there.
    """

    slot: int
    node_id: str
    kind: str  # "migrating" or "importing"
    other_id: str
    seen_on: str = ""


class ClusterObservation(Struct):
    """Everything read from the live nodes in one pass."""

    views: list[NodeView]
    unreachable: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # (endpoint, address, reason)

    # ------------------------------------------------------------------ membership

    @property
    def members(self) -> list[NodeView]:
        """Reachable nodes that are part of a cluster (not bare)."""
        return [v for v in self.views if not v.is_bare]

    @property
    def bare(self) -> list[NodeView]:
        return [v for v in self.views if v.is_bare]

    def view_by_node_id(self, node_id: str) -> NodeView | None:
        for view in self.views:
            if view.node_id == node_id:
                return view
        return None

    def reference(self) -> NodeView | None:
        """The member whose view is most authoritative: a master knowing the most nodes."""
        members = self.members
        if not members:
            return None
        return max(
            members,
            key=lambda v: (
                v.info.state == "ok",
                v.myself.is_master,
                len(v.nodes),
                v.info.current_epoch,
                v.endpoint_id,
            ),
        )

    def known_nodes(self) -> dict[str, ClusterNode]:
        """Every node any member knows, by id; a node's own line wins over hearsay."""
        merged: dict[str, ClusterNode] = {}
        ref = self.reference()
        ordered = ([ref] if ref else []) + [v for v in self.members if v is not ref]
        for view in ordered:
            for node in view.nodes:
                merged.setdefault(node.id, node)
        # A node's self-description is authoritative for role and slots.
        for view in self.members:
            me = view.myself
            hearsay = merged.get(me.id)
            merged[me.id] = me if hearsay is None else _merge_self(hearsay, me)
        return merged

    def live_members(self) -> dict[str, NodeView]:
        return {v.node_id: v for v in self.members}

    def name_of(self, node_id: str) -> str:
        """The one name of a node in addresses and notices: the endpoint it answers at
        (``host:port`` as given, or its pod name); for a node no endpoint answers for, the
        endpoint that did not answer at its address, else the ``ip:port`` the cluster last
        knew it at (else its id, when no node ever had an address for it)."""
        view = self.view_by_node_id(node_id)
        if view is not None:
            return view.endpoint_id
        node = self.known_nodes().get(node_id)
        if node is None or not node.ip:
            return node_id
        for endpoint, address, _reason in self.unreachable:
            if address == node.address:
                return endpoint
        return node.address

    # ------------------------------------------------------------------ health

    def failed_nodes(self) -> list[ClusterNode]:
        """Nodes the reference view flags fail / noaddr (candidates for CLUSTER FORGET)."""
        ref = self.reference()
        if ref is None:
            return []
        live = set(self.live_members())
        return [n for n in ref.nodes if (n.failed or n.no_address) and n.id not in live]

    def suspect_nodes(self) -> list[ClusterNode]:
        ref = self.reference()
        if ref is None:
            return []
        return [n for n in ref.nodes if n.possibly_failed and not n.failed]

    def open_slots(self) -> list[OpenSlot]:
        """Open slots of the reachable masters, and those a replica shows that its master
        does not (Valkey 8 replicas otherwise mirror their master's)."""
        found: list[OpenSlot] = []
        masters = {v.node_id: v.myself for v in self.members if v.myself.is_master}
        for view in self.members:
            me = view.myself
            if me.is_master:
                found += [OpenSlot(s, me.id, "migrating", o) for s, o in me.migrating]
                found += [OpenSlot(s, me.id, "importing", o) for s, o in me.importing]
                continue
            master = masters.get(me.master_id or "")
            if master is None:  # its master's own state is unknown here
                continue
            for kind, mine, theirs in (
                ("migrating", me.migrating, master.migrating),
                ("importing", me.importing, master.importing),
            ):
                found += [
                    OpenSlot(s, master.id, kind, o, seen_on=me.id)
                    for s, o in sorted(set(mine) - set(theirs))
                ]
        return sorted(found, key=lambda o: (o.slot, o.kind, o.node_id, o.seen_on))

    def slot_owners(self) -> dict[int, str]:
        """slot → owner id, according to the owners themselves (falling back to hearsay)."""
        owners: dict[int, str] = {}
        ref = self.reference()
        if ref is not None:
            owners.update(ref.slot_map())
        for view in self.members:
            me = view.myself
            for slot in me.slot_set():
                owners[slot] = me.id
        return owners

    def uncovered_slots(self) -> list[int]:
        owners = self.slot_owners()
        return [s for s in range(SLOT_COUNT) if s not in owners]

    def disagreements(self) -> list[str]:
        """Members whose slot map differs from the majority's (empty when all agree)."""
        members = self.members
        if len(members) < 2:
            return []
        signatures = Counter(v.slot_map_signature() for v in members)
        majority, _ = signatures.most_common(1)[0]
        return sorted(v.endpoint_id for v in members if v.slot_map_signature() != majority)

    def config_consistent(self) -> bool:
        """All members agree on the slot map and on the set of known nodes."""
        members = self.members
        if not members:
            return True
        if self.disagreements():
            return False
        node_sets = {frozenset(n.id for n in v.nodes) for v in members}
        return len(node_sets) == 1

    def masters(self) -> list[ClusterNode]:
        """Masters that serve slots or are reachable masters of the cluster, by address."""
        known = self.known_nodes()
        return sorted(
            (
                n
                for n in known.values()
                if n.is_master
                and not n.failed
                and not n.no_address
                and (n.slots or n.id in self.live_members())
            ),
            key=lambda n: (n.ip, n.port, n.id),
        )

    def replicas_of(self, master_id: str) -> list[ClusterNode]:
        known = self.known_nodes()
        return sorted(
            (
                n
                for n in known.values()
                if n.is_replica and n.master_id == master_id and not n.failed
            ),
            key=lambda n: (n.ip, n.port, n.id),
        )

    def walk(self) -> Iterator[tuple[NodeView, ClusterNode]]:
        for view in self.views:
            for node in view.nodes:
                yield view, node


def _merge_self(hearsay: ClusterNode, me: ClusterNode) -> ClusterNode:
    """A node's own line lacks its address before it met anyone; keep the known address."""
    if me.ip or not hearsay.ip:
        return me
    return ClusterNode(
        id=me.id,
        ip=hearsay.ip,
        port=hearsay.port,
        bus_port=hearsay.bus_port,
        hostname=me.hostname,
        flags=me.flags,
        master_id=me.master_id,
        ping_sent=me.ping_sent,
        pong_received=me.pong_received,
        config_epoch=me.config_epoch,
        link_state=me.link_state,
        slots=me.slots,
        migrating=me.migrating,
        importing=me.importing,
    )
