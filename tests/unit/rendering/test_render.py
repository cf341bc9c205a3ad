from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from reconciler.rendering import FORMATS, plan_dict_of, render
from tests.unit.rendering.plans import sample_plan


@pytest.mark.parametrize("fmt", FORMATS)
def test_plan_and_saved_plan_render_identically(fmt: Any) -> None:
    plan = sample_plan()
    saved = json.loads(json.dumps(plan.to_json_dict()))
    out = render(plan, fmt)
    assert out == render(saved, fmt)
    assert out == render({"format": 1, "plan": saved}, fmt)  # a saved-plan wrapper
    assert out.endswith("\n")


def test_unknown_format_and_input() -> None:
    with pytest.raises(ValueError, match="unknown plan format"):
        render(sample_plan(), "yaml")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        plan_dict_of(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"changes": "nope", "notices": None},
        {"changes": [None, 1, {"attributes": "x", "risks": 5, "steps": None}]},
        {"changes": [{"action": "delete", "address": 7, "attributes": [{"path": None}]}]},
        {"notices": [{"level": None, "message": None}, "x"]},
        {"plan": {"changes": [{"action": "create", "address": "a.b"}]}},
    ],
)
def test_malformed_input_never_raises(fmt: Any, body: dict[str, Any]) -> None:
    assert render(body, fmt).endswith("\n")


def test_import_is_cheap_and_stays_in_its_layer() -> None:
    code = (
        "import sys, reconciler.rendering\n"
        "heavy = ('pydantic', 'rich', 'click', 'aiokafka', 'redis', 'kubernetes_asyncio',"
        " 'reconciler.providers', 'reconciler.cli', 'reconciler.engine')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
