from __future__ import annotations

import re

from reconciler.engine.plan import Action, AttributeChange, Plan, Risk
from reconciler.rendering import render
from reconciler.rendering.text import render_text
from tests.unit.rendering.plans import sample_plan, topic

a = AttributeChange


def test_terraform_like_lines() -> None:
    out = render(sample_plan(), "text")
    for line in (
        "  # kafka_topic.llm-events will be created",
        "  + kafka_topic.llm-events {",
        "      + partitions = 32",
        '      + config.compression.type = "lz4"',
        "  # kafka_topic.llm-metrics will be updated in-place",
        "      ~ config.retention.ms = 7d -> 1d",
        '      - config.cleanup.policy = "compact" -> null',
        "  # kafka_topic.llm-legacy will be destroyed",
        "  # kafka_topic.llm-audit will be replaced",
        "-/+ kafka_topic.llm-audit {",
        "  # (destructive, data-loss, disruptive)",
        "      ~ scram.sha-512 = (sensitive value)",
        "      1. DeleteTopics llm-audit",
        "Unmanaged resources (left alone):",
        "Warnings:",
        "Errors:",
    ):
        assert line in out.splitlines(), line
    assert "! WARNING: data-loss" in out
    assert out.splitlines()[-1] == "Plan: 2 to add, 3 to change, 2 to destroy, 1 refused."
    assert "llm-traces" not in out  # no-op changes are not listed
    assert "\x1b" not in out


def test_color_only_when_asked() -> None:
    colored = render(sample_plan(), "text", color=True)
    assert "\x1b[32m+\x1b[0m partitions = 32" in colored
    assert "\x1b[33m~\x1b[0m" in colored and "\x1b[31m-\x1b[0m" in colored
    plain = re.sub(r"\x1b\[[0-9;]*m", "", colored)
    assert plain == render(sample_plan(), "text")


def test_no_changes() -> None:
    only_noop = Plan(changes=(topic("llm-events", Action.NOOP),))
    assert render(only_noop, "text") == "No changes. The live state matches the spec.\n"
    assert render_text({}) == "No changes. The live state matches the spec.\n"


def test_values() -> None:
    plan = Plan(
        changes=(
            topic(
                "t",
                Action.UPDATE,
                attributes=(
                    a(path="n", before=1, after=2.5),
                    a(path="b", before=True, after=False),
                    a(path="l", before=None, after=["x", 1]),
                    a(path="d", before={"k": None}, after=None),
                    a(path="s", before="", after='say "hi"'),
                ),
            ),
        )
    )
    out = render(plan, "text")
    assert "~ n = 1 -> 2.5" in out
    assert "~ b = true -> false" in out
    assert '+ l = ["x", 1]' in out
    assert '- d = {"k": null} -> null' in out
    assert '~ s = "" -> "say \\"hi\\""' in out


def test_control_characters_cannot_reach_the_terminal() -> None:
    nasty = "evil\x1b[2J\nname\u202e\r\x9b"
    plan = Plan(
        changes=(
            topic(
                nasty,
                Action.CREATE,
                reason=nasty,
                steps=(nasty,),
                attributes=(a(path=nasty, after=nasty),),
                risks=frozenset({Risk.SLOW}),
            ),
        )
    )
    out = render(plan, "text")
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", out)
    assert "\\u001b[2J" in out


def test_multiline_reason_and_steps_stay_in_their_block() -> None:
    plan = Plan(
        changes=(topic("t", Action.CREATE, reason="line one\nline two", steps=("first\nsecond",)),)
    )
    lines = render(plan, "text").splitlines()
    assert "  # reason: line one" in lines
    assert "  #   line two" in lines
    assert "      1. first" in lines
    assert "         second" in lines


def test_unknown_future_values_still_render() -> None:
    body = {
        "changes": [
            {
                "address": "x.y",
                "action": "import",
                "risks": ["odd"],
                "attributes": [{"path": "p", "after": 1}, "junk"],
            },
            7,
        ],
        "notices": [{"level": "fatal", "message": "hm"}],
    }
    out = render_text(body)
    assert "  # x.y will be changed (import)" in out
    assert "! WARNING: odd" in out
    assert "  - hm" in out


def test_policy_line_and_humane_sizes() -> None:
    plan = {
        "changes": [
            {
                "address": "kafka_topic.a",
                "action": "update",
                "attributes": [
                    {"path": "config.segment.bytes", "before": "1048588", "after": "1073741824"}
                ],
            }
        ],
        "policy": {"rules": ["r"], "approvals": [], "results": []},
    }
    text = render_text(plan)
    assert '~ config.segment.bytes = "1048588" -> 1GiB' in text
    assert "Policy: 1 rule checked: all passed." in text


def test_a_slot_move_eta_says_which_rate_it_assumes() -> None:
    from reconciler.rendering._view import impact_lines

    base = {"keys_to_move": 50_000, "bytes_to_move": 5_000_000, "eta_seconds": 10.0}
    default = {**base, "keys_per_second": 5000.0, "rate_source": "default"}
    assert impact_lines(default)[0] == (
        "keys to move: ~50,000 (~4.8 MiB, sampled MEMORY USAGE), ETA ~10s at 5,000 keys/s "
        "(documented default)"
    )
    measured = {
        **base,
        "eta_seconds": 4.0,
        "keys_per_second": 12_500.0,
        "rate_source": "measured",
        "rate_measured_at": "2026-12-02T07:00:00+00:00",
    }
    assert impact_lines(measured)[0].endswith("ETA ~4s at 12,500 keys/s (measured on 2026-12-02)")
    limited = {**measured, "eta_seconds": 25.0, "rate_limit": {"per_second": 2000, "unit": "keys"}}
    assert impact_lines(limited)[0].endswith(
        "(measured on 2026-12-02), limited to 2,000 keys/s for all moves"
    )
    by_bytes = {**default, "rate_limit": {"per_second": 2**20, "unit": "bytes"}}
    assert impact_lines(by_bytes)[0].endswith("limited to 1.0 MiB/s for all moves")
    assert impact_lines(base)[0].endswith("ETA ~10s at 5,000 keys/s")  # an older plan
