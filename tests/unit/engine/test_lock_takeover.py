"""Taking over the lock of a provably dead holder: the pure decision, the engine's use of it
with in-memory fakes of our LockBackend, and the /proc reader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from msgspec import structs

from reconciler.engine.locking import (
    HostIdentity,
    LinuxProcessTable,
    LockAttempt,
    LockHeld,
    LockOwner,
    LockSet,
    ProcessInfo,
    acquire,
    holder_is_provably_dead,
    parse_proc_stat,
    takeover_notice,
)

HERE = HostIdentity("boot-1", "ci-1", "pid:[4026531836]")
HOLDER = LockOwner(
    host="ci-1",
    pid=4242,
    user="alice",
    started_at="2024-05-01T12:00:00Z",
    command="llm-analytics apply -f spec.yaml",
    run_id="h" * 32,
    boot_id="boot-1",
    pid_namespace="pid:[4026531836]",
    process_start=1000,
)
ME = structs.replace(HOLDER, pid=7, user="bob", run_id="m" * 32, process_start=2000)


class FakeTable:
    """A process table a test writes: this host's identity and its processes."""

    def __init__(
        self, host: HostIdentity | None = HERE, processes: dict[int, ProcessInfo] | None = None
    ):
        self._host = host
        self.processes = processes or {}

    def host(self) -> HostIdentity | None:
        return self._host

    def process(self, pid: int) -> ProcessInfo | None:
        return self.processes.get(pid)


ALIVE = FakeTable(processes={4242: ProcessInfo(1000, "S")})


@pytest.mark.parametrize(
    ("holder", "table", "why"),
    [
        (HOLDER, FakeTable(), "its process 4242 on this host has exited"),
        (HOLDER, FakeTable(processes={4242: ProcessInfo(1000, "Z")}), "not yet reaped"),
        (HOLDER, FakeTable(processes={4242: ProcessInfo(5000, "S")}), "is now another process"),
    ],
)
def test_provably_dead(holder: LockOwner, table: FakeTable, why: str) -> None:
    reason = holder_is_provably_dead(holder, table)
    assert reason is not None and why in reason


@pytest.mark.parametrize(
    ("holder", "table"),
    [
        (HOLDER, ALIVE),  # alive, same start time
        (HOLDER, FakeTable(processes={4242: ProcessInfo(None)})),  # exists, unreadable
        (structs.replace(HOLDER, boot_id="boot-0"), FakeTable()),  # before a reboot
        (structs.replace(HOLDER, host="ci-2"), FakeTable()),  # another host
        (structs.replace(HOLDER, pid_namespace="pid:[1]"), FakeTable()),  # another container
        (structs.replace(HOLDER, boot_id=""), FakeTable()),  # an older record
        (structs.replace(HOLDER, pid=-1), FakeTable()),  # not written by this tool
        (HOLDER, FakeTable(host=None)),  # we cannot tell who we are
        # No start time recorded: a live pid may be the holder (reused or not): wait.
        (
            structs.replace(HOLDER, process_start=None),
            FakeTable(processes={4242: ProcessInfo(5000, "S")}),
        ),
    ],
)
def test_not_provably_dead(holder: LockOwner, table: FakeTable) -> None:
    assert holder_is_provably_dead(holder, table) is None


