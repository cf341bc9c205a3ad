"""Semantic checks of a spec that the models alone cannot express; no cluster needed.

Each check yields located :class:`SpecIssue` objects (errors and warnings). The loader runs them
after model validation; :func:`check_kafka` and :func:`check_redis` also run on their own section
when another section of the file is invalid, so one mistake does not hide the others.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from msgspec import Struct

from reconciler.spec.issues import SpecIssue, SpecPath
from reconciler.spec.kafka_brokers import config_problem as broker_config_problem
from reconciler.spec.limits import (
    KAFKA_MAX_RECORDS_PER_REQUEST,
    REDIS_DESIGN_MAX_NODES,
    topic_creation_records,
)
from reconciler.spec.locating import Locator
from reconciler.spec.models import (
    AclEntry,
    AclOperation,
    AclResourceType,
    ClusterSpec,
    ConsumerRole,
    DeletionPolicy,
    KafkaSpec,
    PatternType,
    ProducerRole,
    RedisSpec,
    SecurityProtocol,
    TopicSettings,
)
from reconciler.spec.redis_config_rules import config_refusal
from reconciler.spec.resolving import DEFAULT_PARTITIONS, DEFAULT_REPLICATION_FACTOR
from reconciler.spec.topic_configs import TOPIC_CONFIGS
from reconciler.spec.units import normalize_topic_config

MAX_TOPIC_NAME_LENGTH = 249
MIN_REDIS_MASTERS = 3  # Redis Cluster refuses to form with fewer
CLUSTER_RESOURCE_NAME = "kafka-cluster"

TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
PRINCIPAL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*:.+$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_KEY = r"(?:[A-Za-z0-9.-]+/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_LABEL_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SELECTOR_TERM = re.compile(rf"^\s*!?{_LABEL_KEY}\s*(?:(?:==?|!=)\s*{_LABEL_VALUE}\s*)?$")

ACL_OPERATIONS_BY_RESOURCE: dict[AclResourceType, frozenset[AclOperation]] = {
    AclResourceType.TOPIC: frozenset(
        {
            AclOperation.READ,
            AclOperation.WRITE,
            AclOperation.CREATE,
            AclOperation.DELETE,
            AclOperation.ALTER,
            AclOperation.DESCRIBE,
            AclOperation.DESCRIBE_CONFIGS,
            AclOperation.ALTER_CONFIGS,
            AclOperation.ALL,
        }
    ),
    AclResourceType.GROUP: frozenset(
        {
            AclOperation.READ,
            AclOperation.DESCRIBE,
            AclOperation.DELETE,
            AclOperation.ALL,
        }
    ),
    AclResourceType.CLUSTER: frozenset(
        {
            AclOperation.CREATE,
            AclOperation.CLUSTER_ACTION,
            AclOperation.DESCRIBE_CONFIGS,
            AclOperation.ALTER_CONFIGS,
            AclOperation.IDEMPOTENT_WRITE,
            AclOperation.ALTER,
            AclOperation.DESCRIBE,
            AclOperation.ALL,
        }
    ),
    AclResourceType.TRANSACTIONAL_ID: frozenset(
        {
            AclOperation.DESCRIBE,
            AclOperation.WRITE,
            AclOperation.ALL,
        }
    ),
    AclResourceType.DELEGATION_TOKEN: frozenset({AclOperation.DESCRIBE, AclOperation.ALL}),
    AclResourceType.USER: frozenset(
        {
            AclOperation.CREATE_TOKENS,
            AclOperation.DESCRIBE_TOKENS,
            AclOperation.ALL,
        }
    ),
}
"""Operations Kafka accepts for each resource type (Kafka's ACL operations table)."""


def topic_name_problem(name: str) -> str | None:
    """Why Kafka would refuse ``name`` as a topic name, or None."""
    if not name:
        return "a topic name cannot be empty"
    if name in (".", ".."):
        return f"'{name}' is not a legal topic name"
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        return f"a topic name has at most {MAX_TOPIC_NAME_LENGTH} characters (this one has {len(name)})"
    if not TOPIC_NAME.match(name):
        bad = sorted({c for c in name if not re.match(r"[a-zA-Z0-9._-]", c)})
        shown = ", ".join(repr(c) for c in bad)
        return (
            f"illegal character(s) {shown} in topic name (allowed: letters, digits, '.', '_', '-')"
        )
    return None


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a ``host:port`` (IPv6 as ``[addr]:port``), or None."""
    if "://" in address:
        return f"{address!r} is a URL; give host:port only"
    host, colon, port = address.rpartition(":")
    if not colon or not host:
        return f"{address!r} is not host:port"
    if not port.isdigit() or len(port) > 5 or not 1 <= int(port) <= 65535:
        return f"{address!r}: the port must be a number from 1 to 65535"
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"{address!r}: {host} is not an IPv6 address"
        return None
    if not _HOSTNAME.match(host):
        return f"{address!r}: {host!r} is not a host name or IP address"
    return None


def principal_problem(principal: str) -> str | None:
    if not PRINCIPAL.match(principal):
        return f"{principal!r} is not a principal: expected Type:name, e.g. User:alice or User:*"
    return None


def _suggest(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Checker(Struct):
    locate: Locator
    # Where each model topic / ACL rule sits in the file's lists, when invalid items were left out.
    topic_positions: list[int] | None = None
    acl_positions: list[int] | None = None
    skip_connection: bool = False

    def topic_path(self, index: int) -> SpecPath:
        return ("kafka", "topics", self.topic_positions[index] if self.topic_positions else index)

    def acl_path(self, index: int) -> SpecPath:
        return ("kafka", "acls", self.acl_positions[index] if self.acl_positions else index)

    def error(self, path: SpecPath, message: str, *, at_key: bool = False) -> SpecIssue:
        return self.locate.issue(path, message, at_key=at_key)

    def warning(self, path: SpecPath, message: str, *, at_key: bool = False) -> SpecIssue:
        return self.locate.issue(path, message, level="warning", at_key=at_key)

    # ------------------------------------------------------------------- kafka

    def kafka(self, kafka: KafkaSpec) -> Iterator[SpecIssue]:
        base: SpecPath = ("kafka",)
        if not self.skip_connection:
            yield from self.connection(kafka)
        yield from self.settings(kafka.defaults, (*base, "defaults"))
        for name, profile in kafka.profiles.items():
            yield from self.settings(profile, (*base, "profiles", name))
        yield from self.topics(kafka)
        yield from self.acls(kafka)
        yield from self.brokers(kafka)
        yield from self.ownership(kafka)

    def connection(self, kafka: KafkaSpec) -> Iterator[SpecIssue]:
        path: SpecPath = ("kafka", "connection")
        servers = kafka.connection.bootstrap_list
        if not servers:
            yield self.error((*path, "bootstrapServers"), "no bootstrap server given")
        as_list = isinstance(kafka.connection.bootstrap_servers, list)
        for index, server in enumerate(servers):
            problem = address_problem(server)
            if problem:
                where = (
                    (*path, "bootstrapServers", index) if as_list else (*path, "bootstrapServers")
                )
                yield self.error(where, problem)
        security = kafka.connection.security
        spath = (*path, "security")
        sasl_protocol = security.protocol in (
            SecurityProtocol.SASL_PLAINTEXT,
            SecurityProtocol.SASL_SSL,
        )
        tls_protocol = security.protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)
        if sasl_protocol and security.sasl is None:
            yield self.error(
                (*spath, "protocol"),
                f"protocol {security.protocol.value} needs a 'sasl' block "
                "(mechanism, username, password)",
            )
        if security.sasl is not None and not sasl_protocol:
            yield self.error(
                (*spath, "sasl"),
                f"'sasl' is given but protocol is {security.protocol.value} "
                "(use SASL_SSL or SASL_PLAINTEXT)",
                at_key=True,
            )
        if security.tls is not None:
            if not tls_protocol:
                yield self.warning(
                    (*spath, "tls"),
                    f"'tls' is ignored with protocol {security.protocol.value} "
                    "(use SSL or SASL_SSL)",
                    at_key=True,
                )
            if (security.tls.cert_file is None) != (security.tls.key_file is None):
                yield self.error(
                    (*spath, "tls"), "give both certFile and keyFile, or neither", at_key=True
                )

    def brokers(self, kafka: KafkaSpec) -> Iterator[SpecIssue]:
        """``kafka.brokers``: read-only keys, inline secrets and bad values, at the entry."""
        if kafka.brokers is None:
            return
        base: SpecPath = ("kafka", "brokers")
        entries: list[tuple[SpecPath, dict[str, Any]]] = []
        if kafka.brokers.default is not None:
            entries.append(((*base, "default"), dict(kafka.brokers.default.config)))
        for index, override in enumerate(kafka.brokers.overrides):
            entries.append(((*base, "overrides", index), dict(override.config)))
        for path, config in entries:
            for key, value in config.items():
                found = broker_config_problem(key, value)
                if found is not None:
                    yield self.error((*path, "config", key), found[0], at_key=found[1])

    def settings(self, settings: TopicSettings, path: SpecPath) -> Iterator[SpecIssue]:
        known = list(TOPIC_CONFIGS)
        for key, value in settings.config.items():
            where = (*path, "config", key)
            definition = TOPIC_CONFIGS.get(key)
            if definition is None:
                yield self.error(
                    where, f"unknown topic config '{key}'{_suggest(key, known)}", at_key=True
                )
                continue
            try:
                normalize_topic_config(key, value)
            except ValueError as problem:
                yield self.error(where, str(problem))
                continue
            if definition.deprecated:
                yield self.warning(where, f"'{key}' is {definition.deprecated}", at_key=True)

    def topics(self, kafka: KafkaSpec) -> Iterator[SpecIssue]:
        first_by_name: dict[str, int] = {}
        first_by_collision_key: dict[str, int] = {}
        profiles = list(kafka.profiles)
        conflicts_reported: set[tuple[str, str]] = set()
        for index, topic in enumerate(kafka.topics):
            path = self.topic_path(index)
            problem = topic_name_problem(topic.name)
            if problem:
                yield self.error((*path, "name"), problem)
            elif topic.name.startswith("__"):
                yield self.warning(
                    (*path, "name"),
                    f"'{topic.name}' looks like a Kafka internal topic; "
                    "managing it is rarely what you want",
                )
            if topic.name in first_by_name:
                first = self.locate.mark((*self.topic_path(first_by_name[topic.name]), "name"))
                yield self.error(
                    (*path, "name"),
                    f"duplicate topic '{topic.name}' (first listed at line "
                    f"{first.line}, column {first.column})",
                )
            else:
                first_by_name[topic.name] = index
                collision_key = topic.name.replace(".", "_")
                other = first_by_collision_key.setdefault(collision_key, index)
                if other != index:
                    yield self.warning(
                        (*path, "name"),
                        f"'{topic.name}' collides with "
                        f"'{kafka.topics[other].name}' in metric names "
                        "(Kafka treats '.' and '_' alike there)",
                    )
            if topic.profile is not None and topic.profile not in kafka.profiles:
                known = (
                    f"; known profiles: {', '.join(profiles)}"
                    if profiles
                    else "; no profiles defined"
                )
                yield self.error(
                    (*path, "profile"),
                    f"unknown profile '{topic.profile}'"
                    f"{_suggest(topic.profile, profiles) or known}",
                )
            yield from self.settings(topic, path)
            yield from self.replication(kafka, index, conflicts_reported)
            yield from self.creation_size(kafka, index, conflicts_reported)

    def creation_size(
        self, kafka: KafkaSpec, index: int, reported: set[tuple[str, str]]
    ) -> Iterator[SpecIssue]:
        """One topic must fit in one CreateTopics request: 1 + partitions + configs records."""
        topic = kafka.topics[index]
        profile = kafka.profiles.get(topic.profile) if topic.profile else None
        layers: list[tuple[str, SpecPath, TopicSettings]] = [
            ("defaults", ("kafka", "defaults"), kafka.defaults)
        ]
        if profile is not None:
            layers.append(
                (f"profile '{topic.profile}'", ("kafka", "profiles", str(topic.profile)), profile)
            )
        layers.append(("topic", self.topic_path(index), topic))
        partitions, partitions_at = DEFAULT_PARTITIONS, -1
        config_keys: set[str] = set()
        config_at = -1
        for position, (_, _, settings) in enumerate(layers):
            if settings.partitions is not None:
                partitions, partitions_at = settings.partitions, position
            if settings.config:
                config_keys.update(settings.config)
                config_at = position
        records = topic_creation_records(partitions, len(config_keys))
        if records <= KAFKA_MAX_RECORDS_PER_REQUEST:
            return
        topic_layer = len(layers) - 1
        cause = max(partitions_at, config_at)
        if cause != topic_layer:
            key = (layers[cause][0], "creation-size")
            if key in reported:
                return
            reported.add(key)
        if partitions_at == cause:
            where: SpecPath = (*layers[cause][1], "partitions")
        else:
            where = (*layers[cause][1], "config")
        source = layers[partitions_at][0] if partitions_at >= 0 else "the built-in default"
        source = "the topic" if source == "topic" else source
        subject = (
            "creating this topic"
            if cause == topic_layer
            else f"creating topic '{topic.name}' (and any other with these settings)"
        )
        configs = len(config_keys)
        yield self.error(
            where,
            f"{subject} takes {records} metadata records (1 for the topic, {partitions} "
            f"partitions from {source}, {configs} config{'s' if configs != 1 else ''}); the "
            f"Kafka controller writes at most {KAFKA_MAX_RECORDS_PER_REQUEST} per request",
            at_key=partitions_at != cause,
        )

    def replication(
        self, kafka: KafkaSpec, index: int, reported: set[tuple[str, str]]
    ) -> Iterator[SpecIssue]:
        """min.insync.replicas ≤ replicationFactor ≤ expectedBrokers, after inheritance."""
        topic = kafka.topics[index]
        layers: list[tuple[str, SpecPath, TopicSettings]] = [
            ("defaults", ("kafka", "defaults"), kafka.defaults)
        ]
        profile = kafka.profiles.get(topic.profile) if topic.profile else None
        if profile is not None:
            layers.append(
                (f"profile '{topic.profile}'", ("kafka", "profiles", str(topic.profile)), profile)
            )
        topic_layer = len(layers)
        layers.append(("topic", self.topic_path(index), topic))

        replication, replication_at = DEFAULT_REPLICATION_FACTOR, -1  # -1: the built-in default
        isr_raw: object | None = None
        isr_at = -1
        for position, (_, _, settings) in enumerate(layers):
            if settings.replication_factor is not None:
                replication, replication_at = settings.replication_factor, position
            if "min.insync.replicas" in settings.config:
                isr_raw, isr_at = settings.config["min.insync.replicas"], position

        def source(position: int) -> str:
            return layers[position][0] if position >= 0 else "built-in default"

        def first_report(*sources: int) -> bool:
            # Inherited conflicts are reported once, at the layer that causes them.
            if topic_layer in sources:
                return True
            key = (source(sources[0]), source(sources[-1]))
            if key in reported:
                return False
            reported.add(key)
            return True

        subject = "" if topic_layer in (replication_at, isr_at) else f"topic '{topic.name}': "
        if (
            kafka.expected_brokers is not None
            and replication > kafka.expected_brokers
            and replication_at >= 0
            and first_report(replication_at, replication_at)
        ):
            yield self.error(
                (*layers[replication_at][1], "replicationFactor"),
                f"replicationFactor {replication} is more than expectedBrokers "
                f"{kafka.expected_brokers}",
            )
        if isr_raw is None:
            return
        try:
            isr = int(normalize_topic_config("min.insync.replicas", isr_raw))
        except ValueError:
            return  # reported by the config check
        if isr <= replication or not first_report(replication_at, isr_at):
            return
        if isr_at >= replication_at:
            where = (*layers[isr_at][1], "config", "min.insync.replicas")
        else:
            where = (*layers[replication_at][1], "replicationFactor")
        yield self.error(
            where,
            f"{subject}min.insync.replicas {isr} (from {source(isr_at)}) is more than "
            f"replicationFactor {replication} (from {source(replication_at)}): "
            "producers with acks=all could never write",
        )

    def acls(self, kafka: KafkaSpec) -> Iterator[SpecIssue]:
        for index, rule in enumerate(kafka.acls):
            path = self.acl_path(index)
            problem = principal_problem(rule.principal)
            if problem:
                yield self.error((*path, "principal"), problem)
            if rule.host != "*":
                try:
                    ipaddress.ip_address(rule.host)
                except ValueError:
                    yield self.warning(
                        (*path, "host"),
                        f"Kafka matches ACL hosts by IP address; {rule.host!r} "
                        "would never match (use '*' or an IP address)",
                    )
            if isinstance(rule, AclEntry):
                yield from self.acl_entry(rule, path)
            elif isinstance(rule, ProducerRole):
                if not rule.topics and not rule.topic_prefixes:
                    yield self.warning(
                        path,
                        "this producer role names no topics or topicPrefixes "
                        "and grants nothing to write",
                    )
                yield from self.names(rule.topics, (*path, "topics"), "topic")
                yield from self.names(rule.topic_prefixes, (*path, "topicPrefixes"), "prefix")
                yield from self.names(rule.transactional_ids, (*path, "transactionalIds"), "id")
                yield from self.names(
                    rule.transactional_id_prefixes, (*path, "transactionalIdPrefixes"), "prefix"
                )
            elif isinstance(rule, ConsumerRole):
                if not rule.topics and not rule.topic_prefixes:
                    yield self.warning(
                        path,
                        "this consumer role names no topics or topicPrefixes "
                        "and grants nothing to read",
                    )
                elif not rule.groups and not rule.group_prefixes:
                    yield self.warning(
                        path,
                        "this consumer role names no groups or groupPrefixes: "
                        "a consumer group cannot join or commit offsets",
                    )
                yield from self.names(rule.topics, (*path, "topics"), "topic")
                yield from self.names(rule.topic_prefixes, (*path, "topicPrefixes"), "prefix")
                yield from self.names(rule.groups, (*path, "groups"), "group")
                yield from self.names(rule.group_prefixes, (*path, "groupPrefixes"), "prefix")

    def names(self, values: list[str], path: SpecPath, what: str) -> Iterator[SpecIssue]:
        for index, value in enumerate(values):
            if not value.strip():
                yield self.error(
                    (*path, index), f"an empty {what} would match nothing or everything"
                )
            elif what == "topic" and value != "*":
                problem = topic_name_problem(value)
                if problem:
                    yield self.error((*path, index), problem)

    def acl_entry(self, entry: AclEntry, path: SpecPath) -> Iterator[SpecIssue]:
        allowed = ACL_OPERATIONS_BY_RESOURCE[entry.resource_type]
        if entry.operation not in allowed:
            names = ", ".join(sorted(op.value for op in allowed))
            yield self.error(
                (*path, "operation"),
                f"operation {entry.operation.value} does not apply to a "
                f"{entry.resource_type.value} resource (allowed: {names})",
            )
        if entry.resource_type is AclResourceType.CLUSTER:
            if entry.resource_name != CLUSTER_RESOURCE_NAME:
                yield self.error(
                    (*path, "resourceName"),
                    f"the CLUSTER resource is always named '{CLUSTER_RESOURCE_NAME}', "
                    f"not {entry.resource_name!r}",
                )
            if entry.pattern_type is not PatternType.LITERAL:
                yield self.error(
                    (*path, "patternType"), "the CLUSTER resource takes patternType LITERAL"
                )
        elif not entry.resource_name:
            yield self.error((*path, "resourceName"), "a resource name cannot be empty")
        elif entry.resource_name == "*" and entry.pattern_type is PatternType.PREFIXED:
            yield self.error(
                (*path, "patternType"), "'*' means every resource only with patternType LITERAL"
            )

    def ownership(self, kafka: KafkaSpec) -> Iterator[SpecIssue]:
        path: SpecPath = ("kafka", "ownership")
        topics = kafka.ownership.topics
        yield from self.names(topics.names, (*path, "topics", "names"), "topic")
        for index, prefix in enumerate(topics.prefixes):
            if not prefix:
                yield self.error(
                    (*path, "topics", "prefixes", index),
                    "an empty prefix would claim every topic, internal ones included",
                )
        if topics.deletion is DeletionPolicy.ALLOW and not topics.names and not topics.prefixes:
            yield self.warning(
                (*path, "topics", "deletion"),
                "deletion: allow has no effect without names or prefixes to own",
            )
        acls = kafka.ownership.acls
        for index, principal in enumerate(acls.principals):
            problem = principal_problem(principal)
            if problem:
                yield self.error((*path, "acls", "principals", index), problem)
        if acls.deletion is DeletionPolicy.ALLOW and not acls.principals:
            yield self.warning(
                (*path, "acls", "deletion"),
                "deletion: allow has no effect without principals to own",
            )

    # ------------------------------------------------------------------- redis

    def redis(self, redis: RedisSpec, *, skip_connection: bool = False) -> Iterator[SpecIssue]:
        path: SpecPath = ("redis",)
        layout = redis.cluster
        if layout.masters < MIN_REDIS_MASTERS:
            yield self.error(
                (*path, "cluster", "masters"),
                f"a Redis Cluster needs at least {MIN_REDIS_MASTERS} masters, got {layout.masters}",
            )
        if layout.node_count > REDIS_DESIGN_MAX_NODES:
            yield self.warning(
                (*path, "cluster"),
                f"a layout of {layout.masters} masters × {1 + layout.replicas_per_master} = "
                f"{layout.node_count} nodes is beyond the {REDIS_DESIGN_MAX_NODES} nodes "
                "Redis Cluster is designed for",
                at_key=True,
            )
        for name in redis.config:
            why = config_refusal(name)
            if why is not None:
                yield self.error((*path, "config", name), why, at_key=True)
        if skip_connection:
            return
        connection = redis.connection
        cpath = (*path, "connection")
        if connection.addresses is not None:
            yield from self.redis_addresses(
                connection.addresses,
                (*cpath, "addresses"),
                layout.node_count,
                layout.masters,
                layout.replicas_per_master,
            )
        if connection.kubernetes is not None:
            kpath = (*cpath, "kubernetes")
            if not _DNS_LABEL.match(connection.kubernetes.namespace):
                yield self.error(
                    (*kpath, "namespace"),
                    f"{connection.kubernetes.namespace!r} is not a Kubernetes "
                    "namespace name (lower-case letters, digits and '-', at most 63)",
                )
            terms = connection.kubernetes.selector.split(",")
            if not connection.kubernetes.selector.strip() or not all(
                _SELECTOR_TERM.match(t) for t in terms
            ):
                yield self.error(
                    (*kpath, "selector"),
                    f"{connection.kubernetes.selector!r} is not a label selector "
                    "(expected key=value[,key=value])",
                )
        tls = connection.tls
        if tls is not None and (tls.cert_file is None) != (tls.key_file is None):
            yield self.error(
                (*cpath, "tls"), "give both certFile and keyFile, or neither", at_key=True
            )

    def redis_addresses(
        self, addresses: list[str], path: SpecPath, needed: int, masters: int, replicas: int
    ) -> Iterator[SpecIssue]:
        if not addresses:
            yield self.error(path, "no address given")
            return
        seen: set[str] = set()
        for index, address in enumerate(addresses):
            problem = address_problem(address)
            if problem:
                yield self.error((*path, index), problem)
            elif address in seen:
                yield self.error((*path, index), f"address {address} is listed twice")
            seen.add(address)
        if len(addresses) < needed and needed <= REDIS_DESIGN_MAX_NODES:
            yield self.warning(
                path,
                f"{len(addresses)} address(es) for a layout of {masters} masters × "
                f"{1 + replicas} = {needed} nodes (the others must be found "
                "through CLUSTER NODES)",
            )


def check_kafka(
    kafka: KafkaSpec,
    locate: Locator,
    *,
    topic_positions: list[int] | None = None,
    acl_positions: list[int] | None = None,
    skip_connection: bool = False,
) -> list[SpecIssue]:
    """Semantic issues of the ``kafka`` section.

    ``topic_positions`` / ``acl_positions`` give the file index of each model item when the model
    was built from the valid items only; ``skip_connection`` skips a stand-in connection.
    """
    checker = _Checker(locate, topic_positions, acl_positions, skip_connection)
    return list(checker.kafka(kafka))


def check_redis(
    redis: RedisSpec, locate: Locator, *, skip_connection: bool = False
) -> list[SpecIssue]:
    """Semantic issues of the ``redis`` section (``skip_connection``: it is a stand-in)."""
    return list(_Checker(locate).redis(redis, skip_connection=skip_connection))


def check_spec(spec: ClusterSpec, locate: Locator | None = None) -> list[SpecIssue]:
    """Every semantic issue of a validated spec (positions need a :class:`Locator`)."""
    locate = locate or Locator("<spec>", None)
    issues: list[SpecIssue] = []
    if spec.kafka is not None:
        issues += check_kafka(spec.kafka, locate)
    if spec.redis is not None:
        issues += check_redis(spec.redis, locate)
    if spec.kafka is None and spec.redis is None:
        issues.append(
            locate.issue(
                (), "the spec has neither kafka nor redis: nothing to manage", level="warning"
            )
        )
    return issues
