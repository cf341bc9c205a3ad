"""What a slot move costs: keys, sampled bytes, an ETA and the receiving master's memory.

The measuring (:func:`measure_moves`) reads the nodes: ``CLUSTER GETKEYSINSLOT`` and
``MEMORY USAGE`` on a sample of the source's keys, ``INFO memory`` on the target; the ETA
uses the rate the last apply measured (else the documented default), bounded by the move
rate limit (:mod:`.pacing`). The judging
(:func:`judge_moves`) is pure: a move that would push a master over its ``maxmemory`` is
refused at plan time (an error notice); with ``maxmemory 0`` the host's memory is not known,
so it is a warning, not a refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from msgspec import Struct

from reconciler.engine.plan import Change, Notice, NoticeLevel
from reconciler.providers.redis.pacing import MeasuredRate, move_eta
from reconciler.providers.redis.replies import reply_text
from reconciler.providers.redis.steps import MoveSlots
from reconciler.providers.redis.transports import NodeEndpoint, NodeTransport
from reconciler.spec.units import MoveRate, approximate_size, parse_move_rate

SAMPLE_SLOTS = 16
KEYS_PER_SAMPLE_SLOT = 8


class Memory(Struct, frozen=True):
    used: int
    maxmemory: int


def parse_info_memory(text: str) -> Memory:
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return Memory(int(fields.get("used_memory", 0)), int(fields.get("maxmemory", 0)))


async def bytes_per_key(
    transport: NodeTransport, endpoint: NodeEndpoint, slots: Sequence[int]
) -> float | None:
    """The mean ``MEMORY USAGE`` of up to 128 keys from up to 16 of ``slots``."""
    step = max(1, len(slots) // SAMPLE_SLOTS)
    chosen = list(slots)[::step][:SAMPLE_SLOTS]
    replies = await transport.pipeline(
        endpoint, [("CLUSTER", "GETKEYSINSLOT", s, KEYS_PER_SAMPLE_SLOT) for s in chosen]
    )
    keys = [
        k
        for reply in replies
        if isinstance(reply, list)
        for k in reply
        if isinstance(k, bytes | str)
    ]
    if not keys:
        return None
    usages = await transport.pipeline(endpoint, [("MEMORY", "USAGE", k) for k in keys])
    sizes = [u for u in usages if isinstance(u, int)]
    return sum(sizes) / len(sizes) if sizes else None


async def measure_moves(
    transport: NodeTransport,
    changes: Sequence[tuple[Change, MoveSlots]],
    endpoints: dict[str, NodeEndpoint],
    rate: MeasuredRate | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, Memory]]:
    """(change address -> impact, target node id -> its memory) for every move whose nodes
    answer; ETAs at ``rate`` (the last measured one; ``None``: the default), within the
    moves' rate limit."""
    impacts: dict[str, dict[str, Any]] = {}
    memory: dict[str, Memory] = {}
    for change, step in changes:
        source = endpoints.get(step.source.node_id)
        target = endpoints.get(step.target.node_id)
        if source is None or target is None:
            continue
        keys = step.estimated_keys or 0
        impact: dict[str, Any] = {"keys_to_move": keys}
        per_key = await bytes_per_key(transport, source, step.slot_list()) if keys else None
        moved_bytes = round(per_key * keys) if per_key is not None else None
        if moved_bytes is not None:
            impact["bytes_to_move"] = moved_bytes
        limit = parse_move_rate(step.rate_limit) if step.rate_limit else None
        impact.update(move_eta(keys, moved_bytes, rate, limit))
        if step.target.node_id not in memory:
            info = await transport.execute(target, "INFO", "memory")
            memory[step.target.node_id] = parse_info_memory(reply_text(info))
        impacts[change.address] = impact
    return impacts, memory


def judge_moves(
    changes: Sequence[tuple[Change, MoveSlots]],
    impacts: dict[str, dict[str, Any]],
    memory: dict[str, Memory],
) -> tuple[dict[str, dict[str, Any]], list[Notice]]:
    """Add each target's memory headroom to the impacts; refuse moves that would push a
    master over ``maxmemory`` (warn when it has none)."""
    incoming: dict[str, int] = {}
    for change, step in changes:
        moved = impacts.get(change.address, {}).get("bytes_to_move", 0)
        incoming[step.target.node_id] = incoming.get(step.target.node_id, 0) + moved
    notices: list[Notice] = []
    for change, step in changes:
        target = memory.get(step.target.node_id)
        if target is None or change.address not in impacts:
            continue
        after = target.used + incoming[step.target.node_id]
        impacts[change.address]["target_memory"] = {
            "used": target.used,
            "maxmemory": target.maxmemory,
            "after": after,
        }
        if target.maxmemory == 0:
            notices.append(
                Notice(
                    level=NoticeLevel.WARNING,
                    address=change.address,
                    message=f"{step.target.name} has no maxmemory: its host's memory is not "
                    f"known; it would hold about {approximate_size(after)} after the move",
                )
            )
        elif after > target.maxmemory:
            notices.append(
                Notice(
                    level=NoticeLevel.ERROR,
                    address=change.address,
                    kind="refused",
                    message=f"the move would push {step.target.name} over its maxmemory: "
                    f"{approximate_size(target.used)} used + about "
                    f"{approximate_size(incoming[step.target.node_id])} incoming > "
                    f"{approximate_size(target.maxmemory)}; raise its maxmemory or add masters",
                )
            )
    return impacts, notices


def shared_limit_notice(
    changes: Sequence[tuple[Change, MoveSlots]], impacts: dict[str, dict[str, Any]]
) -> Notice | None:
    """With a rate limit and several moves: the least time they take together (the limit
    holds for the whole apply, the moves' own ETAs each assume all of it)."""
    limits = [parse_move_rate(s.rate_limit) for _, s in changes if s.rate_limit]
    if len(changes) < 2 or not limits:
        return None
    limit: MoveRate = limits[0]
    field = "keys_to_move" if limit.unit == "keys" else "bytes_to_move"
    total = sum(int(impacts.get(c.address, {}).get(field, 0)) for c, _ in changes)
    if not total:
        return None
    amount = f"{total:,} keys" if limit.unit == "keys" else f"~{approximate_size(total)}"
    return Notice(
        level=NoticeLevel.INFO,
        address="",
        message=f"the {len(changes)} slot moves share the move rate limit {limit}: "
        f"{amount} take at least ~{total / limit.per_second:,.0f}s together",
    )
