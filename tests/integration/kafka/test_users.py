"""SCRAM users against a real SASL_SSL broker (the ``scram`` sandbox): a user created
through the spec authenticates with a real SCRAM client, a
rotated password is applied with ``--rotate-credentials``, the tool's own user is refused,
removal needs the policy and ``--allow-delete``, and no password appears in any output."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from reconciler.sandbox import KafkaSandbox
from reconciler.sandbox.kafka import SANDBOX_PASSWORD_VARIABLE

pytestmark = pytest.mark.integration


async def authenticates(sandbox: KafkaSandbox, user: str, password: str, mechanism: str) -> bool:
    """Whether a real SCRAM client (aiokafka's, not the tool's code) can log in as ``user``.

    (kcat 1.7.1 / librdkafka 2.0.2 of Debian bookworm fails SCRAM against this broker even
    for the sandbox's own ``kafka-storage --add-scram`` users, so it cannot be the witness.)
    """
    config = sandbox.client_config()
    config.update(sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password=password)
    client = AIOKafkaClient(**config)
    try:
        await client.bootstrap()
    except KafkaError:
        return False
    finally:
        await client.close()
    return True


class Cli:
    """Runs the CLI and keeps every output, to check that no password leaked."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.outputs: list[str] = []

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler.cli.main", "--no-color", "--debug", *args],
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, **self.env},
        )
        self.outputs += [done.stdout, done.stderr]
        return done


def write_spec(path: Path, sandbox: KafkaSandbox, kafka: dict[str, Any]) -> Path:
    body = {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": "scram-users"},
        "kafka": {"connection": sandbox.spec_connection(), **kafka},
    }
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


async def test_scram_user_lifecycle_through_the_spec(
    kafka_scram: KafkaSandbox, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    name, variable = f"su-{tag}", f"LLM_ANALYTICS_TEST_SCRAM_{tag.upper()}"
    first, second = f"pw1-{secrets.token_urlsafe(12)}", f"pw2-{secrets.token_urlsafe(12)}"
    env = {SANDBOX_PASSWORD_VARIABLE: kafka_scram.users["admin"], variable: first}
    cli = Cli(env)
    user = {
        "name": name,
        "password": {"fromEnv": variable},
        "credentials": [
            {"mechanism": "SCRAM-SHA-512", "iterations": 8192},
            {"mechanism": "scram-sha-256", "iterations": 4096},
        ],
    }
    ownership = {"users": {"names": [name], "deletion": "allow"}}
    spec = write_spec(
        tmp_path / "spec.yaml", kafka_scram, {"users": [user], "ownership": ownership}
    )

    planned = cli("plan", "-f", str(spec), "-o", "json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    (change,) = [c for c in plan["changes"] if c["provider"] == "kafka_user"]
    shown = {a["path"]: a["after"] for a in change["attributes"]}
    assert change["action"] == "create"
    assert shown == {
        "SCRAM-SHA-256.iterations": 4096,
        "SCRAM-SHA-512.iterations": 8192,
        "set_from": f"env {variable}",
    }
    assert plan["request_counts"]["DescribeUserScramCredentials"] == 1

    planfile = tmp_path / "users.plan.json"
    saved = cli("plan", "-f", str(spec), "--out", str(planfile))
    assert saved.returncode == 0, saved.stderr
    applied = cli("apply", str(planfile))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert await authenticates(kafka_scram, name, first, "SCRAM-SHA-512")
    assert await authenticates(kafka_scram, name, first, "SCRAM-SHA-256")
    assert not await authenticates(kafka_scram, name, "wrong", "SCRAM-SHA-512")

    # A changed password is invisible to a plan; --rotate-credentials applies it.
    cli.env[variable] = second
    assert cli("plan", "-f", str(spec), "--detailed-exitcode").returncode == 0
    rotated = cli("apply", "-f", str(spec), "--auto-approve", "--rotate-credentials")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert await authenticates(kafka_scram, name, second, "SCRAM-SHA-512")
    assert not await authenticates(kafka_scram, name, first, "SCRAM-SHA-512")

    # The tool's own connection user (also a super user) is refused at plan time.
    own = {
        "name": "admin",
        "password": {"fromEnv": variable},
        "credentials": [{"mechanism": "SCRAM-SHA-256", "iterations": 4097}],
    }
    guarded = write_spec(tmp_path / "own.yaml", kafka_scram, {"users": [own]})
    refused = cli("plan", "-f", str(guarded))
    assert refused.returncode == 1
    assert "the user this tool connects as" in refused.stdout + refused.stderr

    # Unlisted but owned: reported, removed only with --allow-delete; then kcat fails.
    write_spec(spec, kafka_scram, {"ownership": ownership})
    kept = cli("apply", "-f", str(spec), "--auto-approve")
    assert kept.returncode == 0 and "--allow-delete" in kept.stdout + kept.stderr
    assert await authenticates(kafka_scram, name, second, "SCRAM-SHA-512")
    removed = cli("apply", "-f", str(spec), "--auto-approve", "--allow-delete")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not await authenticates(kafka_scram, name, second, "SCRAM-SHA-512")

    everything = "\n".join([*cli.outputs, planfile.read_text(encoding="utf-8")])
    assert first not in everything and second not in everything
