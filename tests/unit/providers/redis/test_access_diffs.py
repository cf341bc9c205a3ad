"""redis.users and redis.config diffs, payloads and guards (pure)."""

from __future__ import annotations

import pytest

from reconciler.engine.payloads import check_payload
from reconciler.engine.plan import Action, Risk
from reconciler.errors import SafetyRefusal
from reconciler.providers.redis.access_steps import (
    SetUser,
    UserStep,
    config_change,
    user_change,
)
from reconciler.providers.redis.acl_diffs import (
    REPLICATION_COMMANDS,
    TOOL_COMMANDS,
    CommandTables,
    NodeUsers,
    canonical_user,
    diff_users,
    fold_commands,
    lockout_problem,
    parse_getuser,
    password_hash,
    same_user,
)
from reconciler.providers.redis.config_diffs import NodeConfig, diff_config, normalise
from reconciler.rendering.redaction import SENSITIVE_VALUE, redact_plan_dict
from reconciler.spec.models import RedisSpec, RedisUser

TABLES = CommandTables(
    {
        "read": frozenset({"get", "keys", "sort_ro", "config|get"}),
        "write": frozenset({"set", "flushall"}),
        "dangerous": frozenset({"keys", "sort_ro", "flushall", "acl|setuser", "config|set"}),
        "admin": frozenset({"acl|setuser", "config|set", "config|get", "psync"}),
        "slow": frozenset({"acl|setuser", "config|set", "config|get", "cluster|nodes", "info"}),
        "fast": frozenset({"ping"}),
    }
)


def user(**fields: object) -> RedisUser:
    return RedisUser.model_validate({"name": "app", **fields})


def test_rules_fold_like_the_server() -> None:
    assert fold_commands(["+@read", "+get", "-get"]) == "-@all +@read -get"
    assert fold_commands(["+@read", "+@all", "-flushall"]) == "+@all -flushall"
    assert fold_commands([]) == "-@all"
    rules = canonical_user(user(keys=["b:*", "a:*"], channels=["*"]), ["pw"])
    assert rules.keys == ("~a:*", "~b:*") and rules.channels == ("&*",)
    assert rules.password_hashes == (password_hash("pw"),)
    args = rules.setuser_args()
    assert args[:2] == ["reset", "on"] and f"#{password_hash('pw')}" in args
    assert "pw" not in args


def test_commands_compare_by_what_they_allow() -> None:
    desired = canonical_user(user(commands=["+@read", "-@dangerous", "+config"]), [])
    live = parse_getuser(
        [
            b"flags",
            [b"on", b"sanitize-payload"],
            b"passwords",
            [],
            b"commands",
            b"-@all +@read -sort_ro -keys +config|get +config|set",
            b"keys",
            b"",
            b"channels",
            b"",
            b"selectors",
            [],
        ]
    )
    assert live is not None and live != desired
    assert same_user(live, desired, TABLES)
    assert not same_user(live, canonical_user(user(commands=["+@read"]), []), TABLES)
    assert parse_getuser(None) is None


def test_diff_names_the_node_that_differs() -> None:
    desired = {"app": canonical_user(user(commands=["+@read"]), ["pw"])}
    other = canonical_user(user(commands=["+@all"]), ["pw"])
    nodes = [
        NodeUsers("n1:1", {"app": desired["app"], "old": other}),
        NodeUsers("n2:2", {"app": other}),
        NodeUsers("n3:3", {}),
    ]
    diff = diff_users(desired, nodes, delete_unlisted=False)
    [change] = diff.changes
    assert change.nodes == ("n2:2", "n3:3") and not change.creates
    assert diff.unmanaged == [("old", ("n1:1",))]
    rendered = user_change(change)
    assert rendered.action is Action.UPDATE
    paths = {a.path: a for a in rendered.attributes}
    assert set(p for p in paths if p.startswith("node.")) == {"node.n2:2", "node.n3:3"}
    assert paths["node.n3:3"].before is None and paths["passwords"].sensitive
    assert "n2:2, n3:3" in (rendered.reason or "")

    deleting = diff_users(desired, nodes, delete_unlisted=True, protected=frozenset({"old"}))
    assert [c.name for c in deleting.changes] == ["app"]
    deleting = diff_users(desired, nodes, delete_unlisted=True)
    removal = user_change(deleting.changes[1])
    assert removal.action is Action.DELETE and Risk.DESTRUCTIVE in removal.risks


