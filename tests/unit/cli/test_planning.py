"""``plan``/``apply`` argument checks that fire before any cluster is contacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli.errors import run_cli
from reconciler.cli.main import cli

SPEC = """\
apiVersion: llm-analytics/v1
kind: ClusterSpec
metadata: {name: t}
kafka:
  connection: {bootstrapServers: "127.0.0.1:9"}
  topics: [{name: a}]
policies:
  - {name: rf-prod, minReplicationFactor: 3}
  - {name: no-loss, noDataLoss: true}
"""


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "LLM_ANALYTICS_ENV",
        "LLM_ANALYTICS_SPEC",
        "KAFKA_BOOTSTRAP",
        "LLM_ANALYTICS_APPROVE",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_an_approval_naming_no_rule_exits_1_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    argv = ["plan", "-f", str(spec)]
    if how == "flag":
        argv += ["--approve", "rf-prod,rf-prd"]
    else:
        monkeypatch.setenv("LLM_ANALYTICS_APPROVE", "rf-prd")
    assert run_cli(cli, argv) == 1
    _, err = capsys.readouterr()
    assert "names no policy rule: rf-prd" in err
    assert "the rules are: no-loss, rf-prod" in err
    assert "127.0.0.1:9" not in err  # refused before any connection was tried
    assert "Traceback" not in err


def test_a_bad_redis_move_rate_exits_1_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    assert run_cli(cli, ["plan", "-f", str(spec), "--redis-move-rate", "fast"]) == 1
    _, err = capsys.readouterr()
    assert "--redis-move-rate: cannot read 'fast' as a move rate" in err
    assert "127.0.0.1:9" not in err and "Traceback" not in err


def test_a_bad_move_rate_in_the_spec_is_a_spec_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        SPEC
        + "redis:\n  connection: {addresses: ['127.0.0.1:9']}\n  cluster: {moveRate: 0keys/s}\n"
    )
    assert run_cli(cli, ["validate", "-f", str(spec)]) == 1
    _, err = capsys.readouterr()
    assert "redis.cluster.moveRate" in err and "above 0 keys per second" in err


def test_a_fleet_accepts_an_approval_that_some_spec_defines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(SPEC)
    (tmp_path / "b.yaml").write_text(SPEC.split("policies:")[0].replace("name: t", "name: u"))
    run_cli(cli, ["plan", "-f", str(tmp_path), "--approve", "rf-prod"])
    _, err = capsys.readouterr()
    assert "names no policy rule" not in err  # b.yaml has no rule; a.yaml defines it
    assert run_cli(cli, ["plan", "-f", str(tmp_path), "--approve", "rf-prd"]) == 1
    _, err = capsys.readouterr()
    assert "names no policy rule: rf-prd; the rules are: no-loss, rf-prod" in err
