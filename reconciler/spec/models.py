"""Pydantic models of ``cluster-spec.yaml``.

Models are strict, immutable and reject unknown fields. YAML keys are camelCase (the alias);
Python attributes are snake_case. Kafka topic config keys keep Kafka's own dotted names.
"""

# No ``from __future__ import annotations`` here: with real annotation objects pydantic
# skips evaluating dozens of strings when it builds these classes at every start-up.

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    model_validator,
)

from reconciler.model_defaults import new_dict, new_list
from reconciler.spec.base import (
    ConfigOwnership,
    ConfigOwnershipField,
    DeletionPolicy,
    DeletionPolicyField,
    SecretRef,
    SpecModel,
    _enum_by_value,
)
from reconciler.spec.kafka_brokers import BrokerOwnership, BrokersSpec
from reconciler.spec.kafka_identities import QuotaOwnership, QuotaSpec, UserOwnership, UserSpec
from reconciler.spec.limits import (
    INT32_MAX,
    KAFKA_MAX_PARTITIONS_PER_REQUEST,
    KAFKA_MAX_REPLICATION_FACTOR,
    MAX_READY_TIMEOUT_SECONDS,
    REDIS_HASH_SLOTS,
    REDIS_MAX_REPLICAS_PER_MASTER,
)
from reconciler.spec.policies import PolicyRule
from reconciler.spec.redis_access import (
    RedisOwnership as RedisOwnership,
)
from reconciler.spec.redis_access import (
    RedisUser as RedisUser,
)
from reconciler.spec.redis_access import (
    RedisUserOwnership as RedisUserOwnership,
)
from reconciler.spec.redis_access import check_users

ConfigScalar = str | int | float | bool


class Why:
    """Field metadata: why a bound exists; the validation error quotes it after the bound."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Why({self.reason!r})"


_INT32 = Why("a 32-bit integer in Kafka's protocol")


def _scalar_config_value(value: Any) -> Any:
    # Without this, a list or null value gets four union errors (string? integer? ...).
    if value is None:
        raise ValueError("a config value cannot be empty; remove the key to inherit it")
    if isinstance(value, dict | list):
        kind = "a mapping" if isinstance(value, dict) else "a list"
        raise ValueError(
            f"expected a single value (string, number or boolean), got {kind}; "
            'write lists as one comma-separated string, e.g. "delete,compact"'
        )
    return value


ConfigValue = Annotated[ConfigScalar, BeforeValidator(_scalar_config_value)]


def _move_rate(value: Any) -> Any:
    from reconciler.spec.units import parse_move_rate

    if isinstance(value, str):
        parse_move_rate(value)  # raises ValueError with the reason
    return value


def _rate(value: Any) -> Any:
    from reconciler.spec.units import parse_rate

    if isinstance(value, str):
        parse_rate(value)  # raises ValueError with the reason
    return value


# Strict models reject plain strings for enums: each ``...Field`` converts them first,
# case-insensitively.


# --------------------------------------------------------------------------- kafka


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


SecurityProtocolField = Annotated[SecurityProtocol, _enum_by_value(SecurityProtocol)]


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


SaslMechanismField = Annotated[SaslMechanism, _enum_by_value(SaslMechanism)]


class SaslSpec(SpecModel):
    """SASL credentials; the password only by reference."""

    mechanism: SaslMechanismField = SaslMechanism.PLAIN
    username: str
    password: SecretRef


class TlsSpec(SpecModel):
    """TLS files (PEM) for the SSL and SASL_SSL protocols."""

    ca_file: str | None = None
    """CA bundle that signed the brokers' certificates (default: the system store)."""
    cert_file: str | None = None
    """Client certificate, for mutual TLS (needs keyFile)."""
    key_file: str | None = None
    """Private key of the client certificate."""
    key_password: SecretRef | None = None
    check_hostname: bool = True


class KafkaSecurity(SpecModel):
    """How clients authenticate and encrypt: Kafka's security.protocol and its settings."""

    protocol: SecurityProtocolField = SecurityProtocol.PLAINTEXT
    sasl: SaslSpec | None = None
    tls: TlsSpec | None = None


