"""Redis TLS + ACL users over Kubernetes exec, end to end on the sandbox's kube-apiserver.

The pods' redis-servers run with ``tls-port`` 6379 (``port 0``), ``tls-cluster`` and
``tls-replication`` on, ``tls-auth-clients yes`` (redis-cli needs the client certificate)
and ACL users (``default`` off; replicas log in as ``replication``). kwok's exec runs the
command on this host, so the "in-pod" paths of ``tls.inPod`` are the sandbox's certificate
files. The tool runs as a subprocess with the ServiceAccount token bound to the examples'
Role: ``redis init -n NS`` and ``redis verify -n NS`` take TLS and credentials from the
environment only; ``apply`` grows 3 -> 4 masters and back from a spec, and every key stays.

Secrets: the exec URLs the CLI sends are recorded (:class:`ExecUrls`); the process list is
sampled while the tool runs (the redis-servers and every ``sh``/``redis-cli`` that exec
starts); the CLI's output is read: no password in any of them.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from reconciler.sandbox.kubernetes import RedisPods
from reconciler.sandbox.redis import standard_acl_users
from tests.integration.redis.keys import user_key_count
from tests.integration.redis.security import PASSWORD_ENV, ExecUrls, Run, leaked, run_cli

pytestmark = pytest.mark.integration

KEYS = 5_000


class ProcessList:
    """Every command line seen under /proc while active, sampled by a thread: all processes
    at the start and at the end, and in between (every 2 ms) those started since."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _read(self, pids: Iterable[str]) -> None:
        for pid in pids:
            try:
                raw = Path("/proc", pid, "cmdline").read_bytes()
            except OSError:
                continue  # gone already
            if raw:
                self.seen.add(raw.replace(b"\x00", b" ").decode(errors="replace"))

    @staticmethod
    def _pids() -> set[str]:
        return {name for name in os.listdir("/proc") if name.isdigit()}

    def _sample(self) -> None:
        old = self._pids()
        self._read(old)
        while not self._stop.is_set():
            self._read(self._pids() - old)  # exec's sh and redis-cli live for milliseconds
            self._stop.wait(0.002)
        self._read(self._pids())

    @contextmanager
    def watching(self) -> Iterator[ProcessList]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(10)


def tls_env(pods: RedisPods, user: str = "ops") -> dict[str, str]:
    """``-n NS`` without a spec: TLS (in-pod files), user and password from the environment."""
    assert pods.tls is not None
    return {
        "LLM_ANALYTICS_REDIS_USERNAME": user,
        PASSWORD_ENV: next(u.password for u in pods.acl_users if u.name == user),
        "LLM_ANALYTICS_REDIS_POD_CAFILE": str(pods.tls.ca_file),
        "LLM_ANALYTICS_REDIS_POD_CERTFILE": str(pods.tls.client_cert),
        "LLM_ANALYTICS_REDIS_POD_KEYFILE": str(pods.tls.client_key),
    }


