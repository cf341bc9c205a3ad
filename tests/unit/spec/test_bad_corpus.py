"""The corpus of bad specs: each file fails with a located message, quickly, without a traceback.

Every file in tests/specs/bad/ starts with ``# expect: LINE:COL fragment``: the position of its
first error and a fragment of its message.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from reconciler.errors import SpecError
from reconciler.spec.loading import load_spec

CORPUS = Path(__file__).resolve().parents[2] / "specs" / "bad"
REPO_ROOT = CORPUS.parents[2]
EXPECT = re.compile(rb"^# expect: (\d+):(\d+) (.+)$")
BAD_SPECS = sorted(CORPUS.glob("*.yaml"))


def expectation(path: Path) -> tuple[int, int, str]:
    first_line = path.read_bytes().split(b"\n", 1)[0]
    match = EXPECT.match(first_line)
    assert match, f"{path.name} lacks its '# expect: LINE:COL fragment' header"
    return int(match[1]), int(match[2]), match[3].decode()


def run_validate(path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SPEC_TEST_", "LLM_ANALYTICS_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli.main", "validate", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env=env,
        check=False,
    )


def test_the_corpus_is_large_enough() -> None:
    assert len(BAD_SPECS) >= 25


@pytest.mark.parametrize("path", BAD_SPECS, ids=[p.name for p in BAD_SPECS])
def test_loader_reports_the_expected_position_quickly(path: Path) -> None:
    line, column, fragment = expectation(path)
    started = time.perf_counter()
    with pytest.raises(SpecError) as raised:
        load_spec(path, environ={})
    elapsed = time.perf_counter() - started
    first = raised.value.issues[0]
    assert (first.line, first.column) == (line, column), str(first)
    assert fragment in first.message, str(first)
    assert "Traceback" not in str(raised.value)
    assert elapsed < 1.0, f"{path.name} took {elapsed:.2f}s"


@pytest.fixture(scope="module")
def command_results() -> dict[Path, subprocess.CompletedProcess[str]]:
    # One interpreter start-up per file is most of the time: run them side by side.
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(BAD_SPECS, pool.map(run_validate, BAD_SPECS), strict=True))


@pytest.mark.parametrize("path", BAD_SPECS, ids=[p.name for p in BAD_SPECS])
def test_validate_command_exits_1_with_a_located_message(
    path: Path, command_results: dict[Path, subprocess.CompletedProcess[str]]
) -> None:
    line, column, fragment = expectation(path)
    result = command_results[path]
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"{path}:{line}:{column}: " in result.stderr, output
    assert fragment in result.stderr
    assert "Traceback" not in output


@pytest.fixture(scope="module")
def fifty_megabytes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("huge") / "huge.yaml"
    chunk = b"# padding " + b"x" * 1013 + b"\n"
    with path.open("wb") as stream:
        for _ in range(50 * 1024):
            stream.write(chunk)
    assert path.stat().st_size >= 50 * 1024 * 1024
    return path


def test_fifty_megabyte_file_is_refused_in_process(fifty_megabytes: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(SpecError) as raised:
        load_spec(fifty_megabytes)
    assert time.perf_counter() - started < 1.0
    issue = raised.value.issues[0]
    assert (issue.line, issue.column) == (1, 1)
    assert "the file is 50.0 MB; a spec may be at most 16 MB" in issue.message


def test_fifty_megabyte_file_through_the_command(fifty_megabytes: Path) -> None:
    result = run_validate(fifty_megabytes)
    assert result.returncode == 1
    assert f"{fifty_megabytes}:1:1: the file is 50.0 MB" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
