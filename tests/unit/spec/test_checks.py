"""Semantic checks: each error and warning class at its exact line and column."""

from __future__ import annotations

import pytest

from reconciler.spec.checks import (
    ACL_OPERATIONS_BY_RESOURCE,
    address_problem,
    check_spec,
    principal_problem,
    topic_name_problem,
)
from reconciler.spec.models import AclOperation, AclResourceType
from tests.unit.spec.helpers import assert_at, doc, errors_of, load, single_error

KAFKA = """\
kafka:
  connection: {bootstrapServers: "k:9092"}
"""
REDIS_K8S = """\
redis:
  connection: {kubernetes: {namespace: ns}}
"""


def topics(*lines: str) -> str:
    """A document whose topics list starts on line 7 (one topic per line)."""
    return doc(KAFKA + "  topics:\n" + "".join(f"    - {line}\n" for line in lines))


# --------------------------------------------------------------------------- topic names


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("'has space'", "illegal character(s) ' '"),
        ("'a/b'", "illegal character(s) '/'"),
        ("'.'", "not a legal topic name"),
        ("'..'", "not a legal topic name"),
        ("''", "cannot be empty"),
        ("x" * 250, "at most 249 characters"),
    ],
)
def test_illegal_topic_names(name: str, fragment: str) -> None:
    assert_at(single_error(topics(f"{{name: {name}}}")), 7, 14, fragment)


def test_longest_legal_topic_name() -> None:
    assert topic_name_problem("x" * 249) is None
    load(topics("{name: " + "x" * 249 + "}"))


def test_duplicate_topic_names() -> None:
    issue = single_error(topics("{name: a}", "{name: b}", "{name: a}"))
    assert_at(issue, 9, 14, "duplicate topic 'a'", "first listed at line 7, column 14")


def test_dot_and_underscore_collision_is_a_warning() -> None:
    loaded = load(topics("{name: llm.events}", "{name: llm_events}"))
    (warning,) = loaded.warnings
    assert (warning.line, warning.column, warning.level) == (8, 14, "warning")
    assert "collides with 'llm.events'" in warning.message


def test_internal_topic_name_is_a_warning() -> None:
    (warning,) = load(topics("{name: __consumer_offsets}")).warnings
    assert (warning.line, warning.column) == (7, 14) and "internal" in warning.message


def test_unknown_profile_reference() -> None:
    text = doc(
        KAFKA + "  profiles: {fast: {partitions: 3}}\n  topics:\n    - {name: a, profile: fats}\n"
    )
    assert_at(single_error(text), 8, 26, "unknown profile 'fats'", "did you mean 'fast'?")


def test_unknown_profile_without_profiles() -> None:
    assert_at(single_error(topics("{name: a, profile: x}")), 7, 26, "no profiles defined")


# --------------------------------------------------------------------------- replication


def test_isr_above_topic_replication_factor() -> None:
    text = doc(
        KAFKA + "  defaults: {config: {min.insync.replicas: 2}}\n  topics:\n"
        "    - {name: a, replicationFactor: 1}\n"
    )
    issue = single_error(text)
    assert_at(
        issue,
        8,
        36,
        "min.insync.replicas 2 (from defaults) is more than replicationFactor 1 (from topic)",
    )


def test_isr_set_on_the_topic_points_at_the_config() -> None:
    text = doc(
        KAFKA + "  defaults: {replicationFactor: 2}\n  topics:\n"
        "    - {name: a, config: {min.insync.replicas: 3}}\n"
    )
    assert_at(single_error(text), 8, 47, "min.insync.replicas 3 (from topic)")


def test_inherited_conflict_is_reported_once_at_its_source() -> None:
    text = doc(
        KAFKA + "  defaults: {replicationFactor: 1, config: {min.insync.replicas: 2}}\n"
        "  topics: [{name: a}, {name: b}, {name: c}]\n"
    )
    issue = single_error(text)
    assert_at(issue, 6, 66, "topic 'a': min.insync.replicas 2 (from defaults)")


def test_conflict_through_a_profile() -> None:
    text = doc(
        KAFKA + "  defaults: {config: {min.insync.replicas: 2}}\n"
        "  profiles: {single: {replicationFactor: 1}}\n"
        "  topics: [{name: a, profile: single}, {name: b, profile: single}]\n"
    )
    assert_at(single_error(text), 7, 42, "(from profile 'single')")


