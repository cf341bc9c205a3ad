"""Acceptance: every changing command runs the engine's one workflow.

``kafka topics create``, ``kafka topics delete``, ``kafka acls create`` and ``apply`` take
the apply lock (a second run waits, then exits 3 naming the holder), refuse a destructive or
data-loss change without its consent (exit 3, nothing changed), mask the spec's secrets in
every output, and verify after applying. Real Kafka (the SASL ``secure`` sandbox).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox.kafka import SECURE_USERS, SUPER_USER
from tests.integration.gitops.conftest import Result, admin_call, run_cli, topic_configs, write_spec
from tests.integration.gitops.test_apply_lock import HeldInThread

pytestmark = pytest.mark.integration

PASSWORD = SECURE_USERS[SUPER_USER]
SECURITY = {
    "protocol": "SASL_PLAINTEXT",
    "sasl": {
        "mechanism": "PLAIN",
        "username": SUPER_USER,
        "password": {"fromEnv": "KAFKA_ADMIN_PASSWORD"},
    },
}


@pytest.fixture
def secured(kafka_secure: Any) -> Callable[..., Result]:
    """The CLI against the secure sandbox, the password only in the spec's env reference."""

    def cli(*args: str, debug: bool = True) -> Result:
        result = run_cli(
            *(("--debug",) if debug else ()),
            *args,
            bootstrap=kafka_secure.bootstrap_servers,
            extra_env={"KAFKA_ADMIN_PASSWORD": PASSWORD},
        )
        assert PASSWORD not in result.output, f"the password leaked from {args}"
        return result

    return cli


def spec_with(tmp_path: Path, prefix: str, topics: list[dict[str, Any]]) -> Path:
    return write_spec(tmp_path / "spec.yaml", topics, prefixes=[prefix], security=SECURITY)


def existing(kafka_secure: Any, names: list[str]) -> set[str]:
    state = admin_call(kafka_secure.client_config(), "cluster_state", with_configs=False)
    return {n for n in names if n in state.topics}