class KafkaConnection(SpecModel):
    """Where the brokers are and how to talk to them."""

    bootstrap_servers: str | list[str]
    """``host:port`` list, or one comma-separated string (handy with ``${VAR}``)."""
    security: KafkaSecurity = KafkaSecurity.model_construct()
    request_timeout_ms: Annotated[int, _INT32] = Field(default=30_000, gt=0, le=INT32_MAX)

    @property
    def bootstrap_list(self) -> list[str]:
        """The bootstrap servers as a list, whichever form the file used."""
        if isinstance(self.bootstrap_servers, str):
            return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]
        return list(self.bootstrap_servers)


class TopicSettings(SpecModel):
    """Settings a topic, a profile or the defaults may give; unset fields inherit."""

    partitions: Annotated[
        int | None,
        Why("the Kafka controller creates at most 10000 partitions per request"),
    ] = Field(default=None, ge=1, le=KAFKA_MAX_PARTITIONS_PER_REQUEST)
    replication_factor: Annotated[
        int | None, Why("a 16-bit integer in Kafka's CreateTopics request")
    ] = Field(default=None, ge=1, le=KAFKA_MAX_REPLICATION_FACTOR)
    config: dict[str, ConfigValue] = Field(default_factory=new_dict)
    """Kafka topic-level configs by Kafka's own key; ms and bytes accept units (7d, 1GiB)."""


class TopicSpec(TopicSettings):
    """One topic: settings here override its profile's, which override the defaults."""

    name: str
    profile: str | None = None
    """Name of an entry of ``kafka.profiles`` to inherit from."""
    description: str | None = None


class PatternType(StrEnum):
    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


PatternTypeField = Annotated[PatternType, _enum_by_value(PatternType)]


class AclPermission(StrEnum):
    ALLOW = "ALLOW"
    DENY = "DENY"


AclPermissionField = Annotated[AclPermission, _enum_by_value(AclPermission)]


class AclResourceType(StrEnum):
    TOPIC = "TOPIC"
    GROUP = "GROUP"
    CLUSTER = "CLUSTER"
    TRANSACTIONAL_ID = "TRANSACTIONAL_ID"
    DELEGATION_TOKEN = "DELEGATION_TOKEN"
    USER = "USER"


AclResourceTypeField = Annotated[AclResourceType, _enum_by_value(AclResourceType)]


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


AclOperationField = Annotated[AclOperation, _enum_by_value(AclOperation)]


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
    topics: list[str] = Field(default_factory=new_list)
    topic_prefixes: list[str] = Field(default_factory=new_list)
    idempotent: bool = False
    transactional_ids: list[str] = Field(default_factory=new_list)
    transactional_id_prefixes: list[str] = Field(default_factory=new_list)


class ConsumerRole(SpecModel):
    """Read + Describe on topics and Read on consumer groups."""

    role: Literal["consumer"]
    principal: str
    host: str = "*"
    topics: list[str] = Field(default_factory=new_list)
    topic_prefixes: list[str] = Field(default_factory=new_list)
    groups: list[str] = Field(default_factory=new_list)
    group_prefixes: list[str] = Field(default_factory=new_list)


def _acl_rule_kind(value: Any) -> str | None:
    """Which kind of ACL rule a YAML mapping is: its ``role``, or ``entry`` when it has none.

    Choosing the model up front gives one clear error per mistake instead of one per union member.
    """
    if isinstance(value, dict):
        role = value.get("role")
        if role is None:
            return "entry"
        return role if isinstance(role, str) else repr(role)
    if isinstance(value, ProducerRole):
        return "producer"
    if isinstance(value, ConsumerRole):
        return "consumer"
    return "entry"


AclRule = Annotated[
    Annotated[AclEntry, Tag("entry")]
    | Annotated[ProducerRole, Tag("producer")]
    | Annotated[ConsumerRole, Tag("consumer")],
    Discriminator(_acl_rule_kind),
]


class TopicOwnership(SpecModel):
    """Topics this file manages even when it does not list them (to report or delete them)."""

    names: list[str] = Field(default_factory=new_list)
    prefixes: list[str] = Field(default_factory=new_list)
    configs: ConfigOwnershipField = ConfigOwnership.ADDITIVE
    deletion: DeletionPolicyField = DeletionPolicy.NEVER


