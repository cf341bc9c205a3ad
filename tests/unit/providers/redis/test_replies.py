"""Replies read as text, and CONFIG GET in both protocol versions."""

from reconciler.providers.redis.replies import config_pairs, reply_text
from reconciler.providers.redis.transports import CommandError


def test_reply_text_decodes_bytes_and_blanks_none_and_errors() -> None:
    assert reply_text(b"ok\xff") == "ok\ufffd"
    assert reply_text(7) == "7"
    assert reply_text("x") == "x"
    assert reply_text(None) == ""
    assert reply_text(CommandError("ERR no")) == ""


def test_config_pairs_reads_a_flat_list_and_a_map() -> None:
    flat = [b"repl-diskless-sync", b"yes", b"repl-diskless-sync-delay", b"5"]
    assert config_pairs(flat) == {"repl-diskless-sync": "yes", "repl-diskless-sync-delay": "5"}
    assert config_pairs({b"maxmemory": b"0"}) == {"maxmemory": "0"}
    assert config_pairs(None) == {}
    assert config_pairs([b"odd"]) == {}
