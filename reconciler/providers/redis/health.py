"""``redis verify``: the cluster's health judged from one observation (pure, no I/O)."""

from __future__ import annotations

from typing import Any

from msgspec import Struct, field

from reconciler.providers.redis.placement import Placed, violations
from reconciler.providers.redis.state import (
    SLOT_COUNT,
    ClusterInfo,
    ClusterNode,
    ClusterObservation,
)

HEALTH_FORMAT_VERSION = "1.0"


class Check(Struct, frozen=True):
    """One health message: ``ok`` checks print ✓, failed ones ✗ (or ! when only a warning)."""

    name: str
    ok: bool
    message: str
    severity: str = "error"  # error (fails verify) | warning (reported, does not fail)

    @property
    def symbol(self) -> str:
        if self.ok:
            return "✓"
        return "✗" if self.severity == "error" else "!"


class HealthReport(Struct):
    metrics: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(c.ok or c.severity != "error" for c in self.checks)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and c.severity == "error"]

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": HEALTH_FORMAT_VERSION,
            "healthy": self.healthy,
            "metrics": self.metrics,
            "checks": [
                {"name": c.name, "ok": c.ok, "severity": c.severity, "message": c.message}
                for c in self.checks
            ],
            "nodes": self.nodes,
        }


def assess(
    observation: ClusterObservation,
    replicas_per_master: int | None = None,
    placement: str = "spread-hosts",
) -> HealthReport:
    """Judge the cluster: state, coverage, roles, replicas, placement, failures, open slots."""
    report = HealthReport()
    ref = observation.reference()
    known = observation.known_nodes()
    masters = [n for n in known.values() if n.is_master and n.slots and not n.failed]
    replicas = [n for n in known.values() if n.is_replica and not n.failed]
    report.metrics = _metrics(observation, ref.info if ref else None, masters, replicas)
    if ref is None:
        report.checks.append(
            Check(
                "cluster",
                False,
                f"no cluster: {len(observation.bare)} node(s) "
                "answered and none belongs to a cluster (run `redis init`)",
            )
        )
        return report
    report.checks += _state_checks(observation, ref.info)
    report.checks += _node_checks(observation, known)
    report.checks += _replica_checks(masters, replicas, replicas_per_master)
    placed = {v.node_id: Placed(v.node_id, v.host, v.zone) for v in observation.views}
    report.checks.append(_placement_check(placed, replicas, known, placement))
    live = observation.live_members()
    report.nodes = [
        {
            "id": n.id,
            "address": n.address,
            "role": "master" if n.is_master else "replica",
            "master_id": n.master_id,
            "flags": sorted(n.flags - {"myself"}),
            "slots": n.slot_count,
            "link_state": n.link_state,
            "host": placed[n.id].host if n.id in placed else None,
            "zone": placed[n.id].zone if n.id in placed else None,
            "keys": live[n.id].dbsize if n.id in live else None,
        }
        for n in sorted(known.values(), key=lambda n: n.address)
    ]
    return report


def _metrics(
    observation: ClusterObservation,
    info: ClusterInfo | None,
    masters: list[ClusterNode],
    replicas: list[ClusterNode],
) -> dict[str, Any]:
    return {
        "cluster_state": info.state if info else "no cluster",
        "cluster_size": info.size if info else 0,
        "master_nodes": len(masters),
        "replica_nodes": len(replicas),
        "slots_assigned": info.slots_assigned if info else 0,
        "slots_ok": info.slots_ok if info else 0,
        "slots_pfail": info.slots_pfail if info else 0,
        "slots_fail": info.slots_fail if info else 0,
        "known_nodes": info.known_nodes if info else 0,
        "reachable_nodes": len(observation.views),
        "unreachable_nodes": len(observation.unreachable),
    }


