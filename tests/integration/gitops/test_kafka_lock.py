"""The Kafka consumer-group apply lock in-process against a real broker: exclusivity under a
race, a holder that keeps the lock through a rebalance, expiry of a crashed holder."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from reconciler.engine.locking import HeldLock, LockLost, LockOwner
from reconciler.providers.kafka.locking import KafkaGroupLock

pytestmark = pytest.mark.integration


def owner(name: str) -> LockOwner:
    return LockOwner.current(f"apply by {name}")


def make(kafka: Any, group: str, ttl: float = 6.0) -> KafkaGroupLock:
    return KafkaGroupLock(
        {"bootstrap_servers": kafka.bootstrap_servers}, group=group, ttl_seconds=ttl
    )


async def test_racing_acquirers_get_exactly_one_holder(
    kafka_single: Any, unique_name: Callable[[str], str]
) -> None:
    group = unique_name("lock-race")
    locks = [make(kafka_single, group) for _ in range(4)]
    holds: dict[int, HeldLock] = {}

    async def acquire(i: int, lock: KafkaGroupLock) -> Any:
        # As an apply does: renewing starts the moment the lock is held. A holder that did
        # not renew would not rejoin the rebalance a later joiner starts, and would be
        # dropped from the group after the rebalance timeout (its lock lost).
        attempt = await lock.try_acquire(owner(str(i)))
        if attempt.acquired:
            holds[i] = HeldLock(lock, attempt)
            holds[i].start()
        return attempt

    try:
        attempts = await asyncio.gather(*(acquire(i, lock) for i, lock in enumerate(locks)))
        winners = [i for i, a in enumerate(attempts) if a.acquired]
        assert len(winners) == 1, attempts
        winner = owner(str(winners[0]))
        for i, attempt in enumerate(attempts):
            if i != winners[0] and attempt.holder is not None:
                assert attempt.holder.command == winner.command
        # The losers left the group: the holder's heartbeat rejoins and the group settles.
        held = holds[winners[0]]
        for _ in range(50):
            view = await locks[0].describe()
            if view.state == "Stable":
                break
            await asyncio.sleep(0.2)
        assert view.state == "Stable" and view.members == 1
        assert view.holder is not None and view.holder.command == winner.command
        assert held.lost_reason is None
        await held.release()
    finally:
        for hold in holds.values():
            await hold.release()
        for lock in locks:
            await lock.release()
            await lock.close()


async def test_the_holder_keeps_the_lock_through_a_rebalance(
    kafka_single: Any, unique_name: Callable[[str], str]
) -> None:
    group = unique_name("lock-rebalance")
    holder, intruder = make(kafka_single, group), make(kafka_single, group)
    try:
        attempt = await holder.try_acquire(owner("holder"))
        assert attempt.acquired
        held = HeldLock(holder, attempt)
        held.start()
        # A run that saw the group empty a moment ago joins anyway: a rebalance.
        decision = await intruder._join(owner("intruder"))
        assert decision.owner is not None and decision.owner.command == "apply by holder"
        assert decision.token == attempt.token
        await intruder.release()
        await asyncio.sleep(2)
        assert held.lost_reason is None and holder.held
        await held.release()
    finally:
        await holder.close()
        await intruder.close()


async def test_a_crashed_holder_expires_after_the_session_timeout(
    kafka_single: Any, unique_name: Callable[[str], str]
) -> None:
    group = unique_name("lock-crash")
    crashed, waiting = make(kafka_single, group), make(kafka_single, group)
    try:
        assert (await crashed.try_acquire(owner("crashed"))).acquired
        started = time.monotonic()
        while not (attempt := await waiting.try_acquire(owner("waiting"))).acquired:
            assert attempt.holder is not None and attempt.holder.command == "apply by crashed"
            assert time.monotonic() - started < 30
            await asyncio.sleep(0.5)
        assert 4 <= time.monotonic() - started < 30  # the broker's session timeout (6 s)
        with pytest.raises(LockLost, match="session expired"):
            await crashed.renew()
    finally:
        await waiting.release()
        await crashed.close()
        await waiting.close()
