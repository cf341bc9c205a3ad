"""How fast slot moves go: the rate limit they are held to and the rate they were measured at.

A rate limit (``redis.cluster.moveRate``, ``--redis-move-rate``: keys or bytes per second)
holds for the whole apply: one :class:`TokenBucket` is shared by every source→target move
and every group in flight, and each batch of keys waits for its share before it is copied.

The rate measured by an apply's moves is kept in the cluster itself, next to the journal of
moves (``{llm-analytics}:move-rate``, see :mod:`reconciler.providers.redis.journal`), so the
next plan, from any machine or a fresh pod, estimates with it rather than with the
documented default.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from msgspec import Struct

from reconciler.spec.units import MoveRate

#: The migration rate an ETA assumes with no measurement (keys per second): MIGRATE in
#: batches on a LAN; a conservative documented default (docs/plan-format.md, "Impact").
DEFAULT_KEYS_PER_SECOND = 5_000.0
#: Fewer keys than this moved by an apply say little about the rate: not recorded.
MIN_KEYS_MEASURED = 1_000
#: A limited apply records its rate only when its moves waited for the limit less than this
#: share of their time (the limit then did not hold them back).
HELD_BACK_SHARE = 0.1
#: Keys handled per paced batch: about this many seconds' worth of the limit.
BATCH_SECONDS = 0.25


class TokenBucket:
    """Tokens (keys or bytes) refill at ``rate`` per second; a taker waits until its amount
    is covered. The bucket starts empty and may go into debt (a batch larger than a second's
    worth waits for all of it): ``n`` taken in all take at least ``n / rate`` seconds."""

    def __init__(
        self, rate: float, *, burst: float = 0.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = 0.0
        self.stamp = clock()
        self.waited = 0.0  # seconds the takers waited, added up

    def reserve(self, amount: float) -> float:
        """Take ``amount`` now; the seconds to wait before using it."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= amount
        return max(0.0, -self.tokens / self.rate)

    async def take(self, amount: float) -> None:
        wait = self.reserve(amount)
        if wait > 0:
            self.waited += wait
            await asyncio.sleep(wait)


def batch_keys(limit: MoveRate, bytes_per_key: float | None, ceiling: int) -> int:
    """Keys per paced batch: about :data:`BATCH_SECONDS` of the limit, at most ``ceiling``."""
    keys_per_second = limit.per_second
    if limit.unit == "bytes":
        keys_per_second = limit.per_second / max(bytes_per_key or 1.0, 1.0)
    return max(1, min(ceiling, int(keys_per_second * BATCH_SECONDS)))


class MeasuredRate(Struct, frozen=True):
    """What an apply's slot moves achieved: per move, keys (and sampled bytes) per second."""

    keys_per_second: float
    bytes_per_second: float | None
    measured_at: str  # ISO 8601, UTC
    keys: int
    seconds: float

    def fields(self) -> dict[str, str]:
        """The hash fields it is stored as."""
        fields = {
            "keys_per_second": f"{self.keys_per_second:.1f}",
            "measured_at": self.measured_at,
            "keys": str(self.keys),
            "seconds": f"{self.seconds:.3f}",
        }
        if self.bytes_per_second is not None:
            fields["bytes_per_second"] = f"{self.bytes_per_second:.0f}"
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> MeasuredRate | None:
        """The rate stored as ``fields``; ``None`` when they do not make one."""
        try:
            keys_rate = float(fields["keys_per_second"])
            raw_bytes = fields.get("bytes_per_second")
            rate = cls(
                keys_per_second=keys_rate,
                bytes_per_second=float(raw_bytes) if raw_bytes else None,
                measured_at=fields["measured_at"],
                keys=int(fields.get("keys", "0")),
                seconds=float(fields.get("seconds", "0")),
            )
        except (KeyError, ValueError):
            return None
        return rate if keys_rate > 0 else None


def measured(
    moves: list[tuple[int, float, float | None]], now: str, *, held_back: bool = False
) -> MeasuredRate | None:
    """The rate of an apply's moves, each ``(keys, seconds, bytes per key)``; ``None`` when
    too few keys moved or the rate limit held them back (``held_back``: the rate would be
    the limit's, not the cluster's)."""
    keys = sum(k for k, _, _ in moves)
    seconds = sum(s for _, s, _ in moves)
    if held_back or keys < MIN_KEYS_MEASURED or seconds <= 0:
        return None
    sized = [(k, per_key) for k, _, per_key in moves if per_key is not None]
    moved_bytes = sum(k * per_key for k, per_key in sized) if sized else None
    return MeasuredRate(
        keys_per_second=keys / seconds,
        bytes_per_second=moved_bytes / seconds if moved_bytes is not None else None,
        measured_at=now,
        keys=keys,
        seconds=seconds,
    )


def move_eta(
    keys: int, moved_bytes: int | None, rate: MeasuredRate | None, limit: MoveRate | None
) -> dict[str, Any]:
    """A move's ETA and what it assumes: the measured rate (else the default), bounded by
    the limit (the move cannot go faster than the whole apply may)."""
    keys_rate = rate.keys_per_second if rate is not None else DEFAULT_KEYS_PER_SECOND
    eta = keys / keys_rate
    out: dict[str, Any] = {
        "keys_per_second": round(keys_rate, 1),
        "rate_source": "measured" if rate is not None else "default",
    }
    if rate is not None:
        out["rate_measured_at"] = rate.measured_at
    if limit is not None:
        out["rate_limit"] = {"per_second": limit.per_second, "unit": limit.unit}
        if limit.unit == "keys":
            eta = max(eta, keys / limit.per_second)
        elif moved_bytes is not None:
            eta = max(eta, moved_bytes / limit.per_second)
    return {"eta_seconds": round(eta, 1), **out}
