"""Helpers for the Redis security tests: specs with credentials, the CLI as a subprocess,
redis-cli --cluster check with the sandbox's options, key loading and checking, and the
exec URLs the CLI sends over Kubernetes (:class:`ExecUrls`: a ``sitecustomize`` put on the
CLI's PYTHONPATH wraps kubernetes-asyncio's ``get_websocket_url``, through which every exec
request's final URL passes, and appends each URL to a file)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.sandbox import RedisSandbox
from tests.integration.redis.keys import user_key_count

PASSWORD_ENV = "T_REDIS_PASSWORD"

RECORDER = """\
import os
import kubernetes_asyncio.stream.ws_client as ws_client

_original = ws_client.get_websocket_url


def _recording(url, *args, **kwargs):
    final = _original(url, *args, **kwargs)
    with open(os.environ["T_EXEC_URL_LOG"], "a") as log:
        log.write(final + "\\n")
    return final


ws_client.get_websocket_url = _recording
"""


class ExecUrls:
    """The exec URLs the CLI subprocesses send (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "sitecustomize.py").write_text(RECORDER)
        self.log = directory / "urls.log"
        self.env = {
            "PYTHONPATH": os.pathsep.join(
                [str(directory), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "T_EXEC_URL_LOG": str(self.log),
        }

    def urls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def leaked(urls: list[str], secret: str) -> list[str]:
    forms = {secret, urllib.parse.quote(secret), urllib.parse.quote_plus(secret)}
    return [u for u in urls if any(f in u or f in urllib.parse.unquote(u) for f in forms)]


@dataclass
class Run:
    argv: list[str]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cli_binary() -> list[str]:
    script = Path(sys.executable).parent / "llm-analytics"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler.cli.main"]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
    """The console script in a subprocess: real stdout/stderr, like a user sees them."""
    argv = [*cli_binary(), *args]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    return Run(argv, done.returncode, done.stdout, done.stderr)


def connection(
    sandbox: RedisSandbox, *, user: str | None = None, addresses: list[str] | None = None
) -> dict[str, Any]:
    """The spec's redis.connection for the sandbox (the password from PASSWORD_ENV)."""
    name = user or sandbox.admin_user
    section: dict[str, Any] = {"addresses": list(addresses or sandbox.addresses)}
    if name is not None:
        section["username"] = name
    if sandbox.admin_password or (user and sandbox.users.get(user)):
        section["password"] = {"fromEnv": PASSWORD_ENV}
    if sandbox.tls is not None:
        section["tls"] = {
            "enabled": True,
            "caFile": str(sandbox.tls.ca_file),
            "certFile": str(sandbox.tls.client_cert),
            "keyFile": str(sandbox.tls.client_key),
        }
    return section


def password_env(sandbox: RedisSandbox, user: str | None = None) -> dict[str, str]:
    password = sandbox.users[user] if user else sandbox.admin_password
    return {PASSWORD_ENV: password} if password else {}


def write_spec(
    path: Path,
    sandbox: RedisSandbox,
    *,
    masters: int = 3,
    replicas: int = 1,
    user: str | None = None,
    addresses: list[str] | None = None,
) -> Path:
    document = {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": "redis-security"},
        "redis": {
            "connection": connection(sandbox, user=user, addresses=addresses),
            "cluster": {"masters": masters, "replicasPerMaster": replicas},
        },
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def cluster_check(sandbox: RedisSandbox, address: str) -> str:
    """``redis-cli --cluster check`` with the sandbox's --user/--tls options and password."""
    argv = ["redis-cli", "--cluster", "check", address, *sandbox.cli_args()]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=sandbox.cli_env())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "[ERR]" not in output and "[WARNING]" not in output, output
    assert "[OK] All 16384 slots covered." in output, output
    return output


def _cluster_client(sandbox: RedisSandbox, address: str) -> Any:
    from redis.cluster import RedisCluster

    host, port = address.rsplit(":", 1)
    return RedisCluster(host=host, port=int(port), **sandbox.client_kwargs())


def load_keys(sandbox: RedisSandbox, address: str, count: int) -> dict[str, str]:
    client = _cluster_client(sandbox, address)
    values = {f"key:{i}": f"value-{i}-{random.random()}" for i in range(count)}
    items = list(values.items())
    for start in range(0, len(items), 5000):
        pipe = client.pipeline()
        for key, value in items[start : start + 5000]:
            pipe.set(key, value)
        pipe.execute()
    client.close()
    return values


def master_addresses(sandbox: RedisSandbox) -> list[str]:
    """Masters that serve slots, from one node's CLUSTER NODES."""
    masters = []
    for port in list(sandbox.pids):
        text = sandbox.command(port, "CLUSTER", "NODES")
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 9 and "master" in parts[2] and "fail" not in parts[2]:
                masters.append(parts[1].split("@")[0])
        if masters:
            return masters
    return masters


def check_data(sandbox: RedisSandbox, values: dict[str, str]) -> None:
    """Every key counted on the masters; 1,000 sampled values read back."""
    import redis

    masters = master_addresses(sandbox)
    total = 0
    for master in masters:
        host, port = master.rsplit(":", 1)
        with redis.Redis(host=host, port=int(port), **sandbox.client_kwargs()) as node:
            total += user_key_count(node)
    client = _cluster_client(sandbox, masters[0])
    # apply leaves the lock's fencing-token key behind (tokens only grow), and the measured
    # move rate: not data, and not counted (user_key_count).
    assert total == len(values), (total, len(values), masters)
    sample = random.sample(sorted(values), 1000)
    got = client.mget_nonatomic(sample)
    client.close()
    assert [g.decode() if g is not None else None for g in got] == [values[k] for k in sample]


def json_of(run: Run) -> Any:
    assert run.stdout.strip(), run.output
    return json.loads(run.stdout)
