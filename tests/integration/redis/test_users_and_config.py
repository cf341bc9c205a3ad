"""``redis.users`` and ``redis.config`` on real Redis 7.0 and Valkey 8.1 (and over
Kubernetes exec): identical on every node, drift named by node, repairs on that node only,
the tool's own login protected, new nodes of a scale-out prepared before any slot moves."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from reconciler.cli.targets import ConnectionOverrides, open_providers
from reconciler.engine.applying import apply_plan
from reconciler.engine.plan import Change
from reconciler.engine.planning import build_plan
from reconciler.engine.providers import ApplyOptions, ChangeResult, PlanOptions, ResultStatus
from reconciler.sandbox import RedisSandbox
from reconciler.sandbox.redis import standard_acl_users
from reconciler.spec.models import ClusterSpec
from tests.integration.redis.security import connection, password_env, run_cli

pytestmark = pytest.mark.integration

APP_PASSWORD = "app-pw-6d1f0c2b9e"
DENIED_PASSWORD = "denied-pw-41aa7e"
SECRETS = {"T_APP_PASSWORD": APP_PASSWORD, "T_DENIED_PASSWORD": DENIED_PASSWORD}


def users_section(extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [
        {
            "name": "app",
            "passwords": [{"fromEnv": "T_APP_PASSWORD"}],
            "keys": ["app:*"],
            "channels": ["app-events"],
            "commands": ["+@read", "+@write", "-@dangerous", "+config|get"],
        },
        {
            "name": "denied",
            "passwords": [{"fromEnv": "T_DENIED_PASSWORD"}],
            "keys": ["*"],
            "commands": ["-@all"],
        },
        *(extra or []),
    ]


CONFIG = {"maxmemory": "64mb", "maxmemory-policy": "allkeys-lru", "timeout": 300}


def document(
    sandbox_connection: dict[str, Any],
    *,
    users: list[dict[str, Any]] | None = None,
    config: dict[str, Any] | None = None,
    masters: int = 3,
    deletion: str = "never",
) -> dict[str, Any]:
    redis_section: dict[str, Any] = {
        "connection": sandbox_connection,
        "cluster": {"masters": masters, "replicasPerMaster": 1},
        "users": users_section() if users is None else users,
        "config": CONFIG if config is None else config,
    }
    if deletion != "never":
        redis_section["ownership"] = {"users": {"deletion": deletion}}
    return {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": "redis-users"},
        "redis": redis_section,
    }


def write(path: Path, body: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def acl_lists(sandbox: RedisSandbox, ports: list[int] | None = None) -> dict[int, str]:
    """``ACL LIST`` of each node, each line's rules sorted: Redis 7.0 prints the per-command
    rules it expands categories into (``-@dangerous`` → ``-keys -sort_ro …``) in hash order,
    which differs from node to node even for users loaded from the same config file."""
    return {
        port: "\n".join(
            " ".join(sorted(line.split()))
            for line in sandbox.command(port, "ACL", "LIST").splitlines()
        )
        for port in (ports or sandbox.ports)
    }


def config_sets(sandbox: RedisSandbox) -> dict[int, int]:
    """``CONFIG SET`` calls each node has served (INFO commandstats)."""
    counts = {}
    for port in sandbox.ports:
        text = sandbox.command(port, "INFO", "commandstats")
        line = next((x for x in text.splitlines() if x.startswith("cmdstat_config|set:")), "")
        counts[port] = int(line.split("calls=", 1)[1].split(",", 1)[0]) if line else 0
    return counts


@pytest.mark.parametrize("server", ["redis", "valkey"])
def test_users_and_config_on_every_node(server: str, redis_factory: Any, tmp_path: Path) -> None:
    sandbox = redis_factory(
        nodes=6, formed=True, acl_users=standard_acl_users("uc-"), server=server
    )
    env = {**password_env(sandbox), **SECRETS}
    spec = write(tmp_path / "spec.yaml", document(connection(sandbox)))

    planned = run_cli("plan", "-f", str(spec), "-o", "json", "--out", str(tmp_path / "p"), env=env)
    assert planned.code == 0, planned.output
    body = json.loads(planned.stdout)
    addresses = {c["address"] for c in body["changes"]}
    assert {"redis_user.app", "redis_user.denied", "redis_config.maxmemory"} <= addresses
    for text in (planned.output, (tmp_path / "p").read_text()):
        assert APP_PASSWORD not in text and DENIED_PASSWORD not in text
        assert _sha(APP_PASSWORD) not in text  # the hashes are secrets too

    applied = run_cli("apply", "-f", str(spec), "--auto-approve", env=env)
    assert applied.code == 0, applied.output
    lists = acl_lists(sandbox)
    assert len(set(lists.values())) == 1, lists
    assert "#" + _sha(APP_PASSWORD) in next(iter(lists.values()))
    for port in sandbox.ports:
        assert sandbox.command(port, "CONFIG", "GET", "maxmemory").split()[1] == str(64 << 20)
    again = run_cli("plan", "-f", str(spec), "--detailed-exitcode", env=env)
    assert again.code == 0, again.output

    host, port = sandbox.addresses[0].rsplit(":", 1)
    denied = redis.Redis(host=host, port=int(port), username="denied", password=DENIED_PASSWORD)
    with denied, pytest.raises(redis.exceptions.NoPermissionError):  # NOPERM
        denied.get("anything")
    with redis.Redis(host=host, port=int(port), username="app", password=APP_PASSWORD) as c:
        assert c.config_get("maxmemory") == {"maxmemory": str(64 << 20)}

    # By hand on one node each: drift names the node; apply repairs that node only.
    user_port, config_port = sandbox.ports[4], sandbox.ports[2]
    sandbox.command(user_port, "ACL", "SETUSER", "app", "+flushall")
    sandbox.command(config_port, "CONFIG", "SET", "maxmemory-policy", "noeviction")
    drift = run_cli("drift", "-f", str(spec), "-o", "json", env=env)
    assert drift.code == 2, drift.output
    found = {r["address"]: r["attributes"] for r in json.loads(drift.stdout)["resources"]}
    assert set(found) == {"redis_user.app", "redis_config.maxmemory-policy"}, found
    assert f"node.127.0.0.1:{user_port}" in found["redis_user.app"]
    assert [a for a in found["redis_config.maxmemory-policy"] if a.startswith("node.")] == [
        f"node.127.0.0.1:{config_port}"
    ]

    saved = tmp_path / "repair.plan"
    assert run_cli("plan", "-f", str(spec), "--out", str(saved), env=env).code == 0
    before = config_sets(sandbox)
    repaired = run_cli("apply", str(saved), "--auto-approve", env=env)
    assert repaired.code == 0, repaired.output
    after = config_sets(sandbox)
    assert {p for p in sandbox.ports if after[p] != before[p]} == {config_port}, (before, after)
    assert len(set(acl_lists(sandbox).values())) == 1

    if server == "redis":
        _tool_user_is_protected(sandbox, tmp_path, env)


def _tool_user_is_protected(sandbox: RedisSandbox, tmp_path: Path, env: dict[str, str]) -> None:
    """Switching off the tool's own user, or deleting it, or the replicas' user: refused."""
    risky = [
        {"name": "ops", "enabled": False, "keys": ["*"], "commands": ["+@all"]},
        {
            "name": "replication",
            "passwords": [{"fromEnv": "T_APP_PASSWORD"}],
            "commands": ["+@all"],
        },
    ]
    spec = write(tmp_path / "off.yaml", document(connection(sandbox), users=users_section(risky)))
    refused = run_cli("plan", "-f", str(spec), env=env)
    assert refused.code == 1, refused.output
    assert "redis_user.ops" in refused.output and "own connection user" in refused.output
    assert (
        "redis_user.replication" in refused.output and "replication would break" in refused.output
    )

    spec = write(tmp_path / "del.yaml", document(connection(sandbox), deletion="allow"))
    deleting = run_cli("apply", "-f", str(spec), "--auto-approve", "--allow-delete", env=env)
    assert deleting.code == 1, deleting.output
    assert "never deleted through the spec" in deleting.output
    for port in sandbox.ports:
        assert "user ops on" in sandbox.command(port, "ACL", "LIST")
    # Without --allow-delete the unlisted users are reported, not touched.
    kept = run_cli("plan", "-f", str(spec), env=env)
    assert kept.code == 0, kept.output
    assert "redis_user.verify" in kept.output


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


class FirstMoveProbe:
    """Progress that, when the first slot move starts, records what the new nodes have."""

    def __init__(self, sandbox: RedisSandbox, new_ports: list[int]) -> None:
        self.sandbox = sandbox
        self.new_ports = new_ports
        self.seen: dict[int, dict[str, Any]] | None = None

    def started(self, change: Change) -> None:
        if self.seen is None and change.payload.get("kind") == "move_slots":
            self.seen = {}
            for port in self.new_ports:
                myself = next(
                    line
                    for line in self.sandbox.command(port, "CLUSTER", "NODES").splitlines()
                    if "myself" in line
                )
                self.seen[port] = {
                    "acl": acl_lists(self.sandbox, [port])[port],
                    "maxmemory": self.sandbox.command(port, "CONFIG", "GET", "maxmemory"),
                    "slots": myself.split()[8:],
                    "dbsize": self.sandbox.command(port, "DBSIZE").strip(),
                }

    def advanced(self, change: Change, message: str) -> None:
        pass

    def finished(self, result: ChangeResult) -> None:
        pass


async def test_scale_out_prepares_new_nodes_before_slots(
    redis_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = redis_factory(nodes=6, formed=True, acl_users=standard_acl_users("so-"))
    for name, value in {**password_env(sandbox), **SECRETS}.items():
        monkeypatch.setenv(name, value)
    old_acl = acl_lists(sandbox, [sandbox.ports[0]])[sandbox.ports[0]]
    new = sandbox.add_nodes(2)
    new_ports = [int(a.rsplit(":", 1)[1]) for a in new]
    spec = ClusterSpec.model_validate(document(connection(sandbox), masters=4))
    probe = FirstMoveProbe(sandbox, new_ports)
    async with open_providers(spec, ["redis"], ConnectionOverrides()) as providers:
        names = [p.name for p in providers]
        assert names.index("redis_user") < names.index("redis") > names.index("redis_config")
        plan = await build_plan(providers, PlanOptions())
        assert any(c.payload.get("kind") == "move_slots" for c in plan.changes)
        results = await apply_plan(plan, providers, ApplyOptions(progress=probe))
    assert all(r.status is ResultStatus.APPLIED for r in results), results
    assert probe.seen is not None, "no slot move was applied"
    reference = acl_lists(sandbox, [sandbox.ports[0]])[sandbox.ports[0]]
    assert reference != old_acl and "#" + _sha(APP_PASSWORD) in reference
    for port, seen in probe.seen.items():
        assert seen["slots"] == [] and seen["dbsize"] == "0", (port, seen)
        assert seen["acl"] == reference, port
        assert seen["maxmemory"].split()[1] == str(64 << 20), port
    assert len(set(acl_lists(sandbox).values())) == 1


async def test_users_and_config_over_kubernetes_exec(redis_pods: Any, tmp_path: Path) -> None:
    """Bare pods without a password (no cluster needed): users and configs go through exec;
    the password rules (``#<sha256>``) on stdin, never in an exec URL."""
    from tests.integration.redis.test_exec_secrets import ExecUrls

    pods = redis_pods(3)
    recorder = ExecUrls(tmp_path / "recorder")
    env = {**SECRETS, **recorder.env}
    body = document(
        {"kubernetes": {"namespace": pods.namespace}},
        config={"maxmemory-policy": "volatile-lru", "maxmemory": "32mb"},
    )
    spec = write(tmp_path / "k8s.yaml", body)
    targets = ["--target", "redis_user", "--target", "redis_config"]
    applied = await asyncio.to_thread(
        run_cli, "apply", "-f", str(spec), *targets, "--auto-approve", env=env
    )
    assert applied.code == 0, applied.output
    assert "redis_user.app" in applied.output
    again = await asyncio.to_thread(
        run_cli, "plan", "-f", str(spec), *targets, "--detailed-exitcode", env=env
    )
    assert again.code == 0, again.output
    urls = [urllib.parse.unquote(u) for u in recorder.urls()]
    assert any("CONFIG" in u for u in urls), urls[:3]
    for url in urls:
        assert _sha(APP_PASSWORD) not in url and "SETUSER" not in url.upper(), url
    for name, pod in pods.pods.items():
        with redis.Redis(host=pod.ip, port=6379) as client:
            assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-lru"
            assert any(line.startswith("user app on") for line in client.acl_list()), name
        with (
            redis.Redis(
                host=pod.ip, port=6379, username="denied", password=DENIED_PASSWORD
            ) as client,
            pytest.raises(redis.exceptions.NoPermissionError),
        ):
            client.get("x")
