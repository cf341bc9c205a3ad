"""Repairs decided from live evidence: each troubled slot gets one live owner."""

from __future__ import annotations

from reconciler.engine.plan import Risk
from reconciler.providers.redis.layout import DesiredLayout, plan_layout
from reconciler.providers.redis.repairing import SlotEvidence
from reconciler.providers.redis.steps import MoveSlots, PromoteReplica, SettleSlots
from tests.unit.providers.redis.builders import N, even, nid, observe


def grown() -> list[N]:
    """3 masters + replicas, and a 4th master (7, replica 8) that already got slot 0-99."""
    ranges = even(3)
    nodes = [
        N(1, slots=[s for s in ranges[0] if s >= 100], host="h0"),
        N(2, slots=ranges[1], host="h1"),
        N(3, slots=ranges[2], host="h2"),
        N(4, role="replica", master=1, host="h1"),
        N(5, role="replica", master=2, host="h2"),
        N(6, role="replica", master=3, host="h0"),
        N(7, slots=range(100), host="h2"),
        N(8, role="replica", master=7, host="h0"),
    ]
    return nodes


def test_source_master_dead_mid_move_target_keys_go_back_to_the_new_owner() -> None:
    # Master 1 died while moving 100-355 to 7; its replica 4 took over (now owns them);
    # 7 still imports them from the dead 1 and holds keys of some.
    nodes = grown()
    nodes[0].flags.add("fail")
    nodes[0].slots = []
    nodes[3].role, nodes[3].master = "master", None
    nodes[3].slots = [s for s in even(3)[0] if s >= 100]
    for slot in range(100, 356):
        nodes[6].importing[slot] = 1
    evidence = SlotEvidence(
        keys={s: {nid(7): 2, nid(4): 1} for s in range(100, 200)},
        journal={s: (nid(1), nid(7)) for s in range(100, 356)},
        duplicates={100: (1, 0)},
    )
    plan = plan_layout(observe(nodes, down=[1]), DesiredLayout(4, 1), evidence=evidence)
    settle = next(s for s in plan.steps if isinstance(s, SettleSlots))
    assert {g.owner.node_id for g in settle.groups} == {nid(4)}
    drained = [g for g in settle.groups if g.drain]
    assert drained and all(g.drain[0].node_id == nid(7) for g in drained)
    # The source of the interrupted move (its replica 4 took over) holds the copy written
    # last: a move deletes a key on the source only after the target's replicas have it.
    assert all(g.prefer is not None and g.prefer.node_id == nid(4) for g in drained)
    assert settle.duplicates == 1 and Risk.DATA_LOSS not in plan.changes()[0].risks
    # The layout goes on from the settled map: moves bring 7 to its share in the same plan.
    moves = [s for s in plan.steps if isinstance(s, MoveSlots)]
    assert moves and {m.target.node_id for m in moves} == {nid(7)}
    assert sum(m.count for m in moves) == 4096 - 100


def test_target_dead_with_keys_on_its_replica_is_taken_over_and_drained() -> None:
    nodes = grown()
    nodes[6].flags.add("fail")  # master 7 (the target) died; it owned 0-99
    nodes[7].keys = 5
    for slot in range(100, 356):
        nodes[0].migrating[slot] = 7
    evidence = SlotEvidence(keys={s: {nid(8): 1, nid(1): 1} for s in range(100, 105)})
    plan = plan_layout(observe(nodes, down=[7]), DesiredLayout(4, 1), evidence=evidence)
    promote = plan.steps[0]
    assert isinstance(promote, PromoteReplica) and promote.node.node_id == nid(8)
    settle = next(s for s in plan.steps if isinstance(s, SettleSlots))
    assert {g.owner.node_id for g in settle.groups} == {nid(1)}
    drained = [g for g in settle.groups if g.drain]
    assert drained and all(g.drain[0].node_id == nid(8) for g in drained)
    # Differing copies keep the source's (1 kept serving the keys it still held).
    assert all(g.prefer is not None and g.prefer.node_id == nid(1) for g in drained)


def test_a_master_not_yet_marked_failed_is_waited_for_not_reassigned() -> None:
    nodes = grown()
    nodes[1].flags.add("fail?")
    plan = plan_layout(observe(nodes, down=[2]), DesiredLayout(4, 1))
    assert not any(isinstance(s, SettleSlots | PromoteReplica) for s in plan.steps)
    assert any(n.level == "error" and "not marked it failed" in n.message for n in plan.notices)


def test_journal_entry_with_keys_left_on_the_source_is_settled() -> None:
    # Both sides lost their open state (restarts), only the journal knows about the move.
    nodes = grown()
    evidence = SlotEvidence(keys={150: {nid(1): 3, nid(7): 2}}, journal={150: (nid(1), nid(7))})
    plan = plan_layout(observe(nodes), DesiredLayout(4, 1), evidence=evidence)
    settle = plan.steps[0]
    assert isinstance(settle, SettleSlots)
    (group,) = settle.groups
    assert group.owner.node_id == nid(1) and [n.node_id for n in group.drain] == [nid(7)]
    assert plan.changes()[0].address == "redis_repair.open_slot_150"
