"""Helpers for the GitOps acceptance tests: the CLI as a subprocess against sandbox clusters.

Every test writes its own spec into ``tmp_path`` with unique topic names, and runs
``llm-analytics`` exactly as a CI job would (a separate process, options from the
environment, logs on stderr).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# One line of a job log: "12:34:56 ..." or "12:34:56.789 ...".
STAMP = re.compile(r"^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}))? (.*)$")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cli_env(bootstrap: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_ANALYTICS_")}
    if bootstrap:
        env["LLM_ANALYTICS_BOOTSTRAP_SERVERS"] = bootstrap
    env.update(extra or {})
    return env


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler.cli.main", *args]


def run_cli(
    *args: str,
    bootstrap: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 180,
) -> Result:
    done = subprocess.run(
        cli_argv(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(bootstrap, extra_env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def write_spec(
    path: Path,
    topics: Sequence[Mapping[str, Any]],
    *,
    prefixes: Sequence[str] = (),
    security: Mapping[str, Any] | None = None,
    name: str = "gitops-test",
) -> Path:
    """A spec for the single-node sandboxes (replication factor 1)."""
    connection: dict[str, Any] = {"bootstrapServers": "overridden-by-env:9092"}
    if security:
        connection["security"] = dict(security)
    document = {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": name},
        "kafka": {
            "connection": connection,
            "defaults": {"replicationFactor": 1},
            "topics": [dict(t) for t in topics],
            "ownership": {"topics": {"prefixes": list(prefixes)}},
        },
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def admin_call(config: Mapping[str, Any], method: str, *args: Any, **kwargs: Any) -> Any:
    """One KafkaAdmin call from synchronous test code."""
    from reconciler.providers.kafka.client import KafkaAdmin

    async def call() -> Any:
        async with KafkaAdmin(dict(config)) as admin:
            return await getattr(admin, method)(*args, **kwargs)

    return asyncio.run(call())


def topic_configs(config: Mapping[str, Any], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    state = admin_call(config, "cluster_state", topics=list(names))
    return {
        name: {key: c.value for key, c in topic.configs.items()}
        for name, topic in state.topics.items()
    }


def stamped(text: str) -> list[tuple[float, str]]:
    """(seconds since midnight, message) of every time-stamped log line."""
    lines = []
    for line in text.splitlines():
        match = STAMP.match(line)
        if match:
            hours, minutes, seconds, millis, message = match.groups()
            at = int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis or 0) / 1000
            lines.append((at, message))
    return lines
