"""Counting the keys a test wrote, not the tool's own (all under the ``{llm-analytics}``
hash tag: the apply lock's fencing token, the measured move rate)."""

from __future__ import annotations

from typing import Any

TOOL_KEYS = "{llm-analytics}:*"  # braces are literal in a KEYS pattern


def user_key_count(node: Any) -> int:
    """``DBSIZE`` of one node (a ``redis.Redis``) less the tool's keys it holds."""
    return int(node.dbsize()) - len(node.keys(TOOL_KEYS))
