"""What the Kafka integration tests run as processes: the tool's console entry point, a spec
file around a ``kafka:`` section, and Kafka's own ConfigCommand as the witness."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from reconciler.sandbox import KafkaSandbox

CONFIG_COMMAND = "org.apache.kafka.tools.ConfigCommand"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess (as a user or a CI job would)."""
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli.main", "--no-color", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


def write_spec(
    path: Path, sandbox: KafkaSandbox, kafka: dict[str, Any], *, name: str = "kafka-test"
) -> Path:
    """A spec connecting to ``sandbox`` with ``kafka`` as the rest of its Kafka section."""
    body = {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": name},
        "kafka": {"connection": {"bootstrapServers": sandbox.bootstrap_servers}, **kafka},
    }
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def config_command(sandbox: KafkaSandbox, *args: str) -> str:
    """Kafka's ``kafka-configs`` against ``sandbox``; its standard output."""
    return sandbox.run_tool(CONFIG_COMMAND, "--bootstrap-server", sandbox.bootstrap_servers, *args)
