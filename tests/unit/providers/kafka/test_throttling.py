"""The replication throttle of a reassignment (pure)."""

from __future__ import annotations

import pytest

from reconciler.providers.kafka.throttling import RATE_KEYS, cleared, throttle_settings
from reconciler.spec.units import parse_rate


def test_rates() -> None:
    assert parse_rate("50MiB/s") == 50 * 2**20
    assert parse_rate("10MB") == 10_000_000
    assert parse_rate("1024") == 1024
    with pytest.raises(ValueError, match="as a rate"):
        parse_rate("fast")
    with pytest.raises(ValueError, match="above 0"):
        parse_rate("0")


def test_settings_throttle_senders_and_receivers_then_clear() -> None:
    topics, brokers = throttle_settings({"t": {0: ([1], [1, 2, 3]), 1: ([2], [2, 3, 1])}}, 1000)
    assert topics == {
        "t": {
            "leader.replication.throttled.replicas": "0:1,1:2",
            "follower.replication.throttled.replicas": "0:2,0:3,1:3,1:1",
        }
    }
    assert brokers == {b: dict.fromkeys(RATE_KEYS, "1000") for b in (1, 2, 3)}
    topics_off, brokers_off = cleared(["t"], [1, 2, 3])
    assert set(topics_off["t"].values()) == {None} and brokers_off[2] == dict.fromkeys(RATE_KEYS)
