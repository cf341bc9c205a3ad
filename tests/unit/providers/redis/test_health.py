"""redis verify's judgement of an observation."""

from __future__ import annotations

from reconciler.providers.redis.health import assess
from tests.unit.providers.redis.builders import N, even, observe


def cluster(hosts: int = 3) -> list[N]:
    nodes = [N(i + 1, slots=s, host=f"h{i % hosts}") for i, s in enumerate(even(3))]
    nodes += [N(4 + i, role="replica", master=i + 1, host=f"h{(i + 1) % hosts}") for i in range(3)]
    return nodes


def test_healthy() -> None:
    report = assess(observe(cluster()), replicas_per_master=1)
    assert report.healthy, [c.message for c in report.checks if not c.ok]
    assert report.metrics["master_nodes"] == 3 and report.metrics["replica_nodes"] == 3
    assert report.to_json()["format_version"] == "1.0"


def test_missing_replica_and_open_slot_fail() -> None:
    nodes = cluster()
    nodes[0].migrating[5] = 2
    nodes = [n for n in nodes if n.n != 6]
    report = assess(observe(nodes), replicas_per_master=1)
    assert not report.healthy
    names = {c.name for c in report.problems}
    assert {"open_slots", "replicas:10.0.0.3:6379"} <= names


def test_unreachable_node_fails() -> None:
    report = assess(observe(cluster(), down=[4]), replicas_per_master=1)
    assert not report.healthy
    assert any(c.name == "reachable" for c in report.problems)


def test_replica_next_to_master_is_a_warning() -> None:
    nodes = cluster()
    nodes[3].host = nodes[0].host
    report = assess(observe(nodes), replicas_per_master=1)
    placement = next(c for c in report.checks if c.name == "placement")
    assert not placement.ok and placement.symbol == "!" and report.healthy


def test_no_cluster() -> None:
    report = assess(observe([N(1, role="bare")]))
    assert not report.healthy and "redis init" in report.checks[0].message


def test_open_slot_on_a_replica_only_names_the_replica() -> None:
    nodes = cluster()
    replica = next(n for n in nodes if n.role == "replica")
    replica.migrating[5] = 2
    report = assess(observe(nodes), replicas_per_master=1)
    (problem,) = [c for c in report.problems if c.name == "open_slots"]
    assert f"5 (migrating on {replica.address})" in problem.message
