"""Dynamic broker configs against a real broker: a cluster default and a per-broker override
set through the spec are what Kafka's own ConfigCommand shows; an out-of-band change is
drift; a static ``server.properties`` value is not; read-only keys (and a per-broker
``min.insync.replicas`` under eligible leader replicas) are located errors; an override is
removed only with exclusive ownership and ``--allow-delete``.

The cluster is shared by the whole test session: only keys that change nothing other
tests see are used (``log.cleaner.backoff.ms``, ``background.threads``), and whatever was
set is removed again, pass or fail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.errors import EXIT_ERROR, EXIT_FOUND, EXIT_REFUSED
from reconciler.providers.kafka.broker_client import alter_brokers
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.sandbox import KafkaSandbox

pytestmark = pytest.mark.integration
CONFIG_COMMAND = "org.apache.kafka.tools.ConfigCommand"
PROVIDER = "kafka_broker_config"
# What the tests may set: the cluster default's and broker 1's keys, removed afterwards.
DEFAULT_KEYS = ("log.cleaner.backoff.ms",)
BROKER_KEYS = ("background.threads",)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli.main", "--no-color", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
    )


def write_spec(path: Path, sandbox: KafkaSandbox, kafka: dict[str, Any]) -> Path:
    body = {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": "broker-test"},
        "kafka": {"connection": {"bootstrapServers": sandbox.bootstrap_servers}, **kafka},
    }
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def config_command(sandbox: KafkaSandbox, *args: str) -> str:
    return sandbox.run_tool(CONFIG_COMMAND, "--bootstrap-server", sandbox.bootstrap_servers, *args)


def dynamic_configs(sandbox: KafkaSandbox, *entity: str) -> dict[str, str]:
    """What ``kafka-configs --describe --entity-type brokers ENTITY`` lists: key -> value."""
    out = config_command(sandbox, "--describe", "--entity-type", "brokers", *entity)
    return dict(re.findall(r"^\s+([\w.]+)=(\S*) sensitive=", out, re.MULTILINE))


@pytest.fixture
async def restored(kafka_single: KafkaSandbox) -> AsyncIterator[int]:
    """Broker 1's id; afterwards the keys these tests set are removed again."""
    settings = {"bootstrap_servers": kafka_single.bootstrap_servers}
    try:
        yield 1
    finally:
        async with KafkaAdmin(settings) as admin:
            errors = await alter_brokers(
                admin,
                {None: dict.fromkeys(DEFAULT_KEYS), 1: dict.fromkeys(BROKER_KEYS)},
            )
        assert not any(errors.values()), errors


def brokers(default: dict[str, Any] | None, overrides: list[dict[str, Any]]) -> dict[str, Any]:
    section: dict[str, Any] = {"overrides": overrides}
    if default is not None:
        section["default"] = {"config": default}
    return {"brokers": section}


