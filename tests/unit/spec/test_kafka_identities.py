"""kafka.quotas and kafka.users in the spec: units, per-entity-type keys, located errors."""

from __future__ import annotations

import textwrap

import pytest

from reconciler.spec.kafka_identities import quota_value
from tests.unit.spec.helpers import HEADER, kafka_body, load, single_error

CONNECTION = "connection: {bootstrapServers: localhost:9092}\n"


def kafka(text: str) -> str:
    return HEADER + "kafka:\n" + kafka_body(CONNECTION + textwrap.dedent(text))


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("producer_byte_rate", "10MiB/s", 10 * 1024 * 1024),
        ("consumer_byte_rate", "512 KiB/s", 512 * 1024),
        ("consumer_byte_rate", "1MB", 1_000_000),
        ("producer_byte_rate", 1048576, 1048576),
        ("request_percentage", 12.5, 12.5),
        ("controller_mutation_rate", "10", 10),
        ("connection_creation_rate", 20, 20),
    ],
)
def test_quota_values_are_kafkas_numbers(key: str, value: object, expected: float) -> None:
    assert quota_value(key, value) == expected


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("producer_byte_rate", "1.5B/s", "whole number"),
        ("request_percentage", "10MiB/s", "expected a number"),
        ("connection_creation_rate", 2.5, "whole number"),
        ("producer_byte_rate", 0, "positive"),
        ("producer_byte_rate", True, "expected a number"),
    ],
)
def test_bad_quota_values_say_why(key: str, value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        quota_value(key, value)


def test_quotas_and_users_load() -> None:
    spec = load(
        kafka(
            """\
            quotas:
              - {user: alice, config: {producer_byte_rate: 10MiB/s}}
              - {user: "<default>", clientId: ingest, config: {request_percentage: 50}}
              - {ip: "<default>", config: {connection_creation_rate: 100}}
            users:
              - name: alice
                password: {fromEnv: ALICE_PASSWORD}
                credentials: [{mechanism: scram-sha-256, iterations: 4096}]
            ownership:
              quotas: {users: [alice], deletion: allow}
              users: {prefixes: [app-], protected: [broker]}
            """
        )
    ).spec
    assert spec.kafka is not None
    assert spec.kafka.quotas[1].entity() == (("user", "<default>"), ("client-id", "ingest"))
    assert spec.kafka.users[0].credentials[0].mechanism.value == "SCRAM-SHA-256"


def test_an_ip_entity_takes_only_connection_creation_rate_located() -> None:
    issue = single_error(kafka("quotas:\n  - {ip: 10.0.0.1, config: {producer_byte_rate: 1000}}\n"))
    assert issue.line == 7 and "not a quota of an ip entity" in issue.message, str(issue)


def test_a_user_entity_does_not_take_connection_creation_rate() -> None:
    issue = single_error(kafka("quotas:\n  - {user: bob, config: {connection_creation_rate: 5}}\n"))
    assert "allowed: consumer_byte_rate" in issue.message, str(issue)


def test_an_ip_with_a_user_is_refused() -> None:
    issue = single_error(
        kafka("quotas:\n  - {ip: 1.2.3.4, user: a, config: {connection_creation_rate: 5}}\n")
    )
    assert "names only the ip" in issue.message


def test_an_inline_password_is_refused() -> None:
    issue = single_error(kafka("users:\n  - {name: bob, password: hunter2}\n"))
    assert "never written inline" in issue.message
    assert "hunter2" not in str(issue)


def test_iterations_are_bounded_as_kafka_does() -> None:
    issue = single_error(
        kafka(
            "users:\n  - name: bob\n    password: {fromEnv: B}\n"
            "    credentials: [{mechanism: SCRAM-SHA-512, iterations: 1000}]\n"
        )
    )
    assert "4096" in issue.message, str(issue)
