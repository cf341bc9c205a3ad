"""Node configs: the spec's ``redis.config`` vs ``CONFIG GET`` on every node (pure).

Values are compared as the server reports them: memory sizes in bytes (``100mb`` →
``104857600``, ``1g`` → ``1000000000``, as Redis' ``memtoull`` reads them), booleans as
``yes``/``no``, numbers as decimal text, the enumerated parameters in lower case. A value
changed by hand on one node is a difference on that node only.

Parameters that ``CONFIG SET`` cannot change (they need a restart), protected ones
(``enable-protected-configs``) and credentials (which belong to ``redis.users`` and to the
replicas' own configuration) are refused at plan time, as are names the server does not
know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from msgspec import Struct, field

from reconciler.spec.redis_config_rules import config_refusal as refusal

#: Parameters whose value is a keyword, reported in lower case.
ENUMERATED = frozenset(
    {
        "maxmemory-policy",
        "appendfsync",
        "loglevel",
        "repl-diskless-load",
        "cluster-preferred-endpoint-type",
        "propagation-error-behavior",
        "sanitize-dump-payload",
        "oom-score-adj",
        "shutdown-on-sigterm",
        "shutdown-on-sigint",
        "tls-auth-clients",
    }
)
_MEMORY = re.compile(r"^(\d+)(b|k|kb|m|mb|g|gb)$", re.IGNORECASE)
_UNITS = {
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
}


def _word(word: str) -> str:
    match = _MEMORY.match(word)
    if match:
        return str(int(match.group(1)) * _UNITS[match.group(2).lower()])
    return word


def normalise(name: str, value: str | int | float | bool) -> str:
    """A spec value as ``CONFIG GET`` reports it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = " ".join(_word(w) for w in str(value).split())
    if name in ENUMERATED or text.lower() in ("yes", "no"):
        text = text.lower()
    return text


def normalise_live(name: str, value: str) -> str:
    """A live value, in the same form (spaces collapsed, enumerations lower-cased)."""
    text = " ".join(value.split())
    return text.lower() if name in ENUMERATED else text


class NodeConfig(Struct, frozen=True):
    """What one node reported for the spec's parameters (absent: it does not know it)."""

    name: str
    values: Mapping[str, str]


class ConfigDiff(Struct, frozen=True):
    name: str
    value: str
    nodes: tuple[str, ...]  # where it differs
    before: Mapping[str, str | None]  # node name → live value


class ConfigsDiff(Struct):
    changes: list[ConfigDiff] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # parameter, why


def diff_config(
    desired: Mapping[str, str | int | float | bool], nodes: Sequence[NodeConfig]
) -> ConfigsDiff:
    """Per parameter (in spec order): the nodes whose value differs from the spec's."""
    out = ConfigsDiff()
    for name, raw in desired.items():
        why = refusal(name)
        if why is None and nodes and all(name not in n.values for n in nodes):
            why = f"{name} is not a parameter this server knows (CONFIG GET returns nothing)"
        if why is not None:
            out.refused.append((name, why))
            continue
        value = normalise(name, raw)
        before = {n.name: n.values.get(name) for n in nodes}
        differing = tuple(
            n for n, live in before.items() if live is None or normalise_live(name, live) != value
        )
        if differing:
            out.changes.append(ConfigDiff(name, value, differing, before))
    return out
