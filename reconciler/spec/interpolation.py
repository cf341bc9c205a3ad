"""``${VAR}`` and ``${VAR:-default}`` in string values, resolved from the environment.

Rules (documented in docs/spec.md):

* only string values are interpolated, never keys, and never inside ``environments`` (an overlay
  is interpolated after it has been merged, as part of the document);
* ``${VAR:-default}`` uses the default when VAR is unset *or empty*, like a POSIX shell;
* ``$${`` writes a literal ``${``;
* substituted values stay strings: ``partitions: ${N}`` is an error (fields that take lists,
  ``bootstrapServers`` and ``redis.connection.addresses``, accept one comma-separated string).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from msgspec import Struct, field

from reconciler.spec.issues import SpecPath
from reconciler.spec.yaml_tree import PosNode

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class InterpolationProblem(Struct, frozen=True):
    """A reference that cannot be resolved, at ``offset`` characters into the string."""

    path: SpecPath
    offset: int
    message: str


class InterpolationResult(Struct):
    data: Any
    problems: list[InterpolationProblem] = field(default_factory=list)
    substituted: set[SpecPath] = field(default_factory=set)  # values that held a reference


def _substitute(
    text: str, environ: Mapping[str, str], path: SpecPath, problems: list[InterpolationProblem]
) -> tuple[str, bool]:
    """Return the text with references replaced, and whether it held any."""
    if "$" not in text:
        return text, False
    out: list[str] = []
    found = False
    index = 0
    while index < len(text):
        if text.startswith("$${", index):
            out.append("${")
            index += 3
            continue
        if not text.startswith("${", index):
            out.append(text[index])
            index += 1
            continue
        found = True
        end = text.find("}", index + 2)
        if end < 0:
            problems.append(
                InterpolationProblem(
                    path, index, "'${' is not closed by '}' (write $${ for a literal ${)"
                )
            )
            return text, True
        reference = text[index + 2 : end]
        name, has_default, default = reference.partition(":-")
        if not _NAME.match(name):
            problems.append(
                InterpolationProblem(
                    path,
                    index,
                    f"'${{{reference}}}' is not a reference: expected ${{NAME}} or ${{NAME:-default}}",
                )
            )
        else:
            value = environ.get(name)
            if value is None or (has_default and value == ""):
                if has_default:
                    value = default
                else:
                    problems.append(
                        InterpolationProblem(
                            path,
                            index,
                            f"environment variable {name} is not set and has no default "
                            f"(set it, or write ${{{name}:-default}})",
                        )
                    )
                    value = ""
            out.append(value)
        index = end + 1
    return "".join(out), found


def interpolate(
    data: Any,
    environ: Mapping[str, str],
    *,
    skip_top_level: frozenset[str] = frozenset({"environments"}),
) -> InterpolationResult:
    """A copy of ``data`` with every string value interpolated (keys untouched)."""
    result = InterpolationResult(data=None)

    def walk(value: Any, path: SpecPath) -> Any:
        if isinstance(value, str):
            if "$" not in value:
                return value  # nothing to interpolate (most values: fast path for large specs)
            text, found = _substitute(value, environ, path, result.problems)
            if found:
                result.substituted.add(path)
            return text
        if isinstance(value, dict):
            return {
                key: item if (not path and key in skip_top_level) else walk(item, (*path, key))
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [walk(item, (*path, index)) for index, item in enumerate(value)]
        return value

    result.data = walk(data, ())
    return result


def column_in_scalar(pos: PosNode, offset: int) -> int:
    """The column of ``offset`` characters into a scalar, where it can be known exactly.

    Exact for single-line plain and quoted scalars without escapes; otherwise the scalar's start.
    """
    text = pos.text
    if text is None or "\n" in text:
        return pos.mark.column
    if pos.style is None:
        return pos.mark.column + offset
    if pos.style in ("'", '"') and "\\" not in text and "''" not in text:
        return pos.mark.column + 1 + offset
    return pos.mark.column
