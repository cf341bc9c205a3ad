"""The apply lock without a cluster: the engine's wait/heartbeat/guard logic on fake backends,
and the pure parts of the Kafka, Redis and Kubernetes Lease backends."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.engine.locking import (
    HeldLock,
    LockAttempt,
    LockHeld,
    LockLost,
    LockOwner,
    LockSet,
    LockUnavailable,
    acquire,
    command_line,
    format_seconds,
)
from reconciler.errors import EXIT_REFUSED

OWNER = LockOwner(
    host="ci-1",
    pid=42,
    user="alice",
    started_at="2024-05-01T12:00:00Z",
    command="llm-analytics apply plan.json",
    run_id="r" * 32,
)
OTHER = LockOwner(
    host="ci-2",
    pid=7,
    user="bob",
    started_at="2024-05-01T11:59:00Z",
    command="llm-analytics apply -f spec.yaml",
    run_id="o" * 32,
)


class FakeBackend:
    """A backend whose answers a test scripts: a list of attempts, renew failures."""

    def __init__(
        self,
        attempts: list[LockAttempt] | None = None,
        *,
        name: str = "fake",
        order: int = 10,
        ttl: float = 3.0,
        renew_interval: float = 0.01,
    ) -> None:
        self.description = f"fake lock {name}"
        self.ttl_seconds = ttl
        self.renew_interval = renew_interval
        self.lock_order = order
        self.attempts = list(attempts or [LockAttempt(True, token=1)])
        self.renew_errors: list[BaseException] = []
        self.events: list[str] = []
        self.renewals = 0

    async def try_acquire(self, owner: LockOwner) -> LockAttempt:
        self.events.append(f"try {self.description}")
        attempt = self.attempts.pop(0) if len(self.attempts) > 1 else self.attempts[0]
        if attempt.acquired:
            self.events.append(f"acquired {self.description}")
        return attempt

    async def renew(self) -> None:
        self.renewals += 1
        if self.renew_errors:
            raise self.renew_errors.pop(0)

    async def release(self) -> None:
        self.events.append(f"released {self.description}")

    async def close(self) -> None:
        self.events.append(f"closed {self.description}")


class RecordingReporter:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def waiting(self, backend: Any, attempt: LockAttempt, remaining: float) -> None:
        self.lines.append(f"waiting {attempt.holder.user if attempt.holder else attempt.detail}")

    def acquired(self, backend: Any, attempt: LockAttempt) -> None:
        self.lines.append(f"acquired {attempt.token}")

    def released(self, backend: Any) -> None:
        self.lines.append("released")

    def lost(self, backend: Any, reason: str) -> None:
        self.lines.append(f"lost {reason}")

    def unavailable(self, backend: Any, reason: str) -> None:
        self.lines.append(f"unavailable {reason}")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


# --------------------------------------------------------------------------- owner


def test_owner_round_trips_and_reads_foreign_data_tolerantly() -> None:
    assert LockOwner.from_dict(OWNER.to_dict()) == OWNER
    odd = LockOwner.from_dict({"host": "h", "pid": "not a number"})
    assert odd is not None and odd.pid == -1 and odd.user == "?"
    assert LockOwner.from_dict("garbage") is None


def test_owner_describes_who_where_when_what() -> None:
    text = OWNER.describe()
    for part in ("alice@ci-1", "pid 42", "2024-05-01T12:00:00Z", "llm-analytics apply plan.json"):
        assert part in text


def test_current_owner_is_this_process() -> None:
    import os

    owner = LockOwner.current("cmd")
    assert owner.pid == os.getpid() and owner.command == "cmd" and owner.started_at.endswith("Z")


def test_command_line_quotes_and_shortens() -> None:
    assert command_line(["apply", "my plan.json"]) == "llm-analytics apply 'my plan.json'"
    assert len(command_line(["x" * 1000])) <= 300


def test_format_seconds() -> None:
    assert format_seconds(0.5) == "0.5s"
    assert format_seconds(300) == "5m"
    assert format_seconds(3930) == "1h5m30s"


# --------------------------------------------------------------------------- acquire


async def test_free_lock_is_taken_at_once() -> None:
    backend = FakeBackend()
    reporter = RecordingReporter()
    attempt = await acquire(backend, OWNER, timeout=10, reporter=reporter)
    assert attempt.acquired and attempt.token == 1
    assert reporter.lines == ["acquired 1"]


async def test_timeout_zero_refuses_at_once_naming_the_holder() -> None:
    backend = FakeBackend([LockAttempt(False, holder=OTHER)])
    with pytest.raises(LockHeld) as caught:
        await acquire(backend, OWNER, timeout=0)
    assert caught.value.exit_code == EXIT_REFUSED
    assert caught.value.holder == OTHER
    message = str(caught.value)
    for part in (
        "bob@ci-2",
        "pid 7",
        "2024-05-01T11:59:00Z",
        "apply -f spec.yaml",
        "without waiting",
    ):
        assert part in message
    assert backend.events == ["try fake lock fake"]


async def test_waits_reporting_each_holder_once_then_gets_it() -> None:
    third = LockOwner(host="ci-3", pid=9, user="carol", started_at="x", command="c")
    backend = FakeBackend(
        [
            LockAttempt(False, holder=OTHER),
            LockAttempt(False, holder=OTHER),
            LockAttempt(False, detail="the lock group is rebalancing"),
            LockAttempt(False, holder=third),
            LockAttempt(True, token=7),
        ]
    )
    reporter = RecordingReporter()
    clock = FakeClock()
    attempt = await acquire(
        backend, OWNER, timeout=60, reporter=reporter, clock=clock, sleep=clock.sleep
    )
    assert attempt.token == 7
    assert reporter.lines == ["waiting bob", "waiting carol", "acquired 7"]
    assert clock.now == pytest.approx(4.0)


async def test_gives_up_after_the_timeout() -> None:
    backend = FakeBackend([LockAttempt(False, holder=OTHER)])
    clock = FakeClock()
    with pytest.raises(LockHeld, match=r"after waiting 5s"):
        await acquire(backend, OWNER, timeout=5, clock=clock, sleep=clock.sleep)
    assert clock.now == pytest.approx(5.0)


async def test_unknown_holder_is_explained() -> None:
    backend = FakeBackend([LockAttempt(False, detail="the lock group is rebalancing")])
    with pytest.raises(LockHeld, match="rebalancing"):
        await acquire(backend, OWNER, timeout=0)


# --------------------------------------------------------------------------- heartbeat


async def test_heartbeat_renews_until_released() -> None:
    backend = FakeBackend()
    held = HeldLock(backend, LockAttempt(True, token=1))
    held.start()
    await asyncio.sleep(0.1)
    await held.release()
    assert backend.renewals >= 3
    assert held.lost_reason is None
    assert backend.events[-1] == "released fake lock fake"


async def test_lock_taken_away_is_lost_and_not_released() -> None:
    backend = FakeBackend()
    backend.renew_errors = [LockLost("taken over by bob")]
    lost: list[str] = []
    held = HeldLock(backend, LockAttempt(True, token=1), on_lost=lambda _, why: lost.append(why))
    held.start()
    await asyncio.sleep(0.1)
    assert lost == ["taken over by bob"]
    await held.release()
    assert "released fake lock fake" not in backend.events


async def test_transient_renew_failures_are_tolerated_within_the_deadline() -> None:
    backend = FakeBackend(ttl=10.0)
    backend.renew_errors = [ConnectionError("blip"), ConnectionError("blip")]
    held = HeldLock(backend, LockAttempt(True, token=1))
    held.start()
    await asyncio.sleep(0.1)
    assert held.lost_reason is None
    await held.release()


async def test_failing_to_renew_for_most_of_the_ttl_loses_the_lock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = FakeBackend(ttl=0.2, renew_interval=0.02)
    backend.renew_errors = [ConnectionError("down")] * 1000
    held = HeldLock(backend, LockAttempt(True, token=1))
    with caplog.at_level(logging.WARNING):
        held.start()
        await asyncio.sleep(0.4)
    assert held.lost_reason is not None and "could not renew" in held.lost_reason
    await held.release()


async def test_a_hanging_renewal_loses_the_lock_before_the_ttl_runs_out() -> None:
    class Hanging(FakeBackend):
        async def renew(self) -> None:
            await asyncio.sleep(3600)

    backend = Hanging(ttl=0.3, renew_interval=0.05)
    held = HeldLock(backend, LockAttempt(True, token=1))
    started = asyncio.get_running_loop().time()
    held.start()
    while held.lost_reason is None:
        await asyncio.sleep(0.01)
        assert asyncio.get_running_loop().time() - started < 0.3
    assert "TimeoutError" in held.lost_reason
    await held.release()


# --------------------------------------------------------------------------- lock sets


async def test_locks_are_taken_in_order_and_released_in_reverse() -> None:
    redis = FakeBackend(name="redis", order=20)
    kafka = FakeBackend(name="kafka", order=10)
    async with LockSet([redis, kafka], OWNER, timeout=1) as locks:
        assert [h.backend for h in locks.held] == [kafka, redis]
    order = [e for e in kafka.events + redis.events if not e.startswith("try")]
    assert kafka.events.index("acquired fake lock kafka") == 1
    assert order.index("released fake lock redis") < len(order)
    assert kafka.events[-2:] == ["released fake lock kafka", "closed fake lock kafka"]


async def test_failure_on_the_second_lock_releases_the_first() -> None:
    kafka = FakeBackend(name="kafka", order=10)
    redis = FakeBackend([LockAttempt(False, holder=OTHER)], name="redis", order=20)
    with pytest.raises(LockHeld):
        async with LockSet([kafka, redis], OWNER, timeout=0):
            pytest.fail("must not get here")
    assert "released fake lock kafka" in kafka.events
    assert "closed fake lock redis" in redis.events


async def test_guard_stops_the_work_when_a_lock_is_lost() -> None:
    backend = FakeBackend(renew_interval=0.02)
    backend.renew_errors = [LockLost("expired")]
    reporter = RecordingReporter()
    finished = []

    async def long_apply() -> None:
        await asyncio.sleep(5)
        finished.append(True)

    async with LockSet([backend], OWNER, timeout=1, reporter=reporter) as locks:
        with pytest.raises(LockLost, match="expired"):
            await locks.guard(long_apply())
    assert not finished
    assert "lost expired" in reporter.lines


async def test_guard_returns_the_result() -> None:
    async def work() -> int:
        return 42

    async with LockSet([FakeBackend()], OWNER, timeout=1) as locks:
        assert await locks.guard(work()) == 42


class Unavailable(FakeBackend):
    def __init__(self, optional: bool) -> None:
        super().__init__(name="redis", order=20)
        self.optional_when_unavailable = optional

    async def try_acquire(self, owner: LockOwner) -> LockAttempt:
        raise LockUnavailable("no slot served")


async def test_an_optional_unavailable_lock_is_skipped_with_a_warning() -> None:
    reporter = RecordingReporter()
    async with LockSet(
        [FakeBackend(), Unavailable(True)], OWNER, timeout=1, reporter=reporter
    ) as locks:
        assert len(locks.held) == 1
    assert "unavailable no slot served" in reporter.lines


async def test_a_required_unavailable_lock_fails() -> None:
    with pytest.raises(LockUnavailable):
        async with LockSet([Unavailable(False)], OWNER, timeout=1):
            pass


# --------------------------------------------------------------------------- Kafka parts


def test_kafka_leader_keeps_the_lock_with_its_holder() -> None:
    from reconciler.providers.kafka.locking import Claim, choose_holder

    members = [
        ("m-new", Claim(OTHER)),
        ("m-holder", Claim(OWNER, held_token=3)),
        ("m-foreign", None),
    ]
    decision = choose_holder(members, generation=9)
    assert (decision.holder_member_id, decision.token, decision.owner) == ("m-holder", 3, OWNER)


def test_kafka_leader_gives_a_free_lock_to_the_earliest_requester() -> None:
    from reconciler.providers.kafka.locking import Claim, choose_holder

    members = [("m-b", Claim(OWNER)), ("m-a", Claim(OTHER))]  # OTHER started a minute earlier
    for order in (members, list(reversed(members))):
        decision = choose_holder(order, generation=5)
        assert (decision.holder_member_id, decision.token) == ("m-a", 5)


def test_kafka_lock_protocol_round_trips() -> None:
    from reconciler.providers.kafka.locking import (
        Claim,
        Decision,
        decode_claim,
        decode_decision,
        encode_claim,
        encode_decision,
        group_view,
    )

    assert decode_claim(encode_claim(Claim(OWNER, 4))) == Claim(OWNER, 4)
    assert decode_claim(b"\x00consumer-protocol") is None
    decision = Decision("m-1", OWNER, 4)
    assert decode_decision(encode_decision(decision)) == decision
    view = group_view("Stable", "llm-analytics-lock", [(b"", encode_decision(decision))])
    assert view.holder == OWNER
    lone = group_view(
        "CompletingRebalance", "llm-analytics-lock", [(encode_claim(Claim(OTHER)), b"")]
    )
    assert lone.holder == OTHER


def test_kafka_lock_ttl_respects_the_broker_bounds() -> None:
    from reconciler.errors import ReconcilerError
    from reconciler.providers.kafka.locking import KafkaGroupLock

    with pytest.raises(ReconcilerError, match="between"):
        KafkaGroupLock({"bootstrap_servers": "x:9092"}, ttl_seconds=1)
    lock = KafkaGroupLock({"bootstrap_servers": "x:9092", "request_timeout_ms": 1000})
    assert lock.lock_order == 10 and "llm-analytics-apply-lock" in lock.description


# --------------------------------------------------------------------------- Redis parts


def test_redis_lock_value_names_the_holder_and_carries_the_token() -> None:
    from reconciler.providers.redis.locking import decode_value, encode_value

    assert decode_value(encode_value(OWNER, 12).encode()) == (OWNER, 12)
    assert decode_value(b"not json") == (None, None)
    assert decode_value(None) == (None, None)


def test_redis_redirections_are_read() -> None:
    from reconciler.providers.redis.locking import redirect_target
    from reconciler.providers.redis.transports import CommandError

    assert redirect_target(CommandError("MOVED 3999 127.0.0.1:6381")) == "127.0.0.1:6381"
    assert redirect_target(CommandError("ASK 3999 10.0.0.2:6379")) == "10.0.0.2:6379"
    assert redirect_target(CommandError("ERR wrong")) is None


def test_redis_lock_keys_share_one_slot() -> None:
    from reconciler.providers.redis.locking import LOCK_KEY, TOKEN_KEY

    def tag(key: str) -> str:
        return key[key.index("{") + 1 : key.index("}")]

    assert tag(LOCK_KEY) == tag(TOKEN_KEY)


# --------------------------------------------------------------------------- Lease parts


def _record(**changes: Any) -> Any:
    from reconciler.providers.kubernetes_lease import LeaseRecord

    base: dict[str, Any] = {
        "resource_version": "5",
        "holder_identity": "ci-2/7/abc",
        "lease_duration_seconds": 30,
        "renew_time": datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC),
        "acquire_time": datetime(2024, 5, 1, 11, 0, 0, tzinfo=UTC),
        "transitions": 3,
        "owner": OTHER,
    }
    base.update(changes)
    return LeaseRecord(**base)


def test_lease_expiry_by_renew_time_with_skew_tolerance() -> None:
    from reconciler.providers.kubernetes_lease import lease_expired

    renewed = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    record = _record()
    assert not lease_expired(record, renewed + timedelta(seconds=20))
    assert not lease_expired(record, renewed + timedelta(seconds=33))  # within the skew
    assert lease_expired(record, renewed + timedelta(seconds=36))


def test_lease_expiry_by_our_own_observation() -> None:
    from reconciler.providers.kubernetes_lease import lease_expired

    # The writer's clock runs an hour ahead: renewTime looks fresh, but nobody renewed it
    # for longer than its duration while we watched.
    record = _record(renew_time=datetime(2024, 5, 1, 13, 0, 0, tzinfo=UTC))
    now = datetime(2024, 5, 1, 12, 0, 10, tzinfo=UTC)
    assert not lease_expired(record, now, unchanged_for=10)
    assert lease_expired(record, now, unchanged_for=31)


def test_free_or_unreadable_leases() -> None:
    from reconciler.providers.kubernetes_lease import lease_expired

    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert lease_expired(_record(holder_identity=None), now)
    assert not lease_expired(_record(renew_time=None), now, unchanged_for=1)
    assert lease_expired(_record(renew_time=None), now, unchanged_for=31)


def test_lease_body_and_record_round_trip() -> None:
    from reconciler.providers.kubernetes_lease import (
        HOLDER_ANNOTATION,
        LeaseRecord,
        lease_body,
        lease_identity,
    )

    now = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    body = lease_body(
        "lock",
        identity=lease_identity(OWNER),
        owner=OWNER,
        duration_seconds=30,
        now=now,
        transitions=4,
        acquire_time=now,
        resource_version="17",
    )
    assert body["spec"]["renewTime"] == "2024-05-01T12:00:00.123456Z"
    assert body["metadata"]["resourceVersion"] == "17"
    assert HOLDER_ANNOTATION in body["metadata"]["annotations"]
    record = LeaseRecord.from_object(body)
    assert record.owner == OWNER and record.transitions == 4
    assert record.holder_identity == "ci-1/42/rrrrrrrrrrrr"
    assert record.renew_time == now
    released = lease_body(
        "lock",
        identity=None,
        owner=None,
        duration_seconds=30,
        now=now,
        transitions=4,
        acquire_time=None,
    )
    assert LeaseRecord.from_object(released).holder() is None


def test_lease_holder_without_annotation_still_has_a_name() -> None:
    holder = _record(owner=None).holder()
    assert holder is not None and holder.host == "ci-2/7/abc"


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("90", 90.0), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("500ms", 0.5)],
)
def test_lock_timeout_values(text: str, seconds: float) -> None:
    from reconciler.cli.planning import parse_duration_seconds

    assert parse_duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["-1", "soon", "5 minutes"])
def test_bad_lock_timeouts(text: str) -> None:
    from reconciler.cli.planning import parse_duration_seconds

    with pytest.raises(ValueError):
        parse_duration_seconds(text)


# --------------------------------------------------------------------------- log redaction


@pytest.fixture
def secrets_registry() -> Any:
    from reconciler import logging_redaction

    logging_redaction.clear_secrets()
    yield logging_redaction
    logging_redaction.clear_secrets()


def test_log_filter_masks_messages_arguments_and_tracebacks(secrets_registry: Any) -> None:
    secrets_registry.register_secret("s3cr3t-pass")
    secrets_registry.register_secret("ab")  # too short to mask
    record = logging.LogRecord(
        "x",
        logging.DEBUG,
        __file__,
        1,
        "auth %s with %r",
        ("alice", b"\x00alice\x00s3cr3t-pass"),
        None,
    )
    try:
        raise RuntimeError("login s3cr3t-pass failed")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert secrets_registry.SecretMaskingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "s3cr3t-pass" not in formatted
    assert "***" in formatted and "alice" in formatted


def test_installed_filter_masks_child_logger_records(secrets_registry: Any) -> None:
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger("redaction-test-root")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        secrets_registry.install_log_redaction(root)
        secrets_registry.register_secret("hunter2-long")
        logging.getLogger("redaction-test-root.child").warning("password=hunter2-long")
    finally:
        root.removeHandler(handler)
    assert stream.getvalue().strip() == "password=***"


def test_spec_secrets_are_registered(
    secrets_registry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.spec.loading import load_spec_text

    monkeypatch.setenv("TEST_SASL_PASSWORD", "very-secret-sasl")
    loaded = load_spec_text(
        "apiVersion: llm-analytics/v1\nkind: ClusterSpec\nmetadata: {name: t}\n"
        "kafka:\n  connection:\n    bootstrapServers: k:9092\n    security:\n"
        "      protocol: SASL_PLAINTEXT\n      sasl: {username: admin, password: "
        "{fromEnv: TEST_SASL_PASSWORD}}\n"
    )
    assert secrets_registry.register_spec_secrets(loaded.spec) == 1
    assert secrets_registry.mask_secrets("x very-secret-sasl y") == "x *** y"
