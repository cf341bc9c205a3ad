"""Reading Redis replies as text: one decoding for every module that parses them."""

from __future__ import annotations


def reply_text(value: object) -> str:
    """A reply or argument as text: bytes decoded (bad bytes replaced); ``None`` and error
    replies (exceptions) as ""."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if value is None or isinstance(value, Exception):
        return ""
    return str(value)


def config_pairs(reply: object) -> dict[str, str]:
    """``CONFIG GET`` as name → value (a RESP2 flat list or a RESP3 map)."""
    if isinstance(reply, dict):
        return {reply_text(k): reply_text(v) for k, v in reply.items()}
    items = [reply_text(v) for v in reply] if isinstance(reply, list | tuple) else []
    return dict(zip(items[::2], items[1::2], strict=False))