class AclOwnership(SpecModel):
    """Principals whose ACLs this file manages completely."""

    principals: list[str] = Field(default_factory=new_list)
    deletion: DeletionPolicyField = DeletionPolicy.NEVER


class KafkaOwnership(SpecModel):
    """What this file manages beyond what it lists. Default: only what is listed; never delete."""

    topics: TopicOwnership = TopicOwnership.model_construct()
    acls: AclOwnership = AclOwnership.model_construct()
    quotas: QuotaOwnership = QuotaOwnership.model_construct()
    users: UserOwnership = UserOwnership.model_construct()
    brokers: BrokerOwnership = BrokerOwnership.model_construct()


class KafkaSpec(SpecModel):
    """The Kafka cluster: connection, topics with their inheritance, ACLs, ownership."""

    connection: KafkaConnection
    defaults: TopicSettings = TopicSettings.model_construct()
    profiles: dict[str, TopicSettings] = Field(default_factory=new_dict)
    topics: list[TopicSpec] = Field(default_factory=new_list)
    acls: list[AclRule] = Field(default_factory=new_list)
    quotas: list[QuotaSpec] = Field(default_factory=new_list)
    """Client quotas per user / client id / ip entity (docs/spec.md)."""
    users: list[UserSpec] = Field(default_factory=new_list)
    """SCRAM users; passwords only by reference."""
    brokers: BrokersSpec | None = None
    """Dynamic broker configs: the cluster-wide default and per-broker overrides."""
    ownership: KafkaOwnership = KafkaOwnership.model_construct()
    expected_brokers: Annotated[int | None, _INT32] = Field(default=None, ge=1, le=INT32_MAX)
    """Broker count the cluster should have (checked by verify; bounds replicationFactor)."""
    reassignment_throttle: Annotated[str, BeforeValidator(_rate)] | None = None
    """Default replication throttle of reassignments (``50MiB/s``); ``--throttle`` overrides."""


# --------------------------------------------------------------------------- redis


class KubernetesTarget(SpecModel):
    """Reach the Redis pods through the Kubernetes API (exec into the pods)."""

    namespace: str
    selector: str = "app=redis-cluster"
    """Label selector of the Redis pods (``key=value[,key=value]``)."""
    container: str | None = None
    port: int = Field(default=6379, ge=1, le=65535)
    context: str | None = None
    kubeconfig: str | None = None
    ready_timeout_seconds: Annotated[int, Why("one day")] = Field(
        default=300, ge=1, le=MAX_READY_TIMEOUT_SECONDS
    )
    pod_password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Name of the environment variable of the Redis container that holds the password
    (e.g. ``REDIS_PASSWORD``, which the common charts set). redis-cli then takes the password
    from the pod's own environment and ``connection.password`` is not needed: the secret never
    crosses the Kubernetes API. Without it, ``connection.password`` is sent on the exec's
    stdin (never in the exec URL or the pod's process list)."""


class RedisTlsPodFiles(SpecModel):
    """TLS files as paths inside the Redis pods (what redis-cli uses over Kubernetes exec)."""

    ca_file: str | None = None
    """CA bundle in the pod (``redis-cli --cacert``)."""
    cert_file: str | None = None
    """Client certificate in the pod (``redis-cli --cert``), for ``tls-auth-clients yes``."""
    key_file: str | None = None
    """Its private key in the pod (``redis-cli --key``)."""


class RedisTls(SpecModel):
    """TLS to the nodes. ``caFile``/``certFile``/``keyFile`` are local paths (direct
    connections and the Redis apply lock); ``inPod`` gives the paths inside the pods for the
    Kubernetes transport, where redis-cli runs."""

    enabled: bool = True
    ca_file: str | None = None
    """Local CA bundle that signed the nodes' certificates (default: the system store)."""
    cert_file: str | None = None
    """Local client certificate (needs keyFile), for ``tls-auth-clients yes``."""
    key_file: str | None = None
    """Local private key of the client certificate."""
    in_pod: RedisTlsPodFiles | None = None
    """The same files as paths inside the Redis pods (Kubernetes transport only)."""
    check_hostname: bool = False
    """Also check that a node's certificate names the address it is reached at. Off by
    default, like redis-cli and the nodes themselves (cluster bus, replication), which verify
    the chain only: nodes are addressed by IP (CLUSTER NODES, MOVED), which few certificates
    list."""


def _split_addresses(value: Any) -> Any:
    # An environment variable yields one string: "h1:6379,h2:6379" is accepted as the list.
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


AddressList = Annotated[
    list[str],
    BeforeValidator(_split_addresses),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "string", "description": "comma-separated host:port list"},
            ]
        }
    ),
]


