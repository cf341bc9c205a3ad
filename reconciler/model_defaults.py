"""Default factories for pydantic fields: ``Field(default_factory=new_list)``.

Python functions, not the builtins ``list``/``dict``: pydantic inspects a default factory's
signature, and a builtin's is parsed from its text signature with :mod:`tokenize`, whose
pattern compiles on first use (about 6 ms of start-up) and costs a millisecond per field.
"""

from __future__ import annotations

from typing import Any


def new_list() -> list[Any]:
    """A new empty list."""
    return []


def new_dict() -> dict[Any, Any]:
    """A new empty dict."""
    return {}
