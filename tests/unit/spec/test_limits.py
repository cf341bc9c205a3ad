"""Every integer of a spec is bounded by what the protocols carry and what Kafka accepts."""

from __future__ import annotations

import pytest

from reconciler.spec.limits import (
    KAFKA_MAX_PARTITIONS_PER_REQUEST,
    KAFKA_MAX_RECORDS_PER_REQUEST,
    create_topics_batches,
    topic_creation_records,
)
from tests.unit.spec.helpers import assert_at, doc, errors_of, load, single_error

KAFKA = """\
kafka:
  connection: {bootstrapServers: "k:9092"}
"""


def topics(*lines: str, before: str = "") -> str:
    """A document whose topics list starts on line 7 + the lines of ``before``."""
    return doc(KAFKA + before + "  topics:\n" + "".join(f"    - {line}\n" for line in lines))


def column(text: str, line: int, needle: str) -> int:
    """The 1-based column of ``needle`` on ``line`` of ``text``."""
    found = text.splitlines()[line - 1].find(needle)
    assert found >= 0, (needle, text.splitlines()[line - 1])
    return found + 1


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("99999999999999999999999999999999", "got 99999999999999999999999999999999"),
        ("1000000000", "got 1000000000"),
        ("2147483648", "got 2147483648"),
        ("10001", "got 10001"),
        ("1" + "0" * 60, "got a 61-digit number"),
    ],
)
def test_partitions_beyond_what_the_controller_creates(value: str, fragment: str) -> None:
    text = topics(f"{{name: a, partitions: {value}}}")
    issue = single_error(text)
    assert_at(
        issue,
        7,
        column(text, 7, value),
        "must be at most 10000 (the Kafka controller creates at most 10000",
    )
    assert fragment in issue.message
    assert issue.path == "kafka.topics[0].partitions"


def test_a_number_too_long_to_read_is_located_and_short() -> None:
    text = topics(f"{{name: a, partitions: {'9' * 5000}}}")
    issues = errors_of(text)
    assert (issues[0].line, issues[0].column) == (7, column(text, 7, "999"))
    assert "(5000 characters) is not a valid int: far more digits" in issues[0].message
    assert all(len(issue.message) < 200 for issue in issues)


def test_the_largest_creatable_topic_is_valid() -> None:
    # 1 topic record + 9998 partitions + 1 config = 10000 records: exactly the cap.
    load(topics("{name: a, partitions: 9998, config: {retention.ms: 7d}}"))


def test_one_record_too_many_is_an_error_at_the_partitions() -> None:
    text = topics("{name: a, partitions: 9999, config: {retention.ms: 7d}}")
    issue = single_error(text)
    assert_at(issue, 7, column(text, 7, "9999"), "creating this topic takes 10001 metadata records")
    assert "9999 partitions from the topic, 1 config)" in issue.message
    assert "at most 10000 per request" in issue.message


def test_records_from_a_profile_are_reported_once_at_the_profile() -> None:
    text = topics(
        "{name: a, profile: big}",
        "{name: b, profile: big}",
        "{name: c, profile: big, config: {retention.ms: 7d}}",
        before="  profiles:\n    big: {partitions: 10000}\n",
    )
    issues = errors_of(text)
    assert len(issues) == 2, issues
    assert_at(
        issues[0],
        7,
        column(text, 7, "10000"),
        "creating topic 'a' (and any other with these settings)",
    )
    assert issues[0].path == "kafka.profiles.big.partitions"
    # The topic that adds a config is reported at its own config.
    assert_at(
        issues[1],
        11,
        column(text, 11, "config:"),
        "creating this topic takes 10002 metadata records",
    )


def test_replication_factor_is_an_int16() -> None:
    text = topics("{name: a, replicationFactor: 32768}")
    issue = single_error(text)
    assert_at(
        issue,
        7,
        column(text, 7, "32768"),
        "must be at most 32767 (a 16-bit integer in Kafka's CreateTopics",
    )


