"""The connection class the direct transport uses packs commands exactly as redis-py does."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import Connection

from reconciler.providers.redis.transports import _connection_class

COMMANDS = [
    ("CLUSTER", "SETSLOT", 16383, "IMPORTING", "0123abcd"),
    ("MIGRATE", "127.0.0.1", 7001, b"", 0, 5000, "COPY", "KEYS", b"user:1", b"\xff\x00"),
    ("SET", "clé", 1.5),
    ("CONFIG GET", "maxmemory"),
    (b"CLIENT SETNAME", b"llm-analytics"),
    ("EVAL", "return 1", 0),
]


@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("command", COMMANDS)
def test_commands_are_packed_byte_for_byte_as_redis_py_packs_them(
    tls: bool, command: tuple[object, ...]
) -> None:
    ours = _connection_class(tls)
    options = {"shared_ssl_context": None} if tls else {}
    packed = b"".join(ours(**options).pack_command(*command))
    assert packed == b"".join(Connection().pack_command(*command))
