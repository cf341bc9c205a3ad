"""Acceptance: a SASL password given through the spec (``{fromEnv: ...}``) never shows up in
any output or file of a full plan/apply/show/drift run, with --debug."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox.kafka import SECURE_USERS, SUPER_USER
from tests.integration.gitops.conftest import Result, run_cli, write_spec

pytestmark = pytest.mark.integration


def test_the_sasl_password_never_leaks(
    kafka_secure: Any, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    password = SECURE_USERS[SUPER_USER]
    env = {"KAFKA_ADMIN_PASSWORD": password, "LLM_ANALYTICS_DEBUG": "1"}
    bootstrap = kafka_secure.bootstrap_servers
    prefix = unique_name("secret")
    security = {
        "protocol": "SASL_PLAINTEXT",
        "sasl": {
            "mechanism": "PLAIN",
            "username": SUPER_USER,
            "password": {"fromEnv": "KAFKA_ADMIN_PASSWORD"},
        },
    }
    spec = write_spec(
        tmp_path / "cluster-spec.yaml",
        [{"name": f"{prefix}-a", "partitions": 1, "config": {"retention.ms": "1d"}}],
        prefixes=[prefix],
        security=security,
    )
    planfile = tmp_path / "cluster.plan.json"
    prom = tmp_path / "drift.prom"

    def cli(*args: str) -> Result:
        return run_cli("--debug", *args, bootstrap=bootstrap, extra_env=env)

    runs = {
        "plan --out": cli("plan", "-f", str(spec), "--out", str(planfile)),
        "plan json": cli("plan", "-f", str(spec), "-o", "json"),
        "plan markdown": cli("plan", "-f", str(spec), "-o", "markdown"),
        "show": cli("show", str(planfile)),
        "show json": cli("show", str(planfile), "-o", "json"),
        "apply planfile": cli("apply", str(planfile)),
        "drift": cli("drift", "-f", str(spec), "--metrics-file", str(prom)),
        "drift json": cli("drift", "-f", str(spec), "-o", "json"),
        "apply spec": cli("apply", "-f", str(spec), "--auto-approve"),
    }
    wrong = cli("plan", "-f", str(spec))  # also a failing run: a wrong password
    wrong_env = dict(env, KAFKA_ADMIN_PASSWORD="not-the-" + password)
    failing = run_cli("--debug", "plan", "-f", str(spec), bootstrap=bootstrap, extra_env=wrong_env)

    assert runs["plan --out"].code == 0, runs["plan --out"].output
    assert runs["apply planfile"].code == 0, runs["apply planfile"].output
    assert runs["drift"].code == 0, runs["drift"].output
    assert failing.code == 1
    # --debug really logged the client's conversation (so there was something to leak).
    assert "DEBUG" in runs["apply planfile"].stderr
    outputs = {
        **{
            f"{name} {stream}": text
            for name, result in runs.items()
            for stream, text in (("stdout", result.stdout), ("stderr", result.stderr))
        },
        "wrong password run": failing.output + wrong.output,
        "plan file": planfile.read_text(),
        "metrics file": prom.read_text(),
    }
    for where, text in outputs.items():
        assert password not in text, f"the password leaked into {where}"
    assert "not-the-" + password not in failing.output