def test_expected_brokers_and_request_timeout_are_int32() -> None:
    text = doc(
        """\
        kafka:
          connection: {bootstrapServers: "k:9092", requestTimeoutMs: 2147483648}
          expectedBrokers: 99999999999
        """
    )
    first, second = errors_of(text)
    assert_at(
        first,
        5,
        column(text, 5, "2147483648"),
        "must be at most 2147483647 (a 32-bit integer in Kafka's protocol)",
    )
    assert_at(second, 6, column(text, 6, "99999999999"), "must be at most 2147483647")


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("retention.ms", "9223372036854775808", "(retention.ms is a Kafka long)"),
        ("segment.ms", "20000000000w", "(segment.ms is a Kafka long)"),
        ("retention.bytes", "9000PiB", "(retention.bytes is a Kafka long)"),
        ("max.message.bytes", "2GiB", "(max.message.bytes is a Kafka int)"),
        ("min.insync.replicas", "2147483648", "(min.insync.replicas is a Kafka int)"),
        ("flush.messages", "9223372036854775808", "(flush.messages is a Kafka long)"),
    ],
)
def test_config_values_are_bounded_by_their_kafka_type(key: str, value: str, fragment: str) -> None:
    text = topics(f"{{name: a, config: {{{key}: {value}}}}}")
    issue = single_error(text)
    assert_at(issue, 7, column(text, 7, value), fragment)


def test_redis_layout_is_bounded() -> None:
    text = doc(
        """\
        redis:
          connection: {addresses: "r:6379"}
          cluster: {masters: 16385, replicasPerMaster: 1000}
        """
    )
    first, second = errors_of(text)
    assert_at(
        first, 6, column(text, 6, "16385"), "must be at most 16384 (a master serves at least one"
    )
    assert_at(
        second,
        6,
        column(text, 6, "1000}"),
        "must be at most 999 (Redis Cluster is designed for at most 1000",
    )


def test_a_layout_beyond_1000_nodes_is_a_warning() -> None:
    loaded = load(
        doc(
            """\
            redis:
              connection: {addresses: "r:6379"}
              cluster: {masters: 600, replicasPerMaster: 1}
            """
        )
    )
    assert [w.message for w in loaded.warnings] == [
        "a layout of 600 masters × 2 = 1200 nodes is beyond the 1000 nodes Redis Cluster is "
        "designed for"
    ]


def test_a_port_with_many_digits_is_an_error_not_a_crash() -> None:
    text = doc(
        f"""\
        kafka:
          connection: {{bootstrapServers: "k:{"9" * 5000}"}}
        """
    )
    issue = single_error(text)
    assert "the port must be a number from 1 to 65535" in issue.message
    assert (issue.line, issue.column) == (5, column(text, 5, '"k:'))


def test_topic_creation_records() -> None:
    assert topic_creation_records(3, 2) == 6


def test_create_topics_batches_respect_every_controller_limit() -> None:
    topics = [(32, 2)] * 1000 + [(9000, 0), (1, 0)] + [(1, 0)] * 2500
    batches = create_topics_batches(topics)
    assert sorted(i for batch in batches for i in batch) == list(range(len(topics)))
    assert [i for batch in batches for i in batch] == list(range(len(topics)))  # in order
    for batch in batches:
        assert len(batch) <= 1000
        assert sum(topics[i][0] for i in batch) <= KAFKA_MAX_PARTITIONS_PER_REQUEST
        assert sum(topic_creation_records(*topics[i]) for i in batch) <= (
            KAFKA_MAX_RECORDS_PER_REQUEST
        )
    # 1000 topics of 32 partitions and 2 configs: 35 records each, 285 per request.
    assert len(batches[0]) == 285


def test_an_oversized_topic_gets_a_request_of_its_own() -> None:
    assert create_topics_batches([(1, 0), (20_000, 0), (1, 0)]) == [[0], [1], [2]]
