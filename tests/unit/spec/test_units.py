"""Humane units to Kafka's own string form."""

from __future__ import annotations

import pytest

from reconciler.spec.topic_configs import TOPIC_CONFIGS, ConfigKind
from reconciler.spec.units import (
    normalize_topic_config,
    parse_duration_ms,
    parse_move_rate,
    parse_size_bytes,
)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("500ms", 500),
        ("45s", 45_000),
        ("30m", 1_800_000),
        ("12h", 43_200_000),
        ("7d", 604_800_000),
        ("1w", 604_800_000),
        ("1h30m", 5_400_000),
        ("1.5h", 5_400_000),
        ("2 d", 172_800_000),
    ],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("100B", 100),
        ("10KiB", 10_240),
        ("512MiB", 536_870_912),
        ("1GiB", 1_073_741_824),
        ("1GB", 1_000_000_000),
        ("1.5KiB", 1536),
        ("2TiB", 2 * 1024**4),
        ("64kb", 64_000),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size_bytes(text) == size


@pytest.mark.parametrize(
    ("key", "value", "kafka"),
    [
        ("retention.ms", "7d", "604800000"),
        ("retention.ms", 86400000, "86400000"),
        ("retention.ms", "86400000", "86400000"),
        ("retention.ms", -1, "-1"),
        ("retention.ms", "infinite", "-1"),
        ("retention.bytes", "unlimited", "-1"),
        ("local.retention.ms", "-2", "-2"),
        ("local.retention.bytes", "infinite", "-1"),
        ("segment.bytes", "1GiB", "1073741824"),
        ("max.message.bytes", "1MiB", "1048576"),
        ("segment.ms", "12h", "43200000"),
        ("min.insync.replicas", 2, "2"),
        ("preallocate", True, "true"),
        ("unclean.leader.election.enable", "FALSE", "false"),
        ("compression.type", "LZ4", "lz4"),
        ("message.timestamp.type", "logappendtime", "LogAppendTime"),
        ("cleanup.policy", "compact, delete", "compact,delete"),
        ("min.cleanable.dirty.ratio", 0.5, "0.5"),
        ("min.cleanable.dirty.ratio", 1, "1.0"),
        ("compression.gzip.level", -1, "-1"),
        ("leader.replication.throttled.replicas", "0:101, 1:102", "0:101,1:102"),
        ("follower.replication.throttled.replicas", "*", "*"),
        ("some.unknown.key", True, "true"),
        ("some.unknown.key", 3, "3"),
    ],
)
def test_normalize(key: str, value: object, kafka: str) -> None:
    assert normalize_topic_config(key, value) == kafka


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("retention.ms", "7days", "cannot read '7days' as a duration"),
        ("retention.ms", "7D", "as a duration"),
        ("retention.ms", "0.5ms", "not a whole number of milliseconds"),
        ("retention.ms", True, "got a boolean"),
        ("retention.ms", 1.5, "got 1.5"),
        ("retention.ms", -5, "below the minimum -1"),
        ("segment.ms", "infinite", "as a duration"),  # no "infinite" where Kafka has none
        ("segment.ms", 0, "below the minimum 1"),
        ("segment.bytes", "1G", "cannot read '1G' as a size"),
        ("segment.bytes", "2GiB", "'2GiB' = 2147483648 is above the maximum 2147483647"),
        ("segment.bytes", "0.5B", "not a whole number of bytes"),
        ("min.insync.replicas", "two", "expected a whole number"),
        ("min.insync.replicas", 0, "below the minimum 1"),
        ("preallocate", "yes", "expected true or false"),
        ("compression.type", "brotli", "is not one of"),
        ("cleanup.policy", "delete,delete", "repeats a value"),
        ("cleanup.policy", "", "comma-separated list"),
        ("cleanup.policy", "remove", "comma-separated list"),
        ("min.cleanable.dirty.ratio", 1.5, "above the maximum 1"),
        ("min.cleanable.dirty.ratio", "nan", "between 0 and 1"),
        ("compression.gzip.level", 0, "below the minimum 1"),
        ("leader.replication.throttled.replicas", "all", "partition:broker"),
    ],
)
def test_bad_values(key: str, value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as raised:
        normalize_topic_config(key, value)
    assert fragment in str(raised.value)


def test_the_table_knows_the_common_keys() -> None:
    assert TOPIC_CONFIGS["retention.ms"].kind is ConfigKind.MS
    assert TOPIC_CONFIGS["retention.bytes"].kind is ConfigKind.BYTES
    assert TOPIC_CONFIGS["cleanup.policy"].kind is ConfigKind.LIST
    for key in (
        "segment.index.bytes",
        "segment.jitter.ms",
        "message.timestamp.before.max.ms",
        "message.timestamp.after.max.ms",
        "file.delete.delay.ms",
        "flush.messages",
        "index.interval.bytes",
        "remote.storage.enable",
        "message.downconversion.enable",
    ):
        assert key in TOPIC_CONFIGS
    for key, definition in TOPIC_CONFIGS.items():
        assert key.endswith(".ms") == (definition.kind is ConfigKind.MS), key


@pytest.mark.parametrize(
    ("key", "raw", "humane"),
    [
        ("retention.ms", "2592000000", "30d"),
        ("retention.ms", "1209600000", "14d"),
        ("segment.ms", "5400000", "90m"),
        ("segment.bytes", "1073741824", "1GiB"),
        ("retention.bytes", "1000000000", "1GB"),
        ("retention.ms", "-1", None),
        ("retention.ms", "1500", None),
        ("max.message.bytes", "1048588", None),
        ("cleanup.policy", "delete", None),
    ],
)
def test_humane_config_values_read_back_exactly(key: str, raw: str, humane: str | None) -> None:
    from reconciler.spec.units import humane_config_value

    assert humane_config_value(key, raw) == humane
    if humane is not None:
        assert normalize_topic_config(key, humane) == raw


@pytest.mark.parametrize(
    ("text", "per_second", "unit"),
    [
        ("2000keys/s", 2000, "keys"),
        ("2,000 keys/s", 2000, "keys"),
        ("1.5key/s", 1.5, "keys"),
        ("20MiB/s", 20 * 2**20, "bytes"),
        ("1048576", 2**20, "bytes"),
    ],
)
def test_move_rates(text: str, per_second: float, unit: str) -> None:
    rate = parse_move_rate(text)
    assert (rate.per_second, rate.unit) == (per_second, unit)
    assert parse_move_rate(rate.spelled()) == rate


@pytest.mark.parametrize("text", ["0keys/s", "-5keys/s", "fastkeys/s", "quick", "0MiB/s"])
def test_bad_move_rates(text: str) -> None:
    with pytest.raises(ValueError, match=r"move rate|above 0"):
        parse_move_rate(text)


def test_move_rates_read_in_words() -> None:
    assert str(parse_move_rate("2000keys/s")) == "2,000 keys/s"
    assert str(parse_move_rate("20MiB/s")) == "20.0 MiB/s"
