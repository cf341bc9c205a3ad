"""Every class of loading error, each at its exact line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.errors import SpecError
from reconciler.spec import yaml_tree
from reconciler.spec.loading import MAX_SPEC_BYTES, load_spec, load_spec_text
from reconciler.spec.models import AclEntry, ConsumerRole, ProducerRole
from reconciler.spec.yaml_tree import MAX_DEPTH
from tests.unit.spec.helpers import (
    HEADER,
    assert_at,
    doc,
    errors_of,
    kafka_body,
    load,
    single_error,
)

KAFKA = """\
kafka:
  connection: {bootstrapServers: "k:9092"}
"""

# --------------------------------------------------------------------------- reading the file


def test_yaml_syntax_error_points_at_the_problem() -> None:
    issue = single_error(doc("kafka: [1, 2\nredis: {}\n"))
    assert_at(issue, 5, 6, "YAML syntax error")
    assert "flow sequence at line 4, column 8" in issue.message


def test_unclosed_quote_is_a_syntax_error() -> None:
    issue = single_error(doc('kafka:\n  connection: {bootstrapServers: "k:9092}\n'))
    assert_at(issue, 6, 1, "YAML syntax error")


def test_tab_indentation_is_reported_at_the_tab() -> None:
    issue = single_error(doc("kafka:\n  connection:\n\t  bootstrapServers: k:9092\n"))
    assert_at(issue, 6, 1, "tab character used for indentation")


def test_tab_inside_a_value_is_fine() -> None:
    loaded = load(doc(KAFKA + '  topics:\n    - {name: a, description: "x\ty"}\n'))
    assert loaded.spec.kafka is not None and loaded.spec.kafka.topics[0].description == "x\ty"


def test_duplicate_key_points_at_the_second_key() -> None:
    issue = single_error(doc(KAFKA + "  topics: []\n  topics: []\n"))
    assert_at(issue, 7, 3, "duplicate key 'topics'", "first given at line 6, column 3")


def test_duplicate_key_in_flow_mapping() -> None:
    issue = single_error(doc(KAFKA + "  topics:\n    - {name: a, name: b}\n"))
    assert_at(issue, 7, 17, "duplicate key 'name'")
    assert issue.path == "kafka.topics[0].name"


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        aliases = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    issue = single_error(doc("\n".join(lines) + "\n"))
    assert "more than 100000 nodes" in issue.message
    assert (issue.line, issue.column) == (8, 45)  # within a4: 8 × 11111 + the rest > 100000


def test_recursive_alias() -> None:
    issue = single_error(doc("a: &loop [1, *loop]\n"))
    assert_at(issue, 4, 14, "recursive")


def test_undefined_alias() -> None:
    issue = single_error(doc("kafka: *nowhere\n"))
    assert_at(issue, 4, 8, "no anchor '&nowhere'")


def test_aliases_and_merge_keys_work() -> None:
    loaded = load(
        doc(KAFKA)
        + kafka_body("""
        profiles:
          base: &base {partitions: 6, config: {retention.ms: 1d}}
        topics:
          - name: a
            <<: *base
            partitions: 3
    """)
    )
    assert loaded.spec.kafka is not None
    topic = loaded.spec.kafka.topics[0]
    assert topic.partitions == 3 and topic.config == {"retention.ms": "1d"}


def test_error_in_aliased_content_points_at_the_anchor() -> None:
    issues = errors_of(
        doc(KAFKA)
        + kafka_body("""
        profiles:
          base: &base {partitions: zero}
        topics:
          - {name: a, <<: *base}
    """)
    )
    # once for the profile, once for the topic that merged it: both at the anchored value
    assert [(i.line, i.column, i.path) for i in issues] == [
        (7, 30, "kafka.profiles.base.partitions"),
        (7, 30, "kafka.topics[0].partitions"),
    ]


def test_nesting_too_deep() -> None:
    issue = single_error(doc("x: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"))
    assert_at(issue, 4, 3 + MAX_DEPTH, f"deeper than {MAX_DEPTH}")


def test_second_document_is_refused() -> None:
    issue = single_error(doc(KAFKA + "---\nkind: Other\n"))
    assert_at(issue, 6, 1, "exactly one YAML document")


def test_unsupported_tag() -> None:
    issue = single_error(doc(KAFKA + "  topics:\n    - {name: !!binary YWJj}\n"))
    assert_at(issue, 7, 14, "unsupported YAML tag '!!binary'")


def test_control_character_is_located() -> None:
    issue = single_error(doc("metadata2: a\x07b\n"))
    assert_at(issue, 4, 13, "not allowed")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert_at(raised.value.issues[0], 1, 1, "empty")


def test_comments_only_is_empty() -> None:
    assert_at(single_error("# nothing here\n\n"), 1, 1, "empty")


def test_top_level_must_be_a_mapping() -> None:
    assert_at(single_error("\n- a\n- b\n"), 2, 1, "top level must be a mapping", "a list")


def test_non_utf8_bytes_are_located(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(HEADER.encode() + "kafka: {x: 'caf\u00e9 \u00e9'}\n".encode("latin-1"))
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert_at(raised.value.issues[0], 4, 16, "not UTF-8", "0xe9")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + doc(KAFKA).encode())
    assert load_spec(path).spec.kafka is not None


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as stream:
        stream.truncate(MAX_SPEC_BYTES + 1)  # sparse: nothing to read if the size check works
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert_at(raised.value.issues[0], 1, 1, "at most 16 MB")


def test_oversized_text_is_refused() -> None:
    with pytest.raises(SpecError, match="at most 16 MB"):
        load_spec_text("a" * (MAX_SPEC_BYTES + 1))


def test_missing_file_names_the_reason(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as raised:
        load_spec(tmp_path / "nope.yaml")
    issue = raised.value.issues[0]
    assert issue.line == 0 and "cannot read the file" in issue.message
    assert str(issue).startswith(f"{tmp_path / 'nope.yaml'}: cannot read")


# --------------------------------------------------------------------------- model errors


def test_unknown_field_suggests_the_closest() -> None:
    issue = single_error(doc(KAFKA + "  topics:\n    - name: a\n      partition: 3\n"))
    assert_at(issue, 8, 7, "unknown field 'partition'", "did you mean 'partitions'?")
    assert issue.path == "kafka.topics[0].partition"


def test_unknown_top_level_field() -> None:
    issue = single_error(doc("kafak: {}\n"))
    assert_at(issue, 4, 1, "did you mean 'kafka'?")


def test_unknown_field_without_close_match_lists_the_allowed() -> None:
    issue = single_error(doc("zzz: 1\n"))
    assert (
        "expected one of: apiVersion, kind, metadata, kafka, redis, policies, environments"
        in issue.message
    )


def test_missing_field_points_at_the_parent_key() -> None:
    issue = single_error(doc("kafka:\n  topics: []\n"))
    assert_at(issue, 4, 1, "missing required field 'connection'")
    assert issue.path == "kafka.connection"


def test_missing_field_in_a_list_item_points_at_the_item() -> None:
    issue = single_error(doc(KAFKA + "  topics:\n    - partitions: 3\n"))
    assert_at(issue, 7, 7, "missing required field 'name'")


def test_missing_top_level_fields() -> None:
    issues = errors_of("kind: ClusterSpec\n")
    assert {i.message for i in issues} == {
        "missing required field 'apiVersion'",
        "missing required field 'metadata'",
    }
    assert {(i.line, i.column) for i in issues} == {(1, 1)}


def test_wrong_type_points_at_the_value() -> None:
    issue = single_error(doc(KAFKA + "  topics:\n    - name: a\n      partitions: three\n"))
    assert_at(issue, 8, 19, "expected an integer, got the string 'three'")


def test_quoted_number_is_a_string() -> None:
    issue = single_error(doc(KAFKA + '  topics:\n    - {name: a, partitions: "3"}\n'))
    assert_at(issue, 7, 29, "expected an integer, got the string '3'")


def test_wrong_api_version() -> None:
    issue = single_error("apiVersion: v1\nkind: ClusterSpec\nmetadata: {name: x}\n")
    assert_at(issue, 1, 13, "expected 'llm-analytics/v1'")


def test_bad_enum_value() -> None:
    issue = single_error(
        doc("kafka:\n  connection:\n    bootstrapServers: k:9092\n    security: {protocol: TLS}\n")
    )
    assert_at(issue, 7, 26, "'TLS' is not one of: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL")


def test_enum_values_are_case_insensitive() -> None:
    loaded = load(
        doc(
            KAFKA + "  ownership: {topics: {configs: Exclusive, deletion: ALLOW, prefixes: [x-]}}\n"
        )
    )
    assert loaded.spec.kafka is not None
    assert loaded.spec.kafka.ownership.topics.configs.value == "exclusive"


def test_number_below_minimum() -> None:
    issue = single_error(doc(KAFKA + "  topics:\n    - {name: a, partitions: 0}\n"))
    assert_at(issue, 7, 29, "must be at least 1, got 0")


def test_union_type_error_names_every_accepted_type() -> None:
    issue = single_error(doc("kafka:\n  connection: {bootstrapServers: 9092}\n"))
    assert_at(issue, 5, 34, "expected a string or a list, got the integer 9092")


def test_error_inside_a_union_member_wins_over_the_member_mismatch() -> None:
    issue = single_error(doc("kafka:\n  connection: {bootstrapServers: [k:9092, 9093]}\n"))
    assert_at(issue, 5, 43, "expected a string, got the integer 9093")
    assert issue.path == "kafka.connection.bootstrapServers[1]"


def test_config_value_must_be_a_scalar() -> None:
    issue = single_error(doc(KAFKA + "  defaults: {config: {cleanup.policy: [delete, compact]}}\n"))
    assert_at(issue, 6, 23, "comma-separated string")  # the key of a list value


def test_secret_is_never_inline() -> None:
    issue = single_error(
        doc("""\
        kafka:
          connection:
            bootstrapServers: k:9092
            security:
              protocol: SASL_SSL
              sasl: {username: u, password: hunter2}
    """)
    )
    assert_at(issue, 9, 37, "never written inline", "fromEnv")


def test_secret_needs_exactly_one_reference() -> None:
    issue = single_error(
        doc("""\
        redis:
          connection:
            addresses: [a:1, b:1, c:1, d:1, e:1, f:1]
            password: {fromEnv: A, fromFile: /x}
    """)
    )
    assert_at(issue, 7, 5, "exactly one of fromEnv or fromFile")


def test_redis_needs_exactly_one_target() -> None:
    issue = single_error(doc("redis:\n  connection: {}\n"))
    assert_at(issue, 5, 3, "exactly one of addresses or kubernetes")


def test_acl_rule_with_unknown_role() -> None:
    issue = single_error(doc(KAFKA + "  acls:\n    - {role: admin, principal: User:x}\n"))
    assert_at(issue, 7, 7, "unknown role admin", "expected producer or consumer")


def test_acl_entry_errors_do_not_mention_roles() -> None:
    issues = errors_of(doc(KAFKA + "  acls:\n    - principal: User:x\n      operation: READ\n"))
    assert [(i.line, i.column, i.message) for i in issues] == [
        (7, 7, "missing required field 'resourceName'"),
        (7, 7, "missing required field 'resourceType'"),
    ]


def test_role_error_is_located_in_the_role() -> None:
    issue = single_error(
        doc(
            KAFKA + "  acls:\n    - role: consumer\n      principal: User:x\n"
            "      topics: [a]\n      group: [g]\n"
        )
    )
    assert_at(issue, 10, 7, "unknown field 'group'", "did you mean 'groups'?")


def test_acl_rules_are_parsed_by_kind() -> None:
    loaded = load(
        doc(KAFKA)
        + kafka_body("""
        acls:
          - {principal: "User:a", operation: read, resourceType: topic, resourceName: t}
          - {role: producer, principal: "User:p", topics: [t]}
          - {role: consumer, principal: "User:c", topics: [t], groups: [g]}
    """)
    )
    assert loaded.spec.kafka is not None
    kinds = [type(rule) for rule in loaded.spec.kafka.acls]
    assert kinds == [AclEntry, ProducerRole, ConsumerRole]


def test_snake_case_keys_are_accepted_and_located() -> None:
    issue = single_error(doc(KAFKA + "  topics:\n    - {name: a, replication_factor: 0}\n"))
    assert_at(issue, 7, 37, "must be at least 1")
    assert issue.path == "kafka.topics[0].replication_factor"


def test_all_errors_are_reported_sorted_by_position() -> None:
    issues = errors_of(
        doc(
            KAFKA,
            """\
          topics:
            - {name: a, partitions: x}
            - {name: b, partitons: 1}
        redis:
          cluster: {masters: many}
    """,
        )
    )
    assert [(i.line, i.column) for i in issues] == [(7, 29), (8, 17), (9, 1), (10, 22)]


def test_spec_error_message_is_the_located_list() -> None:
    with pytest.raises(SpecError) as raised:
        load(doc("kafak: {}\n"))
    message = str(raised.value)
    assert message.splitlines()[0] == "spec.yaml is not a valid spec (1 error):"
    assert "spec.yaml:4:1: kafak: unknown field 'kafak'" in message.splitlines()[1]


# --------------------------------------------------------------------------- overlays


ENVIRONMENTS = doc(
    KAFKA,
    """\
  defaults: {replicationFactor: 3, config: {min.insync.replicas: 2}}
  topics: [{name: a}, {name: b}]
