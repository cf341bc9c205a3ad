"""The cost of a replication-factor change, measured and throttled on the real three-broker
cluster: bytes to copy against DescribeLogDirs after the move, the duration under
``--throttle`` against the plan's ETA, and no throttle config left behind (ConfigCommand)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.sandbox import KafkaSandbox
from tests.integration.gitops.conftest import admin_call, cli_argv, cli_env, run_cli
from tests.integration.kafka.test_faults import _produce, converged, spec

pytestmark = pytest.mark.integration

PRODUCED = 12_000_000  # incompressible bytes, one partition
THROTTLE = 1024 * 1024  # 1 MiB/s: the leader sends 2 x 12 MB, about 23 s


def test_rf_1_to_3_bytes_eta_and_throttle(
    kafka_cluster: KafkaSandbox, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    config = kafka_cluster.client_config()
    prefix = unique_name("impact")
    name = f"{prefix}-t"
    try:
        _check(kafka_cluster, config, tmp_path, prefix, name)
    finally:  # the cluster is shared
        admin_call(config, "delete_topics", [name])


def _check(
    kafka: KafkaSandbox, config: dict[str, object], tmp_path: Path, prefix: str, name: str
) -> None:
    one = spec(tmp_path / "rf1.yaml", kafka, prefix,
               [{"name": name, "partitions": 1, "replicationFactor": 1}])  # fmt: skip
    converged(one)  # reruns apply until the plan is empty (metadata can lag under load)
    asyncio.run(_produce(dict(config), name, 1, PRODUCED))
    three = spec(tmp_path / "rf3.yaml", kafka, prefix,
                 [{"name": name, "partitions": 1, "replicationFactor": 3}])  # fmt: skip

    planned = run_cli("plan", "-f", str(three), "-o", "json", "--throttle", "1MiB/s")
    assert planned.code == 0, planned.output
    (change,) = json.loads(planned.stdout)["changes"]
    impact = change["impact"]
    assert impact["throttle_bytes_per_second"] == THROTTLE
    assert sorted(impact["partitions_moving"]["0"]["receiving"]) == sorted(
        int(b) for b in impact["receiving_brokers"]
    )
    markdown = run_cli("plan", "-f", str(three), "-o", "markdown", "--throttle", "1MiB/s").stdout
    assert "**Impact:**" in markdown.split("| Action |")[0], markdown

    # The reassignment's duration, watched from outside while apply runs.
    apply = subprocess.Popen(
        cli_argv("apply", "-f", str(three), "--auto-approve", "--throttle", "1MiB/s"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        env=cli_env(), text=True,
    )  # fmt: skip
    started = ended = None
    while apply.poll() is None:
        ongoing = (name, 0) in admin_call(config, "list_reassignments")
        now = time.monotonic()
        if ongoing and started is None:
            started = now
        if not ongoing and started is not None and ended is None:
            ended = now
        time.sleep(0.5)
    if started is not None and ended is None:  # it ended between the last poll and the exit
        ended = time.monotonic()
    stderr = apply.stderr.read() if apply.stderr else ""
    assert apply.returncode == 0, stderr
    assert started is not None and ended is not None, stderr
    took = ended - started

    # Bytes: what the new replicas hold now, from DescribeLogDirs, within 10 %.
    receiving = [int(b) for b in impact["receiving_brokers"]]
    sizes = {b: admin_call(config, "replica_sizes", {b: {name: [0]}}) for b in receiving}
    moved = sum(size for answer in sizes.values() for size in answer.values())
    assert abs(impact["bytes_to_move"] - moved) <= 0.10 * moved, (impact, sizes)
    # Duration: within the ETA +-50 %.
    eta = impact["eta_seconds"]
    assert 0.5 * eta <= took <= 1.5 * eta, (took, eta, stderr)

    # Nothing of the throttle is left: broker rates and the topic's replica lists.
    bootstrap = kafka.bootstrap_servers
    tool = "org.apache.kafka.tools.ConfigCommand"
    brokers = kafka.run_tool(tool, "--bootstrap-server", bootstrap, "--describe",
                             "--entity-type", "brokers")  # fmt: skip
    topic = kafka.run_tool(tool, "--bootstrap-server", bootstrap, "--describe",
                           "--entity-type", "topics", "--entity-name", name)  # fmt: skip
    assert "throttled" not in brokers, brokers
    assert "throttled" not in topic, topic