@pytest.mark.parametrize("command", ["topics create", "topics delete", "acls create", "apply"])
def test_every_changing_command_waits_for_the_lock_and_names_the_holder(
    command: str,
    kafka_secure: Any,
    secured: Callable[..., Result],
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("wf-lock")
    spec = spec_with(tmp_path, prefix, [{"name": f"{prefix}-a", "partitions": 1}])
    if command == "topics delete":
        assert secured("kafka", "topics", "create", "-f", str(spec)).code == 0
    argv = {
        "topics create": ["kafka", "topics", "create", "-f", str(spec)],
        "topics delete": ["kafka", "topics", "delete", f"{prefix}-a", "--force", "-f", str(spec)],
        "acls create": ["kafka", "acls", "create", "-n", prefix, "-f", str(spec)],
        "apply": ["apply", "-f", str(spec), "--auto-approve"],
    }[command]
    before = existing(kafka_secure, [f"{prefix}-a"])
    with HeldInThread(kafka_secure.bootstrap_servers, kafka_secure.client_config()):
        refused = secured(*argv, "--lock-timeout", "3s")
    assert refused.code == 3, refused.output
    assert "Waiting for the apply lock" in refused.stderr
    assert "held by integration@test-runner (pid 4242)" in refused.stderr
    assert existing(kafka_secure, [f"{prefix}-a"]) == before  # nothing changed
    done = secured(*argv, "-o", "json")
    assert done.code == 0, done.output
    outcome = json.loads(done.stdout)
    assert outcome["outcome"] == "applied" and outcome["unfinished"] == []  # verified
    assert "Acquired the apply lock" in done.stderr and "Released the apply lock" in done.stderr


def test_topics_delete_without_force_is_refused_off_a_terminal(
    kafka_secure: Any,
    secured: Callable[..., Result],
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("wf-del")
    spec = spec_with(tmp_path, prefix, [{"name": f"{prefix}-a", "partitions": 1}])
    assert secured("kafka", "topics", "create", "-f", str(spec)).code == 0
    refused = secured("kafka", "topics", "delete", f"{prefix}-a", "-f", str(spec))
    assert refused.code == 3, refused.output
    assert "--force" in refused.stderr
    assert existing(kafka_secure, [f"{prefix}-a"]) == {f"{prefix}-a"}
    dry = secured("kafka", "topics", "delete", f"{prefix}-a", "--dry-run", "-f", str(spec))
    assert dry.code == 0 and "will be destroyed" in dry.stdout
    missing = secured("kafka", "topics", "delete", f"{prefix}-nope", "--force", "-f", str(spec))
    assert missing.code == 1 and "no such topic" in missing.stderr


def test_a_retention_cut_needs_allow_data_loss(
    kafka_secure: Any,
    secured: Callable[..., Result],
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("wf-retention")
    name = f"{prefix}-a"
    week = [{"name": name, "partitions": 1, "config": {"retention.ms": "7d"}}]
    assert (
        secured("apply", "-f", str(spec_with(tmp_path, prefix, week)), "--auto-approve").code == 0
    )
    day = [{"name": name, "partitions": 1, "config": {"retention.ms": "1d"}}]
    spec = spec_with(tmp_path, prefix, day)
    refused = secured("apply", "-f", str(spec), "--auto-approve")
    assert refused.code == 3, refused.output
    assert "--allow-data-loss" in refused.stderr and "data-loss" in refused.stderr
    config = kafka_secure.client_config()
    assert topic_configs(config, [name])[name]["retention.ms"] == str(7 * 86_400_000)
    applied = secured("apply", "-f", str(spec), "--auto-approve", "--allow-data-loss")
    assert applied.code == 0, applied.output
    assert topic_configs(config, [name])[name]["retention.ms"] == str(86_400_000)


def test_plan_out_reads_once_and_a_stale_plan_is_refused_before_it_is_printed(
    kafka_secure: Any,
    secured: Callable[..., Result],
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("wf-once")
    spec = spec_with(
        tmp_path, prefix, [{"name": f"{prefix}-{i}", "partitions": 1} for i in range(3)]
    )
    planfile = tmp_path / "plan.json"
    planned = secured("plan", "-f", str(spec), "--out", str(planfile))
    assert planned.code == 0, planned.output
    counts = json.loads(planfile.read_text())["plan"]["request_counts"]
    # One read of the live state (Metadata; DescribeConfigs only of listed or owned topics
    # that exist: none here), one validateOnly CreateTopics.
    assert counts.get("kafka.Metadata", counts.get("Metadata")) == 1, counts
    assert counts.get("kafka.DescribeConfigs", counts.get("DescribeConfigs", 0)) <= 1, counts
    # Someone creates one of the topics by hand: the saved plan is stale.
    assert secured("kafka", "topics", "create", "-f", str(spec)).code == 0
    stale = secured("apply", str(planfile))
    assert stale.code == 3, stale.output
    assert "stale" in stale.stderr
    assert "will be created" not in stale.stdout and stale.stdout.strip() == ""


def test_targeting_and_exclude(
    kafka_secure: Any,
    secured: Callable[..., Result],
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("wf-target")
    spec = spec_with(
        tmp_path, prefix, [{"name": f"{prefix}-{i}", "partitions": 1} for i in range(3)]
    )
    only = secured("plan", "-f", str(spec), "--target", f"kafka_topic.{prefix}-0", "-o", "json")
    assert [c["address"] for c in json.loads(only.stdout)["changes"]] == [f"kafka_topic.{prefix}-0"]
    applied = secured(
        "apply", "-f", str(spec), "--auto-approve", "--exclude", f"kafka_topic.{prefix}-2"
    )
    assert applied.code == 0, applied.output
    names = [f"{prefix}-{i}" for i in range(3)]
    assert existing(kafka_secure, names) == set(names[:2])
