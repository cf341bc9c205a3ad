"""Pure diff of desired dynamic broker configs against live ones: (desired, live) -> plan.

Entities are the cluster default (``kafka_broker_config.<default>``) and single brokers
(``kafka_broker_config.1``). Source-aware like topic configs:

- only values Kafka reports as set dynamically on the entity itself are "ours"
  (``DYNAMIC_DEFAULT_BROKER_CONFIG`` for the default, ``DYNAMIC_BROKER_CONFIG`` for a
  broker); a ``server.properties`` value or a built-in default is never drift and never
  removed;
- a broker's wanted value is compared with its effective value (any source), the
  default's with the dynamic default (the only value that is the cluster's);
- dynamic keys absent from the spec are reported (``ownership.brokers.configs: additive``)
  or removed (``exclusive``, destructive: needs ``--allow-delete``);
- read-only keys (the brokers' ``read_only`` flag) are refused; secrets are never read
  back, so a secret already set is left alone unless credentials are rotated;
- ``min.insync.replicas`` under eligible leader replicas (KIP-966): Kafka refuses it per
  broker and refuses to remove the cluster-level value; changing the cluster-level value
  clears the partitions' ELR state (a warning).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from msgspec import Struct, field
from pydantic import Field

from reconciler.engine.payloads import Payload, change_from_payload
from reconciler.engine.plan import Action, Change, Notice, NoticeLevel, Risk
from reconciler.engine.providers import ProviderPlan
from reconciler.model_defaults import new_dict
from reconciler.providers.kafka.state import ConfigSource, LiveConfig
from reconciler.providers.kafka.topic_diffs import config_risks, same_config_value
from reconciler.spec.kafka_brokers import (
    DEFAULT_BROKER,
    TOPIC_SYNONYMS,
    DesiredBroker,
    is_secret_key,
    read_only_message,
)

PROVIDER = "kafka_broker_config"
BROKERS_ADDRESS = f"{PROVIDER}.*"
MIN_ISR = "min.insync.replicas"
LISTENER_PREFIX = "listener.name."

# None: the cluster default; a number: that broker.
Entity = int | None


def broker_address(entity: Entity) -> str:
    return f"{PROVIDER}.{DEFAULT_BROKER if entity is None else entity}"


def entity_name(entity: Entity) -> str:
    return DEFAULT_BROKER if entity is None else str(entity)


def own_source(entity: Entity) -> ConfigSource:
    """The source of the values set dynamically on the entity itself."""
    return (
        ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG
        if entity is None
        else ConfigSource.DYNAMIC_BROKER_CONFIG
    )


class LiveBrokers(Struct, frozen=True):
    """What DescribeConfigs showed: the default's dynamic configs, every config of the
    brokers the spec names, and one reference broker's (read-only flags, effective values)."""

    broker_ids: tuple[int, ...] = ()
    default: Mapping[str, LiveConfig] = field(default_factory=dict)
    brokers: Mapping[int, Mapping[str, LiveConfig]] = field(default_factory=dict)
    reference: Mapping[str, LiveConfig] = field(default_factory=dict)

    def configs(self, entity: Entity) -> Mapping[str, LiveConfig]:
        return self.default if entity is None else self.brokers.get(entity, {})

    def own(self, entity: Entity) -> dict[str, LiveConfig]:
        """The entity's dynamically set configs (what the spec may own)."""
        source = own_source(entity)
        return {k: c for k, c in self.configs(entity).items() if c.source is source}


def same_broker_value(key: str, wanted: str | None, current: str | None) -> bool:
    """Whether a live value is the wanted one: lists as sets (``log.cleanup.policy``),
    numbers by value (Kafka writes a DOUBLE ``150000000.0`` back as ``1.5E8``)."""
    if same_config_value(TOPIC_SYNONYMS.get(key, key), wanted, current):
        return True
    if wanted is None or current is None:
        return False
    try:
        return float(wanted) == float(current)
    except ValueError:
        return False


def reference_text(ref: Mapping[str, str]) -> str:
    """How the plan shows a secret: where it comes from, never what it is."""
    if ref.get("fromEnv"):
        return f"env {ref['fromEnv']}"
    return f"file {ref.get('fromFile')}"


class BrokerConfigPayload(Payload):
    """What apply sends for one entity: keys to set, secrets to set from their reference
    (read only while applying), keys to delete."""

    broker: int | None
    set: dict[str, str] = Field(default_factory=new_dict)
    # (key, reference) pairs, not a mapping: a mapping keyed by ``...password`` would be
    # redacted in saved plans, and the reference is no secret.
    set_from: tuple[tuple[str, dict[str, str]], ...] = ()
    delete: tuple[str, ...] = ()

    def displayed(self) -> dict[str, Any]:
        shown: dict[str, Any] = {f"config.{k}": v for k, v in self.set.items()}
        shown.update({f"config.{k}": reference_text(r) for k, r in self.set_from})
        shown.update({f"config.{k}": None for k in self.delete})
        return dict(sorted(shown.items()))

    def alteration(self, secrets: Mapping[str, str] | None = None) -> dict[str, str | None]:
        """key -> value (None: delete); ``secrets`` holds the resolved ``set_from`` values."""
        wanted: dict[str, str | None] = dict(self.set)
        wanted.update({k: (secrets or {}).get(k) for k, _ in self.set_from})
        wanted.update({k: None for k in self.delete})
        return wanted