def _state_checks(observation: ClusterObservation, info: ClusterInfo) -> list[Check]:
    """Reachability, cluster_state, slot coverage."""
    unassigned = SLOT_COUNT - info.slots_assigned
    return [
        Check(
            "reachable",
            not observation.unreachable,
            "all nodes are reachable"
            if not observation.unreachable
            else "unreachable: " + ", ".join(f"{e} ({r})" for e, _a, r in observation.unreachable),
        ),
        Check("cluster_state", info.state == "ok", f"cluster_state is {info.state}"),
        Check(
            "slots_assigned",
            info.slots_assigned == SLOT_COUNT,
            f"{info.slots_assigned}/{SLOT_COUNT} slots assigned"
            + ("" if not unassigned else f" ({unassigned} uncovered)"),
        ),
        Check(
            "slots_ok",
            info.slots_ok == SLOT_COUNT,
            f"{info.slots_ok}/{SLOT_COUNT} slots ok"
            + (
                f" ({info.slots_pfail} pfail, {info.slots_fail} fail)"
                if info.slots_ok != SLOT_COUNT
                else ""
            ),
        ),
    ]


def _node_checks(observation: ClusterObservation, known: dict[str, ClusterNode]) -> list[Check]:
    """Failed and suspected nodes, open slots, slot-map agreement."""
    checks = []
    failed = observation.failed_nodes()
    checks.append(
        Check(
            "failed_nodes",
            not failed,
            "no failed or address-less nodes"
            if not failed
            else "failed / address-less nodes still known: "
            + ", ".join(
                f"{n.address} ({n.id[:8]}, {'fail' if n.failed else 'noaddr'})" for n in failed
            ),
        )
    )
    live = observation.live_members()
    suspects = [n for n in observation.suspect_nodes() if n.id not in live]
    if suspects:
        checks.append(
            Check(
                "suspect_nodes",
                False,
                "suspected failing (pfail): " + ", ".join(n.address for n in suspects),
            )
        )
    opens = observation.open_slots()

    def where(node_id: str) -> str:
        return known[node_id].address if node_id in known else node_id[:8]

    checks.append(
        Check(
            "open_slots",
            not opens,
            "no open slots"
            if not opens
            else "open slots: "
            + ", ".join(
                f"{o.slot} ({o.kind} on {where(o.seen_on or o.node_id)})" for o in opens[:10]
            )
            + (" ..." if len(opens) > 10 else ""),
        )
    )
    disagree = observation.disagreements()
    checks.append(
        Check(
            "slot_map_agreement",
            not disagree,
            "all nodes agree on the slot map"
            if not disagree
            else "nodes disagree on the slot map: " + ", ".join(disagree),
        )
    )
    return checks


def _replica_checks(
    masters: list[ClusterNode], replicas: list[ClusterNode], wanted: int | None
) -> list[Check]:
    checks = []
    for master in sorted(masters, key=lambda n: n.address):
        reps = [r for r in replicas if r.master_id == master.id]
        if wanted is None:
            ok = True
            text = f"master {master.address} has {len(reps)} replica(s)"
        else:
            ok = len(reps) >= wanted
            text = f"master {master.address} has {len(reps)}/{wanted} replica(s)"
        checks.append(Check(f"replicas:{master.address}", ok, text))
    return checks


def _placement_check(
    placed: dict[str, Placed],
    replicas: list[ClusterNode],
    known: dict[str, ClusterNode],
    placement: str,
) -> Check:
    """A replica sharing a host (k8s node / IP) with its master is a warning."""
    if len({p.host for p in placed.values()}) <= 1:
        return Check(
            "placement",
            True,
            "placement not checked: all nodes are on one "
            f"host ({next(iter(placed.values())).host if placed else '?'})",
        )
    bad = []
    for replica in replicas:
        if replica.master_id in placed and replica.id in placed:
            reasons = violations(placed[replica.master_id], placed[replica.id], placement)
            if reasons:
                owner = known.get(replica.master_id)
                bad.append(
                    f"replica {replica.address} shares {reasons[0]} with its master "
                    f"{owner.address if owner else replica.master_id[:8]}"
                )
    return Check(
        "placement",
        not bad,
        "every replica is on a different host from its master" if not bad else "; ".join(bad),
        severity="warning",
    )
