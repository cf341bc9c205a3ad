"""``llm-analytics validate``: exit codes, text and JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli.errors import run_cli
from reconciler.cli.main import cli

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = REPO_ROOT / "cluster-spec.example.yaml"

VALID = """\
apiVersion: llm-analytics/v1
kind: ClusterSpec
metadata: {name: t}
kafka:
  connection: {bootstrapServers: "k:9092"}
  topics: [{name: a.b}, {name: a_b}]
"""
INVALID = """\
apiVersion: llm-analytics/v1
kind: ClusterSpec
metadata: {name: t}
kafka:
  connection: {bootstrapServers: "k:9092"}
  topics:
    - {name: a, partitions: zero}
    - {name: 'b c'}
"""


@pytest.fixture(autouse=True)
def _no_spec_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LLM_ANALYTICS_ENV", "LLM_ANALYTICS_SPEC", "KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_valid_spec_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID)
    assert run_cli(cli, ["validate", "-f", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"✓ {path} is valid (2 topics, 0 ACL rules, no redis)\n"
    assert f"{path}:6:32: warning: kafka.topics[1].name:" in err


def test_invalid_spec_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, INVALID)
    assert run_cli(cli, ["validate", "-f", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{path}:7:29: kafka.topics[0].partitions: expected an integer, got the string 'zero'",
        f"{path}:8:14: kafka.topics[1].name: illegal character(s) ' ' in topic name "
        "(allowed: letters, digits, '.', '_', '-')",
        f"✗ {path} is invalid (2 errors)",
    ]


def test_json_output_of_an_invalid_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, INVALID)
    assert run_cli(cli, ["validate", "-f", str(path), "-o", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["format_version"] == "1.0"
    assert report["valid"] is False and report["env"] is None and report["file"] == str(path)
    assert report["errors"][0] == {
        "file": str(path),
        "line": 7,
        "column": 29,
        "path": "kafka.topics[0].partitions",
        "message": "expected an integer, got the string 'zero'",
    }
    assert report["warnings"] == []


def test_json_alias_and_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID)
    assert run_cli(cli, ["validate", "-f", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is True and report["errors"] == []
    assert [(w["line"], w["column"]) for w in report["warnings"]] == [(6, 32)]


def test_environment_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli, ["validate", "-f", str(EXAMPLE), "--env", "local"]) == 0
    out = capsys.readouterr().out
    assert "(14 topics, " in out and "redis 3×1, env local)" in out
    assert run_cli(cli, ["validate", "-f", str(EXAMPLE), "--env", "staging", "-o", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["env"] == "staging"
    assert "unknown environment 'staging' (known: local, prod)" in report["errors"][0]["message"]


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert run_cli(cli, ["validate", "-f", str(missing)]) == 1
    assert f"{missing}: cannot read the file" in capsys.readouterr().err


@pytest.mark.parametrize("env", [None, "local", "prod"])
def test_example_is_valid_through_the_installed_command(env: str | None) -> None:
    script = Path(sys.executable).with_name("llm-analytics")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "reconciler.cli.main"]
    args = ["validate", "-f", "cluster-spec.example.yaml", *(["--env", env] if env else [])]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LLM_ANALYTICS_")}
    result = subprocess.run(
        [*command, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("✓ cluster-spec.example.yaml is valid (14 topics")
