"""Replica placement: which spare node replicates which master (pure, no I/O).

The rule: a replica should not share a failure domain with its master. Failure domains are
the host (an IP in direct mode, a Kubernetes node name) and, for ``spread-zones``, the zone.
Where the topology cannot satisfy the rule for every master, the best possible assignment is
still returned (maximum matching, strict edges first) and the violations are reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from msgspec import Struct

SPREAD_HOSTS = "spread-hosts"
SPREAD_ZONES = "spread-zones"
NO_PLACEMENT = "none"


class Placed(Struct, frozen=True):
    """A node with its placement identity."""

    id: str
    host: str
    zone: str | None = None


def _levels(policy: str) -> int:
    return {SPREAD_ZONES: 3, SPREAD_HOSTS: 3}.get(policy, 1)


def edge_level(master: Placed, candidate: Placed, siblings: Sequence[Placed], policy: str) -> int:
    """0 is the best pairing; higher numbers are progressively worse.

    spread-zones: 0 = other zone and host, 1 = other host, 2 = same host.
    spread-hosts: 0 = other host, away from the master's other replicas; 1 = other host;
    2 = same host.
    none: always 0.
    """
    if policy == NO_PLACEMENT:
        return 0
    same_host = candidate.host == master.host
    if policy == SPREAD_ZONES:
        other_zone = candidate.zone is None or master.zone is None or candidate.zone != master.zone
        if same_host:
            return 2
        return 0 if other_zone else 1
    if same_host:
        return 2
    return 0 if all(s.host != candidate.host for s in siblings) else 1


def violations(master: Placed, replica: Placed, policy: str) -> list[str]:
    """Human reasons a pairing breaks the placement policy (empty when it is fine)."""
    if policy == NO_PLACEMENT:
        return []
    found = []
    if replica.host == master.host:
        found.append(f"same host {master.host}")
    elif policy == SPREAD_ZONES and master.zone and replica.zone == master.zone:
        found.append(f"same zone {master.zone}")
    return found


def assign_replicas(
    masters: Sequence[Placed],
    wanted: Mapping[str, int],
    candidates: Sequence[Placed],
    policy: str = SPREAD_HOSTS,
    existing: Mapping[str, Sequence[Placed]] | None = None,
) -> dict[str, str]:
    """Pick replicas for masters: ``{candidate id: master id}``.

    ``wanted[master.id]`` replicas are added to each master from ``candidates`` (each used at
    most once); ``existing`` are replicas a master already has (they steer the choice away
    from their hosts). Uses a maximum bipartite matching, adding edges level by level from
    the best, so that a strict assignment is found whenever one exists for the level.
    """
    existing = existing or {}
    by_id = {m.id: m for m in masters}
    # Left vertices: one per missing replica, interleaved so that every master gets its
    # first replica before any master gets a second.
    left: list[str] = []
    most = max((wanted.get(m.id, 0) for m in masters), default=0)
    for round_ in range(most):
        left += [m.id for m in masters if wanted.get(m.id, 0) > round_]
    if not left or not candidates:
        return {}
    levels = [
        [edge_level(by_id[mid], c, existing.get(mid, ()), policy) for c in candidates]
        for mid in left
    ]
    match_right: dict[int, int] = {}  # candidate index -> left index

    def augment(u: int, limit: int, seen: set[int]) -> bool:
        # Kuhn's augmenting path; a candidate (right vertex) is matched at most once.
        for v in range(len(candidates)):
            if levels[u][v] > limit or v in seen:
                continue
            seen.add(v)
            if v not in match_right or augment(match_right[v], limit, seen):
                match_right[v] = u
                return True
        return False

    matched_left: set[int] = set()
    for limit in range(_levels(policy)):
        for u in range(len(left)):
            if u in matched_left:
                continue
            if augment(u, limit, set()):
                matched_left = set(match_right.values())
    return {candidates[v].id: left[u] for v, u in sorted(match_right.items())}


def choose_masters(nodes: Sequence[Placed], count: int, policy: str = SPREAD_HOSTS) -> list[Placed]:
    """Pick ``count`` masters spread over as many hosts (then zones) as possible.

    Hosts are visited round-robin, fullest first, like ``redis-cli --cluster create``; under
    spread-zones zones are interleaved first so masters land in different zones too.
    """
    if count <= 0:
        return []
    groups: dict[tuple[str, str], list[Placed]] = defaultdict(list)
    for node in nodes:  # callers pass a stable order (by address)
        zone = (node.zone or "") if policy == SPREAD_ZONES else ""
        groups[(zone, node.host)].append(node)
    order = sorted(groups, key=lambda k: (-len(groups[k]), k))
    if policy == SPREAD_ZONES:
        # Interleave zones: take one host of each zone in turn.
        by_zone: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key in order:
            by_zone[key[0]].append(key)
        zones = sorted(by_zone, key=lambda z: (-sum(len(groups[k]) for k in by_zone[z]), z))
        interleaved: list[tuple[str, str]] = []
        while any(by_zone[z] for z in zones):
            for zone in zones:
                if by_zone[zone]:
                    interleaved.append(by_zone[zone].pop(0))
        order = interleaved
    chosen: list[Placed] = []
    while len(chosen) < count and any(groups.values()):
        for key in order:
            if groups[key] and len(chosen) < count:
                chosen.append(groups[key].pop(0))
    return chosen


def placement_report(
    pairs: Sequence[tuple[Placed, Placed]], policy: str
) -> list[tuple[Placed, Placed, list[str]]]:
    """(master, replica, reasons) for every pairing that breaks the policy."""
    return [(m, r, v) for m, r in pairs if (v := violations(m, r, policy))]


def spreading_possible(nodes: Sequence[Placed]) -> bool:
    """True when the nodes are on more than one host (otherwise placement is moot)."""
    return len({n.host for n in nodes}) > 1
