"""Judging Redis slot moves against the receiving master's memory (pure)."""

from __future__ import annotations

from reconciler.engine.plan import Change, NoticeLevel
from reconciler.providers.redis.sizing import Memory, judge_moves, parse_info_memory
from reconciler.providers.redis.steps import MoveSlots, NodeRef, to_change
from tests.unit.providers.redis.builders import nid


def ref(n: int) -> NodeRef:
    return NodeRef(node_id=nid(n), address=f"10.0.0.{n}:6379", name=f"10.0.0.{n}:6379")


def moves() -> list[tuple[Change, MoveSlots]]:
    steps = [
        MoveSlots(source=ref(1), target=ref(4), slots=[(0, 99)], estimated_keys=1000),
        MoveSlots(source=ref(2), target=ref(4), slots=[(5500, 5599)], estimated_keys=1000),
    ]
    return [(to_change(s), s) for s in steps]


def test_info_memory() -> None:
    text = "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmaxmemory:0\r\n"
    assert parse_info_memory(text) == Memory(1048576, 0)


def test_moves_into_one_master_add_up_against_its_maxmemory() -> None:
    pairs = moves()
    impacts = {c.address: {"keys_to_move": 1000, "bytes_to_move": 600_000} for c, _ in pairs}
    target = nid(4)
    judged, notices = judge_moves(pairs, dict(impacts), {target: Memory(500_000, 1_500_000)})
    assert {n.level for n in notices} == {NoticeLevel.ERROR}
    assert "over its maxmemory" in notices[0].message
    first = next(iter(judged.values()))
    assert first["target_memory"] == {"used": 500_000, "maxmemory": 1_500_000, "after": 1_700_000}
    _, fits = judge_moves(pairs, dict(impacts), {target: Memory(100_000, 1_500_000)})
    assert fits == []
    _, unknown = judge_moves(pairs, dict(impacts), {target: Memory(100_000, 0)})
    assert {n.level for n in unknown} == {NoticeLevel.WARNING}
