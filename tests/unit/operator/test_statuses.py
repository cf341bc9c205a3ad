"""A ClusterSpec's status from a check's report."""

from __future__ import annotations

from reconciler.engine.plan import Action, Change, Notice, NoticeLevel, Plan
from reconciler.operator.handlers import event_text
from reconciler.operator.statuses import (
    MAX_LISTED_CHANGES,
    CheckOutcome,
    CheckReport,
    plan_config_map,
    status_patch,
)

RESOURCE = {"metadata": {"name": "eu", "namespace": "data", "uid": "u-1"}}


def change(name: str, action: Action = Action.CREATE) -> Change:
    return Change(
        address=f"kafka_topic.{name}",
        provider="kafka_topic",
        resource_type="kafka_topic",
        name=name,
        action=action,
    )


def conditions(status: dict) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


def test_drift_lists_the_first_changes_and_counts_all() -> None:
    plan = Plan(changes=tuple(change(f"t{i:02}") for i in range(30)))
    status = status_patch(CheckReport(CheckOutcome.DRIFTED, 4, "T1", plan=plan), RESOURCE)
    assert conditions(status) == {
        "Ready": "False",
        "Drifted": "True",
        "Applying": "False",
        "Failed": "False",
    }
    assert status["summary"]["changes"] == 30 and status["summary"]["add"] == 30
    assert len(status["changes"]) == MAX_LISTED_CHANGES
    assert status["changes"][0] == {"address": "kafka_topic.t00", "action": "create"}
    assert status["observedGeneration"] == 4


def test_transition_time_kept_while_a_condition_holds() -> None:
    first = status_patch(CheckReport(CheckOutcome.IN_SYNC, 1, "T1", plan=Plan()), RESOURCE)
    second = status_patch(
        CheckReport(CheckOutcome.IN_SYNC, 1, "T2", plan=Plan()), {**RESOURCE, "status": first}
    )
    ready = next(c for c in second["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["lastTransitionTime"] == "T1"
    third = status_patch(
        CheckReport(CheckOutcome.FAILED, 1, "T3", message="boom"), {**RESOURCE, "status": second}
    )
    failed = next(c for c in third["conditions"] if c["type"] == "Failed")
    assert failed["lastTransitionTime"] == "T3" and failed["message"] == "boom"
    assert conditions(third)["Ready"] == "False"


def test_applied_with_leftovers_is_not_ready() -> None:
    report = CheckReport(
        CheckOutcome.APPLIED, 1, "T", plan=Plan(changes=(change("a"),)), leftover=("kafka_topic.a",)
    )
    assert conditions(status_patch(report, RESOURCE))["Ready"] == "False"
    assert event_text(report)[0] == "Applied" and event_text(report)[2] is True


def test_events_tell_drift_refusals_and_failures_only() -> None:
    refused = Notice(
        level=NoticeLevel.ERROR,
        address="kafka_topic.x",
        message="partition decrease",
        kind="refused",
    )
    plan = Plan(changes=(change("a"),), notices=(refused,))
    reason, message, warning = event_text(CheckReport(CheckOutcome.DRIFTED, 1, "T", plan=plan))
    assert reason == "Drifted" and warning
    assert (
        "create kafka_topic.a" in message and "refused kafka_topic.x: partition decrease" in message
    )
    assert event_text(CheckReport(CheckOutcome.IN_SYNC, 1, "T", plan=Plan()))[0] is None
    assert event_text(CheckReport(CheckOutcome.FAILED, 1, "T", message="down"))[:2] == (
        "CheckFailed",
        "down",
    )


def test_the_whole_plan_goes_to_a_config_map_owned_by_the_resource() -> None:
    plan = Plan(changes=(change("a"),))
    body = plan_config_map(RESOURCE, plan)
    assert body["metadata"]["name"] == "llm-analytics-plan-eu"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert "kafka_topic.a" in body["data"]["plan.txt"]
    assert '"address": "kafka_topic.a"' in body["data"]["plan.json"]
    status = status_patch(CheckReport(CheckOutcome.DRIFTED, 1, "T", plan=plan), RESOURCE)
    assert status["planConfigMap"] == "llm-analytics-plan-eu"


def test_a_refusal_by_the_gate_is_drift_with_its_reason() -> None:
    report = CheckReport(CheckOutcome.DRIFTED, 1, "T", message="policy rule 'cap': 8 > 4")
    assert event_text(report) == ("Drifted", "policy rule 'cap': 8 > 4", True)
    drifted = next(
        c for c in status_patch(report, RESOURCE)["conditions"] if c["type"] == "Drifted"
    )
    assert drifted["status"] == "True" and "cap" in drifted["message"]
