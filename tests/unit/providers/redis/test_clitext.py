"""redis-cli --no-raw output parsing and input quoting (used by the Kubernetes transport)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconciler.providers.redis.clitext import (
    command_line,
    forced_raw,
    parse_replies,
    parse_reply,
    quote_arg,
    unrepr,
)
from reconciler.providers.redis.transports import CommandError


def repr_like_redis(data: bytes) -> str:
    """redis-cli's sdscatrepr, for generating test input."""
    out = ['"']
    for byte in data:
        char = chr(byte)
        if char in '\\"':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif char == "\a":
            out.append("\\a")
        elif char == "\b":
            out.append("\\b")
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    out.append('"')
    return "".join(out)


@given(st.binary(max_size=64))
def test_unrepr_inverts_redis_repr(data: bytes) -> None:
    assert unrepr(repr_like_redis(data)) == data


def test_scalars() -> None:
    assert parse_reply("OK\n") == b"OK"
    assert parse_reply("(integer) 42\n") == 42
    assert parse_reply("(nil)\n") is None
    assert parse_reply('"a\\x00b"\n') == b"a\x00b"
    assert parse_reply("(empty array)\n") == []
    error = parse_reply("(error) MOVED 3999 127.0.0.1:6381\n")
    assert isinstance(error, CommandError) and error.code == "MOVED"


def test_nested_arrays_with_wide_indexes() -> None:
    text = (
        ' 1) 1) (integer) 0\n    2) (integer) 5460\n    3) 1) "127.0.0.1"\n'
        '       2) (integer) 7000\n 2) "x"\n 3) (empty array)\n 4) (nil)\n'
        ' 5) "5"\n 6) "6"\n 7) "7"\n 8) "8"\n 9) "9"\n10) "10"\n'
    )
    assert parse_reply(text) == [
        [0, 5460, [b"127.0.0.1", 7000]],
        b"x",
        [],
        None,
        b"5",
        b"6",
        b"7",
        b"8",
        b"9",
        b"10",
    ]


def test_several_replies_in_a_row() -> None:
    text = 'OK\n(error) ERR unknown command \'FOO\'\n1) "a"\n2) "b"\n1) "c"\n(0.53s)\n(integer) 3\n'
    replies = parse_replies(text)
    assert replies[0] == b"OK" and isinstance(replies[1], CommandError)
    assert replies[2:] == [[b"a", b"b"], [b"c"], 3]


def test_quote_arg_is_ascii_and_round_trips() -> None:
    assert quote_arg(b'a"b\\c\n\xff') == '"a\\"b\\\\c\\x0a\\xff"'
    assert command_line(["SET", "k", 5]) == '"SET" "k" "5"'


def test_forced_raw_commands() -> None:
    assert forced_raw(["CLUSTER", "NODES"]) and forced_raw(["info", "server"])
    assert not forced_raw(["CLUSTER", "NODES", "x"]) and not forced_raw(["GET", "info"])
    assert forced_raw([b"Client", b"LIST"]) and forced_raw(["DEBUG", "htstats-key", b"\xff"])
    assert not forced_raw([]) and not forced_raw(["CLUSTER"])


def test_forced_raw_takes_any_bytes_and_folds_ascii_only() -> None:
    # Binary keys and values are not text: no UnicodeDecodeError, and not raw.
    assert not forced_raw([b"GET", b"\xff\xfe"]) and not forced_raw([b"\xc3\x28", b"info"])
    assert forced_raw([b"INFO", b"\x80"])
    # redis-cli's strcasecmp folds ASCII letters only: KELVIN SIGN is not "k".
    assert not forced_raw(["DEBUG", "htstats-\u212aey"])
    assert not forced_raw([5, 6])