def key_risks(key: str, before: str | None, after: str | None) -> set[Risk]:
    """Risks of a cluster- or broker-wide change of ``key`` (topics without an override
    follow it): retention cuts lose data, a stricter min.insync.replicas or a smaller
    message.max.bytes fails clients, unclean leader election can lose records."""
    synonym = TOPIC_SYNONYMS.get(key, key)
    risks = config_risks(synonym, before, after) if synonym != key or key == MIN_ISR else set()
    if key.startswith("log.retention.") and after is not None and before is not None:
        risks |= {Risk.DATA_LOSS} if _smaller(after, before) else set()
    if key == "unclean.leader.election.enable" and after == "true":
        risks.add(Risk.DATA_LOSS)
    if after is None:
        risks.add(Risk.DESTRUCTIVE)
    return risks


def _smaller(after: str, before: str) -> bool:
    try:
        new, old = float(after), float(before)
    except ValueError:
        return False
    return new >= 0 and (old < 0 or new < old)


class _Entity(Struct):
    """The diff of one entity, built up key by key."""

    desired: DesiredBroker
    live: LiveBrokers
    elr: bool | None
    rotate: bool
    to_set: dict[str, str] = field(default_factory=dict)
    to_set_from: dict[str, dict[str, str]] = field(default_factory=dict)
    to_delete: list[str] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    risks: set[Risk] = field(default_factory=set)
    sensitive: set[str] = field(default_factory=set)
    notices: list[Notice] = field(default_factory=list)

    @property
    def entity(self) -> Entity:
        return self.desired.broker

    @property
    def address(self) -> str:
        return broker_address(self.entity)

    def notice(self, level: NoticeLevel, key: str, message: str, kind: str = "note") -> None:
        self.notices.append(
            Notice(
                level=level,
                address=self.address,
                kind=kind,
                message=message,
                attribute=f"config.{key}",
            )
        )

    def live_entry(self, key: str) -> LiveConfig | None:
        configs = self.live.configs(self.entity)
        if key in configs or self.entity is not None:
            return configs.get(key)
        return self.live.reference.get(key)

    def current(self, key: str) -> str | None:
        """The value the spec's value is compared with (None: not set)."""
        entry = self.live.configs(self.entity).get(key)
        if entry is None or (self.entity is None and entry.source is not own_source(None)):
            return None
        return entry.value

    def unknown(self, key: str) -> bool:
        """A key no broker config has is refused (with the closest known key): Kafka would
        keep it as a custom config and hide its value, so no plan could compare it."""
        if key.startswith(LISTENER_PREFIX) or not self.live.reference:
            return False
        known = _known_keys(self.live.reference) | _known_keys(self.live.configs(self.entity))
        if key in known:
            return False
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]}?" if close else ""
        self.notice(
            NoticeLevel.ERROR,
            key,
            f"{self.desired.where(key)}: Kafka has no broker config {key}{hint} (custom keys "
            "are not managed: Kafka hides their values)",
            "refused",
        )
        return True

    def refused(self, key: str) -> bool:
        if self.unknown(key):
            return True
        where = self.desired.where(key)
        entry = self.live_entry(key)
        # Kafka computes the flag from the key's full name: a listener's own copy of a
        # dynamic key (``listener.name.<l>.ssl.key.password``) and a custom key are
        # reported read-only yet can be set dynamically (validateOnly decides those; one
        # already set dynamically is no start-up setting).
        if (
            entry is not None
            and entry.read_only
            and not key.startswith(LISTENER_PREFIX)
            and key not in self.live.own(self.entity)
        ):
            self.notice(NoticeLevel.ERROR, key, f"{where}: {read_only_message(key)}", "refused")
            return True
        if key == MIN_ISR and self.entity is not None and self.elr is not False:
            message = (
                f"{where}: Kafka refuses a per-broker {MIN_ISR} while eligible leader "
                "replicas are enabled (KIP-966, eligible.leader.replicas.version >= 1); set "
                "it in kafka.brokers.default or per topic"
            )
            if self.elr:
                self.notice(NoticeLevel.ERROR, key, message, "refused")
                return True
            self.notice(NoticeLevel.WARNING, key, f"{message} (ELR state unknown)")
        return False

    def wanted(self, key: str, value: str) -> None:
        if self.refused(key):
            return
        entry = self.live_entry(key)
        if is_secret_key(key) or (entry is not None and entry.sensitive):
            self.notice(
                NoticeLevel.ERROR,
                key,
                f"{self.desired.where(key)}: Kafka treats {key} as a secret: give it by "
                "reference ({fromEnv: VARIABLE} or {fromFile: path}), never inline",
                "refused",
            )
            return
        current = self.current(key)
        if same_broker_value(key, value, current):
            return
        self.to_set[key], self.before[f"config.{key}"] = value, current
        basis = current if current is not None else _value(self.live.reference.get(key))
        self.risks |= key_risks(key, basis, value)
        if key == MIN_ISR and self.entity is None and self.elr is not False:
            self.notice(
                NoticeLevel.WARNING,
                key,
                f"changing the cluster-level {MIN_ISR} clears the eligible leader replicas "
                "(ELR) of every partition that inherits it (KIP-966): until they are "
                "rebuilt, only the ISR can take over leadership"
                + ("" if self.elr else " (if ELR is enabled; its state is unknown)"),
            )

    def kept_secret(self, key: str) -> bool:
        """A secret already set on the entity is kept (it cannot be read back to compare)
        unless credentials are rotated."""
        if key not in self.live.own(self.entity) or self.rotate:
            return False
        self.notice(
            NoticeLevel.INFO,
            key,
            f"{key} is set and cannot be read back (a secret); kept as it is "
            "(apply --rotate-credentials sets it again from its reference)",
        )
        return True

    def wanted_secret(self, key: str, ref: dict[str, str]) -> None:
        if self.refused(key):
            return
        self.sensitive.add(key)
        if self.kept_secret(key):
            return
        self.to_set_from[key] = ref
        self.before[f"config.{key}"] = None

    def unlisted(self, exclusive: bool) -> None:
        keys = self.desired.keys
        for key, entry in sorted(self.live.own(self.entity).items()):
            if key in keys:
                continue
            if key == MIN_ISR and self.entity is None and self.elr:
                self.notice(
                    NoticeLevel.INFO,
                    key,
                    f"{MIN_ISR}={entry.value} is set cluster-wide but not in the spec; kept: "
                    "Kafka refuses to remove it while eligible leader replicas are enabled",
                )  # a note, not "unmanaged": nothing could change it, so it is no drift
                continue
            shown = "(sensitive value)" if entry.sensitive else entry.value
            if not exclusive:
                self.notice(
                    NoticeLevel.INFO,
                    key,
                    f"config {key}={shown} is set dynamically on {entity_name(self.entity)} "
                    "but not in the spec; kept (ownership.brokers.configs is additive)",
                    "unmanaged",
                )
                continue
            self.to_delete.append(key)
            self.before[f"config.{key}"] = None if entry.sensitive else entry.value
            if entry.sensitive or is_secret_key(key):
                self.sensitive.add(key)
            self.risks |= key_risks(key, entry.value, None)

    def change(self) -> Change | None:
        payload = BrokerConfigPayload(
            broker=self.entity,
            set=self.to_set,
            set_from=tuple(sorted(self.to_set_from.items())),
            delete=tuple(self.to_delete),
        )
        if not payload.displayed():
            return None
        return change_from_payload(
            payload,
            before=self.before,
            sensitive=frozenset(f"config.{k}" for k in self.sensitive),
            address=self.address,
            provider=PROVIDER,
            resource_type=PROVIDER,
            name=entity_name(self.entity),
            action=Action.UPDATE,
            risks=frozenset(self.risks),
            reason=self.desired.path,
        )


