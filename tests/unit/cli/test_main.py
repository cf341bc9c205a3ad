"""The CLI skeleton: fast help without heavy imports, version, the single error path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import __version__
from reconciler.cli.main import COMMANDS, cli, main

HEAVY = ("aiokafka", "kubernetes_asyncio", "redis", "rich", "pydantic", "yaml")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_help_imports_no_heavy_module() -> None:
    probe = (
        "import sys\n"
        "from reconciler.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_help_lists_every_command_and_the_exit_codes() -> None:
    result = run("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout
    assert "refused for safety" in result.stdout


def test_version() -> None:
    assert run("--version").stdout.strip().endswith(__version__)


def test_every_lazy_command_resolves() -> None:
    import click

    context = click.Context(cli)
    for name in COMMANDS:
        assert isinstance(cli.get_command(context, name), click.Command), name


def test_user_error_is_one_message_and_exit_1_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = run("plan", "-f", str(missing))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error:") or "does not exist" in result.stderr


def test_unexpected_error_hint_and_traceback_only_with_debug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import click

    @cli.command("explode-for-test")
    def explode() -> None:
        raise RuntimeError("kaboom")

    try:
        with pytest.raises(SystemExit) as exited:
            main(["explode-for-test"])
        assert exited.value.code == 1
        err = capsys.readouterr().err
        assert "kaboom" in err and "--debug" in err and "Traceback" not in err
        with pytest.raises(SystemExit):
            main(["--debug", "explode-for-test"])
        assert "Traceback" in capsys.readouterr().err
    finally:
        cli.commands.pop("explode-for-test", None)
        assert isinstance(cli, click.Group)


def test_apply_takes_a_stall_timeout_in_seconds() -> None:
    assert "--stall-timeout SECONDS" in run("apply", "--help").stdout
    refused = run("apply", "-f", "x.yaml", "--stall-timeout", "0")
    assert refused.returncode == 1 and "--stall-timeout" in refused.stderr  # usage: exit 1
