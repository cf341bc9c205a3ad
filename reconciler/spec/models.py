"""Pydantic models of ``cluster-spec.yaml``.

Models are strict, immutable and reject unknown fields. YAML keys are camelCase (the alias);
Python attributes are snake_case. Kafka topic config keys keep Kafka's own dotted names.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

ConfigScalar = str | int | float | bool


def _enum_by_value(enum_type: type[StrEnum]) -> BeforeValidator:
    """Accept an enum's value case-insensitively (``allow``, ``Allow``, ``ALLOW``; ``-``/``_``)."""

    by_key = {member.value.lower().replace("-", "_"): member for member in enum_type}

    def convert(value: Any) -> Any:
        if isinstance(value, enum_type):
            return value
        if isinstance(value, str):
            member = by_key.get(value.strip().lower().replace("-", "_"))
            if member is not None:
                return member
        allowed = ", ".join(m.value for m in enum_type)
        raise ValueError(f"{value!r} is not one of: {allowed}")

    return BeforeValidator(convert)


def _enum_field(enum_type: type[StrEnum]) -> Any:
    # Strict models reject plain strings for enums: convert them first, case-insensitively.
    return Annotated[enum_type, _enum_by_value(enum_type)]


class SpecModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
    )


# --------------------------------------------------------------------------- secrets


class SecretRef(SpecModel):
    """A secret given by reference: an environment variable or a file, never inline."""

    from_env: str | None = None
    from_file: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.from_env is None) == (self.from_file is None):
            raise ValueError("give exactly one of fromEnv or fromFile")
        return self


# --------------------------------------------------------------------------- kafka


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


SecurityProtocolField = _enum_field(SecurityProtocol)


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


SaslMechanismField = _enum_field(SaslMechanism)


class SaslSpec(SpecModel):
    mechanism: SaslMechanismField = SaslMechanism.PLAIN
    username: str
    password: SecretRef


class TlsSpec(SpecModel):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    key_password: SecretRef | None = None
    check_hostname: bool = True


class KafkaSecurity(SpecModel):
    protocol: SecurityProtocolField = SecurityProtocol.PLAINTEXT
    sasl: SaslSpec | None = None
    tls: TlsSpec | None = None


class KafkaConnection(SpecModel):
    bootstrap_servers: str | list[str]
    security: KafkaSecurity = KafkaSecurity()
    request_timeout_ms: int = Field(default=30_000, gt=0)

    @property
    def bootstrap_list(self) -> list[str]:
        if isinstance(self.bootstrap_servers, str):
            return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]
        return list(self.bootstrap_servers)


class TopicSettings(SpecModel):
    """Settings a topic, a profile or the defaults may give; unset fields inherit."""

    partitions: int | None = Field(default=None, ge=1)
    replication_factor: int | None = Field(default=None, ge=1)
    config: dict[str, ConfigScalar] = Field(default_factory=dict)


class TopicSpec(TopicSettings):
    name: str
    profile: str | None = None
    description: str | None = None


class PatternType(StrEnum):
    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


PatternTypeField = _enum_field(PatternType)


class AclPermission(StrEnum):
    ALLOW = "ALLOW"
    DENY = "DENY"


AclPermissionField = _enum_field(AclPermission)


class AclResourceType(StrEnum):
    TOPIC = "TOPIC"
    GROUP = "GROUP"
    CLUSTER = "CLUSTER"
    TRANSACTIONAL_ID = "TRANSACTIONAL_ID"
    DELEGATION_TOKEN = "DELEGATION_TOKEN"
    USER = "USER"


AclResourceTypeField = _enum_field(AclResourceType)


class AclOperation(StrEnum):
    ALL = "ALL"
    READ = "READ"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DELETE = "DELETE"
    ALTER = "ALTER"
    DESCRIBE = "DESCRIBE"
    CLUSTER_ACTION = "CLUSTER_ACTION"
    DESCRIBE_CONFIGS = "DESCRIBE_CONFIGS"
    ALTER_CONFIGS = "ALTER_CONFIGS"
    IDEMPOTENT_WRITE = "IDEMPOTENT_WRITE"
    CREATE_TOKENS = "CREATE_TOKENS"
    DESCRIBE_TOKENS = "DESCRIBE_TOKENS"


AclOperationField = _enum_field(AclOperation)


class AclEntry(SpecModel):
    """One explicit ACL binding. Enum values are case-insensitive in YAML (normalised)."""

    principal: str
    host: str = "*"
    operation: AclOperationField
    permission: AclPermissionField = AclPermission.ALLOW
    resource_type: AclResourceTypeField
    resource_name: str
    pattern_type: PatternTypeField = PatternType.LITERAL


