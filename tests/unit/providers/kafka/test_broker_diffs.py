"""The pure diff of dynamic broker configs: source-aware, read-only and ELR refusals,
secrets never read back, risks; the saved-plan check; export plans back to nothing."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from reconciler.engine.plan import NoticeLevel, Risk
from reconciler.providers.kafka.broker_diffs import (
    BrokerConfigPayload,
    LiveBrokers,
    diff_brokers,
)
from reconciler.providers.kafka.broker_protocol import decode_finalized_features
from reconciler.providers.kafka.state import ConfigSource, LiveConfig
from reconciler.spec.kafka_brokers import DesiredBroker, desired_brokers
from reconciler.spec.models import KafkaSpec

DEFAULT_PATH = ("kafka", "brokers", "default")
S = ConfigSource


def cfg(
    value: str | None, source: ConfigSource, *, ro: bool = False, secret: bool = False
) -> LiveConfig:
    return LiveConfig(value, source, secret, ro)


def default(**config: str) -> DesiredBroker:
    return DesiredBroker(
        None, DEFAULT_PATH, config={k.replace("_", "."): v for k, v in config.items()}
    )


def broker(broker_id: int, config: dict[str, str], **more: Any) -> DesiredBroker:
    return DesiredBroker(broker_id, ("kafka", "brokers", "overrides", 0), config=config, **more)


def live(**fields: Any) -> LiveBrokers:
    return LiveBrokers(broker_ids=(1, 2, 3), **fields)


def attrs(change: Any) -> dict[str, tuple[Any, Any]]:
    return {a.path: (a.before, a.after) for a in change.attributes}


def test_the_default_is_compared_with_the_dynamic_default_only() -> None:
    state = live(
        default={"log.cleaner.backoff.ms": cfg("15000", S.DYNAMIC_DEFAULT_BROKER_CONFIG)},
        reference={"background.threads": cfg("10", S.DEFAULT_CONFIG)},
    )
    (change,) = diff_brokers(
        [default(log_cleaner_backoff_ms="20000", background_threads="10")], state
    ).changes
    assert change.address == "kafka_broker_config.<default>"
    # the built-in default equals the spec but is not the cluster's: it is set dynamically
    assert attrs(change) == {
        "config.background.threads": (None, "10"),
        "config.log.cleaner.backoff.ms": ("15000", "20000"),
    }
    assert change.reason == "kafka.brokers.default" and not change.risks


def test_a_broker_is_compared_with_its_effective_value_static_values_are_not_drift() -> None:
    state = live(
        brokers={
            1: {
                "num.io.threads": cfg("4", S.STATIC_BROKER_CONFIG),
                "background.threads": cfg("10", S.DEFAULT_CONFIG),
                "log.cleaner.threads": cfg("2", S.DYNAMIC_BROKER_CONFIG),
            }
        }
    )
    desired = [broker(1, {"num.io.threads": "4", "background.threads": "12"})]
    (change,) = diff_brokers(desired, state).changes
    assert attrs(change) == {"config.background.threads": ("10", "12")}
    # additive: the dynamic key not in the spec is reported; the static one is not
    (notice,) = diff_brokers(desired, state).notices
    assert notice.kind == "unmanaged" and "log.cleaner.threads=2" in notice.message
    exclusive = diff_brokers(desired, state, exclusive=True)
    (removal,) = exclusive.changes
    assert attrs(removal)["config.log.cleaner.threads"] == ("2", None)
    assert Risk.DESTRUCTIVE in removal.risks and "num.io.threads" not in str(attrs(removal))


def test_nothing_to_do_when_everything_matches() -> None:
    state = live(
        default={
            "background.threads": cfg("12", S.DYNAMIC_DEFAULT_BROKER_CONFIG),
            "log.cleaner.io.max.bytes.per.second": cfg("1.5E8", S.DYNAMIC_DEFAULT_BROKER_CONFIG),
            "log.cleanup.policy": cfg("compact,delete", S.DYNAMIC_DEFAULT_BROKER_CONFIG),
        }
    )
    wanted = default(
        background_threads="12",
        log_cleaner_io_max_bytes_per_second="150000000.0",
        log_cleanup_policy="delete,compact",
    )
    planned = diff_brokers([wanted], state, exclusive=True)
    assert not planned.changes and not planned.notices


def test_read_only_keys_are_refused_with_their_location() -> None:
    item = DesiredBroker(
        None,
        DEFAULT_PATH,
        config={"controller.quorum.election.timeout.ms": "2000"},
        locations={"controller.quorum.election.timeout.ms": "spec.yaml:9:9"},
    )
    state = live(
        reference={
            "controller.quorum.election.timeout.ms": cfg("1000", S.STATIC_BROKER_CONFIG, ro=True)
        }
    )
    planned = diff_brokers([item], state)
    assert not planned.changes
    (notice,) = planned.notices
    assert notice.level is NoticeLevel.ERROR and notice.kind == "refused"
    assert notice.message.startswith(
        "spec.yaml:9:9: kafka.brokers.default.config.controller.quorum.election.timeout.ms: "
    )
    assert "server.properties" in notice.message and "restart" in notice.message


def test_a_listeners_copy_of_a_dynamic_key_is_left_to_the_brokers_validation() -> None:
    key = "listener.name.internal.ssl.endpoint.identification.algorithm"
    state = live(brokers={1: {key: cfg("https", S.DYNAMIC_BROKER_CONFIG, ro=True)}})
    (change,) = diff_brokers([broker(1, {key: ""})], state).changes
    assert attrs(change) == {f"config.{key}": ("https", "")}


def test_a_key_kafka_does_not_have_is_refused_with_the_closest_one() -> None:
    state = live(
        reference={
            "log.cleaner.backoff.ms": cfg("15000", S.DEFAULT_CONFIG),
            "custom.plugin.key": cfg(None, S.DYNAMIC_BROKER_CONFIG, secret=True),
        }
    )
    planned = diff_brokers(
        [broker(1, {"log.cleaner.backoff.mss": "3"}), default(custom_plugin_key="x")],
        live(brokers={1: {}}, reference=state.reference),
    )
    assert not planned.changes
    typo, custom = planned.notices
    assert "did you mean log.cleaner.backoff.ms?" in typo.message
    assert "no broker config custom.plugin.key" in custom.message
    assert {typo.level, custom.level} == {NoticeLevel.ERROR}


def test_an_unknown_broker_is_an_error() -> None:
    (notice,) = diff_brokers([broker(7, {"background.threads": "2"})], live()).notices
    assert notice.level is NoticeLevel.ERROR and "no broker 7" in notice.message
    assert notice.address == "kafka_broker_config.7"


def test_min_insync_replicas_under_eligible_leader_replicas() -> None:
    state = live(
        default={"min.insync.replicas": cfg("1", S.DYNAMIC_DEFAULT_BROKER_CONFIG)},
        brokers={1: {"min.insync.replicas": cfg("1", S.DYNAMIC_DEFAULT_BROKER_CONFIG)}},
    )
    per_broker = diff_brokers([broker(1, {"min.insync.replicas": "2"})], state, elr=True)
    assert not per_broker.changes
    assert [n.level for n in per_broker.notices] == [NoticeLevel.ERROR]
    assert "KIP-966" in per_broker.notices[0].message
    without_elr = diff_brokers([broker(1, {"min.insync.replicas": "2"})], state, elr=False)
    assert without_elr.changes and not without_elr.notices

    cluster = diff_brokers([default(min_insync_replicas="2")], state, elr=True)
    (change,) = cluster.changes
    assert Risk.DISRUPTIVE in change.risks  # a stricter min.insync.replicas fails producers
    (warning,) = cluster.notices
    assert warning.level is NoticeLevel.WARNING and "clears the eligible leader replicas" in (
        warning.message
    )
    # The cluster-level value Kafka set for ELR cannot be removed: kept, even if exclusive.
    kept = diff_brokers([default(background_threads="3")], state, exclusive=True, elr=True)
    assert attrs(kept.changes[0]) == {"config.background.threads": (None, "3")}
    assert "refuses to remove it" in kept.notices[0].message
    assert kept.notices[0].kind == "note"  # nothing could change it: no drift


def test_secrets_are_never_read_back() -> None:
    ref = {"fromEnv": "KEY_PASSWORD"}
    key = "listener.name.internal.ssl.key.password"
    item = broker(1, {}, secrets={key: ref})
    (change,) = diff_brokers([item], live(brokers={1: {}})).changes
    (attribute,) = change.attributes
    assert attribute.sensitive and attribute.after == "env KEY_PASSWORD"
    assert change.payload["set_from"] == [[key, ref]]
    assert BrokerConfigPayload.model_validate(change.payload).alteration({key: "s3cret"}) == {
        key: "s3cret"
    }
    already = live(brokers={1: {key: cfg(None, S.DYNAMIC_BROKER_CONFIG, secret=True)}})
    kept = diff_brokers([item], already)
    assert not kept.changes and "--rotate-credentials" in kept.notices[0].message
    assert diff_brokers([item], already, rotate=True).changes
    # a key Kafka reports as a secret is refused inline (it would be saved in plan files)
    inline = broker(1, {"custom.credential": "s3cret"})
    marked = live(
        brokers={1: {"custom.credential": cfg(None, S.DYNAMIC_BROKER_CONFIG, secret=True)}}
    )
    refused = diff_brokers([inline], marked)
    assert not refused.changes and "by reference" in refused.notices[0].message
    assert "s3cret" not in refused.notices[0].message


def test_a_saved_plan_keeps_the_reference_and_shows_no_secret() -> None:
    from reconciler.engine.plan import Plan
    from reconciler.providers.kafka.brokers import KafkaBrokersProvider
    from reconciler.rendering.redaction import redact_plan_dict

    key = "listener.name.internal.ssl.key.password"
    item = broker(1, {"background.threads": "3"}, secrets={key: {"fromFile": "/run/key"}})
    (change,) = diff_brokers([item], live(brokers={1: {}})).changes
    saved = Plan.from_json_dict(redact_plan_dict(Plan(changes=(change,)).to_json_dict()))
    (restored,) = saved.changes
    shown = {a.path: a.after for a in restored.attributes}
    assert shown[f"config.{key}"] == "(sensitive value)"
    assert restored.payload["set_from"] == [[key, {"fromFile": "/run/key"}]]
    KafkaBrokersProvider(None, []).check_saved(restored, "(sensitive value)")  # type: ignore[arg-type]


def test_risky_keys_are_flagged() -> None:
    state = live(default={"log.retention.ms": cfg("604800000", S.DYNAMIC_DEFAULT_BROKER_CONFIG)})
    (cut,) = diff_brokers([default(log_retention_ms="3600000")], state).changes
    assert Risk.DATA_LOSS in cut.risks
    (longer,) = diff_brokers([default(log_retention_ms="864000000")], state).changes
    assert not longer.risks
    (unclean,) = diff_brokers([default(unclean_leader_election_enable="true")], live()).changes
    assert Risk.DATA_LOSS in unclean.risks


def test_a_tampered_saved_change_is_refused() -> None:
    from reconciler.errors import SafetyRefusal
    from reconciler.providers.kafka.brokers import KafkaBrokersProvider

    (change,) = diff_brokers([broker(1, {"background.threads": "12"})], live()).changes
    provider = KafkaBrokersProvider(None, [])  # type: ignore[arg-type]
    provider.check_saved(change, "(sensitive value)")
    more = {**change.payload, "set": {"background.threads": "1"}}
    with pytest.raises(SafetyRefusal, match="differs"):
        provider.check_saved(change.model_copy(update={"payload": more}), "(sensitive value)")
    other = {**change.payload, "broker": 2}
    with pytest.raises(SafetyRefusal, match="another broker"):
        provider.check_saved(change.model_copy(update={"payload": other}), "(sensitive value)")


def test_finalized_features_of_an_api_versions_answer() -> None:
    def compact(text: str) -> bytes:
        return bytes([len(text) + 1]) + text.encode()

    field = bytes([3])  # two features
    for name, level in [("metadata.version", 27), ("eligible.leader.replicas.version", 1)]:
        field += compact(name) + struct.pack(">hh", level, level) + b"\x00"
    assert decode_finalized_features(field) == {
        "metadata.version": 27,
        "eligible.leader.replicas.version": 1,
    }


def test_exported_brokers_plan_back_to_nothing() -> None:
    from reconciler.cli.export import live_brokers_to_spec

    key = "listener.name.internal.ssl.key.password"
    state = live(
        default={
            "log.retention.ms": cfg("259200000", S.DYNAMIC_DEFAULT_BROKER_CONFIG),
            "min.insync.replicas": cfg("1", S.DYNAMIC_DEFAULT_BROKER_CONFIG),
        },
        brokers={
            2: {
                "background.threads": cfg("12", S.DYNAMIC_BROKER_CONFIG),
                "num.io.threads": cfg("4", S.STATIC_BROKER_CONFIG),
                key: cfg(None, S.DYNAMIC_BROKER_CONFIG, secret=True),
            },
            3: {"num.io.threads": cfg("4", S.STATIC_BROKER_CONFIG)},
        },
    )
    exported = live_brokers_to_spec(state)["brokers"]
    assert exported["default"] == {"config": {"log.retention.ms": "3d", "min.insync.replicas": "1"}}
    assert exported["overrides"] == [
        {
            "id": 2,
            "config": {
                "background.threads": "12",
                key: {"fromEnv": "LLM_ANALYTICS_BROKER_LISTENER_NAME_INTERNAL_SSL_KEY_PASSWORD"},
            },
        }
    ]
    spec = KafkaSpec.model_validate(
        {"connection": {"bootstrapServers": "localhost:9092"}, "brokers": exported}
    )
    planned = diff_brokers(desired_brokers(spec.brokers), state, exclusive=True, elr=True)
    assert not planned.changes