redis:
  connection: {kubernetes: {namespace: ns}}
environments:
  local:
    kafka:
      defaults: {replicationFactor: 1, config: {min.insync.replicas: 1}}
      topics: [{name: c}]
    redis:
      connection: {kubernetes: null, addresses: "h:1,h:2,h:3"}
  broken:
    kafka:
      defaults: {replicationFactor: zero}
  bad-key:
    kind: Other
""",
)


def test_overlay_merges_mappings_and_replaces_lists() -> None:
    loaded = load(ENVIRONMENTS, env="local")
    kafka, redis = loaded.spec.kafka, loaded.spec.redis
    assert kafka is not None and redis is not None
    assert kafka.defaults.replication_factor == 1
    assert kafka.defaults.config == {"min.insync.replicas": 1}
    assert [t.name for t in kafka.topics] == ["c"]
    assert kafka.connection.bootstrap_servers == "k:9092"  # untouched base value
    assert redis.connection.kubernetes is None  # null deletes the key
    assert redis.connection.addresses == ["h:1", "h:2", "h:3"]  # a comma string becomes a list
    assert loaded.env == "local"


def test_overlay_error_points_into_the_overlay() -> None:
    issue = single_error(ENVIRONMENTS, env="broken")
    assert_at(issue, 19, 37, "expected an integer")
    assert issue.path == "kafka.defaults.replicationFactor"


def test_overlay_cannot_change_the_kind() -> None:
    issue = single_error(ENVIRONMENTS, env="bad-key")
    assert_at(issue, 21, 5, "cannot change 'kind'")


def test_unknown_environment_lists_the_known_ones() -> None:
    issue = single_error(ENVIRONMENTS, env="prod")
    assert_at(issue, 10, 1, "unknown environment 'prod'", "known: bad-key, broken, local")


def test_base_without_env_reports_the_overlays_errors() -> None:
    issues = errors_of(ENVIRONMENTS)
    assert [(i.line, i.column, i.message) for i in issues] == [
        (19, 37, "with --env broken: expected an integer, got the string 'zero'"),
        (21, 5, "an overlay cannot change 'kind'"),
    ]


def test_hash_depends_on_bytes_and_environment() -> None:
    text = ENVIRONMENTS.split("  broken:")[0]
    assert load(text).sha256 != load(text, env="local").sha256
    assert load(text).sha256 == load(text).sha256
    assert load(text).sha256 != load(text + "\n").sha256


# --------------------------------------------------------------------------- interpolation


def test_interpolation_from_the_environment_and_defaults() -> None:
    text = doc('kafka:\n  connection: {bootstrapServers: "${A}:${PORT:-9092}"}\n')
    loaded = load(text, environ={"A": "broker"})
    assert loaded.spec.kafka is not None
    assert loaded.spec.kafka.connection.bootstrap_servers == "broker:9092"


def test_empty_variable_takes_the_default() -> None:
    text = doc('kafka:\n  connection: {bootstrapServers: "${A:-k:1}"}\n')
    loaded = load(text, environ={"A": ""})
    assert loaded.spec.kafka is not None and loaded.spec.kafka.connection.bootstrap_servers == "k:1"


def test_unset_variable_is_located_at_the_reference() -> None:
    issue = single_error(doc("kafka:\n  connection:\n    bootstrapServers: kafka:${PORT}\n"))
    assert_at(issue, 6, 29, "environment variable PORT is not set")


def test_unset_variable_in_a_quoted_value() -> None:
    issue = single_error(doc('kafka:\n  connection: {bootstrapServers: "x:${PORT}"}\n'))
    assert_at(issue, 5, 37, "PORT is not set")


def test_dollar_dollar_escapes() -> None:
    text = doc(KAFKA + '  topics: [{name: a, description: "cost in $${CURRENCY}"}]\n')
    loaded = load(text)
    assert loaded.spec.kafka is not None
    assert loaded.spec.kafka.topics[0].description == "cost in ${CURRENCY}"


def test_malformed_reference() -> None:
    issue = single_error(doc("kafka:\n  connection:\n    bootstrapServers: ${1X}\n"))
    assert_at(issue, 6, 23, "not a reference")


def test_unclosed_reference() -> None:
    issue = single_error(doc("kafka:\n  connection:\n    bootstrapServers: a${B\n"))
    assert_at(issue, 6, 24, "not closed")


def test_substituted_values_stay_strings() -> None:
    issue = single_error(
        doc(KAFKA + "  topics: [{name: a, partitions: '${N}'}]\n"), environ={"N": "3"}
    )
    assert_at(issue, 6, 34, "expected an integer", "stays a string")


def test_environments_are_not_interpolated_unless_selected() -> None:
    text = doc(
        KAFKA + "environments:\n  ci:\n    kafka: {connection: {bootstrapServers: '${CI_K}'}}\n"
    )
    assert (
        load(text).spec.environments["ci"]["kafka"]["connection"]["bootstrapServers"] == "${CI_K}"
    )
    assert_at(single_error(text, env="ci"), 8, 45, "CI_K is not set")


def test_warnings_are_returned_with_a_valid_spec() -> None:
    loaded = load(doc(KAFKA + "  topics: [{name: a.b}, {name: a_b}]\n"))
    assert [(w.line, w.column, w.level) for w in loaded.warnings] == [(6, 32, "warning")]
    assert str(loaded.warnings[0]).startswith("spec.yaml:6:32: warning: kafka.topics[1].name:")


def test_unselected_overlays_are_checked_too() -> None:
    text = doc(
        KAFKA,
        """\
        environments:
          staging:
            kafka:
              connection: {bootstrapServers: "${STAGING_BROKERS}"}
              defaults: {config: {retention.ms: 7days}}
    """,
    )
    issue = single_error(text)  # the unset variable is not an error until staging is selected
    assert_at(issue, 10, 41, "with --env staging: cannot read '7days' as a duration")
    assert issue.path == 'kafka.defaults.config["retention.ms"]'
    issues = errors_of(text, env="staging")
    assert [(i.line, i.column) for i in issues] == [(9, 39), (10, 41)]


def test_too_many_nodes_without_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml_tree, "MAX_NODES", 12)
    issue = single_error(doc("x: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"))
    assert_at(
        issue, 4, 8, "more than 12 nodes; even a spec of 50,000 topics is smaller"
    )  # keys count too
    assert "alias" not in issue.message


def test_fast_and_pure_python_parsers_agree_on_positions() -> None:
    text = doc(
        KAFKA,
        kafka_body("""
        topics:
          - {name: "é€𝄞", partitions: 1}
          - name: b
            description: |
              multi
              line
            partitions: [𝄞]
    """),
    )
    fast = yaml_tree.read_yaml(text)
    slow_builder = yaml_tree._Builder(text, "<string>")
    slow = slow_builder.build(yaml.SafeLoader)

    def marks(node: yaml_tree.PosNode) -> list[object]:
        return [
            node.mark,
            node.key_mark,
            node.style,
            *(m for child in node.children.values() for m in marks(child)),
        ]

    assert fast.data == slow.data
    assert marks(fast.positions) == marks(slow.positions)
