"""Acceptance: a saved plan is applied exactly, and refused (exit 3, nothing changed) once the
spec or a resource it touches changed since it was made."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.gitops.conftest import (
    admin_call,
    run_cli,
    topic_configs,
    write_spec,
)

pytestmark = pytest.mark.integration

DAY_MS = "86400000"
TWO_DAYS_MS = "172800000"


@pytest.fixture
def topics(
    unique_name: Callable[[str], str], tmp_path: Path, kafka_single: Any
) -> tuple[str, str, str]:
    """Two topics created by a first apply; returns (prefix, first, second)."""
    prefix = unique_name("gitops")
    first, second = f"{prefix}-orders", f"{prefix}-events"
    spec = write_spec(
        tmp_path / "cluster-spec.yaml",
        [
            {"name": first, "partitions": 2, "config": {"retention.ms": "1d"}},
            {"name": second, "partitions": 1, "config": {"retention.ms": "1d"}},
        ],
        prefixes=[prefix],
    )
    created = run_cli(
        "apply",
        "-f",
        str(spec),
        "--target",
        "kafka",
        "--auto-approve",
        bootstrap=kafka_single.bootstrap_servers,
    )
    assert created.code == 0, created.output
    return prefix, first, second


def respec(tmp_path: Path, prefix: str, first: str, second: str, retention: str) -> Path:
    return write_spec(
        tmp_path / "cluster-spec.yaml",
        [
            {"name": first, "partitions": 2, "config": {"retention.ms": retention}},
            {"name": second, "partitions": 1, "config": {"retention.ms": retention}},
        ],
        prefixes=[prefix],
    )


def save_kafka_plan(tmp_path: Path, spec: Path, bootstrap: str) -> Path:
    """``plan --target kafka --out`` into ``cluster.plan.json``; returns the plan file."""
    planfile = tmp_path / "cluster.plan.json"
    planned = run_cli(
        "plan", "-f", str(spec), "--target", "kafka", "--out", str(planfile), bootstrap=bootstrap
    )
    assert planned.code == 0, planned.output
    return planfile


def test_out_of_band_change_makes_the_saved_plan_stale(
    kafka_single: Any, tmp_path: Path, topics: tuple[str, str, str]
) -> None:
    prefix, first, second = topics
    bootstrap = kafka_single.bootstrap_servers
    spec = respec(tmp_path, prefix, first, second, "2d")
    planfile = save_kafka_plan(tmp_path, spec, bootstrap)
    saved = json.loads(planfile.read_text())
    # The touched topics, and the identity of the cluster the plan was made against.
    assert set(saved["fingerprints"]) == {f"kafka_topic.{first}", f"kafka_topic.{second}", "@kafka"}
    assert saved["spec"]["sha256"] and saved["tool_version"]

    # Someone changes one of the topics by hand after the review.
    errors = admin_call(
        kafka_single.client_config(), "alter_topic_configs", {first: {"retention.ms": "3600000"}}
    )
    assert errors == {first: None}

    refused = run_cli("apply", str(planfile), bootstrap=bootstrap)
    assert refused.code == 3, refused.output
    assert f"kafka_topic.{first}: changed in the cluster" in refused.stderr
    assert f"kafka_topic.{second}" not in refused.stderr.split("stale")[1]
    assert "plan again" in refused.stderr
    live = topic_configs(kafka_single.client_config(), [first, second])
    assert live[first]["retention.ms"] == "3600000"  # nothing was changed
    assert live[second]["retention.ms"] == DAY_MS


def test_unchanged_saved_plan_is_applied_exactly(
    kafka_single: Any, tmp_path: Path, topics: tuple[str, str, str]
) -> None:
    prefix, first, second = topics
    bootstrap = kafka_single.bootstrap_servers
    spec = respec(tmp_path, prefix, first, second, "2d")
    planfile = save_kafka_plan(tmp_path, spec, bootstrap)
    # The apply runs from another directory, like a later CI job: -f gives the spec path.
    applied = run_cli(
        "apply", str(planfile), "-f", str(spec), bootstrap=bootstrap, cwd=tmp_path.parent
    )
    assert applied.code == 0, applied.output
    assert "Apply complete! Resources: 0 added, 2 changed, 0 destroyed." in applied.stdout
    live = topic_configs(kafka_single.client_config(), [first, second])
    assert live[first]["retention.ms"] == TWO_DAYS_MS
    assert live[second]["retention.ms"] == TWO_DAYS_MS
    # The second apply of the same plan is stale: the topics it touched have changed.
    again = run_cli("apply", str(planfile), bootstrap=bootstrap)
    assert again.code == 3, again.output


def test_spec_change_makes_the_saved_plan_stale(
    kafka_single: Any, tmp_path: Path, topics: tuple[str, str, str]
) -> None:
    prefix, first, second = topics
    bootstrap = kafka_single.bootstrap_servers
    spec = respec(tmp_path, prefix, first, second, "2d")
    planfile = save_kafka_plan(tmp_path, spec, bootstrap)
    respec(tmp_path, prefix, first, second, "3d")
    refused = run_cli("apply", str(planfile), "-f", str(spec), bootstrap=bootstrap)
    assert refused.code == 3
    assert "the spec changed since the plan was made" in refused.stderr
    live = topic_configs(kafka_single.client_config(), [first])
    assert live[first]["retention.ms"] == DAY_MS


def test_saved_plan_with_a_new_topic_and_show(
    kafka_single: Any, tmp_path: Path, topics: tuple[str, str, str]
) -> None:
    prefix, first, second = topics
    bootstrap = kafka_single.bootstrap_servers
    third = f"{prefix}-new"
    spec = write_spec(
        tmp_path / "cluster-spec.yaml",
        [
            {"name": first, "partitions": 2, "config": {"retention.ms": "1d"}},
            {"name": second, "partitions": 1, "config": {"retention.ms": "1d"}},
            {"name": third, "partitions": 3},
        ],
        prefixes=[prefix],
    )
    planfile = tmp_path / "cluster.plan.json"
    planned = run_cli(
        "plan",
        "-f",
        str(spec),
        "--out",
        str(planfile),
        "-o",
        "markdown",
        "--detailed-exitcode",
        bootstrap=bootstrap,
    )
    assert planned.code == 2, planned.output
    assert planned.stdout.startswith("**Plan:** 1 to add")
    shown = run_cli("show", str(planfile), "-o", "markdown")
    assert shown.code == 0 and shown.stdout == planned.stdout
    applied = run_cli("apply", str(planfile), "--lock-timeout", "30s", bootstrap=bootstrap)
    assert applied.code == 0, applied.output
    state = admin_call(
        kafka_single.client_config(), "cluster_state", with_configs=False, topics=[third]
    )
    assert state.topics[third].partition_count == 3


def test_a_saved_plan_is_refused_against_another_cluster(
    kafka_single: Any, kafka_cluster: Any, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """The same topic names, absent on both clusters: only the cluster id tells them apart."""
    prefix = unique_name("other-cluster")
    spec = write_spec(tmp_path / "spec.yaml", [{"name": f"{prefix}-a", "partitions": 1}])
    planfile = tmp_path / "plan.json"
    made = run_cli(
        "plan", "-f", str(spec), "--out", str(planfile), bootstrap=kafka_single.bootstrap_servers
    )
    assert made.code == 0, made.output
    assert "@kafka" in json.loads(planfile.read_text())["fingerprints"]
    elsewhere = run_cli("apply", str(planfile), bootstrap=kafka_cluster.bootstrap_servers)
    assert elsewhere.code == 3, elsewhere.output
    assert "another Kafka cluster" in elsewhere.stderr
    state = admin_call(kafka_cluster.client_config(), "cluster_state", with_configs=False)
    assert f"{prefix}-a" not in state.topics  # nothing changed there
    here = run_cli("apply", str(planfile), bootstrap=kafka_single.bootstrap_servers)
    assert here.code == 0, here.output
