"""Spec models of dynamic broker configs (``kafka.brokers``): the cluster-wide default (the
``<default>`` broker of ``kafka-configs --entity-default``) and per-broker overrides.

Values take the same humane units as topic configs (``log.retention.ms: 7d``,
``log.segment.bytes: 1GiB``); see :func:`broker_config_value`. Keys Kafka reads only from
``server.properties`` at start-up are refused where the spec names them
(:data:`READ_ONLY_BROKER_CONFIGS`); the plan refuses any other key the brokers report as
read-only. Secret values (``*.password``, ``sasl.jaas.config``...) only by reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from msgspec import Struct, field
from msgspec.structs import replace
from pydantic import BeforeValidator, Field, ValidationError, model_validator

from reconciler.model_defaults import new_dict
from reconciler.spec.base import ConfigOwnership, ConfigOwnershipField, SecretRef, SpecModel
from reconciler.spec.limits import INT32_MAX
from reconciler.spec.units import (
    INFINITE_WORDS,
    format_duration_ms,
    format_size_bytes,
    humane_config_value,
    normalize_topic_config,
    parse_duration_ms,
    parse_rate,
    parse_size_bytes,
)

DEFAULT_BROKER = "<default>"

#: Broker keys that are the cluster-wide form of a topic config (Kafka's
#: ``ServerTopicConfigSynonyms``): their values are checked like the topic key's.
TOPIC_SYNONYMS: dict[str, str] = {
    "log.segment.bytes": "segment.bytes",
    "log.roll.ms": "segment.ms",
    "log.roll.jitter.ms": "segment.jitter.ms",
    "log.index.size.max.bytes": "segment.index.bytes",
    "log.flush.interval.messages": "flush.messages",
    "log.flush.interval.ms": "flush.ms",
    "log.retention.bytes": "retention.bytes",
    "log.retention.ms": "retention.ms",
    "message.max.bytes": "max.message.bytes",
    "log.index.interval.bytes": "index.interval.bytes",
    "log.cleaner.delete.retention.ms": "delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms": "min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms": "max.compaction.lag.ms",
    "log.segment.delete.delay.ms": "file.delete.delay.ms",
    "log.cleaner.min.cleanable.ratio": "min.cleanable.dirty.ratio",
    "log.cleanup.policy": "cleanup.policy",
    "unclean.leader.election.enable": "unclean.leader.election.enable",
    "min.insync.replicas": "min.insync.replicas",
    "compression.type": "compression.type",
    "log.preallocate": "preallocate",
    "log.message.timestamp.type": "message.timestamp.type",
    "log.local.retention.ms": "local.retention.ms",
    "log.local.retention.bytes": "local.retention.bytes",
}

#: Byte rates without ``bytes.per.second`` in their name (units: ``50MiB/s``).
RATE_KEYS = frozenset({"leader.replication.throttled.rate", "follower.replication.throttled.rate"})

#: Keys Kafka (3.x, 4.x) never changes at run time: identity, storage, listeners' names,
#: the quorum, internal topics' shapes, the authorizer. The brokers report them read-only.
READ_ONLY_BROKER_CONFIGS = frozenset(
    {
        "broker.id",
        "node.id",
        "process.roles",
        "log.dir",
        "log.dirs",
        "metadata.log.dir",
        "broker.rack",
        "controller.quorum.voters",
        "controller.quorum.bootstrap.servers",
        "controller.listener.names",
        "inter.broker.listener.name",
        "num.partitions",
        "default.replication.factor",
        "auto.create.topics.enable",
        "delete.topic.enable",
        "offsets.topic.replication.factor",
        "offsets.topic.num.partitions",
        "transaction.state.log.replication.factor",
        "transaction.state.log.num.partitions",
        "authorizer.class.name",
        "super.users",
        "zookeeper.connect",
    }
)

#: Substrings of keys whose values are secrets (Kafka's PASSWORD-typed broker configs).
SECRET_KEY_PARTS = (
    "password",
    "passphrase",
    "secret",
    "sasl.jaas.config",
    "keystore.key",
    "keystore.certificate",
    "truststore.certificates",
)


def is_secret_key(key: str) -> bool:
    return any(part in key.lower() for part in SECRET_KEY_PARTS)


def read_only_message(key: str) -> str:
    """Why a read-only key cannot be in the spec, and what to do instead."""
    return (
        f"{key} is read-only: Kafka reads it from server.properties at start-up only; "
        "set it there and restart the broker (rolling restart for the whole cluster)"
    )


def _number(value: object, parse: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lower() in INFINITE_WORDS:
        return -1
    if text.lstrip("-").isdigit():
        return int(text)
    result: int = parse(text)
    return result


def broker_config_value(key: str, value: object) -> str:
    """Kafka's string form of a broker config value: topic-config synonyms are checked like
    the topic key (``log.retention.ms: 7d`` → ``"604800000"``), other ``*.ms`` keys take
    durations, ``*.bytes`` keys sizes and byte rates ``50MiB/s``, booleans become
    ``true``/``false``. Raises
    ValueError with a message fit for the user."""
    synonym = TOPIC_SYNONYMS.get(key)
    if synonym is not None:
        return normalize_topic_config(synonym, value)
    if key in RATE_KEYS or key.endswith(".bytes.per.second"):
        if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "").isdigit():
            return str(parse_rate(value))
        return str(value)
    if key.endswith(".ms"):
        return str(_number(value, parse_duration_ms))
    if key.endswith(".bytes"):
        return str(_number(value, parse_size_bytes))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def humane_broker_value(key: str, value: str) -> str:
    """The spec's humane form of a broker config value where a unit divides it exactly
    (``log.retention.ms`` "604800000" → ``7d``), else the value as it is."""
    synonym = TOPIC_SYNONYMS.get(key)
    if synonym is not None:
        return humane_config_value(synonym, value) or value
    if not value.isdigit() or value == "0":
        return value
    if key.endswith(".ms"):
        shown = format_duration_ms(int(value))
        return value if shown.endswith("ms") else shown
    if key.endswith(".bytes"):
        shown = format_size_bytes(int(value))
        return value if shown[-2].isdigit() else shown
    return value


def humane_any_config(key: str, value: object) -> str | None:
    """A topic or broker config value in the spec's humane units, or ``None`` when none
    reads back exactly (for displays: plans, drift)."""
    shown = humane_config_value(key, value)
    if shown is not None or not isinstance(value, str):
        return shown
    broker = humane_broker_value(key, value)
    return None if broker == value else broker


def _config_value(value: Any) -> Any:
    if value is None:
        raise ValueError("a config value cannot be empty; remove the key to inherit it")
    if isinstance(value, list):
        raise ValueError(
            "expected a single value (string, number or boolean), got a list; write lists "
            "as one comma-separated string"
        )
    if isinstance(value, dict):
        try:
            return SecretRef.model_validate(value)
        except ValidationError as problem:
            raise ValueError(problem.errors()[0]["msg"].removeprefix("Value error, ")) from None
    return value


BrokerConfigValue = Annotated[str | int | float | bool | SecretRef, BeforeValidator(_config_value)]


def config_problem(key: str, value: object) -> tuple[str, bool] | None:
    """What is wrong with one ``kafka.brokers`` config entry, and whether it lies in the key
    (else in the value); ``None`` when it is fine. Used by the spec checks (located)."""
    if key in READ_ONLY_BROKER_CONFIGS:
        return read_only_message(key), True
    if isinstance(value, SecretRef):
        return None
    if is_secret_key(key):
        return (
            f"{key} is a secret: give it by reference, {{fromEnv: VARIABLE}} or "
            "{fromFile: path}, never inline",
            True,
        )
    try:
        broker_config_value(key, value)
    except ValueError as problem:
        return str(problem), False
    return None


class BrokerDefaults(SpecModel):
    """The cluster-wide dynamic configs (every broker's default; ``--entity-default``)."""

    config: dict[str, BrokerConfigValue] = Field(default_factory=new_dict)
    """Broker config key -> value; ms and bytes keys accept units (30s, 1GiB)."""


class BrokerOverride(SpecModel):
    """Dynamic configs of one broker, over the cluster default."""

    id: int = Field(ge=0, le=INT32_MAX)
    """The broker's node id."""
    config: dict[str, BrokerConfigValue] = Field(default_factory=new_dict)
    """Broker config key -> value; empty with ``ownership.brokers.configs: exclusive``
    removes every dynamic config of the broker."""


def _new_overrides() -> list[BrokerOverride]:
    return []


class BrokersSpec(SpecModel):
    """Dynamic broker configs: ``default`` for the whole cluster, ``overrides`` per broker."""

    default: BrokerDefaults | None = None
    overrides: list[BrokerOverride] = Field(default_factory=_new_overrides)

    @model_validator(mode="after")
    def _one_entry_per_broker(self) -> BrokersSpec:
        ids = [o.id for o in self.overrides]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"broker {twice[0]} is listed twice in overrides")
        return self


