"""The first-sync prompt: a master's delay held at 0 once for concurrent replicas, then
restored; masters that refuse CONFIG or sync from disk are left alone."""

from __future__ import annotations

import asyncio
from typing import Any

from reconciler.providers.redis.syncing import FirstSyncs, in_sync
from reconciler.providers.redis.transports import CommandError


class FakeNodes:
    """Our ``execute(node_id, *command)`` interface over in-memory configs."""

    def __init__(self, configs: dict[str, dict[str, str]], refuse: bool = False) -> None:
        self.configs = configs
        self.refuse = refuse
        self.sets: list[tuple[str, str]] = []

    async def execute(self, node_id: str, *command: Any) -> Any:
        await asyncio.sleep(0)
        if self.refuse:
            raise CommandError("NOPERM this user has no permissions to run the 'config' command")
        if command[:2] == ("CONFIG", "GET"):
            return [x.encode() for kv in self.configs[node_id].items() for x in kv]
        if command[:2] == ("CONFIG", "SET"):
            self.configs[node_id][command[2]] = command[3]
            self.sets.append((node_id, command[3]))
            return b"OK"
        if command[0] == "INFO":
            return b"# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n"
        raise AssertionError(command)


def diskless(delay: str = "5") -> dict[str, str]:
    return {"repl-diskless-sync": "yes", "repl-diskless-sync-delay": delay}


async def test_concurrent_replicas_of_one_master_set_and_restore_once() -> None:
    nodes = FakeNodes({"m": diskless("7")})
    syncs = FirstSyncs(nodes.execute)
    seen: list[str] = []

    async def attach() -> None:
        async with syncs.prompt("m") as prompted:
            assert prompted
            seen.append(nodes.configs["m"]["repl-diskless-sync-delay"])
            await asyncio.sleep(0.01)

    await asyncio.gather(attach(), attach())
    assert seen == ["0", "0"]
    assert nodes.sets == [("m", "0"), ("m", "7")]
    assert nodes.configs["m"]["repl-diskless-sync-delay"] == "7"


async def test_restored_when_the_sync_fails() -> None:
    nodes = FakeNodes({"m": diskless()})
    syncs = FirstSyncs(nodes.execute)
    try:
        async with syncs.prompt("m"):
            raise RuntimeError("the replica went away")
    except RuntimeError:
        pass
    assert nodes.configs["m"]["repl-diskless-sync-delay"] == "5"


async def test_left_alone_when_refused_disk_based_or_already_zero() -> None:
    for nodes in (
        FakeNodes({"m": diskless()}, refuse=True),
        FakeNodes({"m": {"repl-diskless-sync": "no", "repl-diskless-sync-delay": "5"}}),
        FakeNodes({"m": diskless("0")}),
    ):
        async with FirstSyncs(nodes.execute).prompt("m") as prompted:
            assert not prompted
        assert nodes.sets == []


async def test_in_sync_reads_the_replica_link() -> None:
    assert await in_sync(FakeNodes({}).execute, "r")