def test_isr_equal_to_rf_is_fine() -> None:
    load(
        doc(
            KAFKA + "  defaults: {replicationFactor: 1, config: {min.insync.replicas: 1}}\n"
            "  topics: [{name: a}]\n"
        )
    )


def test_replication_factor_above_expected_brokers() -> None:
    text = doc(KAFKA + "  expectedBrokers: 1\n  topics:\n    - {name: a, replicationFactor: 3}\n")
    assert_at(single_error(text), 8, 36, "more than expectedBrokers 1")


# --------------------------------------------------------------------------- topic configs


def test_unknown_config_key_with_suggestion() -> None:
    issue = single_error(topics("{name: a, config: {retention.msec: 1d}}"))
    assert_at(issue, 7, 26, "unknown topic config 'retention.msec'", "did you mean 'retention.ms'?")


def test_bad_duration_unit() -> None:
    issue = single_error(topics("{name: a, config: {retention.ms: 7days}}"))
    assert_at(issue, 7, 40, "cannot read '7days' as a duration")
    assert issue.path == 'kafka.topics[0].config["retention.ms"]'


def test_bad_size_unit() -> None:
    issue = single_error(topics("{name: a, config: {segment.bytes: 1G}}"))
    assert_at(issue, 7, 41, "cannot read '1G' as a size")


def test_value_out_of_range() -> None:
    issue = single_error(topics("{name: a, config: {segment.bytes: 2GiB}}"))
    assert_at(issue, 7, 41, "2147483648 is above the maximum 2147483647")


def test_bad_enum_config_value() -> None:
    issue = single_error(topics("{name: a, config: {compression.type: brotli}}"))
    assert_at(
        issue, 7, 44, "'brotli' is not one of: uncompressed, zstd, lz4, snappy, gzip, producer"
    )


def test_bad_config_in_defaults_and_profiles() -> None:
    text = doc(
        KAFKA + "  defaults: {config: {cleanup.policy: remove}}\n"
        "  profiles: {p: {config: {min.cleanable.dirty.ratio: 1.5}}}\n"
    )
    issues = errors_of(text)
    assert [(i.line, i.column) for i in issues] == [(6, 39), (7, 54)]


def test_deprecated_config_is_a_warning() -> None:
    (warning,) = load(topics("{name: a, config: {message.downconversion.enable: false}}")).warnings
    assert (warning.line, warning.column) == (7, 26) and "removed in Kafka 4.0" in warning.message


def test_humane_units_are_valid() -> None:
    load(
        topics(
            "{name: a, config: {retention.ms: 7d, retention.bytes: unlimited, "
            "segment.bytes: 512MiB, segment.ms: 12h, cleanup.policy: 'delete,compact', "
            "min.cleanable.dirty.ratio: 0.5, preallocate: true}}"
        )
    )


# --------------------------------------------------------------------------- ACLs


def acls(*lines: str) -> str:
    """A document whose ACL rules start on line 7 (one per line)."""
    return doc(KAFKA + "  acls:\n" + "".join(f"    - {line}\n" for line in lines))


def test_operation_invalid_for_resource_type() -> None:
    issue = single_error(
        acls("{principal: 'User:a', operation: WRITE, resourceType: GROUP, resourceName: g}")
    )
    assert_at(
        issue,
        7,
        40,
        "operation WRITE does not apply to a GROUP resource",
        "allowed: ALL, DELETE, DESCRIBE, READ",
    )


def test_cluster_resource_must_be_kafka_cluster() -> None:
    issue = single_error(
        acls(
            "{principal: 'User:a', operation: DESCRIBE, resourceType: CLUSTER, "
            "resourceName: my-cluster}"
        )
    )
    assert_at(issue, 7, 87, "always named 'kafka-cluster'")


def test_principal_needs_a_type() -> None:
    issue = single_error(acls("{role: producer, principal: alice, topics: [t]}"))
    assert_at(issue, 7, 35, "expected Type:name")


def test_host_name_is_a_warning() -> None:
    loaded = load(acls("{role: producer, principal: 'User:a', host: app.local, topics: [t]}"))
    (warning,) = loaded.warnings
    assert (warning.line, warning.column) == (7, 51) and "by IP address" in warning.message


def test_consumer_without_groups_is_a_warning() -> None:
    (warning,) = load(acls("{role: consumer, principal: 'User:c', topics: [t]}")).warnings
    assert (warning.line, warning.column) == (7, 7) and "no groups" in warning.message


