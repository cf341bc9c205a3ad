"""The move rate limit's token bucket, the measured rate and the ETA it gives (pure)."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.providers.redis.pacing import (
    DEFAULT_KEYS_PER_SECOND,
    MeasuredRate,
    TokenBucket,
    batch_keys,
    measured,
    move_eta,
)
from reconciler.spec.units import MoveRate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_starts_empty_and_takers_share_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(1000.0, clock=clock)
    assert bucket.reserve(500) == pytest.approx(0.5)  # the first batch waits for its share
    assert bucket.reserve(500) == pytest.approx(1.0)  # a concurrent one queues behind it
    clock.now += 1.0
    assert bucket.reserve(100) == pytest.approx(0.1)  # the debt was paid off meanwhile
    clock.now += 60.0
    assert bucket.reserve(100) == pytest.approx(0.1)  # no burst saved up while idle


def test_taking_sleeps_for_the_wait() -> None:
    bucket = TokenBucket(10_000.0)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(*(bucket.take(500) for _ in range(4)))
        return loop.time() - started

    assert 0.19 <= asyncio.run(main()) < 1.0


def test_paced_batches_are_about_a_quarter_second_of_the_limit() -> None:
    assert batch_keys(MoveRate(2000, "keys"), None, 1000) == 500
    assert batch_keys(MoveRate(2, "keys"), None, 1000) == 1
    assert batch_keys(MoveRate(1e9, "keys"), None, 1000) == 1000
    assert batch_keys(MoveRate(1_000_000, "bytes"), 1000.0, 1000) == 250


def test_measured_rate_per_move_and_only_when_it_means_something() -> None:
    moves = [(6000, 2.0, 100.0), (4000, 2.0, 200.0)]
    rate = measured(moves, "2026-12-02T07:00:00+00:00")
    assert rate is not None and rate.measured_at == "2026-12-02T07:00:00+00:00"
    assert rate.keys_per_second == 2500 and rate.bytes_per_second == (600_000 + 800_000) / 4
    assert measured([(6000, 2.0, None)], "t") == MeasuredRate(3000.0, None, "t", 6000, 2.0)
    assert measured([(10, 0.1, None)], "t") is None  # too few keys
    assert measured(moves, "t", held_back=True) is None  # the limit's rate, not the cluster's


def test_the_bucket_adds_up_the_waits() -> None:
    bucket = TokenBucket(100_000.0)
    asyncio.run(bucket.take(1000))
    assert bucket.waited == pytest.approx(0.01, abs=0.001)


def test_a_measured_rate_reads_back_from_its_hash_fields() -> None:
    rate = MeasuredRate(2500.0, 350_000.0, "2026-12-02T07:00:00+00:00", 10_000, 4.0)
    assert MeasuredRate.from_fields(rate.fields()) == rate
    assert MeasuredRate.from_fields({}) is None
    assert MeasuredRate.from_fields({"keys_per_second": "x", "measured_at": "t"}) is None
    assert MeasuredRate.from_fields({"keys_per_second": "0", "measured_at": "t"}) is None


def test_eta_uses_the_measured_rate_else_the_default_within_the_limit() -> None:
    default = move_eta(10_000, None, None, None)
    assert default == {
        "eta_seconds": 10_000 / DEFAULT_KEYS_PER_SECOND,
        "keys_per_second": DEFAULT_KEYS_PER_SECOND,
        "rate_source": "default",
    }
    rate = MeasuredRate(20_000.0, None, "2026-12-02T07:00:00+00:00", 10_000, 0.5)
    fast = move_eta(10_000, None, rate, None)
    assert fast["eta_seconds"] == 0.5 and fast["rate_source"] == "measured"
    assert fast["rate_measured_at"] == "2026-12-02T07:00:00+00:00"
    limited = move_eta(10_000, 5_000_000, rate, MoveRate(1000, "keys"))
    assert limited["eta_seconds"] == 10.0
    assert limited["rate_limit"] == {"per_second": 1000, "unit": "keys"}
    by_bytes = move_eta(10_000, 5_000_000, rate, MoveRate(1_000_000, "bytes"))
    assert by_bytes["eta_seconds"] == 5.0
    # A limit above the measured rate does not shorten the ETA.
    assert move_eta(10_000, None, None, MoveRate(1e6, "keys"))["eta_seconds"] == 2.0