async def test_defaults_and_overrides_match_config_command_and_drift_is_found(
    kafka_single: KafkaSandbox, restored: int, tmp_path: Path
) -> None:
    spec = write_spec(
        tmp_path / "spec.yaml",
        kafka_single,
        brokers(
            {"log.cleaner.backoff.ms": "20s"},
            # num.io.threads=4 is in server.properties: equal, so nothing to set
            [{"id": restored, "config": {"background.threads": 12, "num.io.threads": 4}}],
        ),
    )
    planned = cli("plan", "-f", str(spec), "-o", "json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    changes = {c["address"]: c for c in plan["changes"] if c["provider"] == PROVIDER}
    assert set(changes) == {f"{PROVIDER}.<default>", f"{PROVIDER}.{restored}"}
    attributes = {a["path"]: a for a in changes[f"{PROVIDER}.{restored}"]["attributes"]}
    assert attributes == {
        "config.background.threads": {
            "path": "config.background.threads",
            "before": "10",
            "after": "12",
            "sensitive": False,
        }
    }
    # one broker: the default rides along with broker 1's DescribeConfigs
    assert plan["request_counts"]["DescribeConfigs"] == 1

    applied = cli("apply", "-f", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = cli("plan", "-f", str(spec), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr

    default = dynamic_configs(kafka_single, "--entity-default")
    assert default["log.cleaner.backoff.ms"] == "20000"
    assert dynamic_configs(kafka_single, "--entity-name", str(restored)) == {
        "background.threads": "12"
    }

    exported = cli("export", "--bootstrap-servers", kafka_single.bootstrap_servers, "-o", "json")
    assert exported.returncode == 0, exported.stderr
    exported_brokers = json.loads(exported.stdout)["kafka"]["brokers"]
    assert exported_brokers["default"]["config"]["log.cleaner.backoff.ms"] == "20s"
    assert {"id": restored, "config": {"background.threads": "12"}} in exported_brokers["overrides"]

    # Changed out of band with Kafka's own tool: drift (exit 2), with the values.
    config_command(
        kafka_single,
        "--alter",
        "--entity-type",
        "brokers",
        "--entity-default",
        "--add-config",
        "log.cleaner.backoff.ms=25000",
    )
    drift = cli("drift", "-f", str(spec))
    assert drift.returncode == EXIT_FOUND, drift.stdout + drift.stderr
    assert f"{PROVIDER}.<default>" in drift.stdout
    assert "config.log.cleaner.backoff.ms: 25000 in the cluster, 20000 in the spec" in drift.stdout
    assert f"{PROVIDER}.{restored}" not in drift.stdout  # static num.io.threads is no drift

    # Exclusive ownership: an override left out of the spec is removed with --allow-delete
    # only; the static server.properties values are never touched.
    exclusive = {
        **brokers({"log.cleaner.backoff.ms": "20s"}, [{"id": restored, "config": {}}]),
        "ownership": {"brokers": {"configs": "exclusive"}},
    }
    write_spec(spec, kafka_single, exclusive)
    removal = json.loads(cli("plan", "-f", str(spec), "-o", "json").stdout)
    by_address = {c["address"]: c for c in removal["changes"]}
    removed = by_address[f"{PROVIDER}.{restored}"]
    assert [(a["path"], a["after"]) for a in removed["attributes"]] == [
        ("config.background.threads", None)
    ]
    assert "destructive" in removed["risks"]
    assert "num.io.threads" not in json.dumps(removal)
    refused = cli("apply", "-f", str(spec), "--auto-approve")
    assert refused.returncode == EXIT_REFUSED, refused.stdout + refused.stderr
    deleted = cli("apply", "-f", str(spec), "--auto-approve", "--allow-delete")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert dynamic_configs(kafka_single, "--entity-name", str(restored)) == {}
    assert dynamic_configs(kafka_single, "--entity-default")["log.cleaner.backoff.ms"] == "20000"
    clean = cli("plan", "-f", str(spec), "--detailed-exitcode")
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_read_only_configs_are_located_errors(kafka_single: KafkaSandbox, tmp_path: Path) -> None:
    known = write_spec(tmp_path / "known.yaml", kafka_single, brokers({"num.partitions": 3}, []))
    invalid = cli("plan", "-f", str(known))
    assert invalid.returncode == EXIT_ERROR, invalid.stdout + invalid.stderr
    line = next(
        n for n, text in enumerate(known.read_text().splitlines(), 1) if "num.partitions" in text
    )
    assert f"{known}:{line}:" in invalid.stderr
    assert "read-only" in invalid.stderr and "server.properties" in invalid.stderr

    # A key only the broker knows to be read-only, and a per-broker min.insync.replicas
    # (refused by the controller while eligible leader replicas are on, as in Kafka 4.x
    # clusters created from scratch): plan errors located in the file, nothing changed.
    reported = write_spec(
        tmp_path / "reported.yaml",
        kafka_single,
        brokers(
            {"controller.quorum.election.timeout.ms": "2s"},
            [{"id": 1, "config": {"min.insync.replicas": 1}}],
        ),
    )
    planned = cli("plan", "-f", str(reported))
    assert planned.returncode == EXIT_ERROR, planned.stdout + planned.stderr
    text = planned.stdout + planned.stderr
    lines = reported.read_text().splitlines()
    for key in ("controller.quorum.election.timeout.ms", "min.insync.replicas"):
        line = next(n for n, t in enumerate(lines, 1) if key in t)
        assert f"{reported}:{line}:" in text, text
    assert "controller.quorum.election.timeout.ms is read-only" in text
    assert "KIP-966" in text
    assert dynamic_configs(kafka_single, "--entity-name", "1").get("min.insync.replicas") is None
