"""Hiding secrets before a plan is shown, saved or logged.

An attribute is secret when the plan marks it ``sensitive`` or when its path looks like a
secret (see :data:`SENSITIVE_KEY_PATTERNS`). Secret values become :data:`SENSITIVE_VALUE`;
an absent value (``None``) stays ``None``, since absence reveals nothing. Inside attribute
values and change payloads, mapping keys that look like secrets are redacted the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

SENSITIVE_VALUE = "(sensitive value)"

#: Substrings that mark a key as secret (matched case-insensitively; ``_``, ``-``, spaces
#: and camelCase boundaries count as ``.``, so ``sasl_jaas_config`` and ``saslJaasConfig``
#: match ``sasl.jaas.config``).
SENSITIVE_KEY_PATTERNS: tuple[str, ...] = (
    "password",
    "secret",
    "sasl.jaas.config",
    "ssl.key",
    "token",
    "credentials",
)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\s_\-./:]+")


def _fold(key: str) -> str:
    return _SEPARATORS.sub(".", _CAMEL_BOUNDARY.sub(".", key)).casefold()


_FOLDED_PATTERNS = tuple(_fold(p) for p in SENSITIVE_KEY_PATTERNS)


def is_sensitive_key(key: object) -> bool:
    """True when ``key`` (an attribute path or a mapping key) names a secret."""
    return isinstance(key, str) and _is_sensitive_str(key)


@lru_cache(maxsize=4096)
def _is_sensitive_str(key: str) -> bool:
    folded = _fold(key)
    return any(pattern in folded for pattern in _FOLDED_PATTERNS)


_SCALARS = (str, int, float, bool, type(None))


def redact_value(value: Any) -> Any:
    """A copy of a JSON-like value with the values under secret-looking keys hidden."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return {
            key: SENSITIVE_VALUE
            if item is not None and is_sensitive_key(key)
            else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


def _copy(value: Any) -> Any:
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


def _redact_attribute(attribute: dict[str, Any]) -> None:
    if attribute.get("sensitive") or is_sensitive_key(attribute.get("path")):
        attribute["sensitive"] = True
        for side in ("before", "after"):
            if attribute.get(side) is not None:
                attribute[side] = SENSITIVE_VALUE
        return
    for side in ("before", "after"):
        if side in attribute:
            attribute[side] = redact_value(attribute[side])


def _redact_plan_body(body: dict[str, Any]) -> None:
    changes = body.get("changes")
    if not isinstance(changes, list):
        return
    for change in changes:
        if not isinstance(change, dict):
            continue
        attributes = change.get("attributes")
        if isinstance(attributes, list):
            for attribute in attributes:
                if isinstance(attribute, dict):
                    _redact_attribute(attribute)
        if "payload" in change:
            change["payload"] = redact_value(change["payload"])


def redact_plan_dict(plan_dict: Mapping[str, Any]) -> dict[str, Any]:
    """A redacted deep copy of a plan's JSON form (the input is left untouched).

    Sensitive attributes keep ``sensitive: true`` and get :data:`SENSITIVE_VALUE` in place
    of every non-null ``before``/``after``; attributes whose path matches
    :data:`SENSITIVE_KEY_PATTERNS` are marked sensitive too. Secret-looking keys inside
    attribute values and ``payload`` are redacted. A saved-plan wrapper (a mapping without
    ``changes`` but with a ``plan`` mapping) has its inner plan redacted.
    """
    body: dict[str, Any] = _copy(plan_dict)
    _redact_plan_body(body)
    inner = body.get("plan")
    if "changes" not in body and isinstance(inner, dict):
        _redact_plan_body(inner)
    return body


__all__ = [
    "SENSITIVE_KEY_PATTERNS",
    "SENSITIVE_VALUE",
    "is_sensitive_key",
    "redact_plan_dict",
    "redact_value",
]
