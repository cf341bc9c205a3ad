"""docs/plan-format.md stays true to the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

from reconciler.engine.plan import PLAN_FORMAT_VERSION, Plan
from reconciler.rendering import render
from reconciler.rendering.json import ATTRIBUTE_KEYS, CHANGE_KEYS, NOTICE_KEYS, PLAN_KEYS
from reconciler.rendering.redaction import SENSITIVE_KEY_PATTERNS

DOC = Path(__file__).resolve().parents[3] / "docs" / "plan-format.md"


def blocks(language: str) -> list[str]:
    return re.findall(
        rf"^```{language}\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL
    )


def test_example_is_what_the_renderers_produce() -> None:
    (example,) = blocks("json")
    (text,) = blocks("text")
    body = json.loads(example)
    assert body["format_version"] == PLAN_FORMAT_VERSION
    plan = Plan.from_json_dict(body)
    assert render(plan, "json") == example
    assert render(plan, "text") == text


def test_every_field_and_pattern_is_documented() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for key in {*PLAN_KEYS, *CHANGE_KEYS, *ATTRIBUTE_KEYS, *NOTICE_KEYS}:
        assert f"| `{key}` |" in doc, key
    for pattern in SENSITIVE_KEY_PATTERNS:
        assert f"`{pattern}`" in doc, pattern
