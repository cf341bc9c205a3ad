"""The typed changes of ``redis.users`` and ``redis.config`` (pure).

One change per user (``redis_user.NAME``) or parameter (``redis_config.NAME``), carried out
on the nodes it names: the nodes where the live state differs, each shown as its own
attribute ``node.<name>`` (before: what that node has; after: what it will have), so a
review and ``drift`` name the node that disagrees. Nodes are named as the layout names
them (``host:port`` as given, or the pod name) and found again by that name at apply time.

Password hashes are a secret: the displayed ``passwords`` attribute is sensitive and the
payload's ``password_hashes`` is redacted in saved plans (restored from the spec at apply).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from reconciler.engine.payloads import Payload, change_from_payload
from reconciler.engine.plan import Action, Change, Risk
from reconciler.providers.redis.acl_diffs import UserDiff, UserRules
from reconciler.providers.redis.config_diffs import ConfigDiff

USERS_PROVIDER = "redis_user"
CONFIG_PROVIDER = "redis_config"
#: What a saved plan holds in place of a secret (the engine's redaction marker).
REDACTED_MARKER = "(sensitive value)"


def _node_paths(nodes: list[str], value: Any) -> dict[str, Any]:
    return {f"node.{node}": value for node in nodes}


class SetUser(Payload):
    """``ACL SETUSER user reset <rules>`` on each node named."""

    kind: Literal["set_user"] = "set_user"
    user: str
    enabled: bool
    nopass: bool
    password_hashes: list[str] | Literal["(sensitive value)"]
    keys: list[str]
    channels: list[str]
    commands: str
    hash_count: int = Field(ge=0)  # how many passwords (shown; the hashes are not)
    nodes: list[str]
    create: bool = False

    def rules(self) -> UserRules:
        hashes = self.password_hashes
        return UserRules(
            enabled=self.enabled,
            nopass=self.nopass,
            password_hashes=tuple(hashes) if isinstance(hashes, list) else (),
            commands=self.commands,
            keys=tuple(self.keys),
            channels=tuple(self.channels),
        )

    def displayed(self) -> dict[str, Any]:
        hashes = self.password_hashes
        shown: dict[str, Any] = {
            "enabled": self.enabled,
            "nopass": self.nopass,
            "passwords": hashes if isinstance(hashes, str) else list(hashes),
            "keys": list(self.keys),
            "channels": list(self.channels),
            "commands": self.commands,
        }
        rules = self.rules()
        summary = rules.summary(passwords=self.hash_count)
        return shown | _node_paths(self.nodes, summary)


class DeleteUser(Payload):
    """``ACL DELUSER user`` on each node named."""

    kind: Literal["delete_user"] = "delete_user"
    user: str
    nodes: list[str]

    def displayed(self) -> dict[str, Any]:
        return _node_paths(self.nodes, None)


class SetConfig(Payload):
    """``CONFIG SET parameter value`` on each node named."""

    kind: Literal["set_config"] = "set_config"
    parameter: str
    value: str
    nodes: list[str]

    def displayed(self) -> dict[str, Any]:
        return {"value": self.value} | _node_paths(self.nodes, self.value)


UserStep = Annotated[SetUser | DeleteUser, Field(discriminator="kind")]


def user_change(diff: UserDiff) -> Change:
    """The change of one user's difference."""
    before: dict[str, Any] = {
        f"node.{node}": (rules.summary() if rules is not None else None)
        for node, rules in diff.before.items()
    }
    if diff.rules is None:
        payload: Payload = DeleteUser(user=diff.name, nodes=list(diff.nodes))
        return change_from_payload(
            payload,
            before=before,
            address=f"{USERS_PROVIDER}.{diff.name}",
            provider=USERS_PROVIDER,
            resource_type=USERS_PROVIDER,
            name=diff.name,
            action=Action.DELETE,
            risks=frozenset({Risk.DESTRUCTIVE}),
            reason=f"not in the spec; on {len(diff.nodes)} node(s)",
            steps=tuple(f"ACL DELUSER {diff.name} on {n}" for n in diff.nodes),
        )
    rules = diff.rules
    first = next((diff.before[n] for n in diff.nodes if diff.before.get(n) is not None), None)
    if first is not None:
        before |= {
            "enabled": first.enabled,
            "nopass": first.nopass,
            "passwords": list(first.password_hashes),
            "keys": list(first.keys),
            "channels": list(first.channels),
            "commands": first.commands,
        }
    payload = SetUser(
        user=diff.name,
        enabled=rules.enabled,
        nopass=rules.nopass,
        password_hashes=list(rules.password_hashes),
        hash_count=len(rules.password_hashes),
        keys=list(rules.keys),
        channels=list(rules.channels),
        commands=rules.commands,
        nodes=list(diff.nodes),
        create=diff.creates,
    )
    return change_from_payload(
        payload,
        before=before,
        sensitive=frozenset({"passwords"}),
        address=f"{USERS_PROVIDER}.{diff.name}",
        provider=USERS_PROVIDER,
        resource_type=USERS_PROVIDER,
        name=diff.name,
        action=Action.CREATE if diff.creates else Action.UPDATE,
        reason=_differs_on(diff.nodes, diff.before),
        steps=tuple(f"ACL SETUSER {diff.name} reset … on {n}" for n in diff.nodes),
    )


def config_change(diff: ConfigDiff) -> Change:
    payload = SetConfig(parameter=diff.name, value=diff.value, nodes=list(diff.nodes))
    first = next((diff.before[n] for n in diff.nodes if diff.before.get(n) is not None), None)
    before: dict[str, Any] = {f"node.{n}": v for n, v in diff.before.items()}
    before["value"] = first
    return change_from_payload(
        payload,
        before=before,
        address=f"{CONFIG_PROVIDER}.{diff.name}",
        provider=CONFIG_PROVIDER,
        resource_type=CONFIG_PROVIDER,
        name=diff.name,
        action=Action.UPDATE,
        reason=_differs_on(diff.nodes, diff.before),
        steps=tuple(f"CONFIG SET {diff.name} {diff.value} on {n}" for n in diff.nodes),
    )


def _differs_on(nodes: tuple[str, ...], before: Mapping[str, object]) -> str:
    total = len(before)
    if len(nodes) == total:
        return f"differs on every node ({total})"
    return f"differs on {len(nodes)} of {total} nodes: {', '.join(nodes)}"
