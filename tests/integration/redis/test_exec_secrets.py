"""Redis passwords over Kubernetes exec: never in an exec URL (audit logs) or an argv.

Runs on the Kubernetes harness the other Redis tests use (the sandbox's kube-apiserver +
kwok, whose exec really runs the command); every Redis node is a real redis-server with
requirepass + masterauth. The exec URLs are recorded as the CLI sends them
(:class:`tests.integration.redis.security.ExecUrls`).
"""

from __future__ import annotations

import asyncio
import os
import random
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.redis.conftest import cluster_check
from tests.integration.redis.keys import user_key_count
from tests.integration.redis.security import PASSWORD_ENV, ExecUrls, leaked, run_cli

pytestmark = pytest.mark.integration

PASSWORD = "exec-Secret-7f3b1d9e"
KEYS = 50_000


def write_spec(path: Path, namespace: str, *, masters: int, pod_env: bool = False) -> Path:
    kube: dict[str, Any] = {"namespace": namespace, "readyTimeoutSeconds": 20}
    connection: dict[str, Any] = {"kubernetes": kube}
    if pod_env:
        kube["podPasswordEnv"] = "REDIS_PASSWORD"
    else:
        connection["password"] = {"fromEnv": PASSWORD_ENV}
    document = {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": "exec-secrets"},
        "redis": {"connection": connection, "cluster": {"masters": masters}},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def load_keys(address: str, count: int) -> dict[str, str]:
    from redis.cluster import RedisCluster

    host, port = address.split(":")
    client = RedisCluster(host=host, port=int(port), password=PASSWORD)
    values = {f"key:{i}": f"value-{i}-{random.random()}" for i in range(count)}
    items = list(values.items())
    for start in range(0, len(items), 5000):
        pipe = client.pipeline()
        for key, value in items[start : start + 5000]:
            pipe.set(key, value)
        pipe.execute()
    client.close()
    return values


def check_data(addresses: list[str], values: dict[str, str]) -> str:
    """Every key counted once (DBSIZE over the masters) and 500 sampled values read back;
    returns the address of a cluster member (nodes the layout removed are left empty)."""
    import redis
    from redis.cluster import RedisCluster

    total = 0
    members = []
    for address in addresses:
        host, port = address.split(":")
        with redis.Redis(host=host, port=int(port), password=PASSWORD) as node:
            if node.execute_command("ROLE")[0] == b"master":
                total += user_key_count(node)
            info = node.execute_command("CLUSTER", "INFO").decode()
            if "cluster_known_nodes:1\r" not in info:
                members.append(address)
    assert total == len(values), f"{total} keys on the masters, {len(values)} written"
    host, port = members[0].split(":")
    client = RedisCluster(host=host, port=int(port), password=PASSWORD)
    sample = random.sample(sorted(values), 500)
    assert [g.decode() for g in client.mget_nonatomic(sample)] == [values[k] for k in sample]
    client.close()
    return members[0]


@pytest.mark.parametrize("pod_env", [False, True], ids=["stdin", "pod-env"])
async def test_init_and_reshard_over_exec_keep_the_password_out_of_urls(
    pod_env: bool,
    redis_pods: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pods = redis_pods(6, password=PASSWORD)
    recorder = ExecUrls(tmp_path / "recorder")
    if pod_env:
        pytest.skip(
            "the kwok pods of the Kubernetes sandbox have no container environment to put "
            "REDIS_PASSWORD in (exec runs on the host); podPasswordEnv is covered by the unit "
            "tests and was tested against the former simulator"
        )
    monkeypatch.delenv("REDIS_PASSWORD", raising=False)
    env = {PASSWORD_ENV: PASSWORD, **recorder.env}
    spec = write_spec(tmp_path / "spec.yaml", pods.namespace, masters=3, pod_env=pod_env)

    init = await asyncio.to_thread(run_cli, "redis", "init", "-f", str(spec), "--yes", env=env)
    assert init.code == 0, init.output
    cluster_check(pods.addresses()[0], password=PASSWORD)
    verify = await asyncio.to_thread(run_cli, "redis", "verify", "-f", str(spec), env=env)
    assert verify.code == 0, verify.output

    values = await asyncio.to_thread(load_keys, pods.addresses()[0], KEYS)
    pods.add(2)
    grow = write_spec(tmp_path / "grow.yaml", pods.namespace, masters=4, pod_env=pod_env)
    applied = await asyncio.to_thread(
        run_cli, "apply", "-f", str(grow), "--target", "redis", "--auto-approve", env=env
    )
    assert applied.code == 0, applied.output
    assert "redis_slots." in applied.output
    cluster_check(pods.addresses()[0], password=PASSWORD)
    await asyncio.to_thread(check_data, pods.addresses(), values)

    # 4 -> 3: slots move back (MIGRATE with the password, over exec) and a master leaves.
    shrink = write_spec(tmp_path / "shrink.yaml", pods.namespace, masters=3, pod_env=pod_env)
    shrunk = await asyncio.to_thread(
        run_cli,
        "apply", "-f", str(shrink), "--target", "redis", "--auto-approve", "--allow-delete",
        env=env,
    )  # fmt: skip
    assert shrunk.code == 0, shrunk.output
    assert "redis_slots." in shrunk.output
    member = await asyncio.to_thread(check_data, pods.addresses(), values)
    cluster_check(member, password=PASSWORD)
    again = await asyncio.to_thread(
        run_cli,
        "plan", "-f", str(shrink), "--target", "redis", "--allow-delete", "--detailed-exitcode",
        env=env,
    )  # fmt: skip
    assert again.code == 0, again.output  # 0: no changes

    urls = recorder.urls()
    assert urls and any("stdin=true" in u.lower() for u in urls)
    assert any("MIGRATE" in urllib.parse.unquote(u) for u in urls) is False  # on stdin
    assert leaked(urls, PASSWORD) == []
    for run in (init, verify, applied, shrunk, again):
        assert PASSWORD not in run.output


async def test_no_password_in_the_exec_url_on_failure(
    redis_pods: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pods = redis_pods(3, password=PASSWORD)
    recorder = ExecUrls(tmp_path / "recorder")
    spec = write_spec(tmp_path / "spec.yaml", pods.namespace, masters=3)
    wrong = "wrong-Exec-Password-55"
    run = await asyncio.to_thread(
        run_cli, "redis", "verify", "-f", str(spec), env={PASSWORD_ENV: wrong, **recorder.env}
    )
    assert run.code == 1, run.output
    assert "authentication failed" in run.output and "Traceback" not in run.output
    assert wrong not in run.output
    urls = recorder.urls()
    assert urls and leaked(urls, wrong) == []
    assert os.environ.get("REDISCLI_AUTH") is None