def test_role_with_an_illegal_topic() -> None:
    issue = single_error(acls("{role: producer, principal: 'User:p', topics: [ok, 'not ok']}"))
    assert_at(issue, 7, 58, "illegal character")


def test_operation_table_matches_kafka() -> None:
    assert ACL_OPERATIONS_BY_RESOURCE[AclResourceType.TRANSACTIONAL_ID] == {
        AclOperation.DESCRIBE,
        AclOperation.WRITE,
        AclOperation.ALL,
    }
    assert AclOperation.IDEMPOTENT_WRITE in ACL_OPERATIONS_BY_RESOURCE[AclResourceType.CLUSTER]
    assert AclOperation.READ not in ACL_OPERATIONS_BY_RESOURCE[AclResourceType.CLUSTER]


def test_ownership_checks() -> None:
    text = doc(
        KAFKA + "  ownership:\n    topics: {prefixes: [''], deletion: allow}\n"
        "    acls: {principals: [bob]}\n"
    )
    issues = errors_of(text)
    assert [(i.line, i.column) for i in issues] == [(7, 25), (8, 25)]


# --------------------------------------------------------------------------- connections


def test_bootstrap_server_without_port() -> None:
    text = doc("kafka:\n  connection: {bootstrapServers: 'a:9092,b'}\n")
    assert_at(single_error(text), 5, 34, "'b' is not host:port")


def test_bootstrap_server_url_in_a_list() -> None:
    text = doc("kafka:\n  connection:\n    bootstrapServers: [a:9092, 'PLAINTEXT://b:9092']\n")
    assert_at(single_error(text), 6, 32, "is a URL")


def test_sasl_protocol_needs_credentials() -> None:
    text = doc(
        "kafka:\n  connection:\n    bootstrapServers: a:9092\n    security: {protocol: SASL_SSL}\n"
    )
    assert_at(single_error(text), 7, 26, "needs a 'sasl' block")


def test_tls_certificate_needs_its_key() -> None:
    text = doc(
        "kafka:\n  connection:\n    bootstrapServers: a:9092\n"
        "    security:\n      protocol: SSL\n      tls: {certFile: c.pem}\n"
    )
    assert_at(single_error(text), 9, 7, "both certFile and keyFile")


def test_redis_needs_three_masters() -> None:
    assert_at(
        single_error(doc(REDIS_K8S + "  cluster: {masters: 2}\n")), 6, 22, "at least 3 masters"
    )


def test_redis_address_and_duplicate() -> None:
    text = doc("redis:\n  connection:\n    addresses: [a:1, b:2, c, a:1, d:1, e:1]\n")
    issues = errors_of(text)
    assert [(i.line, i.column, i.message) for i in issues] == [
        (6, 27, "'c' is not host:port"),
        (6, 30, "address a:1 is listed twice"),
    ]


def test_fewer_redis_addresses_than_nodes_is_a_warning() -> None:
    loaded = load(doc("redis:\n  connection:\n    addresses: 'a:1,b:1,c:1'\n"))
    (warning,) = loaded.warnings
    assert (warning.line, warning.column) == (6, 16)
    assert "3 address(es) for a layout of 3 masters × 2 = 6 nodes" in warning.message
    assert loaded.spec.redis is not None and loaded.spec.redis.cluster.node_count == 6


def test_kubernetes_namespace_and_selector() -> None:
    text = doc(
        "redis:\n  connection:\n    kubernetes: {namespace: My_NS, selector: 'app=redis cluster'}\n"
    )
    issues = errors_of(text)
    assert [(i.line, i.column) for i in issues] == [(6, 29), (6, 46)]


def test_ipv6_addresses() -> None:
    assert address_problem("[::1]:6379") is None
    assert address_problem("[zz]:6379") is not None
    assert address_problem("host:0") is not None


def test_principal_forms() -> None:
    assert principal_problem("User:*") is None
    assert principal_problem("Group:ops") is None
    assert principal_problem("User:") is not None


def test_nothing_to_manage_is_a_warning() -> None:
    (warning,) = load(doc("")).warnings
    assert "nothing to manage" in warning.message


def test_check_spec_without_positions() -> None:
    spec = load(topics("{name: a}")).spec
    assert check_spec(spec) == []