def write_spec(path: Path, pods: RedisPods, masters: int) -> Path:
    assert pods.tls is not None
    files = {
        "caFile": str(pods.tls.ca_file),
        "certFile": str(pods.tls.client_cert),
        "keyFile": str(pods.tls.client_key),
    }
    connection = {
        "kubernetes": {"namespace": pods.namespace, "readyTimeoutSeconds": 20},
        "username": "ops",
        "password": {"fromEnv": PASSWORD_ENV},
        "tls": {"enabled": True, "inPod": files},
    }
    document = {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": "exec-tls"},
        "redis": {"connection": connection, "cluster": {"masters": masters}},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def cluster_check(pods: RedisPods, address: str) -> None:
    """``redis-cli --cluster check`` over TLS as the admin user: no [ERR]/[WARNING]."""
    env = {**os.environ, "REDISCLI_AUTH": pods.admin_password or ""}
    argv = ["redis-cli", "--cluster", "check", address, *pods.cli_args()]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "[ERR]" not in output and "[WARNING]" not in output, output
    assert "[OK] All 16384 slots covered." in output, output


def load_keys(pods: RedisPods, count: int) -> dict[str, str]:
    from redis.cluster import RedisCluster

    host, port = pods.addresses()[0].split(":")
    values = {f"key:{i}": f"value-{i}-{random.random()}" for i in range(count)}
    with RedisCluster(host=host, port=int(port), **pods.client_kwargs()) as client:
        pipe = client.pipeline()
        for key, value in values.items():
            pipe.set(key, value)
        pipe.execute()
    return values


def check_data(pods: RedisPods, values: dict[str, str]) -> str:
    """Every key counted once on the masters, 500 sampled values read back (over TLS, each
    pod's certificate checked against its IP); a member's address (nodes removed by the
    layout are left alone in their own cluster)."""
    import redis
    from redis.cluster import RedisCluster

    total, members = 0, []
    for address in pods.addresses():
        host, port = address.split(":")
        with redis.Redis(host=host, port=int(port), **pods.client_kwargs()) as node:
            if node.execute_command("ROLE")[0] == b"master":
                total += user_key_count(node)
            if "cluster_known_nodes:1\r" not in node.execute_command("CLUSTER", "INFO").decode():
                members.append(address)
    assert total == len(values), f"{total} keys on the masters, {len(values)} written"
    host, port = members[0].split(":")
    sample = random.sample(sorted(values), 500)
    with RedisCluster(host=host, port=int(port), **pods.client_kwargs()) as client:
        got = client.mget_nonatomic(sample)
    assert [g.decode() for g in got] == [values[k] for k in sample]
    return members[0]


async def test_tls_and_acl_users_over_exec_init_verify_grow_and_shrink(
    redis_pods: Callable[..., RedisPods], tmp_path: Path
) -> None:
    users = standard_acl_users(prefix="exectls-")
    pods = redis_pods(6, acl_users=users, tls=True, tls_auth_clients="yes")
    assert pods.tls is not None and pods.admin_user == "ops"
    recorder = ExecUrls(tmp_path / "recorder")
    runs: list[Run] = []

    async def cli(*args: str, env: dict[str, str]) -> Run:
        run = await asyncio.to_thread(run_cli, *args, env={**env, **recorder.env})
        runs.append(run)
        return run

    ops = tls_env(pods)
    with ProcessList().watching() as processes:
        init = await cli("redis", "init", "-n", pods.namespace, "--password-env", PASSWORD_ENV,
                         "--yes", env=ops)  # fmt: skip
        assert init.code == 0, init.output
        cluster_check(pods, pods.addresses()[0])
        for user in ("ops", "verify"):  # verify: the read-only ACL user is enough
            verify = await cli("redis", "verify", "-n", pods.namespace, "--password-env",
                               PASSWORD_ENV, env=tls_env(pods, user))  # fmt: skip
            assert verify.code == 0, verify.output
            assert "verification passed" in verify.output, verify.output

        values = await asyncio.to_thread(load_keys, pods, KEYS)
        pods.add(2)
        grow = write_spec(tmp_path / "grow.yaml", pods, masters=4)
        secret = {PASSWORD_ENV: ops[PASSWORD_ENV]}
        applied = await cli("apply", "-f", str(grow), "--target", "redis", "--auto-approve",
                            env=secret)  # fmt: skip
        assert applied.code == 0, applied.output
        assert "redis_slots." in applied.output
        cluster_check(pods, pods.addresses()[0])
        await asyncio.to_thread(check_data, pods, values)

        # 4 -> 3: the slots move back (MIGRATE ... AUTH2 over TLS) and a master leaves.
        shrink = write_spec(tmp_path / "shrink.yaml", pods, masters=3)
        shrunk = await cli("apply", "-f", str(shrink), "--target", "redis", "--auto-approve",
                           "--allow-delete", env=secret)  # fmt: skip
        assert shrunk.code == 0, shrunk.output
        member = await asyncio.to_thread(check_data, pods, values)
        cluster_check(pods, member)
        again = await cli("plan", "-f", str(shrink), "--target", "redis", "--allow-delete",
                          "--detailed-exitcode", env=secret)  # fmt: skip
        assert again.code == 0, again.output  # nothing left to do
        verified = await cli("redis", "verify", "-f", str(shrink), env=secret)
        assert verified.code == 0, verified.output

    passwords = [u.password for u in users]
    urls = recorder.urls()
    assert urls and any("stdin=true" in u.lower() for u in urls)
    for password in passwords:
        assert leaked(urls, password) == [], "a password in an exec URL"
        assert [r.argv for r in runs if password in r.output] == [], "a password in output"
        assert [c for c in processes.seen if password in c] == [], "a password in argv"
    # The sampler saw the pods' servers and redis-cli runs with the in-pod TLS files.
    pod_ips = [p.ip for p in pods.pods.values()]
    servers = [c for c in processes.seen if "redis-server" in c and any(i in c for i in pod_ips)]
    assert servers, sorted(processes.seen)[:50]
    clients = [c for c in processes.seen if "redis-cli" in c and any(ip in c for ip in pod_ips)]
    assert any(f"--cacert {pods.tls.ca_file}" in c and "--tls" in c for c in clients), clients
    assert any("--user ops" in c for c in clients), clients


@pytest.mark.parametrize("problem", ["untrusted-ca", "no-client-certificate"])
async def test_tls_failures_over_exec_are_one_clear_error(
    problem: str, redis_pods: Callable[..., RedisPods], tmp_path: Path
) -> None:
    from reconciler.sandbox import redis_tls

    users = standard_acl_users(prefix="exectls-bad-")
    pods = redis_pods(3, acl_users=users, tls=True, tls_auth_clients="yes")
    env = tls_env(pods)
    if problem == "untrusted-ca":
        other = redis_tls.generate(tmp_path / "other-ca")
        env["LLM_ANALYTICS_REDIS_POD_CAFILE"] = str(other.ca_file)
    else:
        del env["LLM_ANALYTICS_REDIS_POD_CERTFILE"], env["LLM_ANALYTICS_REDIS_POD_KEYFILE"]
    run = await asyncio.to_thread(
        run_cli, "redis", "verify", "-n", pods.namespace, "--password-env", PASSWORD_ENV, env=env
    )
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert "cannot reach redis-cluster-" in run.output, run.output  # the pod is named
    cause = "TLS certificate not trusted" if problem == "untrusted-ca" else "TLS: the node closed"
    assert cause in run.output, run.output
    assert all(u.password not in run.output for u in users)
