from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler.engine.plan import Action, AttributeChange, Plan, Risk
from reconciler.rendering import render
from reconciler.rendering._view import escape_controls
from reconciler.rendering.markdown import md_code, md_text, render_markdown
from tests.unit.rendering.plans import sample_plan, topic

markdown_it = pytest.importorskip("markdown_it")

TABLE_HEAD = "| Action | Resource | Risks |"
TRUNCATION = re.compile(
    r"^… (\d+) more resources? not shown \(see the full plan in the job log / JSON artifact\)$",
    re.MULTILINE,
)
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def parse(text: str) -> list[Any]:
    return markdown_it.MarkdownIt("commonmark").enable("table").parse(text)


def table_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if TABLE_HEAD not in lines:
        return []
    start = lines.index(TABLE_HEAD)
    end = lines.index("", start)
    return lines[start:end]


def table_rows(text: str) -> list[list[Any]]:
    """Each body row of the (first) table as its list of inline cell tokens."""
    tokens = parse(text)
    rows: list[list[Any]] = []
    in_body = False
    for token in tokens:
        if token.type == "tbody_open":
            in_body = True
        elif token.type == "tbody_close":
            break
        elif in_body and token.type == "tr_open":
            rows.append([])
        elif in_body and token.type == "inline":
            rows[-1].append(token)
    return rows


def assert_no_foreign_html(tokens: list[Any]) -> None:
    """The only HTML is our own details/summary/code/b tags."""
    for token in tokens:
        for child in token.children or ():
            assert child.type != "html_inline", child.content
        if token.type == "html_block":
            stripped = re.sub(r"</?(details|summary|code|b)>", "", token.content)
            assert "<" not in stripped, token.content


def big_plan(count: int, *, tail: tuple[Any, ...] = ()) -> Plan:
    changes = tuple(
        topic(
            f"llm-topic-{i:05d}",
            Action.CREATE,
            attributes=(
                AttributeChange(path="partitions", after=16),
                AttributeChange(path="replication_factor", after=3),
                AttributeChange(path="config.retention.ms", after="604800000"),
            ),
            reason="declared in the spec, missing from the cluster",
        )
        for i in range(count)
    )
    return Plan(changes=changes + tail)


def test_layout() -> None:
    out = render(sample_plan(), "markdown")
    lines = out.split("\n")
    assert lines[0] == "**Plan:** 2 to add, 3 to change, 2 to destroy, 1 refused"
    caution = out.index("> [!CAUTION]")
    assert caution < out.index(TABLE_HEAD) < out.index("<details>") < out.index("### Notices")
    block = out[caution : out.index(TABLE_HEAD)]
    assert "`kafka_topic.llm-audit` will be **replaced**" in block
    assert "`kafka_topic.llm-legacy` will be **destroyed**" in block
    assert "llm-events" not in block
    assert len(table_rows(out)) == 6  # the no-op is left out
    assert out.count("<details><summary>") == 6
    assert out.count("```diff\n") == 6
    assert not TRUNCATION.search(out)


def test_diff_blocks_parse_as_diff_fences() -> None:
    fences = [t for t in parse(render(sample_plan(), "markdown")) if t.type == "fence"]
    assert [f.info for f in fences] == ["diff"] * 6
    assert "~   config.retention.ms = 7d -> 1d" in fences[1].content
    assert '-   config.cleanup.policy = "compact" -> null' in fences[1].content


def test_five_thousand_topics_fit_with_a_truncation_line() -> None:
    tail = (
        topic(
            "llm-audit",
            Action.DELETE,
            risks=frozenset({Risk.DESTRUCTIVE, Risk.DATA_LOSS}),
            reason="no longer declared",
        ),
    )
    plan = big_plan(5_000, tail=tail)
    out = render(plan, "markdown")
    assert len(out) < 60_000
    assert out.startswith("**Plan:** 5000 to add, 0 to change, 1 to destroy\n")
    shown = out.count("<details><summary>")
    match = TRUNCATION.search(out)
    assert match is not None
    assert int(match.group(1)) == 5_001 - shown
    assert shown > 50
    # the destructive change at the very end is still called out at the top
    caution = out[out.index("> [!CAUTION]") : out.index(TABLE_HEAD)]
    assert "`kafka_topic.llm-audit` will be **destroyed**" in caution
    # the table is cut too, and says so
    rows = table_rows(out)
    assert 50 < len(rows) < 5_001
    assert f"_… {5_001 - len(rows)} more rows not shown in this table._" in out
    assert out.endswith("(see the full plan in the job log / JSON artifact)\n")


