"""Several clusters' plans in one document."""

from __future__ import annotations

import json

from reconciler.engine.plan import Action, Change, Plan
from reconciler.rendering.fleet import FleetEntry, render_fleet


def entry(spec: str, *names: str) -> FleetEntry:
    changes = tuple(
        Change(
            address=f"kafka_topic.{n}",
            provider="kafka_topic",
            resource_type="kafka_topic",
            name=n,
            action=Action.CREATE,
        )
        for n in names
    )
    return FleetEntry(spec, Plan(changes=changes).to_json_dict())


ENTRIES = [
    entry("a.yaml"),
    entry("b.yaml", "x", "y"),
    FleetEntry("c.yaml", error="cannot reach k:9092"),
]


def test_markdown_has_one_table_and_a_section_per_spec() -> None:
    text = render_fleet(ENTRIES, "markdown")
    assert text.startswith("### Plans of 3 cluster specs\n")
    assert "| `a.yaml` | 0 | 0 | 0 | 0 |" in text
    assert "| `b.yaml` | 2 | 0 | 0 | 0 |" in text
    assert "| `c.yaml` | error | | | |" in text
    sections = [line for line in text.splitlines() if line.startswith("#### ")]
    assert sections == ["#### `a.yaml`", "#### `b.yaml`", "#### `c.yaml`"]
    assert "**Error:** `cannot reach k:9092`" in text


def test_json_keeps_each_plan_or_its_error() -> None:
    body = json.loads(render_fleet(ENTRIES, "json"))
    assert [p["spec"] for p in body["plans"]] == ["a.yaml", "b.yaml", "c.yaml"]
    assert body["plans"][1]["plan"]["summary"]["add"] == 2
    assert body["plans"][2] == {"spec": "c.yaml", "error": "cannot reach k:9092"}


def test_text_sections() -> None:
    text = render_fleet(ENTRIES, "text")
    assert (
        text.index("=== a.yaml ===") < text.index("=== b.yaml ===") < text.index("=== c.yaml ===")
    )
    assert "=== c.yaml ===\nError: cannot reach k:9092\n" in text


def test_names_cannot_break_the_table() -> None:
    text = render_fleet([FleetEntry("a|b`.yaml", error="x\ny")], "markdown")
    assert "| ``a\\|b`.yaml`` | error | | | |" in text
