"""End to end through the command line against the real single-node sandbox."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.catalog import LLM_TOPIC_NAMES
from reconciler.providers.kafka.client import KafkaAdmin, NewTopicRequest

ROOT = Path(__file__).parents[3]
EXAMPLE = ROOT / "cluster-spec.example.yaml"


def cli(
    *args: str, bootstrap: str, check: int | None = 0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LLM_ANALYTICS_BOOTSTRAP_SERVERS": bootstrap,
        "NO_COLOR": "1",
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-m", "reconciler.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert "Traceback" not in result.stderr, result.stderr
    if check is not None:
        assert result.returncode == check, (result.stdout, result.stderr)
    return result


def write_spec(path: Path, topics: list[dict[str, Any]], **kafka: Any) -> Path:
    import yaml

    document = {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": "test"},
        "kafka": {
            "connection": {"bootstrapServers": "${LLM_ANALYTICS_BOOTSTRAP_SERVERS}"},
            "defaults": {"replicationFactor": 1},
            "topics": topics,
            **kafka,
        },
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def admin_call(bootstrap: str, method: str, *args: Any, **kwargs: Any) -> Any:
    async def call() -> Any:
        async with KafkaAdmin({"bootstrap_servers": bootstrap}) as admin:
            return await getattr(admin, method)(*args, **kwargs)

    return asyncio.run(call())


@pytest.fixture
def bootstrap(kafka_single: Any) -> str:
    return str(kafka_single.bootstrap_servers)


def test_example_spec_applies_the_14_topics_and_then_plans_nothing(bootstrap: str) -> None:
    apply = cli(
        "apply",
        "-f",
        str(EXAMPLE),
        "--env",
        "local",
        "--target",
        "kafka",
        "--auto-approve",
        bootstrap=bootstrap,
    )
    assert "Apply complete!" in apply.stdout or "Nothing to apply." in apply.stdout
    state = admin_call(bootstrap, "cluster_state", topics=list(LLM_TOPIC_NAMES))
    assert set(LLM_TOPIC_NAMES) <= set(state.topics)
    assert state.topics["llm-events"].partition_count == 32
    assert state.topics["llm-audit"].configs["cleanup.policy"].value == "compact"
    assert state.topics["llm-traces"].configs["compression.type"].value == "lz4"
    cli(
        "plan",
        "-f",
        str(EXAMPLE),
        "--env",
        "local",
        "--target",
        "kafka",
        "--detailed-exitcode",
        bootstrap=bootstrap,
        check=0,
    )
    again = cli(
        "apply",
        "-f",
        str(EXAMPLE),
        "--env",
        "local",
        "--target",
        "kafka",
        "--auto-approve",
        bootstrap=bootstrap,
    )
    assert "Nothing to apply." in again.stdout


def test_out_of_band_change_is_planned_with_values_and_reverted(
    bootstrap: str, tmp_path: Path, unique_name: Any
) -> None:
    name = unique_name("oob")
    spec = write_spec(
        tmp_path / "spec.yaml", [{"name": name, "partitions": 2, "config": {"retention.ms": "1d"}}]
    )
    cli("apply", "-f", str(spec), "--auto-approve", bootstrap=bootstrap)
    admin_call(
        bootstrap,
        "alter_topic_configs",
        {name: {"retention.ms": "60000", "max.message.bytes": "2048"}},
    )
    plan = cli(
        "plan", "-f", str(spec), "-o", "json", "--detailed-exitcode", bootstrap=bootstrap, check=2
    )
    document = json.loads(plan.stdout)
    (change,) = document["changes"]
    assert change["address"] == f"kafka_topic.{name}" and change["action"] == "update"
    assert change["attributes"] == [
        {"path": "config.retention.ms", "before": "60000", "after": "86400000", "sensitive": False}
    ]
    assert any("max.message.bytes" in n["message"] for n in document["notices"])
    text = cli("plan", "-f", str(spec), bootstrap=bootstrap).stdout
    # Human units in the text; the JSON above keeps Kafka's raw strings.
    assert "~ config.retention.ms = 1m -> 1d" in text
    cli("apply", "-f", str(spec), "--auto-approve", bootstrap=bootstrap)
    overrides = admin_call(bootstrap, "cluster_state", topics=[name]).topics[name].overrides()
    assert overrides["retention.ms"] == "86400000"
    assert overrides["max.message.bytes"] == "2048"  # additive ownership: left alone


def test_partition_decrease_is_refused_at_plan_time(
    bootstrap: str, tmp_path: Path, unique_name: Any
) -> None:
    name = unique_name("dec")
    cli(
        "apply",
        "-f",
        str(write_spec(tmp_path / "a.yaml", [{"name": name, "partitions": 4}])),
        "--auto-approve",
        bootstrap=bootstrap,
    )
    smaller = write_spec(tmp_path / "b.yaml", [{"name": name, "partitions": 2}])
    plan = cli("plan", "-f", str(smaller), bootstrap=bootstrap, check=1)
    assert "cannot decrease from 4 to 2" in plan.stdout + plan.stderr
    apply = cli("apply", "-f", str(smaller), "--auto-approve", bootstrap=bootstrap, check=1)
    assert "nothing was changed" in apply.stderr
    assert admin_call(bootstrap, "cluster_state", topics=[name]).topics[name].partition_count == 4


def test_apply_without_approval_off_a_terminal_is_refused(
    bootstrap: str, tmp_path: Path, unique_name: Any
) -> None:
    spec = write_spec(tmp_path / "s.yaml", [{"name": unique_name("noapprove")}])
    refused = cli("apply", "-f", str(spec), bootstrap=bootstrap, check=3)
    assert "--auto-approve" in refused.stderr


def test_export_then_plan_shows_no_changes(
    bootstrap: str, tmp_path: Path, unique_name: Any
) -> None:
    prefix = unique_name("exp")
    spec = write_spec(
        tmp_path / "s.yaml",
        [
            {"name": f"{prefix}-a", "partitions": 3, "config": {"cleanup.policy": "compact"}},
            {
                "name": f"{prefix}-b",
                "partitions": 1,
                "config": {"retention.ms": "2h", "segment.bytes": 1073741824},
            },
        ],
    )
    cli("apply", "-f", str(spec), "--auto-approve", bootstrap=bootstrap)
    exported = tmp_path / "exported.yaml"
    cli("export", "--prefix", prefix, "-o", str(exported), bootstrap=bootstrap)
    # Durations and sizes in the units the spec accepts.
    text = exported.read_text()
    assert "retention.ms: 2h" in text and "segment.bytes: 1GiB" in text, text
    cli("plan", "-f", str(exported), "--detailed-exitcode", bootstrap=bootstrap, check=0)


def test_imperative_topic_commands(bootstrap: str, unique_name: Any) -> None:
    listed = json.loads(cli("kafka", "topics", "list", "-o", "json", bootstrap=bootstrap).stdout)
    assert listed["format_version"] == "1.0"
    dry = cli(
        "kafka",
        "topics",
        "create",
        "--replication-factor",
        "1",
        "--dry-run",
        "-o",
        "json",
        bootstrap=bootstrap,
    )
    assert json.loads(dry.stdout)["format_version"]
    name = unique_name("imp")
    admin_call(bootstrap, "create_topics", [NewTopicRequest(name, 2, 1, {})])
    described = json.loads(
        cli("kafka", "topics", "describe", name, "--json", bootstrap=bootstrap).stdout
    )
    assert described["name"] == name and len(described["partitions"]) == 2
    cli("kafka", "topics", "delete", name, bootstrap=bootstrap, check=3)  # no --force, no TTY
    cli("kafka", "topics", "delete", "__consumer_offsets", "--force", bootstrap=bootstrap, check=3)
    preview = cli("kafka", "topics", "delete", name, "--dry-run", bootstrap=bootstrap)
    assert f"kafka_topic.{name}" in preview.stdout
    assert name in admin_call(bootstrap, "cluster_state", with_configs=False).topics
    cli("kafka", "topics", "delete", name, "--force", bootstrap=bootstrap)
    assert name not in admin_call(bootstrap, "cluster_state", with_configs=False).topics


def test_unreachable_cluster_gives_one_clear_error(tmp_path: Path) -> None:
    result = cli("kafka", "topics", "list", bootstrap="127.0.0.1:1", check=1)
    assert "cannot reach 127.0.0.1:1" in result.stderr
    assert result.stderr.count("\n") <= 3
