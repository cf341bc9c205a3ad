"""The ``policies:`` spec section and ``--policy FILE``."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import SpecError
from reconciler.spec.loading import load_policy_file, load_spec_text
from reconciler.spec.policies import PolicyRule


def test_a_rule_has_exactly_one_check() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        PolicyRule.model_validate({"name": "x"})
    with pytest.raises(ValueError, match=r"found minReplicationFactor, maxPartitions"):
        PolicyRule.model_validate({"name": "x", "minReplicationFactor": 3, "maxPartitions": 9})


def test_retention_floor_takes_units_and_protected_topics_are_not_approvable() -> None:
    floor = PolicyRule.model_validate({"name": "floor", "minRetention": "1d"})
    assert floor.min_retention == 86_400_000 and floor.can_be_approved
    protected = PolicyRule.model_validate({"name": "keep", "protectedTopics": ["audit-*"]})
    assert protected.check == "protected_topics" and not protected.can_be_approved


def test_environments_limit_a_rule() -> None:
    rule = PolicyRule.model_validate(
        {"name": "rf", "minReplicationFactor": 3, "environments": ["prod"]}
    )
    assert rule.applies_in("prod") and not rule.applies_in("dev") and not rule.applies_in(None)


def test_spec_section_is_loaded() -> None:
    text = (
        "apiVersion: llm-analytics/v1\nkind: ClusterSpec\nmetadata: {name: t}\n"
        "kafka: {connection: {bootstrapServers: 'k:9092'}}\n"
        "policies:\n  - {name: rf-prod, minReplicationFactor: 3, environments: [prod]}\n"
    )
    spec = load_spec_text(text).spec
    assert [r.name for r in spec.policies] == ["rf-prod"]


def test_policy_file_errors_are_located(tmp_path: Path) -> None:
    good = tmp_path / "ok.yaml"
    good.write_text("policies:\n  - name: small\n    maxPartitions: 64\n")
    assert load_policy_file(good)[0].max_partitions == 64
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies:\n  - name: small\n    maxPartitons: 64\n")
    with pytest.raises(SpecError) as caught:
        load_policy_file(bad)
    assert "bad.yaml:3" in str(caught.value) and "maxPartitons" in str(caught.value)
