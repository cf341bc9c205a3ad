"""Renderers of a plan: Terraform-like text, versioned JSON, and Markdown for pull requests.

Every renderer reads the plan's JSON form (``Plan.to_json_dict()``), so a fresh plan and
a saved plan file render identically, and every renderer redacts secrets first (see
:mod:`reconciler.rendering.redaction`). Importing this package is cheap: it pulls in no
pydantic, rich or client library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from reconciler.rendering.redaction import (
    SENSITIVE_KEY_PATTERNS,
    SENSITIVE_VALUE,
    is_sensitive_key,
    redact_plan_dict,
)

if TYPE_CHECKING:
    from reconciler.engine.plan import Plan
    from reconciler.rendering.json import render_json
    from reconciler.rendering.markdown import DEFAULT_MAX_CHARS, render_markdown
    from reconciler.rendering.text import render_text

# Each renderer is imported when first used: a command prints one format.
_LAZY = {
    "render_json": "json",
    "render_markdown": "markdown",
    "DEFAULT_MAX_CHARS": "markdown",
    "render_text": "text",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


Format = Literal["text", "json", "markdown"]
FORMATS: tuple[Format, ...] = ("text", "json", "markdown")


def plan_dict_of(plan: Plan | Mapping[str, Any]) -> Mapping[str, Any]:
    """The JSON form of ``plan``: ``plan.to_json_dict()`` for a :class:`Plan`, else the
    mapping itself (a plan dict, or a saved-plan wrapper holding one under ``plan``)."""
    if isinstance(plan, Mapping):
        return plan
    to_json_dict = getattr(plan, "to_json_dict", None)
    if callable(to_json_dict):
        return to_json_dict()
    raise TypeError(f"cannot render a {type(plan).__name__}: expected a Plan or a plan dict")


def render(
    plan: Plan | Mapping[str, Any],
    fmt: Format,
    *,
    color: bool = False,
    max_chars: int | None = None,
) -> str:
    """Render ``plan`` as ``text`` (ANSI colour only if ``color``), ``json`` or
    ``markdown`` (at most ``max_chars`` characters, default ``DEFAULT_MAX_CHARS``). The
    result ends with a newline."""
    body = plan_dict_of(plan)
    if fmt == "text":
        from reconciler.rendering.text import render_text

        return render_text(body, color=color)
    if fmt == "json":
        from reconciler.rendering.json import render_json

        return render_json(body)
    if fmt == "markdown":
        from reconciler.rendering.markdown import DEFAULT_MAX_CHARS, render_markdown

        return render_markdown(
            body, max_chars=DEFAULT_MAX_CHARS if max_chars is None else max_chars
        )
    raise ValueError(f"unknown plan format {fmt!r}; expected one of {', '.join(FORMATS)}")


__all__ = [
    "DEFAULT_MAX_CHARS",
    "FORMATS",
    "SENSITIVE_KEY_PATTERNS",
    "SENSITIVE_VALUE",
    "Format",
    "is_sensitive_key",
    "plan_dict_of",
    "redact_plan_dict",
    "render",
    "render_json",
    "render_markdown",
    "render_text",
]
