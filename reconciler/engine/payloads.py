"""Typed change payloads: what ``apply`` executes is what the plan shows.

A provider describes each kind of change it makes as a :class:`Payload` model. The model is
the single source of a change's displayed attributes (:meth:`Payload.displayed`): a change
is built from its payload with :func:`change_from_payload`, so what a reviewer reads and
what ``apply`` executes come from one value. A saved plan is checked on load
(:func:`check_payload`): its payload must parse as the provider's model and must yield
exactly the attributes the file displays, else it is refused (exit 3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, overload

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from reconciler.engine.plan import AttributeChange, Change
from reconciler.errors import SafetyRefusal

P = TypeVar("P", bound="Payload")


class Payload(BaseModel):
    """Base of every provider's payload models: frozen, strict about unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    def displayed(self) -> dict[str, Any]:
        """attribute path -> the value after the change, for every attribute the payload
        determines; the change shows exactly these (plus their ``before`` values)."""
        raise NotImplementedError


def change_from_payload(
    payload: Payload,
    *,
    before: Mapping[str, Any] | None = None,
    sensitive: frozenset[str] = frozenset(),
    **fields: Any,
) -> Change:
    """A :class:`Change` whose attributes are the payload's displayed values (with the live
    ``before`` values) and whose payload is the model's JSON form."""
    before = before or {}
    attributes = tuple(
        AttributeChange(
            path=path, before=before.get(path), after=after, sensitive=path in sensitive
        )
        for path, after in payload.displayed().items()
    )
    return Change(
        attributes=attributes,
        payload=payload.model_dump(mode="json"),
        **fields,
    )


@overload
def parse_payload(change: Change, model: type[P]) -> P: ...
@overload
def parse_payload(change: Change, model: Any) -> Any: ...


def parse_payload(change: Change, model: Any) -> Any:
    """The typed payload of ``change`` (``model`` is a Payload class or a union of them)."""
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    try:
        return adapter.validate_python(change.payload)
    except ValidationError as problem:
        first = problem.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
        raise SafetyRefusal(
            f"{change.address}: the plan's payload is not valid ({where}: {first['msg']}); "
            "nothing was changed",
            hint="plan again and apply the new plan file unmodified",
        ) from None


@overload
def check_payload(change: Change, model: type[P], redacted: str | None = None) -> P: ...
@overload
def check_payload(change: Change, model: Any, redacted: str | None = None) -> Any: ...


def check_payload(change: Change, model: Any, redacted: str | None = None) -> Any:
    """Parse ``change``'s payload and refuse (exit 3) unless its displayed values are the
    change's attributes exactly: a saved plan cannot show one thing and do another.

    ``redacted`` is the marker a saved plan holds in place of a secret; an attribute shown
    redacted matches any payload value that is redacted too."""
    payload = parse_payload(change, model)
    expected = {path: _canonical(value) for path, value in payload.displayed().items()}
    shown = {a.path: _canonical(a.after) for a in change.attributes}
    if redacted is not None:
        for path, value in shown.items():
            if value == redacted and path in expected:
                expected[path] = redacted
    if expected != shown:
        from reconciler.engine.diffing import differing_paths

        differing = differing_paths(shown, expected)
        raise SafetyRefusal(
            f"{change.address}: what the plan shows differs from what it would execute "
            f"({', '.join(differing[:5])}); the plan file was altered; nothing was changed",
            hint="plan again and apply the new plan file unmodified",
        )
    return payload


def _canonical(value: Any) -> Any:
    """JSON-equal values compare equal (tuples vs lists, int keys vs str keys)."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value
