"""The pure planner: slot arithmetic, create, grow, shrink, repair, no-op."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.engine.plan import Risk
from reconciler.providers.redis.layout import (
    DesiredLayout,
    needs_rebalance,
    plan_layout,
    rebalance_moves,
    split_slots,
)
from reconciler.providers.redis.repairing import SlotEvidence
from reconciler.providers.redis.state import SLOT_COUNT, expand_ranges
from reconciler.providers.redis.steps import AssignSlots, CreateCluster, MoveSlots, RemoveNode
from tests.unit.providers.redis.builders import N, even, nid, observe


def ops(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return plan.kinds()


def healthy(masters: int = 3, replicas: int = 1, hosts: int = 3) -> list[N]:
    nodes = []
    for i, slots in enumerate(even(masters)):
        nodes.append(N(i + 1, slots=slots, host=f"h{i % hosts}"))
    n = masters + 1
    for r in range(replicas):
        for i in range(masters):
            nodes.append(N(n, role="replica", master=i + 1, host=f"h{(i + 1 + r) % hosts}"))
            n += 1
    return nodes


# --------------------------------------------------------------------------- arithmetic


def test_split_slots_matches_redis_cli() -> None:
    assert split_slots(3) == [(0, 5460), (5461, 10922), (10923, 16383)]
    assert split_slots(4) == [(0, 4095), (4096, 8191), (8192, 12287), (12288, 16383)]
    assert split_slots(1) == [(0, 16383)]


@given(st.integers(min_value=1, max_value=200))
def test_split_slots_covers_everything_evenly(count: int) -> None:
    ranges = split_slots(count)
    slots = expand_ranges(ranges)
    assert slots == list(range(SLOT_COUNT))
    sizes = [b - a + 1 for a, b in ranges]
    assert max(sizes) - min(sizes) <= 1


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.integers(min_value=0, max_value=7), min_size=SLOT_COUNT // 64, max_size=SLOT_COUNT // 64
    ),
    st.integers(min_value=1, max_value=8),
    st.integers(min_value=0, max_value=3),
)
def test_rebalance_moves_end_even_and_lose_nothing(
    owners: list[int], keep: int, remove: int
) -> None:
    # Blocks of 64 slots owned by up to 8 nodes; keep `keep` masters, remove `remove` others.
    owned: dict[str, list[int]] = {}
    for block, owner in enumerate(owners):
        owned.setdefault(f"n{owner}", []).extend(range(block * 64, block * 64 + 64))
    everyone = sorted(owned)
    masters = [f"n{i}" for i in range(keep)]
    removed = [n for n in everyone if n not in masters][:remove]
    leftovers = [n for n in everyone if n not in masters and n not in removed]
    masters += leftovers  # nodes neither kept nor removed stay masters
    moves = rebalance_moves(owned, masters, removed)
    final = {n: set(s) for n, s in owned.items()}
    for move in moves:
        assert set(move.slots) <= final[move.source]
        final[move.source] -= set(move.slots)
        final.setdefault(move.target, set()).update(move.slots)
    counts = Counter({n: len(final.get(n, ())) for n in masters})
    assert sum(counts.values()) == SLOT_COUNT
    assert max(counts.values()) - min(counts.values()) <= 1
    assert all(not final.get(r) for r in removed)
    # Minimal: nothing moves into a node that gives slots away.
    assert not ({m.source for m in moves} & {m.target for m in moves})


def test_needs_rebalance_threshold() -> None:
    assert not needs_rebalance({"a": 5461, "b": 5461, "c": 5462}, ["a", "b", "c"])
    assert needs_rebalance({"a": 8192, "b": 8192, "c": 0}, ["a", "b", "c"])


# --------------------------------------------------------------------------- create


def test_create_on_bare_nodes_spreads_masters_and_replicas() -> None:
    nodes = [N(i, role="bare", host=f"h{(i - 1) % 3}") for i in range(1, 7)]
    plan = plan_layout(observe(nodes), DesiredLayout(3, 1))
    assert ops(plan) == ["create_cluster"]
    data = plan.steps[0]
    masters = {m.node.node_id: m.node for m in data.masters}
    assert len(masters) == 3 and len({m.host for m in masters.values()}) == 3
    assert [m.slots for m in data.masters] == [[(0, 5460)], [(5461, 10922)], [(10923, 16383)]]
    assert len(data.replicas) == 3
    for replica in data.replicas:
        assert replica.node.host != masters[replica.master.node_id].host
    assert len({r.master.node_id for r in data.replicas}) == 3


def test_create_refuses_nodes_with_data() -> None:
    nodes = [N(i, role="bare", keys=5 if i == 1 else 0) for i in range(1, 7)]
    plan = plan_layout(observe(nodes), DesiredLayout(3, 1))
    assert not any(
        isinstance(s, CreateCluster) and any(m.node.node_id == nid(1) for m in s.masters)
        for s in plan.steps
    )
    assert any(n.kind == "refused" and "holds 5 keys" in n.message for n in plan.notices)


def test_create_needs_enough_nodes() -> None:
    plan = plan_layout(observe([N(1, role="bare"), N(2, role="bare")]), DesiredLayout(3, 1))
    assert plan.steps == [] and plan.notices[0].level == "error"
    assert plan.notices[0].attribute == "masters" and plan.notices[0].after == 3


# --------------------------------------------------------------------------- steady state


def test_matching_cluster_plans_nothing() -> None:
    plan = plan_layout(observe(healthy()), DesiredLayout(3, 1))
    assert plan.steps == [] and plan.notices == []


def test_grow_adds_master_and_replica_then_moves() -> None:
    nodes = [*healthy(), N(7, role="bare", host="h0"), N(8, role="bare", host="h1")]
    plan = plan_layout(observe(nodes), DesiredLayout(4, 1))
    # The replica's join is one step (CLUSTER MEET, then CLUSTER REPLICATE of the new master).
    assert ops(plan) == ["join", "join", "move_slots", "move_slots", "move_slots"]
    new_master = plan.steps[0].node.node_id
    moves = [s for s in plan.steps if isinstance(s, MoveSlots)]
    assert {s.target.node_id for s in moves} == {new_master}
    assert sum(s.count for s in moves) == 4096
    replicate = plan.steps[1]
    assert replicate.role == "replica" and replicate.master.node_id == new_master
    assert replicate.node.host != plan.steps[0].node.host


def test_shrink_needs_allow_delete() -> None:
    nodes = []
    for i, slots in enumerate(even(4)):
        nodes.append(N(i + 1, slots=slots, host=f"h{i % 3}"))
    for i in range(4):
        nodes.append(N(5 + i, role="replica", master=i + 1, host=f"h{(i + 1) % 3}"))
    plan = plan_layout(observe(nodes), DesiredLayout(3, 1))
    assert plan.steps == []
    assert any(n.kind == "refused" and "--allow-delete" in n.message for n in plan.notices)
    plan = plan_layout(observe(nodes), DesiredLayout(3, 1), allow_delete=True)
    moves = [s for s in plan.steps if isinstance(s, MoveSlots)]
    removes = [s for s in plan.steps if isinstance(s, RemoveNode)]
    assert len({m.source.node_id for m in moves}) == 1
    gone = moves[0].source.node_id
    assert sum(m.count for m in moves) == 4096
    assert {r.node.node_id for r in removes} == {gone, nid(5 + int(gone, 16) - 1)}
    assert ops(plan)[-1] == "remove" and removes[-1].node.node_id == gone


def test_open_slot_is_repaired_first() -> None:
    nodes = healthy()
    nodes[0].migrating[100] = 2
    nodes[1].importing[100] = 1
    plan = plan_layout(observe(nodes), DesiredLayout(3, 1))
    assert ops(plan) == ["settle_slots"]
    (group,) = plan.steps[0].groups
    assert group.slots == [(100, 100)]
    # Both sides of the move are open and answer: the move is finished (target owns it).
    assert group.owner.node_id == nid(2) and group.prefer is None  # no key to resolve
    assert {n.node_id for n in group.open_on} == {nid(1), nid(2)}
    assert plan.changes()[0].address == "redis_repair.open_slot_100"
    # Keys on both sides: the source's copy wins a difference (it served them until then).
    evidence = SlotEvidence(keys={100: {nid(1): 3, nid(2): 2}}, duplicates={100: (2, 1)})
    plan = plan_layout(observe(nodes), DesiredLayout(3, 1), evidence=evidence)
    (group,) = plan.steps[0].groups
    assert [n.node_id for n in group.drain] == [nid(1)]
    assert group.prefer is not None and group.prefer.node_id == nid(1)
    assert "keeps 10.0.0.1:6379's copy (the source" in plan.steps[0].lines()[0]


def test_dead_replica_forgotten_only_with_allow_delete() -> None:
    nodes = healthy()
    nodes[3].flags.add("fail")
    obs = observe(nodes, down=[4])
    plan = plan_layout(obs, DesiredLayout(3, 1))
    assert "forget" not in ops(plan)
    assert any("--allow-delete" in n.message for n in plan.notices)
    plan = plan_layout(obs, DesiredLayout(3, 1), allow_delete=True)
    assert ops(plan)[0] == "forget" and plan.steps[0].node.node_id == nid(4)
    assert plan.changes()[0].address == f"redis_repair.forget_{nid(4)[:12]}"


def test_dead_master_with_slots_is_taken_over_by_its_replica_first() -> None:
    # Was: "blocks slot moves" with an error notice and nothing planned (waiting for a
    # failover that may never come). Now the replica takes over, then the dead node is
    # forgotten (with --allow-delete), and nothing else moves.
    nodes = healthy()
    nodes[0].flags.add("fail")
    plan = plan_layout(observe(nodes, down=[1]), DesiredLayout(3, 1), allow_delete=True)
    assert ops(plan) == ["promote", "forget"]
    assert plan.steps[0].node.node_id == nid(4) and plan.steps[0].failed_master.node_id == nid(1)
    assert plan.steps[1].node.node_id == nid(1)
    assert "move_slots" not in ops(plan)
    assert not any(n.level == "error" for n in plan.notices)


def test_dead_master_without_replica_is_data_loss_and_never_forgotten_first() -> None:
    nodes = [n for n in healthy() if n.n != 4]  # master 1 has no replica
    nodes[0].flags.add("fail")
    plan = plan_layout(observe(nodes, down=[1]), DesiredLayout(3, 1), allow_delete=True)
    assert ops(plan)[0] == "settle_slots"
    change = plan.changes()[0]
    assert Risk.DATA_LOSS in change.risks
    assert all(g.abandoned for g in plan.steps[0].groups)
    owners = {g.owner.node_id for g in plan.steps[0].groups}
    assert owners <= {nid(2), nid(3)}


def test_uncovered_slots_are_assigned() -> None:
    nodes = healthy()
    nodes[2].slots = range(10923, 16000)
    plan = plan_layout(observe(nodes), DesiredLayout(3, 1))
    assign = [s for s in plan.steps if isinstance(s, AssignSlots)]
    assert len(assign) == 1 and expand_ranges(assign[0].slots) == list(range(16000, 16384))


def test_spare_member_becomes_replica_of_master_lacking_one() -> None:
    nodes = healthy()
    nodes[5].master = 1  # master 3 lost its replica to master 1
    plan = plan_layout(observe(nodes), DesiredLayout(3, 1))
    assert ops(plan) == ["replicate"]
    assert plan.steps[0].master.node_id == nid(3)


def test_node_announced_elsewhere_but_reachable_needs_nothing() -> None:
    obs = observe(healthy())
    from msgspec.structs import replace

    obs.views = [
        replace(v, address="10.0.9.9:6379") if v.node_id == nid(5) else v for v in obs.views
    ]
    assert plan_layout(obs, DesiredLayout(3, 1)).steps == []


def test_readdressed_node_is_reintroduced_by_id() -> None:
    nodes = healthy()
    nodes[4].flags.add("fail")  # the others lost it when its IP changed
    obs = observe(nodes)
    # The node 5 answers from a new IP: its own endpoint address differs from the cluster's.
    from msgspec.structs import replace

    views = [replace(v, address="10.0.9.9:6379") if v.node_id == nid(5) else v for v in obs.views]
    obs.views = views
    plan = plan_layout(obs, DesiredLayout(3, 1))
    assert ops(plan) == ["reintroduce"]
    assert plan.steps[0].old_address == "10.0.0.5:6379"
    assert plan.steps[0].node.node_id == nid(5)


def test_a_node_that_still_gives_its_old_address_for_itself_is_reintroduced() -> None:
    """A restarted node keeps its old IP in its own CLUSTER NODES line (Redis learns its
    own address only from a MEET) while the others already reach it at the new one."""
    from msgspec.structs import replace

    obs = observe(healthy())
    new = "10.0.9.9"

    def readdressed(view):  # type: ignore[no-untyped-def]
        nodes = tuple(
            replace(n, ip=new) if n.id == nid(5) and view.node_id != nid(5) else n
            for n in view.nodes
        )
        address = f"{new}:6379" if view.node_id == nid(5) else view.address
        return replace(view, nodes=nodes, address=address)

    obs.views = [readdressed(v) for v in obs.views]
    plan = plan_layout(obs, DesiredLayout(3, 1))
    assert ops(plan) == ["reintroduce"]
    assert plan.steps[0].old_address == "10.0.0.5:6379"


def test_a_node_known_everywhere_under_another_address_is_left_alone() -> None:
    """NAT or announced addresses: the others know the node as it knows itself."""
    from msgspec.structs import replace

    obs = observe(healthy())
    obs.views = [
        replace(v, address="192.168.1.5:7005") if v.node_id == nid(5) else v for v in obs.views
    ]
    assert ops(plan_layout(obs, DesiredLayout(3, 1))) == []


def test_a_slot_open_on_a_replica_only_is_closed_through_its_master() -> None:
    nodes = healthy()
    # Node 4 replicates node 1; it shows slot 100 MIGRATING after node 1 closed it (Valkey 8
    # replicas take SETSLOT from their master; one that missed the closing one keeps it).
    nodes[3].migrating[100] = 2
    observation = observe(nodes)
    (entry,) = observation.open_slots()
    assert (entry.slot, entry.node_id, entry.seen_on) == (100, nid(1), nid(4))
    plan = plan_layout(observation, DesiredLayout(3, 1))
    assert ops(plan) == ["settle_slots"]
    (group,) = plan.steps[0].groups
    assert group.owner.node_id == nid(1) and not group.drain
    assert [n.node_id for n in group.open_on] == [nid(1)]  # the replica refuses SETSLOT
    assert "replica 10.0.0.4:6379 only" in plan.steps[0].lines()[0]


def test_a_replica_mirroring_its_masters_open_slot_is_not_counted_twice() -> None:
    nodes = healthy()
    nodes[0].migrating[100] = 2
    nodes[3].migrating[100] = 2  # node 4 replicates node 1
    nodes[1].importing[100] = 1
    assert {(o.node_id, o.seen_on) for o in observe(nodes).open_slots()} == {
        (nid(1), ""),
        (nid(2), ""),
    }