class RedisConnection(SpecModel):
    """Exactly one of ``addresses`` (direct) or ``kubernetes`` (through pods)."""

    addresses: AddressList | None = None
    """``host:port`` of every node, or one comma-separated string."""
    kubernetes: KubernetesTarget | None = None
    username: str | None = None
    password: SecretRef | None = None
    tls: RedisTls | None = None

    @model_validator(mode="after")
    def _one_target(self) -> "RedisConnection":
        if (self.addresses is None) == (self.kubernetes is None):
            raise ValueError("give exactly one of addresses or kubernetes")
        return self


class Placement(StrEnum):
    SPREAD_HOSTS = "spread-hosts"  # a replica never on its master's host / k8s node
    SPREAD_ZONES = "spread-zones"  # ... nor in its master's zone, where the topology allows
    NONE = "none"


PlacementField = Annotated[Placement, _enum_by_value(Placement)]


class RedisClusterLayout(SpecModel):
    """The Redis Cluster shape: masters, replicas of each, and where replicas may sit."""

    masters: Annotated[
        int, Why(f"a master serves at least one of Redis Cluster's {REDIS_HASH_SLOTS} hash slots")
    ] = Field(default=3, ge=1, le=REDIS_HASH_SLOTS)
    replicas_per_master: Annotated[int, Why("Redis Cluster is designed for at most 1000 nodes")] = (
        Field(default=1, ge=0, le=REDIS_MAX_REPLICAS_PER_MASTER)
    )
    placement: PlacementField = Placement.SPREAD_HOSTS
    move_rate: Annotated[str, BeforeValidator(_move_rate)] | None = None
    """Limit of slot moves for the whole apply: ``2000keys/s`` or ``20MiB/s``
    (``--redis-move-rate`` overrides); none: as fast as MIGRATE goes."""

    @property
    def node_count(self) -> int:
        """Nodes the layout needs: every master and its replicas."""
        return self.masters * (1 + self.replicas_per_master)


class RedisSpec(SpecModel):
    connection: RedisConnection
    cluster: RedisClusterLayout = RedisClusterLayout.model_construct()
    users: Annotated[list[RedisUser], AfterValidator(check_users)] = Field(default_factory=new_list)
    """ACL users kept identical on every node (docs/spec.md, "Redis users")."""
    config: dict[str, ConfigValue] = Field(default_factory=new_dict)
    """``CONFIG SET`` parameters every node must have (docs/spec.md, "Redis config")."""
    ownership: RedisOwnership = RedisOwnership.model_construct()


# --------------------------------------------------------------------------- document


class Metadata(SpecModel):
    """Name and labels of this spec (the name shows in plans and locks)."""

    name: str
    labels: dict[str, str] = Field(default_factory=new_dict)


class ClusterSpec(SpecModel):
    """The whole file, after environment overlay and ``${VAR}`` interpolation."""

    api_version: Literal["llm-analytics/v1"]
    kind: Literal["ClusterSpec"]
    metadata: Metadata
    kafka: KafkaSpec | None = None
    redis: RedisSpec | None = None
    policies: list[PolicyRule] = Field(default_factory=new_list)
    """Rules every plan must pass (docs/spec.md, "Policies")."""
    environments: dict[str, dict[str, Any]] = Field(default_factory=new_dict)
    """Overlays chosen with ``--env``; kept verbatim here (neither merged nor interpolated)."""