class TakeoverFake:
    """An in-memory lock with the LockBackend interface, plus take_over (compare-and-swap)."""

    description = "fake lock"
    ttl_seconds = 30.0
    renew_interval = 10.0
    lock_order = 10

    def __init__(self, holder: LockOwner | None) -> None:
        self.holder = holder
        self.version = 1
        self.token = 0
        self.events: list[str] = []
        self.steal_before_takeover: LockOwner | None = None

    async def try_acquire(self, owner: LockOwner) -> LockAttempt:
        if self.holder is None:
            self.holder, self.token = owner, self.token + 1
            self.events.append(f"acquired by {owner.user}")
            return LockAttempt(True, token=self.token)
        return LockAttempt(False, holder=self.holder, observed=self.version)

    async def take_over(self, owner: LockOwner, stale: LockAttempt) -> LockAttempt:
        if self.steal_before_takeover is not None:  # another waiter was faster
            self.holder, self.version = self.steal_before_takeover, self.version + 1
            self.steal_before_takeover = None
        if stale.observed != self.version:
            self.events.append("takeover refused: changed")
            return LockAttempt(False, holder=self.holder)
        self.holder, self.version, self.token = owner, self.version + 1, self.token + 1
        self.events.append(f"taken over by {owner.user}")
        return LockAttempt(True, token=self.token)

    async def renew(self) -> None:
        pass

    async def release(self) -> None:
        self.holder = None
        self.events.append("released")

    async def close(self) -> None:
        pass


class Reporter:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def waiting(self, backend: Any, attempt: LockAttempt, remaining: float) -> None:
        self.lines.append(f"waiting for {attempt.holder.user if attempt.holder else '?'}")

    def acquired(self, backend: Any, attempt: LockAttempt) -> None:
        self.lines.append(f"acquired {attempt.token}")

    def released(self, backend: Any) -> None:
        pass

    def lost(self, backend: Any, reason: str) -> None:
        pass

    def unavailable(self, backend: Any, reason: str) -> None:
        pass

    def taken_over(self, backend: Any, holder: LockOwner, reason: str) -> None:
        self.lines.append(f"took over from {holder.user}: {reason}")


async def test_a_dead_holder_is_taken_over_at_once_with_a_notice() -> None:
    backend, reporter = TakeoverFake(HOLDER), Reporter()
    attempt = await acquire(backend, ME, timeout=0, reporter=reporter, processes=FakeTable())
    assert attempt.acquired and backend.holder == ME
    assert reporter.lines == [
        "took over from alice: its process 4242 on this host has exited",
        "acquired 1",
    ]


async def test_a_live_holder_is_waited_out() -> None:
    backend, reporter = TakeoverFake(HOLDER), Reporter()
    with pytest.raises(LockHeld):
        await acquire(backend, ME, timeout=0, reporter=reporter, processes=ALIVE)
    assert backend.holder == HOLDER and backend.events == []


async def test_no_process_table_no_takeover() -> None:
    backend = TakeoverFake(HOLDER)
    with pytest.raises(LockHeld):
        await acquire(backend, ME, timeout=0, processes=None)
    assert backend.holder == HOLDER


async def test_a_takeover_that_loses_the_race_waits_for_the_winner() -> None:
    winner = structs.replace(ME, user="carol", pid=8, run_id="c" * 32)
    backend = TakeoverFake(HOLDER)
    backend.steal_before_takeover = winner
    table = FakeTable(processes={8: ProcessInfo(2000, "S")})  # carol is alive
    with pytest.raises(LockHeld) as raised:
        await acquire(backend, ME, timeout=0, processes=table)
    assert raised.value.holder == winner
    assert backend.events == ["takeover refused: changed"]


async def test_a_backend_without_takeover_is_waited_out() -> None:
    class Plain(TakeoverFake):
        take_over = None  # type: ignore[assignment]

    backend = Plain(HOLDER)
    with pytest.raises(LockHeld):
        await acquire(backend, ME, timeout=0, processes=FakeTable())


async def test_a_reporter_without_taken_over_gets_a_log_line(caplog: Any) -> None:
    class OldReporter(Reporter):
        taken_over = None  # type: ignore[assignment]

    backend = TakeoverFake(HOLDER)
    with caplog.at_level("WARNING", logger="reconciler.engine.locking"):
        await acquire(backend, ME, timeout=0, reporter=OldReporter(), processes=FakeTable())
    assert "Took over the apply lock (fake lock) from alice@ci-1 (pid 4242" in caplog.text


