"""Policy rules on real plans, through the command line (single-node sandbox)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.kafka.test_cli_topics import cli, write_spec

pytestmark = pytest.mark.integration


@pytest.fixture
def bootstrap(kafka_single: Any) -> str:
    return str(kafka_single.bootstrap_servers)


def _spec(tmp_path: Path, name: str) -> Path:
    path = write_spec(tmp_path / "s.yaml", [{"name": name, "partitions": 2}])
    document = yaml.safe_load(path.read_text())
    document["policies"] = [
        {"name": "rf-prod", "minReplicationFactor": 3, "environments": ["prod"]}
    ]
    document["environments"] = {"prod": {"metadata": {"labels": {"env": "prod"}}}}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_rf_rule_in_prod_and_a_cel_rule(bootstrap: str, tmp_path: Path, unique_name: Any) -> None:
    name = unique_name("pol")
    spec = _spec(tmp_path, name)
    refused = cli("plan", "-f", str(spec), "--env", "prod", bootstrap=bootstrap, check=1)
    assert "policy rule 'rf-prod': replication factor 1 is below 3" in refused.stdout
    # Outside prod the rule does not apply.
    cli("plan", "-f", str(spec), "--detailed-exitcode", bootstrap=bootstrap, check=2)

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "policies": [
                    {
                        "name": "llm-prefix",
                        "expression": 'change.action != "create" || change.name.startsWith("llm-")',
                        "message": "new topics are named llm-*",
                    }
                ]
            }
        )
    )
    args = ("plan", "-f", str(spec), "--policy", str(rules), "-o", "json")
    body = json.loads(cli(*args, bootstrap=bootstrap, check=1).stdout)
    assert body["format_version"] == "1.1"
    assert body["policy"]["results"] == [
        {
            "rule": "llm-prefix",
            "address": f"kafka_topic.{name}",
            "status": "violated",
            "message": "new topics are named llm-*",
        }
    ]
    markdown = cli(
        "plan", "-f", str(spec), "--policy", str(rules), "--approve", "llm-prefix",
        "-o", "markdown", "--detailed-exitcode", bootstrap=bootstrap, check=2,
    ).stdout  # fmt: skip
    assert markdown.splitlines()[2].startswith("**Policy:** 1 rule checked: 1 approved")

    # A saved plan keeps its approval; apply PLANFILE judges it again and carries it out.
    saved = tmp_path / "p.json"
    cli(
        "plan", "-f", str(spec), "--policy", str(rules), "--out", str(saved),
        bootstrap=bootstrap, env={"LLM_ANALYTICS_APPROVE": "llm-prefix"},
    )  # fmt: skip
    cli("apply", str(saved), "--policy", str(rules), bootstrap=bootstrap)
    cli("plan", "-f", str(spec), "--detailed-exitcode", bootstrap=bootstrap, check=0)
