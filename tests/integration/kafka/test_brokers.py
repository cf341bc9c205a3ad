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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import EXIT_ERROR, EXIT_FOUND, EXIT_REFUSED
from reconciler.providers.kafka.broker_client import alter_brokers
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.sandbox import KafkaSandbox
from tests.integration.kafka.commands import cli, config_command, write_spec

pytestmark = pytest.mark.integration
PROVIDER = "kafka_broker_config"
# What the tests may set: the cluster default's and broker 1's keys, removed afterwards.
DEFAULT_KEYS = ("log.cleaner.backoff.ms",)
BROKER_KEYS = ("background.threads",)


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
    # No drift, though Kafka keeps a cluster-level min.insync.replicas of its own (ELR).
    quiet = cli("drift", "-f", str(spec))
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr

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
    assert "config.log.cleaner.backoff.ms: 25s in the cluster, 20s in the spec" in drift.stdout
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


async def test_a_saved_plan_with_a_secret_reference_applies_and_shows_no_secret(
    kafka_single: KafkaSandbox, restored: int, tmp_path: Path
) -> None:
    """plan --out then apply PLANFILE; a secret is planned from its reference, rendered as a
    sensitive value in text, Markdown and JSON, and never written to the plan file."""
    secret = "broker-secret-" + os.urandom(4).hex()
    key = "listener.name.unused.ssl.key.password"  # a listener the broker does not have
    os.environ["LLM_ANALYTICS_TEST_BROKER_SECRET"] = secret
    try:
        spec = write_spec(
            tmp_path / "spec.yaml",
            kafka_single,
            brokers(
                {"log.cleaner.backoff.ms": "40s"},
                [
                    {
                        "id": restored,
                        "config": {
                            "background.threads": 11,
                            key: {"fromEnv": "LLM_ANALYTICS_TEST_BROKER_SECRET"},
                        },
                    }
                ],
            ),
        )
        planfile = tmp_path / "plan.json"
        saved = cli("plan", "-f", str(spec), "--out", str(planfile), "--target", PROVIDER)
        assert saved.returncode == 0, saved.stdout + saved.stderr
        markdown = cli("plan", "-f", str(spec), "-o", "markdown", "--target", PROVIDER)
        assert markdown.returncode == 0, markdown.stderr
        assert (
            f"{PROVIDER}.{restored}" in markdown.stdout and "background.threads" in markdown.stdout
        )
        for text in (saved.stdout, markdown.stdout, planfile.read_text()):
            assert secret not in text
            assert "(sensitive value)" in text or "sensitive" in text
        assert "LLM_ANALYTICS_TEST_BROKER_SECRET" in planfile.read_text()  # the reference
        applied = cli("apply", str(planfile), "--auto-approve")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert secret not in applied.stdout + applied.stderr
        set_now = dynamic_configs(kafka_single, "--entity-name", str(restored))
        assert set_now[key] == "null"  # set, and never shown, not even by Kafka's tool
        again = cli("plan", "-f", str(spec), "--detailed-exitcode", "--target", PROVIDER)
        assert again.returncode == 0, again.stdout + again.stderr  # a set secret is kept
        assert "--rotate-credentials" in again.stdout
    finally:
        del os.environ["LLM_ANALYTICS_TEST_BROKER_SECRET"]
        async with KafkaAdmin({"bootstrap_servers": kafka_single.bootstrap_servers}) as admin:
            await alter_brokers(admin, {restored: {key: None}})
    dynamic = dynamic_configs(kafka_single, "--entity-name", str(restored))
    assert dynamic["background.threads"] == "11"
    assert dynamic_configs(kafka_single, "--entity-default")["log.cleaner.backoff.ms"] == "40000"


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


async def test_a_plan_costs_one_describe_and_one_validation_per_named_broker(
    kafka_cluster: KafkaSandbox,
) -> None:
    """Three brokers, two of them overridden, many keys: the request count follows the
    brokers the spec names, never the keys (nothing is applied)."""
    from reconciler.engine.planning import build_plan
    from reconciler.engine.providers import PlanOptions
    from reconciler.providers.kafka.brokers import KafkaBrokersProvider
    from reconciler.spec.kafka_brokers import BrokersSpec, desired_brokers

    keys = {
        "log.cleaner.backoff.ms": "17s",
        "log.cleaner.io.buffer.load.factor": "0.8",
        "background.threads": 9,
        "max.connections.per.ip.overrides": "10.9.9.9:7",
        "log.cleaner.io.max.bytes.per.second": "1GiB/s",
    }
    spec = BrokersSpec.model_validate(
        {
            "default": {"config": keys},
            "overrides": [{"id": 1, "config": keys}, {"id": 3, "config": keys}],
        }
    )
    settings = {"bootstrap_servers": kafka_cluster.bootstrap_servers}
    async with KafkaAdmin(settings) as admin:
        before = dict(admin.requests)
        plan = await build_plan([KafkaBrokersProvider(admin, desired_brokers(spec))], PlanOptions())
        counts = {
            k: v - before.get(k, 0) for k, v in admin.requests.items() if v != before.get(k, 0)
        }
    assert not plan.has_errors, plan.notices
    assert {c.address for c in plan.changes} == {
        f"{PROVIDER}.<default>",
        f"{PROVIDER}.1",
        f"{PROVIDER}.3",
    }
    # ApiVersions: the cluster-level min.insync.replicas Kafka sets under ELR is concerned
    assert counts == {
        "Metadata": 1,
        "DescribeConfigs": 2,
        "IncrementalAlterConfigs": 2,  # validateOnly: broker 1 (with the default), broker 3
        "ApiVersions": 1,
    }
    assert plan.to_json_dict()["request_counts"] == counts
