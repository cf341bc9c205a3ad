"""Pydantic validation with every error mapped back to the YAML position that caused it.

Pydantic reports a ``loc`` such as ``('kafka', 'acls', 2, 'producer', 'topcis')``: aliases, list
indices, and for unions the member's tag or type name. We walk that loc along the model types and
the data together, so the tag parts are skipped and the rest lands on the right YAML node.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from msgspec import Struct
from pydantic import BaseModel, Tag, ValidationError
from pydantic.fields import FieldInfo

from reconciler.spec.issues import PathPart, SpecIssue, SpecPath
from reconciler.spec.locating import Locator

ModelT = TypeVar("ModelT", bound=BaseModel)

_EXPECTED_BY_ERROR_TYPE = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean (true or false)",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "null",
}


def describe_value(value: Any) -> str:
    """A short, user-facing description of a YAML value: ``the string 'x'``, ``a list``."""
    if value is None:
        return "null (an empty value)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the string {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _strip_annotated(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _without_none(annotation: Any) -> Any:
    """``X | None`` → ``X`` (pydantic adds no loc part for the None member)."""
    annotation = _strip_annotated(annotation)
    if _is_union(annotation):
        members = [m for m in get_args(annotation) if m is not type(None)]
        if len(members) == 1:
            return _without_none(members[0])
    return annotation


def _member_label(member: Any) -> str | None:
    for meta in get_args(member)[1:] if get_origin(member) is Annotated else ():
        if isinstance(meta, Tag):
            return meta.tag
    bare = _strip_annotated(member)
    if isinstance(bare, type) and get_origin(bare) is None:
        return bare.__name__
    origin = get_origin(bare)
    if origin is not None:
        args = ", ".join(_member_label(arg) or "?" for arg in get_args(bare))
        return f"{getattr(origin, '__name__', origin)}[{args}]"
    return None


def _model_field(model: type[BaseModel], key: PathPart) -> tuple[str, FieldInfo] | None:
    for name, info in model.model_fields.items():
        if key in (info.alias, name):
            return name, info
    return None


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The YAML keys a model accepts (its aliases)."""
    return [info.alias or name for name, info in model.model_fields.items()]


class _Walk(Struct):
    data_path: list[PathPart]
    owner: type[BaseModel] | None  # the model that owns the last loc part
    found: bool  # the whole loc exists in the data
    field: FieldInfo | None = None  # the model field the loc ends at, if it ends at one


def _walk(root: type[BaseModel], loc: Sequence[PathPart], data: Any) -> _Walk:
    annotation: Any = root
    value: Any = data
    data_path: list[PathPart] = []
    owner: type[BaseModel] | None = None
    last_field: FieldInfo | None = None
    found = True
    for part in loc:
        annotation = _without_none(annotation)
        if _is_union(annotation):
            members = get_args(annotation)
            chosen = next((m for m in members if _member_label(m) == part), None)
            if chosen is not None:
                annotation = chosen  # a tag or a member's type name: not a key in the data
                continue
        last_field = None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            owner = annotation
            named = _model_field(annotation, part)
            annotation = named[1].annotation if named else Any
            last_field = named[1] if named else None
        else:
            origin = get_origin(annotation)
            args = get_args(annotation)
            if origin is list and args:
                annotation = args[0]
            elif origin is dict and len(args) == 2:
                annotation = args[1]
            else:
                annotation = Any
        data_path.append(part)
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, dict) and owner is not None and isinstance(part, str):
            # The file may spell a key by field name (snake_case) rather than by alias.
            named = _model_field(owner, part)
            if named and named[0] in value:
                data_path[-1] = named[0]
                value = value[named[0]]
            else:
                found = False
                value = None
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            found = False
            value = None
    return _Walk(data_path, owner, found, last_field)


def _bound_reason(info: FieldInfo | None) -> str:
    """`` (why)`` for a field whose bound carries a :class:`~reconciler.spec.models.Why`."""
    for meta in info.metadata if info is not None else ():
        reason = getattr(meta, "reason", None)
        if type(meta).__name__ == "Why" and isinstance(reason, str):
            return f" ({reason})"
    return ""


def shown_number(value: Any) -> str:
    """A number as written, or how long it is when it is absurdly long."""
    text = str(value)
    return text if len(text) <= 40 else f"a {len(text)}-digit number"


