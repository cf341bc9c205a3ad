"""Parsing CLUSTER NODES / CLUSTER INFO captured from real redis-server 7 processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from msgspec.structs import replace

from reconciler.providers.redis.state import (
    ClusterInfo,
    ClusterObservation,
    NodeView,
    expand_ranges,
    format_ranges,
    parse_cluster_info,
    parse_cluster_nodes,
    slot_ranges,
)

FIXTURES = Path(__file__).parent / "fixtures"

# node ids of the captured cluster (ports 7100-7105)
N7100 = "90951293dcfffc48115306c5cb1f6a991988aa69"
N7101 = "5ec2e961b32c667e07740ad3d93c82804d1c3634"
N7102 = "3352ab85b01f2dd1c24810634dd26416aba8e13d"
N7105 = "c590846a98b078b6b0a985e05dabfccaf8ef695e"


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def view(
    endpoint: str, nodes_file: str, info_file: str = "info_healthy.txt", dbsize: int = 0
) -> NodeView:
    return NodeView(
        endpoint,
        endpoint,
        "127.0.0.1",
        None,
        tuple(parse_cluster_nodes(text(nodes_file))),
        parse_cluster_info(text(info_file)),
        dbsize,
    )


def test_healthy_nodes_roles_and_slots() -> None:
    nodes = {n.id: n for n in parse_cluster_nodes(text("nodes_healthy.txt"))}
    assert len(nodes) == 6
    me = nodes[N7101]
    assert me.myself and me.is_master and me.address == "127.0.0.1:7101"
    assert me.bus_port == 17101
    assert me.slots == ((5461, 10922),) and me.slot_count == 5462
    assert nodes[N7105].slots == ((0, 5460),)
    # 7100 came back after its replica took over: it is now a replica of 7105.
    assert nodes[N7100].is_replica and nodes[N7100].master_id == N7105
    assert sum(n.slot_count for n in nodes.values()) == 16384


def test_failed_master_flags() -> None:
    nodes = {n.id: n for n in parse_cluster_nodes(text("nodes_failed_master.txt"))}
    dead = nodes[N7100]
    assert dead.failed and dead.is_master and not dead.slots
    assert dead.link_state == "disconnected"


def test_open_slot_markers() -> None:
    source = next(n for n in parse_cluster_nodes(text("nodes_open_slot_source.txt")) if n.myself)
    target = next(n for n in parse_cluster_nodes(text("nodes_open_slot_target.txt")) if n.myself)
    assert source.migrating == ((6000, N7102),)
    assert target.importing == ((6000, N7101),)
    assert source.slots == ((5461, 10922),)  # markers are not slots


def test_bare_node_has_no_address_yet() -> None:
    (me,) = parse_cluster_nodes(text("nodes_bare.txt"))
    assert me.ip == "" and me.port == 7120 and me.myself and not me.slots
    info = parse_cluster_info(text("info_bare.txt"))
    assert info.known_nodes == 1 and info.state == "fail" and info.slots_assigned == 0


def test_cluster_info_fields() -> None:
    info = parse_cluster_info(text("info_healthy.txt"))
    assert isinstance(info, ClusterInfo)
    assert info.state == "ok" and info.slots_assigned == 16384 and info.slots_ok == 16384
    assert info.size == 3 and info.known_nodes == 6
    assert "cluster_stats_messages_sent" in info.fields
    failed = parse_cluster_info(text("info_failed_master.txt"))
    assert failed.known_nodes == 6


def test_parse_rejects_other_text() -> None:
    with pytest.raises(ValueError):
        parse_cluster_nodes("NOAUTH Authentication required.")
    with pytest.raises(ValueError):
        parse_cluster_info("ERR This instance has cluster support disabled")


def test_hostname_and_noaddr_forms() -> None:
    line = (
        "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 10.0.0.7:6379@16379,redis-0.redis "
        "master,noaddr - 0 0 5 disconnected 0-10 12 [13->-"
        "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]\n"
    )
    (node,) = parse_cluster_nodes(line)
    assert node.hostname == "redis-0.redis" and node.no_address
    assert node.slots == ((0, 10), (12, 12)) and node.migrating[0][0] == 13


def test_observation_questions() -> None:
    views = [
        view("127.0.0.1:7101", "nodes_open_slot_source.txt"),
        view("127.0.0.1:7102", "nodes_open_slot_target.txt"),
    ]
    observation = ClusterObservation(views)
    opens = observation.open_slots()
    assert [(o.slot, o.kind) for o in opens] == [(6000, "importing"), (6000, "migrating")]
    assert observation.slot_owners()[6000] == N7101
    assert observation.uncovered_slots() == []
    assert observation.disagreements() == []


def test_disagreement_is_reported() -> None:
    first = view("127.0.0.1:7101", "nodes_healthy.txt")
    second = view("127.0.0.1:7103", "nodes_replica_view.txt")
    target = view("127.0.0.1:7102", "nodes_open_slot_target.txt")
    # 7102 has a stale view: it does not know that 7105 took over 0-5460.
    stale = tuple(replace(n, slots=()) if n.id == N7105 else n for n in target.nodes)
    observation = ClusterObservation([first, second, replace(target, nodes=stale)])
    assert observation.disagreements() == ["127.0.0.1:7102"]
    assert not observation.config_consistent()


def test_failed_nodes_exclude_live_ones() -> None:
    observation = ClusterObservation(
        [view("127.0.0.1:7101", "nodes_failed_master.txt", "info_failed_master.txt")]
    )
    assert [n.id for n in observation.failed_nodes()] == [N7100]


def test_ranges() -> None:
    assert slot_ranges([5, 0, 1, 2, 7, 6]) == [(0, 2), (5, 7)]
    assert format_ranges([(0, 2), (5, 5)]) == "0-2,5"
    assert format_ranges([0, 1, 2, 5]) == "0-2,5"
    assert expand_ranges([[0, 2], [5, 5]]) == [0, 1, 2, 5]
    assert "(+2 more ranges)" in format_ranges([(i * 2, i * 2) for i in range(8)])
