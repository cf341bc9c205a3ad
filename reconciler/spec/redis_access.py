"""Spec models of Redis access and node settings: ``redis.users`` and ``redis.config``.

``redis.users`` lists ACL users kept identical on every node (masters, replicas and bare
nodes about to join); ``redis.config`` maps ``CONFIG SET``-able parameters to the value every
node must have. ``redis.ownership.users.deletion`` says whether users found on the nodes but
absent from the spec may be deleted (still only with ``--allow-delete``).

They build on :mod:`reconciler.spec.base`, like every per-kind spec module;
:mod:`reconciler.spec.models` imports them for ``RedisSpec``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from reconciler.model_defaults import new_list
from reconciler.spec.base import (
    DeletionPolicy,
    DeletionPolicyField,
    SecretRef,
    SpecModel,
)

#: What ACL user names may be here: no spaces, no rule characters at the start.
USER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$")
#: A command rule: ``+@category``, ``-@category``, ``+command``, ``-command|subcommand``.
COMMAND_RULE = re.compile(r"^[+-](@[a-z-]+|[a-z][a-z0-9_.-]*(\|[a-z0-9_.-]+)?)$")


class RedisUser(SpecModel):
    """One ACL user, applied as ``ACL SETUSER name reset <rules>`` on every node."""

    name: str
    """The user name (``default`` is the user of clients that do not authenticate)."""
    enabled: bool = True
    """``on`` (may log in) or ``off``."""
    passwords: list[SecretRef] = Field(default_factory=new_list)
    """Passwords by reference (several during a rotation); compared by their SHA-256."""
    nopass: bool = False
    """Any password is accepted (``nopass``); excludes ``passwords``."""
    keys: list[str] = Field(default_factory=new_list)
    """Key patterns (``app:*``; ``%R~ro:*`` / ``%W~wo:*`` for read- or write-only)."""
    channels: list[str] = Field(default_factory=new_list)
    """Pub/Sub channel patterns (none: ``resetchannels``)."""
    commands: list[str] = Field(default_factory=new_list)
    """Command rules in order: ``+@read``, ``-@dangerous``, ``+get``, ``-config|set``."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not USER_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a usable ACL user name (letters, digits, _ . : @ -)"
            )
        return value

    @field_validator("commands")
    @classmethod
    def _commands(cls, value: list[str]) -> list[str]:
        rules = [rule.strip().lower() for rule in value]
        for rule in rules:
            if not COMMAND_RULE.match(rule):
                raise ValueError(
                    f"{rule!r} is not a command rule (+@category, -@category, +command, "
                    "-command|subcommand)"
                )
        return rules

    @field_validator("keys", "channels")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern or any(c.isspace() for c in pattern):
                raise ValueError(f"{pattern!r}: a pattern is one word without spaces")
        return value

    @model_validator(mode="after")
    def _passwords(self) -> RedisUser:
        if self.nopass and self.passwords:
            raise ValueError("give passwords or nopass: true, not both")
        return self


class RedisUserOwnership(SpecModel):
    """What may happen to ACL users found on the nodes but absent from the spec."""

    deletion: DeletionPolicyField = DeletionPolicy.NEVER
    """``allow``: deleted with ``--allow-delete``; ``never``: reported, kept."""


class RedisOwnership(SpecModel):
    users: RedisUserOwnership = RedisUserOwnership.model_construct()


def _unique_names(users: list[RedisUser]) -> list[RedisUser]:
    seen: set[str] = set()
    for user in users:
        if user.name in seen:
            raise ValueError(f"user {user.name!r} is listed twice")
        seen.add(user.name)
    return users


def check_users(value: Any) -> Any:
    """Unique names (a validator of ``RedisSpec.users``)."""
    return _unique_names(value) if isinstance(value, list) else value