def _suggestion(key: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (expected one of: {', '.join(candidates)})" if candidates else ""


class _Mapped(Struct):
    path: SpecPath
    message: str
    at_key: bool
    expected: str | None  # for type errors, merged across union members
    got: Any = None


def _map_error(root: type[BaseModel], error: Any, data: Any, substituted: set[SpecPath]) -> _Mapped:
    loc = tuple(error["loc"])
    kind = error["type"]
    walked = _walk(root, loc, data)
    path = tuple(walked.data_path)
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return _Mapped(path, f"missing required field '{path[-1]}'", True, None)
    if kind == "extra_forbidden":
        key = str(path[-1])
        candidates = allowed_keys(walked.owner) if walked.owner else []
        return _Mapped(path, f"unknown field '{key}'{_suggestion(key, candidates)}", True, None)
    if kind in _EXPECTED_BY_ERROR_TYPE:
        return _Mapped(
            path, "", isinstance(value, dict | list), _EXPECTED_BY_ERROR_TYPE[kind], value
        )
    hint = ""
    if path in substituted and isinstance(value, str):
        hint = " (a value substituted from ${...} stays a string)"
    if kind == "literal_error":
        message = f"expected {ctx.get('expected')}, got {describe_value(value)}"
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": "at least",
            "greater_than": "greater than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }[kind]
        bound = next(iter(ctx.values()), "?")
        reason = _bound_reason(walked.field) if kind.startswith("less") else ""
        message = f"must be {words} {bound}{reason}, got {shown_number(value)}"
    elif kind == "union_tag_invalid":
        message = (
            f"unknown role {ctx.get('tag')} (expected producer or consumer; leave role out "
            "for an explicit ACL entry)"
        )
    elif kind == "value_error":
        message = str(error["msg"]).removeprefix("Value error, ")
    else:
        message = str(error["msg"])
        message = message[0].lower() + message[1:] if message else kind
    return _Mapped(path, message + hint, isinstance(value, dict | list), None)


def _combine(mapped: list[_Mapped], substituted: set[SpecPath]) -> list[_Mapped]:
    # An error inside a container explains a type error on the container itself (a union member
    # that did not fit): keep the inner one only.
    error_paths = {m.path for m in mapped}
    kept = [
        m
        for m in mapped
        if m.expected is None
        or not any(
            len(other) > len(m.path) and other[: len(m.path)] == m.path for other in error_paths
        )
    ]
    # Type errors of several union members at one place become one "expected A or B".
    result: list[_Mapped] = []
    by_path: dict[SpecPath, _Mapped] = {}
    for item in kept:
        if item.expected is None:
            result.append(item)
            continue
        earlier = by_path.get(item.path)
        if earlier is not None:
            assert earlier.expected is not None
            if item.expected not in earlier.expected.split(" or "):
                earlier.expected += f" or {item.expected}"
            continue
        by_path[item.path] = item
        result.append(item)
    for item in by_path.values():
        hint = ""
        if item.path in substituted and isinstance(item.got, str):
            hint = " (a value substituted from ${...} stays a string)"
        item.message = f"expected {item.expected}, got {describe_value(item.got)}{hint}"
    return result


def validation_issues(
    root: type[BaseModel],
    problem: ValidationError,
    data: Any,
    locator: Locator,
    base_path: SpecPath = (),
    substituted: set[SpecPath] | None = None,
) -> list[SpecIssue]:
    """Located issues for every error of ``problem`` (validation of ``data`` at ``base_path``)."""
    relative = {
        p[len(base_path) :] for p in (substituted or set()) if p[: len(base_path)] == base_path
    }
    mapped = [
        _map_error(root, error, data, relative) for error in problem.errors(include_url=False)
    ]
    issues = []
    for item in _combine(mapped, relative):
        full_path = (*base_path, *item.path)
        at_key = item.at_key
        if item.message.startswith("missing required field"):
            # Point at the mapping that lacks the field: its key, or its first line.
            issues.append(
                locator.issue(
                    full_path,
                    item.message,
                    at_key=True,
                    mark=locator.mark(full_path[:-1], at_key=True),
                )
            )
            continue
        issues.append(locator.issue(full_path, item.message, at_key=at_key))
    return issues


def validate_model(
    model: type[ModelT],
    data: Any,
    locator: Locator,
    base_path: SpecPath = (),
    substituted: set[SpecPath] | None = None,
) -> tuple[ModelT | None, list[SpecIssue]]:
    """Validate ``data`` (found at ``base_path`` in the file) as ``model``, with located issues."""
    try:
        return model.model_validate(data), []
    except ValidationError as problem:
        return None, validation_issues(model, problem, data, locator, base_path, substituted)
