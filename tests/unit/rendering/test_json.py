from __future__ import annotations

import json

from reconciler.engine.plan import (
    Action,
    AttributeChange,
    Change,
    Notice,
    NoticeLevel,
    Plan,
)
from reconciler.rendering import redact_plan_dict, render
from reconciler.rendering.json import (
    ATTRIBUTE_KEYS,
    CHANGE_KEYS,
    NOTICE_KEYS,
    PLAN_KEYS,
    render_json,
)
from tests.unit.rendering.plans import sample_plan, topic


def plain_plan() -> Plan:
    return Plan(
        changes=(
            topic(
                "llm-events",
                Action.CREATE,
                attributes=(AttributeChange(path="config", after={"z": 1, "a": [1, "x"]}),),
            ),
            topic("llm-alerts", Action.NOOP),
        ),
        notices=(Notice(level=NoticeLevel.WARNING, address="a.b", message="m", kind="drift"),),
        request_counts={"kafka.Metadata": 1},
    )


def test_json_is_exactly_the_plan_json_form() -> None:
    plan = plain_plan()
    output = render(plan, "json")
    assert output == json.dumps(plan.to_json_dict(), indent=2) + "\n"
    assert output.endswith("}\n")


def test_json_keeps_key_order_inside_values() -> None:
    output = render(plain_plan(), "json")
    assert output.index('"z": 1') < output.index('"a": [')


def test_json_round_trips_through_the_plan_model() -> None:
    plan = plain_plan()
    assert Plan.from_json_dict(json.loads(render(plan, "json"))) == plan
    sample = sample_plan()
    loaded = Plan.from_json_dict(json.loads(render(sample, "json")))
    assert loaded == Plan.from_json_dict(redact_plan_dict(sample.to_json_dict()))
    assert loaded.summary() == sample.summary()


def test_documented_key_order_matches_the_models() -> None:
    assert (*Plan.model_fields, "summary", "has_changes") == PLAN_KEYS
    assert tuple(Change.model_fields) == CHANGE_KEYS
    assert tuple(AttributeChange.model_fields) == ATTRIBUTE_KEYS
    assert tuple(Notice.model_fields) == NOTICE_KEYS
    assert list(plain_plan().to_json_dict()) == list(PLAN_KEYS)


def test_any_key_order_in_renders_the_same() -> None:
    body = plain_plan().to_json_dict()
    shuffled = {key: body[key] for key in reversed(list(body))}
    shuffled["changes"] = [{k: c[k] for k in reversed(list(c))} for c in body["changes"]]
    assert render_json(shuffled) == render_json(body)


def test_missing_summary_is_filled_in() -> None:
    body = plain_plan().to_json_dict()
    del body["summary"], body["has_changes"]
    out = json.loads(render_json(body))
    assert out["summary"] == {"add": 1, "change": 0, "destroy": 0, "refused": 0}
    assert out["has_changes"] is True


def test_saved_plan_wrapper_renders_its_plan() -> None:
    body = sample_plan().to_json_dict()
    assert render_json({"version": 1, "plan": body}) == render_json(body)