@pytest.mark.parametrize("max_chars", [2_000, 10_000, 65_536])
def test_budget_is_respected(max_chars: int) -> None:
    plan = big_plan(
        2_000,
        tail=tuple(
            topic(f"old-{i}", Action.DELETE, risks=frozenset({Risk.DATA_LOSS}), reason="x" * 500)
            for i in range(500)
        ),
    )
    out = render_markdown(plan.to_json_dict(), max_chars=max_chars)
    assert len(out) <= max_chars
    assert out.startswith("**Plan:** 2000 to add, 0 to change, 500 to destroy\n")
    assert "> [!CAUTION]" in out and TABLE_HEAD in out
    assert TRUNCATION.search(out)


def test_huge_single_section_is_left_out_not_cut() -> None:
    plan = Plan(
        changes=(
            topic("small", Action.CREATE),
            topic(
                "huge", Action.CREATE, attributes=(AttributeChange(path="v", after="x" * 80_000),)
            ),
            topic("after", Action.CREATE),
        )
    )
    out = render(plan, "markdown")
    assert len(out) <= 60_000
    assert out.count("<details><summary>") == 1
    match = TRUNCATION.search(out)
    assert match is not None and match.group(1) == "2"


def test_html_and_markdown_in_names_and_values_are_escaped() -> None:
    evil = "<img src=x onerror=alert(1)>|**bold**|`tick`\n# heading"
    plan = Plan(
        changes=(
            topic(
                evil,
                Action.REPLACE,
                reason=evil,
                steps=(evil,),
                risks=frozenset({Risk.DATA_LOSS}),
                attributes=(AttributeChange(path=evil, before=evil, after=evil),),
            ),
        )
    )
    out = render(plan, "markdown")
    tokens = parse(out)
    assert not [t for t in tokens if t.type == "heading_open"]
    assert_no_foreign_html(tokens)
    (row,) = table_rows(out)
    code = [c for c in row[1].children if c.type == "code_inline"]
    assert [c.content for c in code] == [escape_controls(f"kafka_topic.{evil}")]


