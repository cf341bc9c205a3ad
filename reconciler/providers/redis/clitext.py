"""Reading ``redis-cli --no-raw`` output and writing ``redis-cli`` input lines (pure).

The Kubernetes transport runs ``redis-cli`` inside the pods, so replies arrive as text.
Why ``--no-raw`` (redis-cli's "standard" format) rather than ``--json``: it is the only
format that is unambiguous and binary-safe in every redis-cli version in use. Bulk strings
are printed quoted with C escapes (``"a\\x00b"``), status replies bare (``OK``), errors as
``(error) MSG``, integers as ``(integer) N``, nil as ``(nil)``, and arrays as ``1) ...``
lines whose nesting is given by column. redis-cli 7.0's ``--json`` loses non-UTF-8 bytes
and its ``--quoted-json`` emits invalid JSON for strings containing quotes.

A few commands (CLUSTER NODES, CLUSTER INFO, INFO, CLIENT LIST ...) are always printed raw
by redis-cli, whatever the flags; :func:`forced_raw` names them so callers read the whole
output as one string (and check its shape, since raw mode prints errors bare too).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reconciler.providers.redis.transports import Arg, CommandError, Reply

_INDEX = re.compile(r" *(\d+)\) ")
_TIMING = re.compile(r"^\(\d+\.\d+s\)$")  # printed after slow commands in stdin mode
_ESCAPES = {"n": 10, "r": 13, "t": 9, "b": 8, "a": 7, "\\": 92, '"': 34}


def _word(arg: Arg) -> bytes:
    """An argument as redis-cli compares it: its bytes (UTF-8 for text), ASCII letters
    folded to lower case (``strcasecmp``); any byte string is fine, binary keys included."""
    return (arg if isinstance(arg, bytes) else str(arg).encode()).lower()


_RAW_PAIRS = {
    b"client": {b"list", b"info"},
    b"memory": {b"malloc-stats", b"doctor"},
    b"latency": {b"graph", b"doctor"},
    b"debug": {b"htstats", b"htstats-key", b"client-eviction"},
}


def forced_raw(args: Sequence[Arg]) -> bool:
    """Commands whose reply redis-cli prints raw even with ``--no-raw``."""
    if not args:
        return False
    first = _word(args[0])
    second = _word(args[1]) if len(args) > 1 else b""
    if first in {b"info", b"lolwut"}:
        return True
    if first == b"cluster":
        return len(args) == 2 and second in {b"nodes", b"info"}
    return second in _RAW_PAIRS.get(first, set())


def unrepr(text: str) -> bytes:
    """Invert redis-cli's ``sdscatrepr``: ``"a\\x01\\n"`` → ``b"a\\x01\\n"``."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"not a quoted string: {text[:40]!r}")
    body = text[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out += char.encode("latin-1") if ord(char) < 256 else char.encode()
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt == "x" and i + 3 < len(body) + 1:
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ord("\\"))
            i += 1
    return bytes(out)


def quote_arg(arg: Arg) -> str:
    """One argument as redis-cli's line splitter (``sdssplitargs``) reads it back exactly."""
    data = arg if isinstance(arg, bytes) else str(arg).encode()
    parts = ['"']
    for byte in data:
        if byte == 0x5C:
            parts.append("\\\\")
        elif byte == 0x22:
            parts.append('\\"')
        elif 0x20 <= byte < 0x7F:
            parts.append(chr(byte))
        else:
            parts.append(f"\\x{byte:02x}")
    parts.append('"')
    return "".join(parts)


def command_line(args: Sequence[Arg]) -> str:
    return " ".join(quote_arg(a) for a in args)


def _leaf(text: str) -> Reply | CommandError:
    if text.startswith("(error) "):
        return CommandError(text[len("(error) ") :])
    if text.startswith("(integer) "):
        return int(text[len("(integer) ") :])
    if text == "(nil)":
        return None
    if text in ("(empty array)", "(empty list or set)"):
        return []
    if text.startswith('"'):
        return unrepr(text)
    return text.encode()  # a status reply (OK, PONG, ...)


def _parse(lines: list[str], i: int, col: int) -> tuple[Reply | CommandError, int]:
    """Parse the reply starting at ``lines[i][col:]``; returns it and the next line index."""
    text = lines[i][col:]
    match = _INDEX.match(text)
    if not match or match.group(1) != "1":
        return _leaf(text), i + 1
    width = len(match.group(0))
    items: list[Reply] = []
    item, i = _parse(lines, i, col + width)
    items.append(item)  # type: ignore[arg-type]
    expected = 2
    while i < len(lines):
        line = lines[i]
        if line[:col].strip():
            break
        match = _INDEX.match(line[col : col + width])
        if not match or len(match.group(0)) != width or int(match.group(1)) != expected:
            break
        item, i = _parse(lines, i, col + width)
        items.append(item)  # type: ignore[arg-type]
        expected += 1
    return items, i


def parse_replies(text: str, count: int | None = None) -> list[Reply | CommandError]:
    """Every top-level reply in ``redis-cli --no-raw`` output, in order."""
    lines = [line for line in text.split("\n") if line and not _TIMING.match(line)]
    replies: list[Reply | CommandError] = []
    i = 0
    while i < len(lines) and (count is None or len(replies) < count):
        reply, i = _parse(lines, i, 0)
        replies.append(reply)
    return replies


def parse_reply(text: str) -> Reply | CommandError:
    """The single reply of one ``redis-cli --no-raw`` invocation."""
    replies = parse_replies(text.rstrip("\n"))
    if not replies:
        return b""
    return replies[0]