def _known_keys(configs: Mapping[str, LiveConfig]) -> set[str]:
    """Kafka's own keys among described configs: a custom key (set dynamically, unknown to
    Kafka) is reported sensitive without being a secret by name."""
    return {k for k, c in configs.items() if not c.sensitive or is_secret_key(k)}


def _value(entry: LiveConfig | None) -> str | None:
    return entry.value if entry is not None else None


def diff_brokers(
    desired: Sequence[DesiredBroker],
    live: LiveBrokers,
    *,
    exclusive: bool = False,
    elr: bool | None = None,
    rotate: bool = False,
) -> ProviderPlan:
    """The changes that make the brokers' dynamic configs what ``desired`` asks."""
    changes: list[Change] = []
    notices: list[Notice] = []
    for item in desired:
        if item.broker is not None and item.broker not in live.broker_ids:
            known = ", ".join(map(str, live.broker_ids)) or "none"
            notices.append(
                Notice(
                    level=NoticeLevel.ERROR,
                    address=broker_address(item.broker),
                    kind="refused",
                    message=f"{item.path}: no broker {item.broker} in the cluster (brokers: {known})",
                )
            )
            continue
        found = _Entity(item, live, elr, rotate)
        for key, value in item.config.items():
            found.wanted(key, value)
        for key, ref in item.secrets.items():
            found.wanted_secret(key, ref)
        found.unlisted(exclusive)
        notices += found.notices
        change = found.change()
        if change is not None:
            changes.append(change)
    return ProviderPlan(changes=tuple(changes), notices=tuple(notices))