def test_helpers() -> None:
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x`") == "`` `x` ``"
    assert md_code("a|b", in_table=True) == "`a\\|b`"
    assert md_code("") == "*(empty)*"
    assert md_text("- item") == "\\- item"
    assert md_text("1. x") == "1\\. x"
    assert md_text("a <b> & *c* $x$") == "a &lt;b&gt; &amp; \\*c\\* \\$x\\$"


def test_no_changes() -> None:
    assert render({}, "markdown") == "**Plan:** No changes. The live state matches the spec.\n"


# -- properties --------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
actions = st.sampled_from([a.value for a in Action]) | st.text()
risks = st.lists(st.sampled_from([r.value for r in Risk]) | st.text(), max_size=3)
attributes = st.fixed_dictionaries(
    {
        "path": st.text(),
        "before": json_values,
        "after": json_values,
        "sensitive": st.booleans(),
    }
)
changes = st.fixed_dictionaries(
    {
        "address": st.text(),
        "provider": st.text(),
        "resource_type": st.text(),
        "name": st.text(),
        "action": actions,
        "attributes": st.lists(attributes, max_size=3),
        "risks": risks,
        "reason": st.none() | st.text(),
        "steps": st.lists(st.text(), max_size=2),
        "payload": st.dictionaries(st.text(), json_values, max_size=2),
    }
)
notices = st.fixed_dictionaries(
    {
        "level": st.sampled_from(["info", "warning", "error"]) | st.text(),
        "address": st.text(),
        "message": st.text(),
        "kind": st.text(),
    }
)
plans = st.fixed_dictionaries(
    {
        "format_version": st.just("1.0"),
        "changes": st.lists(changes, max_size=5),
        "notices": st.lists(notices, max_size=3),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans)
@example(
    {
        "changes": [
            {
                "address": "a|b\\|c\n| x | y |\r\n`|`",
                "provider": "",
                "resource_type": "",
                "name": "",
                "action": "replace",
                "risks": ["data-loss", "x|y\nz"],
                "reason": "r|\n```",
                "steps": ["|"],
                "payload": {},
                "attributes": [
                    {
                        "path": "p|\n",
                        "before": "```\n</details>",
                        "after": ["|"],
                        "sensitive": False,
                    }
                ],
            }
        ],
        "notices": [{"level": "error", "address": "|", "message": "\n|", "kind": "|"}],
    }
)
def test_arbitrary_strings_never_break_the_output(plan: dict[str, Any]) -> None:
    for color in (False, True):
        text = render(plan, "text", color=color)
        assert not re.search("[\x00-\x09\x0b-\x1a\x1c-\x1f\x7f-\x9f\u2028\u2029]", text)
    json.loads(render(plan, "json"))

    out = render(plan, "markdown")
    actionable = [c for c in plan["changes"] if c["action"] != "no-op"]
    lines = table_lines(out)
    if not actionable:
        assert lines == []
        return
    assert len(lines) == 2 + len(actionable)  # no cell spilled onto another line
    for line in lines:
        assert line.startswith("| ") and line.endswith(" |")
        assert len(UNESCAPED_PIPE.findall(line)) == 4, line
    rows = table_rows(out)
    assert len(rows) == len(actionable)
    for row, change in zip(rows, actionable, strict=True):
        assert len(row) == 3
        address = escape_controls(change["address"]) or "(unnamed)"
        if address == "(unnamed)" and (change["resource_type"] or change["name"]):
            continue  # the address is derived from type and name
        code = "".join(c.content for c in row[1].children if c.type == "code_inline")
        assert code == address
    # every resource section is intact: one details block, one diff fence each
    tokens = parse(out)
    assert_no_foreign_html(tokens)
    assert sum(t.type == "heading_open" for t in tokens) == (1 if plan["notices"] else 0)
    assert sum(t.type == "fence" and t.info == "diff" for t in tokens) == len(actionable)
    assert out.count("<details><summary>") == len(actionable)
    assert out.count("\n</details>") == len(actionable)


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1), st.text(), st.text())
def test_plan_objects_render_like_their_saved_json(name: str, value: str, reason: str) -> None:
    plan = Plan(
        changes=(
            topic(
                name,
                Action.UPDATE,
                reason=reason,
                attributes=(AttributeChange(path=value, before=value, after=name),),
            ),
        )
    )
    saved = json.loads(json.dumps(plan.to_json_dict()))
    for fmt in ("text", "json", "markdown"):
        assert render(plan, fmt) == render(saved, fmt)  # type: ignore[arg-type]


def test_policy_results_are_at_the_top() -> None:
    from reconciler.engine.plan import PolicyReport, PolicyResult

    plan = {
        "changes": [
            {"address": "kafka_topic.a", "action": "create", "attributes": [], "risks": []}
        ],
        "notices": [],
        "policy": PolicyReport(
            rules=("rf-prod", "floor"),
            approvals=("floor",),
            results=(
                PolicyResult(
                    rule="floor", address="kafka_topic.a", status="approved", message="1h"
                ),
                PolicyResult(
                    rule="rf-prod", address="kafka_topic.a", status="violated", message="rf 1"
                ),
            ),
        ).model_dump(mode="json"),
    }
    text = render_markdown(plan)
    lines = text.splitlines()
    assert lines[0].startswith("**Plan:**")
    assert lines[2].startswith("**Policy:** 2 rules checked: 1 violation, 1 approved")
    assert "violated: `rf-prod` on `kafka_topic.a`" in lines[3]
    assert "approved: `floor`" in lines[4]