class BrokerOwnership(SpecModel):
    """What happens to dynamic configs set on the default or a listed broker but absent
    from the spec (static ``server.properties`` values are never touched)."""

    configs: ConfigOwnershipField = ConfigOwnership.ADDITIVE


class DesiredBroker(Struct, frozen=True):
    """One entity's wanted dynamic configs, resolved: ``broker`` None is the cluster default."""

    broker: int | None
    spec_path: tuple[str | int, ...]  # where the spec gives it: ("kafka", "brokers", "default")
    config: dict[str, str] = field(default_factory=dict)  # Kafka's string form
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> reference
    # key -> ``file:line:column`` of the key in the spec file, when known
    locations: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """``kafka.brokers.default`` / ``kafka.brokers.overrides[0]``."""
        head = ".".join(str(p) for p in self.spec_path[:3])
        return head + "".join(f"[{p}]" for p in self.spec_path[3:])

    def where(self, key: str) -> str:
        """How a problem with ``key`` is located: ``file:line:column: path.config.key``."""
        located = self.locations.get(key)
        path = f"{self.path}.config.{key}"
        return f"{located}: {path}" if located else path

    def located(self, locate: Callable[[tuple[str | int, ...]], str]) -> DesiredBroker:
        """A copy that knows where each of its keys is in the spec file."""
        keys = sorted(self.keys)
        where = {key: locate((*self.spec_path, "config", key)) for key in keys}
        return replace(self, locations=where)

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self.config) | frozenset(self.secrets)


def _resolved(
    broker: int | None, path: tuple[str | int, ...], config: dict[str, Any]
) -> DesiredBroker:
    plain = {
        k: broker_config_value(k, v) for k, v in config.items() if not isinstance(v, SecretRef)
    }
    secrets = {
        k: v.model_dump(by_alias=True, exclude_none=True)
        for k, v in config.items()
        if isinstance(v, SecretRef)
    }
    return DesiredBroker(broker, path, dict(sorted(plain.items())), dict(sorted(secrets.items())))


def desired_brokers(spec: BrokersSpec | None) -> list[DesiredBroker]:
    """The default (when given) then every override, in spec order."""
    if spec is None:
        return []
    found = []
    if spec.default is not None:
        found.append(_resolved(None, ("kafka", "brokers", "default"), spec.default.config))
    for index, override in enumerate(spec.overrides):
        path = ("kafka", "brokers", "overrides", index)
        found.append(_resolved(override.id, path, override.config))
    return found
