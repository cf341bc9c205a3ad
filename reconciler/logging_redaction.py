"""Keeping known secret values out of logs and of everything the CLI prints or saves.

Renderers hide secrets by *key* (:mod:`reconciler.rendering.redaction`); that cannot catch a
password that a client library prints in a debug log line, an error message or a request
dump. So the CLI also remembers the secret *values* the spec resolves (SASL and TLS key
passwords, Redis passwords: every ``{fromEnv: ...}`` / ``{fromFile: ...}`` reference) and
masks them wherever they appear:

- :class:`SecretMaskingFilter` on the log handlers (installed by :func:`install_log_redaction`);
- :func:`mask_secrets` on text the CLI writes and on saved plan and metrics files.

Values shorter than :data:`MIN_SECRET_LENGTH` are not masked: replacing every ``ab`` of the
output would destroy it while hiding nothing worth hiding.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

MASK = "***"
MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: tuple[str, ...] = ()  # longest first, so that a secret containing another wins


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret to mask from now on."""
    global _ordered
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        _ordered = tuple(sorted(_secrets, key=len, reverse=True))


def clear_secrets() -> None:
    """Forget every registered secret (for tests)."""
    global _ordered
    with _lock:
        _secrets.clear()
        _ordered = ()


def registered_secret_count() -> int:
    return len(_ordered)


def mask_secrets(text: str) -> str:
    """``text`` with every registered secret value replaced by :data:`MASK`."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def contains_secret(text: str) -> bool:
    return any(secret in text for secret in _ordered)


def _may_hold(annotation: Any, target: type, seen: dict[type, bool]) -> bool:
    """Whether a value of this type annotation can contain a ``target`` instance."""
    import typing

    from pydantic import BaseModel

    if annotation is target or annotation is Any:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_may_hold(annotation, target, seen)
    if typing.get_origin(annotation) is typing.Literal:
        return False
    args = typing.get_args(annotation)
    if args:
        return any(_may_hold(arg, target, seen) for arg in args)
    return isinstance(annotation, typing.TypeVar | typing.ForwardRef | str)


def _model_may_hold(model: type, target: type, seen: dict[type, bool]) -> bool:
    if model not in seen:
        seen[model] = True  # while deciding (a recursive model): assume it may
        fields = model.model_fields  # type: ignore[attr-defined]
        seen[model] = any(_may_hold(f.annotation, target, seen) for f in fields.values())
    return seen[model]


_FIELDS_WITH_SECRETS: dict[type, tuple[str, ...]] = {}


def _fields_with_secrets(model: type, target: type) -> tuple[str, ...]:
    """The fields of a model whose values can hold a secret reference (cached per class): the
    thousands of topics and ACL rules of a large spec are not walked at all."""
    names = _FIELDS_WITH_SECRETS.get(model)
    if names is None:
        seen: dict[type, bool] = {}
        names = tuple(
            name
            for name, info in model.model_fields.items()  # type: ignore[attr-defined]
            if _may_hold(info.annotation, target, seen)
        )
        _FIELDS_WITH_SECRETS[model] = names
    return names


def _secret_refs(value: Any) -> Iterator[tuple[str, Any]]:
    """Every ``SecretRef`` inside a pydantic model tree, with a dotted path for messages."""
    from pydantic import BaseModel

    from reconciler.spec.models import SecretRef

    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, SecretRef):
            yield path, item
        elif isinstance(item, BaseModel):
            for name in _fields_with_secrets(type(item), SecretRef):
                stack.append((f"{path}.{name}".lstrip("."), getattr(item, name)))
        elif isinstance(item, Mapping):
            stack.extend((f"{path}.{key}".lstrip("."), child) for key, child in item.items())
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))


def register_spec_secrets(spec: Any, environ: Mapping[str, str] | None = None) -> int:
    """Resolve every secret reference of a loaded spec and register its value.

    A reference that cannot be resolved is skipped (the command that needs it reports it).
    Returns how many values were registered.
    """
    from reconciler.errors import ReconcilerError
    from reconciler.secrets import resolve_secret

    count = 0
    for path, ref in _secret_refs(spec):
        try:
            value = resolve_secret(ref, what=path, environ=environ)
        except ReconcilerError:
            continue
        if value and len(value) >= MIN_SECRET_LENGTH:
            register_secret(value)
            count += 1
    return count


class SecretMaskingFilter(logging.Filter):
    """Masks registered secrets in a record's message, arguments and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _ordered:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not our concern
            message = str(record.msg)
        record.msg = mask_secrets(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        return True


_FILTER = SecretMaskingFilter()


def install_log_redaction(logger: logging.Logger | None = None) -> SecretMaskingFilter:
    """Add the masking filter to every handler of ``logger`` (default: the root logger).

    Filters on a logger do not see records propagated from child loggers, so the filter
    goes on the handlers, where every record ends up. Calling it again is harmless.
    """
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    return _FILTER


__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "SecretMaskingFilter",
    "clear_secrets",
    "contains_secret",
    "install_log_redaction",
    "mask_secrets",
    "register_secret",
    "register_spec_secrets",
    "registered_secret_count",
]
