"""Replica placement: never next to the master when the topology allows it."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.providers.redis.placement import (
    SPREAD_HOSTS,
    SPREAD_ZONES,
    Placed,
    assign_replicas,
    choose_masters,
    violations,
)


def test_three_hosts_two_nodes_each() -> None:
    nodes = [Placed(f"n{i}", f"h{i % 3}") for i in range(6)]
    masters = choose_masters(nodes, 3)
    assert len({m.host for m in masters}) == 3
    spare = [n for n in nodes if n not in masters]
    result = assign_replicas(masters, {m.id: 1 for m in masters}, spare)
    by_id = {n.id: n for n in nodes}
    assert len(result) == 3 and len(set(result.values())) == 3
    assert all(by_id[r].host != by_id[m].host for r, m in result.items())


def test_greedy_trap_is_solved_by_matching() -> None:
    # Only one complete assignment keeps every replica off its master's host.
    masters = [Placed("m1", "h1"), Placed("m2", "h2")]
    spare = [Placed("a", "h2"), Placed("b", "h1")]
    result = assign_replicas(masters, {"m1": 1, "m2": 1}, spare)
    assert result == {"a": "m1", "b": "m2"}
    masters = [Placed("m1", "h1"), Placed("m2", "h3")]
    spare = [Placed("a", "h3"), Placed("b", "h1")]
    assert assign_replicas(masters, {"m1": 1, "m2": 1}, spare) == {"a": "m1", "b": "m2"}


def test_one_host_still_assigns() -> None:
    nodes = [Placed(f"n{i}", "only") for i in range(6)]
    masters = nodes[:3]
    result = assign_replicas(masters, {m.id: 1 for m in masters}, nodes[3:])
    assert len(result) == 3


def test_zones() -> None:
    masters = [Placed("m1", "h1", "z1")]
    spare = [Placed("a", "h2", "z1"), Placed("b", "h3", "z2")]
    assert assign_replicas(masters, {"m1": 1}, spare, SPREAD_ZONES) == {"b": "m1"}
    assert violations(masters[0], spare[0], SPREAD_ZONES) == ["same zone z1"]
    assert violations(masters[0], spare[0], SPREAD_HOSTS) == []


def _brute_force_best(masters: list[Placed], spare: list[Placed], per: int) -> int:
    """The fewest same-host pairings any complete assignment can have (tiny inputs)."""
    slots = [m for m in masters for _ in range(per)]
    best = len(slots) + 1
    for chosen in itertools.permutations(spare, min(len(slots), len(spare))):
        bad = sum(1 for m, r in zip(slots, chosen, strict=False) if m.host == r.host)
        best = min(best, bad)
    return best


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=3), min_size=4, max_size=7),
    st.integers(min_value=1, max_value=2),
)
def test_assignment_is_as_good_as_brute_force(hosts: list[int], masters_count: int) -> None:
    nodes = [Placed(f"n{i}", f"h{h}") for i, h in enumerate(hosts)]
    masters = nodes[:masters_count]
    spare = nodes[masters_count:]
    result = assign_replicas(masters, {m.id: 1 for m in masters}, spare)
    by_id = {n.id: n for n in nodes}
    assert len(result) == min(len(spare), masters_count)
    assert len(set(result)) == len(result)
    assert all(count == 1 for count in Counter(result.values()).values())
    bad = sum(1 for r, m in result.items() if by_id[r].host == by_id[m].host)
    assert bad == _brute_force_best(masters, spare, 1)