async def test_lockset_takes_over_by_default_with_the_local_table(tmp_path: Path) -> None:
    # A real dead process of this host: started, recorded, ended.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    me = LockOwner.current("test")
    dead = structs.replace(me, pid=child.pid, run_id="d" * 32)
    backend = TakeoverFake(dead)
    async with LockSet([backend], me, timeout=0) as locks:
        assert locks.held and backend.holder == me
    assert backend.events == [f"taken over by {me.user}", "released"]


async def test_lockset_does_not_take_over_from_a_live_process_of_this_host() -> None:
    me = LockOwner.current("test")  # this very process holds it
    backend = TakeoverFake(structs.replace(me, run_id="x" * 32))
    with pytest.raises(LockHeld):
        async with LockSet([backend], me, timeout=0):
            pass


def test_takeover_notice_names_the_holder_and_why() -> None:
    text = takeover_notice(TakeoverFake(None), HOLDER, "its process 4242 on this host has exited")
    assert text == (
        "Took over the apply lock (fake lock) from alice@ci-1 (pid 4242, boot boot-1, process "
        "start 1000), started at 2024-05-01T12:00:00Z, running `llm-analytics apply -f "
        "spec.yaml`: its process 4242 on this host has exited; not waiting for its TTL."
    )


# --------------------------------------------------------------------------- /proc


def test_parse_proc_stat_with_a_hostile_command_name() -> None:
    fields = ["S", *[str(i) for i in range(4, 22)], "123456", "0"]
    text = "4242 (evil) (name) S " + " ".join(fields[1:])
    info = parse_proc_stat(text)
    assert info == ProcessInfo(start_time=123456, state="S")


def test_linux_table_reads_this_process_and_a_gone_one() -> None:
    table = LinuxProcessTable()
    here = table.host()
    assert here is not None and len(here.boot_id) == 36 and here.pid_namespace.startswith("pid:")
    mine = table.process(os.getpid())
    assert mine is not None and mine.start_time is not None and mine.state in "RS"
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert table.process(child.pid) is None


def test_linux_table_sees_a_zombie(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for _ in range(200):
            info = LinuxProcessTable().process(child.pid)
            if info is not None and info.state == "Z":
                break
            import time

            time.sleep(0.01)
        assert info is not None and info.state == "Z"
    finally:
        child.wait()


def test_current_owner_carries_what_identifies_its_process() -> None:
    owner = LockOwner.current("cmd")
    table = LinuxProcessTable()
    here = table.host()
    assert here is not None
    assert owner.boot_id == here.boot_id and owner.pid_namespace == here.pid_namespace
    assert owner.process_start == table.start_time(os.getpid())
    assert LockOwner.from_dict(owner.to_dict()) == owner


def test_records_of_older_versions_still_read() -> None:
    old = {"host": "h", "pid": 1, "user": "u", "started_at": "t", "command": "c", "run_id": "r"}
    owner = LockOwner.from_dict(old)
    assert owner is not None and owner.boot_id == "" and owner.process_start is None
    forged = LockOwner.from_dict({**old, "process_start": True, "boot_id": None})
    assert forged is not None and forged.process_start is None and forged.boot_id == ""


def test_the_kafka_group_view_names_the_holders_member() -> None:
    from reconciler.providers.kafka.locking import (
        Claim,
        Decision,
        encode_claim,
        encode_decision,
        group_view,
    )

    claim = encode_claim(Claim(HOLDER, 3))
    decision = encode_decision(Decision("member-a", HOLDER, 3))
    view = group_view("Stable", "llm-analytics-lock", [(claim, decision)], ["member-a"])
    assert view.holder == HOLDER and view.holder_member_id == "member-a"
    # An assignment naming a member that has left names nobody to remove.
    gone = group_view("Stable", "llm-analytics-lock", [(claim, decision)], ["member-b"])
    assert gone.holder_member_id == ""
    lone = group_view("CompletingRebalance", "llm-analytics-lock", [(claim, b"")], ["member-c"])
    assert lone.holder == HOLDER and lone.holder_member_id == "member-c"
