"""kafka.brokers in the spec: humane units, read-only keys and inline secrets located at the
key, overrides per broker id, resolution into Kafka's string form."""

from __future__ import annotations

import textwrap

import pytest

from reconciler.spec.kafka_brokers import broker_config_value, desired_brokers, humane_broker_value
from tests.unit.spec.helpers import HEADER, assert_at, errors_of, kafka_body, load, single_error

CONNECTION = "connection: {bootstrapServers: localhost:9092}\n"


def kafka(text: str) -> str:
    return HEADER + "kafka:\n" + kafka_body(CONNECTION + textwrap.dedent(text))


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("log.retention.ms", "7d", "604800000"),
        ("log.retention.ms", "infinite", "-1"),
        ("log.segment.bytes", "1GiB", "1073741824"),
        ("log.cleaner.backoff.ms", "30s", "30000"),
        ("log.cleaner.dedupe.buffer.size", 1024, "1024"),
        ("replica.fetch.max.bytes", "1MiB", "1048576"),
        ("unclean.leader.election.enable", False, "false"),
        ("background.threads", 12, "12"),
        ("min.insync.replicas", 2, "2"),
        ("max.connections.per.ip.overrides", "10.0.0.1:5", "10.0.0.1:5"),
        ("log.cleaner.io.max.bytes.per.second", "50MiB/s", "52428800"),
        ("log.cleaner.io.max.bytes.per.second", 1.5e8, "150000000.0"),
        ("leader.replication.throttled.rate", "10MB/s", "10000000"),
    ],
)
def test_values_take_the_units_of_topic_configs(key: str, value: object, expected: str) -> None:
    assert broker_config_value(key, value) == expected


def test_humane_values_read_back_exactly() -> None:
    assert humane_broker_value("log.retention.ms", "604800000") == "7d"
    assert humane_broker_value("log.cleaner.backoff.ms", "25000") == "25s"
    assert humane_broker_value("log.cleaner.backoff.ms", "1500") == "1500"
    assert humane_broker_value("background.threads", "12") == "12"
    for key, value in [("log.retention.ms", "7d"), ("log.cleaner.backoff.ms", "25s")]:
        assert humane_broker_value(key, broker_config_value(key, value)) == value


def test_default_and_overrides_resolve_in_spec_order() -> None:
    loaded = load(
        kafka(
            """\
            brokers:
              default:
                config: {log.retention.ms: 3d, background.threads: 12}
              overrides:
                - id: 2
                  config: {log.cleaner.backoff.ms: 20s}
                - id: 1
                  config:
                    listener.name.internal.ssl.key.password: {fromEnv: KEY_PASSWORD}
            """
        )
    )
    assert loaded.spec.kafka is not None
    default, two, one = desired_brokers(loaded.spec.kafka.brokers)
    assert default.broker is None and default.path == "kafka.brokers.default"
    assert default.config == {"background.threads": "12", "log.retention.ms": "259200000"}
    assert (two.broker, two.path, two.config) == (
        2,
        "kafka.brokers.overrides[0]",
        {"log.cleaner.backoff.ms": "20000"},
    )
    assert one.secrets == {"listener.name.internal.ssl.key.password": {"fromEnv": "KEY_PASSWORD"}}
    assert not one.config
    located = default.located(loaded.where)
    assert located.where("background.threads") == (
        "spec.yaml:8:38: kafka.brokers.default.config.background.threads"
    )


def test_a_read_only_key_is_a_located_error_at_the_key() -> None:
    issue = single_error(
        kafka(
            """\
            brokers:
              default:
                config:
                  background.threads: 12
                  num.partitions: 3
            """
        )
    )
    assert_at(issue, 10, 9, "num.partitions is read-only", "server.properties", "restart")


def test_an_inline_secret_is_refused_at_the_key() -> None:
    issue = single_error(
        kafka(
            """\
            brokers:
              overrides:
                - id: 1
                  config:
                    listener.name.internal.ssl.keystore.password: hunter2
            """
        )
    )
    assert_at(issue, 10, 11, "a secret", "fromEnv")
    assert "hunter2" not in str(issue)


def test_a_bad_value_is_located_at_the_value() -> None:
    issue = single_error(
        kafka(
            """\
            brokers:
              default:
                config: {log.cleaner.backoff.ms: soon}
            """
        )
    )
    assert (issue.line, issue.column) == (
        8,
        40,
    ) and "cannot read 'soon' as a duration" in issue.message


def test_a_broker_listed_twice_is_an_error() -> None:
    issue = single_error(
        kafka(
            """\
            brokers:
              overrides:
                - {id: 1, config: {background.threads: 2}}
                - {id: 1, config: {background.threads: 3}}
            """
        )
    )
    assert "broker 1 is listed twice" in issue.message


def test_a_negative_broker_id_is_located() -> None:
    issue = single_error(kafka("brokers: {overrides: [{id: -1}]}\n"))
    assert "must be at least 0" in issue.message and issue.path.endswith("overrides[0].id")


def test_null_and_list_values_are_refused() -> None:
    issues = errors_of(
        kafka(
            """\
            brokers:
              default:
                config: {background.threads: null, log.cleanup.policy: [delete]}
            """
        )
    )
    text = "\n".join(i.message for i in issues)
    assert "cannot be empty" in text and "comma-separated" in text
