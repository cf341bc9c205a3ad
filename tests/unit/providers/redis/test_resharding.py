"""Pure helpers of the loss-free slot move (the protocol itself runs against real Redis)."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from reconciler.providers.redis.resharding import MigrationError, _asked, _pairs, slot_tag


@pytest.mark.parametrize("slot", [0, 1, 8172, 12539, 16383])
def test_the_marker_key_hashes_to_the_slot_it_is_written_in(slot: int) -> None:
    assert key_slot(slot_tag(slot) + b"llm-analytics:copy-ack") == slot


def test_digests_pair_with_their_keys_or_the_move_stops() -> None:
    assert _pairs([b"a", b"b"], [b"1", b""]) == [b"a", b"1", b"b", b""]
    with pytest.raises(MigrationError):
        _pairs([b"a", b"b"], [b"1"])


def test_asking_precedes_every_command_when_asked() -> None:
    assert _asked([("DUMP", b"k")], False) == [("DUMP", b"k")]
    assert _asked([("DUMP", b"k"), ("DEL", b"k")], True) == [
        ("ASKING",),
        ("DUMP", b"k"),
        ("ASKING",),
        ("DEL", b"k"),
    ]