class ProducerRole(SpecModel):
    """Write + Describe on topics; IdempotentWrite / transactional ids where asked."""

    role: Literal["producer"]
    principal: str
    host: str = "*"
    topics: list[str] = Field(default_factory=list)
    topic_prefixes: list[str] = Field(default_factory=list)
    idempotent: bool = False
    transactional_ids: list[str] = Field(default_factory=list)
    transactional_id_prefixes: list[str] = Field(default_factory=list)


class ConsumerRole(SpecModel):
    """Read + Describe on topics and Read on consumer groups."""

    role: Literal["consumer"]
    principal: str
    host: str = "*"
    topics: list[str] = Field(default_factory=list)
    topic_prefixes: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    group_prefixes: list[str] = Field(default_factory=list)


AclRule = Annotated[AclEntry | ProducerRole | ConsumerRole, Field(union_mode="left_to_right")]


class ConfigOwnership(StrEnum):
    ADDITIVE = "additive"  # keys set on a topic but absent from the spec are reported, kept
    EXCLUSIVE = "exclusive"  # such keys are removed (reset to the broker default)


ConfigOwnershipField = _enum_field(ConfigOwnership)


class DeletionPolicy(StrEnum):
    NEVER = "never"
    ALLOW = "allow"  # still needs --allow-delete on the command line


DeletionPolicyField = _enum_field(DeletionPolicy)


class TopicOwnership(SpecModel):
    names: list[str] = Field(default_factory=list)
    prefixes: list[str] = Field(default_factory=list)
    configs: ConfigOwnershipField = ConfigOwnership.ADDITIVE
    deletion: DeletionPolicyField = DeletionPolicy.NEVER


class AclOwnership(SpecModel):
    principals: list[str] = Field(default_factory=list)
    deletion: DeletionPolicyField = DeletionPolicy.NEVER


class KafkaOwnership(SpecModel):
    """What this file manages beyond what it lists. Default: only what is listed; never delete."""

    topics: TopicOwnership = TopicOwnership()
    acls: AclOwnership = AclOwnership()


class KafkaSpec(SpecModel):
    connection: KafkaConnection
    defaults: TopicSettings = TopicSettings()
    profiles: dict[str, TopicSettings] = Field(default_factory=dict)
    topics: list[TopicSpec] = Field(default_factory=list)
    acls: list[AclRule] = Field(default_factory=list)
    ownership: KafkaOwnership = KafkaOwnership()
    expected_brokers: int | None = Field(default=None, ge=1)


# --------------------------------------------------------------------------- redis


class KubernetesTarget(SpecModel):
    namespace: str
    selector: str = "app=redis-cluster"
    container: str | None = None
    port: int = Field(default=6379, ge=1, le=65535)
    context: str | None = None
    kubeconfig: str | None = None
    ready_timeout_seconds: int = Field(default=300, ge=1)


class RedisTls(SpecModel):
    enabled: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


class RedisConnection(SpecModel):
    addresses: list[str] | None = None
    kubernetes: KubernetesTarget | None = None
    username: str | None = None
    password: SecretRef | None = None
    tls: RedisTls | None = None

    @model_validator(mode="after")
    def _one_target(self) -> RedisConnection:
        if (self.addresses is None) == (self.kubernetes is None):
            raise ValueError("give exactly one of addresses or kubernetes")
        return self


class Placement(StrEnum):
    SPREAD_HOSTS = "spread-hosts"  # a replica never on its master's host / k8s node
    SPREAD_ZONES = "spread-zones"  # ... nor in its master's zone, where the topology allows
    NONE = "none"


PlacementField = _enum_field(Placement)


class RedisClusterLayout(SpecModel):
    masters: int = Field(default=3, ge=1)
    replicas_per_master: int = Field(default=1, ge=0)
    placement: PlacementField = Placement.SPREAD_HOSTS
    allow_remove_nodes: bool = False

    @property
    def node_count(self) -> int:
        return self.masters * (1 + self.replicas_per_master)


class RedisSpec(SpecModel):
    connection: RedisConnection
    cluster: RedisClusterLayout = RedisClusterLayout()


# --------------------------------------------------------------------------- document


class Metadata(SpecModel):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)


class ClusterSpec(SpecModel):
    """The whole file, after environment overlay and ``${VAR}`` interpolation."""

    api_version: Literal["llm-analytics/v1"]
    kind: Literal["ClusterSpec"]
    metadata: Metadata
    kafka: KafkaSpec | None = None
    redis: RedisSpec | None = None
    environments: dict[str, dict[str, Any]] = Field(default_factory=dict)
