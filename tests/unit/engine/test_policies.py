"""Policy rules judged on a plan's changes (pure), and the gate they go through."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.engine.plan import Action, AttributeChange, Change, Plan, Risk
from reconciler.engine.policies import PolicyCheck, approvals_from, check_approvals, check_plan
from reconciler.engine.risk import Consent, gate
from reconciler.errors import EXIT_ERROR, ReconcilerError
from reconciler.spec.policies import PolicyRule


def topic(
    name: str, action: Action = Action.CREATE, risks: frozenset[Risk] = frozenset(), **after: Any
) -> Change:
    attributes = tuple(
        AttributeChange(path=k.replace("__", "."), after=v) for k, v in after.items()
    )
    return Change(
        address=f"kafka_topic.{name}",
        provider="kafka_topic",
        resource_type="kafka_topic",
        name=name,
        action=action,
        attributes=attributes,
        risks=risks,
    )


def rule(**fields: Any) -> PolicyRule:
    return PolicyRule.model_validate(fields)


def test_rf_floor_in_prod_refuses_with_exit_1_naming_the_rule() -> None:
    plan = Plan(
        changes=(topic("a", partitions=3, replication_factor=1), topic("b", replication_factor=3))
    )
    check = PolicyCheck(
        (rule(name="rf-prod", minReplicationFactor=3, environments=["prod"]),), "prod"
    )
    judged = check_plan(plan, check)
    assert judged.policy is not None and judged.policy.rules == ("rf-prod",)
    assert [(r.rule, r.address, r.status) for r in judged.policy.results] == [
        ("rf-prod", "kafka_topic.a", "violated")
    ]
    verdict = gate(judged, frozenset())
    assert verdict.exit_code == EXIT_ERROR
    assert [r.rule for r in verdict.refusals] == ["policy:rf-prod"]
    error = verdict.error()
    assert (
        error is not None
        and "rf-prod" in str(error)
        and "replication factor 1 is below 3" in str(error)
    )
    # Not in dev: the rule does not apply.
    assert check_plan(plan, PolicyCheck(check.rules, "dev")).policy is None


def test_approval_lets_a_violation_through_as_a_warning() -> None:
    plan = Plan(
        changes=(
            topic("a", Action.UPDATE, frozenset({Risk.DATA_LOSS}), config__retention__ms="3600000"),
        )
    )
    rules = (rule(name="no-loss", noDataLoss=True), rule(name="floor", minRetention="1d"))
    refused = check_plan(plan, PolicyCheck(rules))
    assert {r.rule for r in refused.policy.violations} == {"no-loss", "floor"}  # type: ignore[union-attr]
    assert "1h is below the floor 1d" in refused.notices[-1].message
    approved = check_plan(plan, PolicyCheck(rules, approvals=frozenset({"no-loss", "floor"})))
    assert approved.policy.violations == ()  # type: ignore[union-attr]
    assert [n.level.value for n in approved.notices] == ["warning", "warning"]
    # An approval is not the risk's consent: the retention cut still needs its flag.
    assert gate(approved, frozenset()).exit_code == 3
    assert gate(approved, frozenset({Consent.DATA_LOSS})).passed


def test_protected_topics_cannot_be_approved_by_default() -> None:
    plan = Plan(changes=(topic("audit-1", Action.DELETE, frozenset({Risk.DESTRUCTIVE})),))
    check = PolicyCheck(
        (rule(name="keep-audit", protectedTopics=["audit-*"]),), approvals=frozenset({"keep-audit"})
    )
    judged = check_plan(plan, check)
    assert judged.policy.violations and "cannot be approved" in judged.notices[0].message  # type: ignore[union-attr]


def test_isr_and_partitions() -> None:
    plan = Plan(
        changes=(
            topic("a", partitions=500, replication_factor=3),
            topic("b", Action.UPDATE, partitions=4),
        )
    )
    rules = (rule(name="isr", minInsyncReplicas=2), rule(name="max", maxPartitions=256))
    found = {(r.rule, r.address) for r in check_plan(plan, PolicyCheck(rules)).policy.results}  # type: ignore[union-attr]
    assert found == {("isr", "kafka_topic.a"), ("max", "kafka_topic.a")}


def test_cel_rule_over_the_change_json() -> None:
    plan = Plan(changes=(topic("llm-x", partitions=3), topic("tmp", partitions=3)))
    cel = rule(
        name="prefix",
        expression='change.action != "create" || change.name.startsWith("llm-")',
        message="new topics start with llm-",
    )
    judged = check_plan(plan, PolicyCheck((cel,), "prod"))
    assert [(r.address, r.message) for r in judged.policy.results] == [  # type: ignore[union-attr]
        ("kafka_topic.tmp", "new topics start with llm-")
    ]
    by_value = rule(name="small", expression='!("partitions" in after) || after["partitions"] <= 2')
    assert len(check_plan(plan, PolicyCheck((by_value,))).policy.results) == 2  # type: ignore[union-attr]


def test_a_broken_expression_is_a_clear_error() -> None:
    from reconciler.errors import ReconcilerError

    with pytest.raises(ReconcilerError, match="'bad': cannot read its expression"):
        check_plan(Plan(changes=(topic("a"),)), PolicyCheck((rule(name="bad", expression="1 +"),)))


def test_approvals_from_flags_and_environment() -> None:
    assert approvals_from(["a,b"], {"LLM_ANALYTICS_APPROVE": "c, d"}) == {"a", "b", "c", "d"}


def test_an_approval_naming_no_rule_is_an_error_listing_the_rules() -> None:
    check_approvals(["rf-prod", "no-loss"], {"rf-prod"})  # known: fine
    with pytest.raises(ReconcilerError) as refused:
        check_approvals(["rf-prod", "no-loss"], {"rf-prd", "rf-prod"})
    assert refused.value.exit_code == EXIT_ERROR
    message = str(refused.value)
    assert "rf-prd" in message and "the rules are: no-loss, rf-prod" in message
    assert "LLM_ANALYTICS_APPROVE" in message


def test_an_approval_without_any_rule_is_an_error() -> None:
    check_approvals([], set())
    with pytest.raises(ReconcilerError, match="names no policy rule: typo; there is no rule"):
        check_approvals([], {"typo"})


def test_the_expression_library_is_not_imported_without_expressions() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from reconciler.engine.policies import check_plan, PolicyCheck;"
        "from reconciler.engine.plan import Plan; from reconciler.spec.policies import PolicyRule;"
        "check_plan(Plan(), PolicyCheck((PolicyRule(name='m', max_partitions=3),)));"
        "print('celpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
