"""No Redis password in any output: the Redis commands with --debug, -o json / markdown, a
saved plan applied with key moves (MIGRATE ... AUTH2), drift metrics, and failures.

Every stdout, stderr and file written is searched for every password of the sandbox (and
for a wrong one that was tried): zero hits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox.redis import standard_acl_users
from tests.integration.redis.security import (
    PASSWORD_ENV,
    Run,
    load_keys,
    password_env,
    run_cli,
    write_spec,
)

pytestmark = pytest.mark.integration


def secrets_of(sandbox: Any) -> list[str]:
    found = [p for p in sandbox.users.values()]
    if sandbox.password:
        found.append(sandbox.password)
    return found


def hits(texts: dict[str, str], secrets: list[str]) -> list[str]:
    return [
        f"{where}: {secret}"
        for where, text in texts.items()
        for secret in secrets
        if secret in text
    ]


@pytest.mark.parametrize(
    "options",
    [
        {"password": "Leak-requirepass-0c41a7"},
        {"acl_users": standard_acl_users("Leak-acl-")},
    ],
    ids=["requirepass", "acl"],
)
def test_no_password_in_any_output(
    options: dict[str, Any], redis_factory: Any, tmp_path: Path
) -> None:
    sandbox = redis_factory(nodes=6, **options)
    env = password_env(sandbox)
    spec = write_spec(tmp_path / "spec.yaml", sandbox)
    runs: list[Run] = []

    def cli(*args: str, expect: int | None = 0, with_env: dict[str, str] | None = None) -> Run:
        run = run_cli("--debug", *args, env=env if with_env is None else with_env)
        runs.append(run)
        if expect is not None:
            assert run.code == expect, run.output
        return run

    cli("redis", "init", "-f", str(spec), "--yes", "-o", "json")
    cli("redis", "verify", "-f", str(spec))
    cli("redis", "verify", "-f", str(spec), "-o", "json")
    if "verify" in sandbox.users:
        ro = write_spec(tmp_path / "ro.yaml", sandbox, user="verify")
        cli("redis", "verify", "-f", str(ro), with_env=password_env(sandbox, "verify"))
    cli("plan", "-f", str(spec), "--target", "redis", "-o", "json")

    load_keys(sandbox, sandbox.addresses[0], 5000)
    sandbox.add_nodes(2)
    grow = write_spec(tmp_path / "grow.yaml", sandbox, masters=4)
    plan_file = tmp_path / "plan.json"
    cli("plan", "-f", str(grow), "--target", "redis", "-o", "markdown", "--out", str(plan_file))
    cli("show", str(plan_file), "-o", "json")
    cli("apply", str(plan_file), "--auto-approve")  # moves keys: MIGRATE ... AUTH/AUTH2
    metrics = tmp_path / "drift.prom"
    cli(
        "drift",
        "-f",
        str(grow),
        "--target",
        "redis",
        "-o",
        "json",
        "--metrics-file",
        str(metrics),
        expect=None,
    )
    wrong = "Leak-wrong-password-9d2e"
    failed = cli("redis", "verify", "-f", str(spec), expect=1, with_env={PASSWORD_ENV: wrong})
    assert "authentication failed" in failed.output
    # --debug prints the traceback of a failure on purpose: it is searched like the rest.
    cli("plan", "-f", str(spec), "--target", "redis", expect=1, with_env={PASSWORD_ENV: wrong})

    texts = {f"{' '.join(r.argv[1:4])} stdout": r.stdout for r in runs}
    texts |= {f"{' '.join(r.argv[1:4])} stderr": r.stderr for r in runs}
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".yaml":
            texts[str(path)] = path.read_text(errors="replace")
    assert plan_file.exists() and metrics.exists()
    assert hits(texts, [*secrets_of(sandbox), wrong]) == []