def test_saved_user_change_is_redacted_and_still_checks() -> None:
    desired = {"app": canonical_user(user(), ["pw"])}
    diff = diff_users(desired, [NodeUsers("n1:1", {})], delete_unlisted=False)
    change = user_change(diff.changes[0])
    assert change.action is Action.CREATE
    body = redact_plan_dict({"changes": [change.model_dump(mode="json")]})
    saved = body["changes"][0]
    assert saved["payload"]["password_hashes"] == SENSITIVE_VALUE
    assert password_hash("pw") not in str(body)
    restored = change.model_copy(
        update={
            "payload": saved["payload"],
            "attributes": tuple(
                a.model_copy(update={"after": SENSITIVE_VALUE}) if a.sensitive else a
                for a in change.attributes
            ),
        }
    )
    step = check_payload(restored, UserStep, SENSITIVE_VALUE)
    assert isinstance(step, SetUser) and step.hash_count == 1
    tampered = change.model_copy(update={"payload": {**change.payload, "commands": "+@all"}})
    with pytest.raises(SafetyRefusal):
        check_payload(tampered, UserStep, SENSITIVE_VALUE)


def test_lockouts() -> None:
    sha = password_hash("tool")
    keeps = canonical_user(user(commands=["+@all"]), ["tool"])
    assert lockout_problem(keeps, sha, TOOL_COMMANDS, TABLES) is None
    off = canonical_user(user(enabled=False, commands=["+@all"]), ["tool"])
    assert "switched off" in str(lockout_problem(off, sha, TOOL_COMMANDS, TABLES))
    other_pw = canonical_user(user(commands=["+@all"]), ["new"])
    assert "passwords" in str(lockout_problem(other_pw, sha, TOOL_COMMANDS, TABLES))
    no_admin = canonical_user(user(commands=["+@all", "-@dangerous"]), ["tool"])
    assert "acl" in str(lockout_problem(no_admin, sha, TOOL_COMMANDS, TABLES))
    assert "acl" in str(lockout_problem(no_admin, sha, TOOL_COMMANDS))  # without tables
    replication = canonical_user(user(commands=["+psync", "+replconf", "+ping"]), ["r"])
    assert lockout_problem(replication, password_hash("r"), REPLICATION_COMMANDS) is None


def test_config_values_as_redis_reports_them() -> None:
    assert normalise("maxmemory", "100mb") == str(100 * 1024 * 1024)
    assert normalise("maxmemory", "1g") == "1000000000"
    assert normalise("maxmemory-policy", "allkeys-LRU") == "allkeys-lru"
    assert normalise("appendonly", True) == "yes"
    assert normalise("timeout", 300) == "300"
    assert normalise("save", "3600 1 300 100") == "3600 1 300 100"
    nodes = [
        NodeConfig("n1:1", {"maxmemory": "104857600", "daemonize": "no"}),
        NodeConfig("n2:2", {"maxmemory": "0", "daemonize": "no"}),
    ]
    diff = diff_config({"maxmemory": "100mb", "daemonize": "yes", "nosuch": 1}, nodes)
    [change] = diff.changes
    assert change.nodes == ("n2:2",)
    refused = dict(diff.refused)
    assert "restart" in refused["daemonize"] and "not a parameter" in refused["nosuch"]
    assert "credential" in diff_config({"masterauth": "x"}, nodes).refused[0][1]
    rendered = config_change(change)
    assert {a.path: (a.before, a.after) for a in rendered.attributes} == {
        "value": ("0", "104857600"),
        "node.n2:2": ("0", "104857600"),
    }


def test_spec_models() -> None:
    spec = RedisSpec.model_validate(
        {
            "connection": {"addresses": ["127.0.0.1:7000"]},
            "users": [{"name": "app", "commands": ["+@READ"]}],
            "config": {"maxmemory": "1gb"},
            "ownership": {"users": {"deletion": "allow"}},
        }
    )
    assert spec.users[0].commands == ["+@read"]
    for bad in (
        {"name": "a b"},
        {"name": "app", "commands": ["@read"]},
        {"name": "app", "nopass": True, "passwords": [{"fromEnv": "X"}]},
    ):
        with pytest.raises(ValueError):
            RedisUser.model_validate(bad)
    with pytest.raises(ValueError, match="listed twice"):
        RedisSpec.model_validate(
            {"connection": {"addresses": ["a:1"]}, "users": [{"name": "x"}, {"name": "x"}]}
        )


def test_password_rules_are_credentials() -> None:
    from reconciler.providers.redis.transports import carries_credentials

    assert carries_credentials(("ACL", "SETUSER", "app", "reset", "#" + "0" * 64))
    assert carries_credentials((b"acl", b"setuser", b"app", b">plain"))
    assert not carries_credentials(("ACL", "SETUSER", "app", "reset", "on", "~*"))
    assert not carries_credentials(("CONFIG", "SET", "maxmemory", "#1"))
