"""Connection settings from LLM_ANALYTICS_* variables, merged over the spec's connection."""

from __future__ import annotations

import pytest

from reconciler.spec.connection_env import (
    KAFKA_VARIABLES,
    REDIS_VARIABLES,
    EnvironmentConnectionError,
    kafka_connection_from_env,
    kafka_variables_set,
    redis_connection_from_env,
)
from reconciler.spec.models import (
    KafkaConnection,
    RedisConnection,
    RedisTlsPodFiles,
    SaslMechanism,
    SecretRef,
    SecurityProtocol,
)

SPEC_KAFKA = KafkaConnection.model_validate(
    {
        "bootstrapServers": ["k1:9093", "k2:9093"],
        "requestTimeoutMs": 15000,
        "security": {
            "protocol": "SASL_SSL",
            "sasl": {
                "mechanism": "SCRAM-SHA-512",
                "username": "app",
                "password": {"fromEnv": "APP_PW"},
            },
            "tls": {"caFile": "/etc/kafka/ca.pem"},
        },
    }
)


def test_nothing_set_and_no_spec_is_none() -> None:
    assert kafka_connection_from_env(None, {}) is None
    assert redis_connection_from_env(None, {}) is None


def test_no_variables_returns_the_spec_connection_unchanged() -> None:
    assert kafka_connection_from_env(SPEC_KAFKA, {}) == SPEC_KAFKA


def test_scram_over_tls_from_the_environment_only() -> None:
    env = {
        "LLM_ANALYTICS_BOOTSTRAP_SERVERS": "b1:9093,b2:9093",
        "LLM_ANALYTICS_SECURITY_PROTOCOL": "sasl_ssl",
        "LLM_ANALYTICS_SASL_MECHANISM": "scram-sha-512",
        "LLM_ANALYTICS_SASL_USERNAME": "ops",
        "LLM_ANALYTICS_SASL_PASSWORD_ENV": "OPS_PASSWORD",
        "OPS_PASSWORD": "s3cret-value",
        "LLM_ANALYTICS_SSL_CAFILE": "/tmp/ca.pem",
    }
    connection = kafka_connection_from_env(None, env)
    assert isinstance(connection, KafkaConnection)
    assert connection.bootstrap_list == ["b1:9093", "b2:9093"]
    security = connection.security
    assert security.protocol is SecurityProtocol.SASL_SSL
    assert security.sasl is not None
    assert security.sasl.mechanism is SaslMechanism.SCRAM_SHA_512
    assert security.sasl.username == "ops"
    # The password is a reference, never the value.
    assert security.sasl.password == SecretRef(from_env="OPS_PASSWORD")
    assert "s3cret-value" not in connection.model_dump_json()
    assert security.tls is not None and security.tls.ca_file == "/tmp/ca.pem"


def test_mutual_tls_from_the_environment() -> None:
    env = {
        "LLM_ANALYTICS_BOOTSTRAP_SERVERS": "b1:9093",
        "LLM_ANALYTICS_SECURITY_PROTOCOL": "SSL",
        "LLM_ANALYTICS_SSL_CAFILE": "/c/ca.pem",
        "LLM_ANALYTICS_SSL_CERTFILE": "/c/ops.pem",
        "LLM_ANALYTICS_SSL_KEYFILE": "/c/ops-key.pem",
        "LLM_ANALYTICS_SSL_CHECK_HOSTNAME": "false",
    }
    connection = kafka_connection_from_env(None, env)
    assert connection is not None and connection.security.tls is not None
    tls = connection.security.tls
    assert (tls.ca_file, tls.cert_file, tls.key_file) == (
        "/c/ca.pem",
        "/c/ops.pem",
        "/c/ops-key.pem",
    )
    assert tls.check_hostname is False
    assert connection.security.sasl is None


def test_variables_override_single_fields_of_the_spec() -> None:
    env = {
        "LLM_ANALYTICS_SASL_USERNAME": "ops",
        "LLM_ANALYTICS_SASL_PASSWORD_FILE": "/run/secrets/ops",
        "LLM_ANALYTICS_REQUEST_TIMEOUT_MS": "5000",
    }
    connection = kafka_connection_from_env(SPEC_KAFKA, env)
    assert connection is not None
    assert connection.bootstrap_list == ["k1:9093", "k2:9093"]  # from the spec
    assert connection.request_timeout_ms == 5000
    sasl = connection.security.sasl
    assert sasl is not None
    assert sasl.mechanism is SaslMechanism.SCRAM_SHA_512  # from the spec
    assert sasl.username == "ops"
    assert sasl.password == SecretRef(from_file="/run/secrets/ops")
    assert connection.security.tls is not None
    assert connection.security.tls.ca_file == "/etc/kafka/ca.pem"  # from the spec


def test_the_command_line_bootstrap_wins() -> None:
    env = {"LLM_ANALYTICS_BOOTSTRAP_SERVERS": "env:9092"}
    connection = kafka_connection_from_env(SPEC_KAFKA, env, bootstrap_servers="cli:9092")
    assert connection is not None and connection.bootstrap_list == ["cli:9092"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LLM_ANALYTICS_SECURITY_PROTOCOL": "SSL"}, "no bootstrap servers"),
        (
            {"LLM_ANALYTICS_BOOTSTRAP_SERVERS": "b:1", "LLM_ANALYTICS_SECURITY_PROTOCOL": "TLS"},
            "expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL",
        ),
        (
            {"LLM_ANALYTICS_BOOTSTRAP_SERVERS": "b:1", "LLM_ANALYTICS_SASL_USERNAME": "ops"},
            "the security protocol is PLAINTEXT (no SASL)",
        ),
        (
            {"LLM_ANALYTICS_BOOTSTRAP_SERVERS": "b:1", "LLM_ANALYTICS_SSL_CAFILE": "/ca.pem"},
            "the security protocol is PLAINTEXT (no TLS)",
        ),
        (
            {
                "LLM_ANALYTICS_BOOTSTRAP_SERVERS": "b:1",
                "LLM_ANALYTICS_SECURITY_PROTOCOL": "SASL_SSL",
            },
            "needs SASL credentials: set LLM_ANALYTICS_SASL_USERNAME and LLM_ANALYTICS_SASL_PASSWORD_ENV",
        ),
        (
            {
                "LLM_ANALYTICS_BOOTSTRAP_SERVERS": "b:1",
                "LLM_ANALYTICS_SECURITY_PROTOCOL": "SASL_SSL",
                "LLM_ANALYTICS_SASL_MECHANISM": "GSSAPI",
            },
            "expected one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
        ),
        (
            {
                "LLM_ANALYTICS_BOOTSTRAP_SERVERS": "b:1",
                "LLM_ANALYTICS_SECURITY_PROTOCOL": "SSL",
                "LLM_ANALYTICS_SSL_KEYFILE": "/k.pem",
            },
            "LLM_ANALYTICS_SSL_KEYFILE is set without LLM_ANALYTICS_SSL_CERTFILE",
        ),
        (
            {
                "LLM_ANALYTICS_BOOTSTRAP_SERVERS": "b:1",
                "LLM_ANALYTICS_SECURITY_PROTOCOL": "SSL",
                "LLM_ANALYTICS_SSL_CHECK_HOSTNAME": "maybe",
            },
            "expected true or false",
        ),
        (
            {"LLM_ANALYTICS_BOOTSTRAP_SERVERS": "b:1", "LLM_ANALYTICS_REQUEST_TIMEOUT_MS": "-3"},
            "positive number of milliseconds",
        ),
    ],
)
def test_invalid_or_contradicting_variables_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(EnvironmentConnectionError) as caught:
        kafka_connection_from_env(None, env)
    assert message in str(caught.value)


def test_password_env_must_name_a_set_variable_and_a_password_there_is_never_echoed() -> None:
    base = {
        "LLM_ANALYTICS_BOOTSTRAP_SERVERS": "b:1",
        "LLM_ANALYTICS_SECURITY_PROTOCOL": "SASL_SSL",
        "LLM_ANALYTICS_SASL_USERNAME": "ops",
    }
    with pytest.raises(EnvironmentConnectionError) as caught:
        kafka_connection_from_env(None, {**base, "LLM_ANALYTICS_SASL_PASSWORD_ENV": "MISSING_PW"})
    assert "names a variable that is not set (MISSING_PW)" in str(caught.value)
    for mistaken in ("hunter2-is-my-password", "Tr0ub4dor&3", "correcthorse"):
        with pytest.raises(EnvironmentConnectionError) as caught:
            kafka_connection_from_env(None, {**base, "LLM_ANALYTICS_SASL_PASSWORD_ENV": mistaken})
        text = str(caught.value)
        assert mistaken not in text
        assert "NAME of the variable" in text
    with pytest.raises(EnvironmentConnectionError, match="not both"):
        kafka_connection_from_env(
            None,
            {
                **base,
                "LLM_ANALYTICS_SASL_PASSWORD_ENV": "PW",
                "PW": "x",
                "LLM_ANALYTICS_SASL_PASSWORD_FILE": "/f",
            },
        )


def test_only_names_of_set_variables_are_listed() -> None:
    env = {"LLM_ANALYTICS_SASL_USERNAME": "ops", "LLM_ANALYTICS_SSL_CAFILE": " ", "OTHER": "x"}
    assert kafka_variables_set(env) == ["LLM_ANALYTICS_SASL_USERNAME"]


def test_every_variable_is_documented_in_docs_spec_md() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[3] / "docs" / "spec.md").read_text(encoding="utf-8")
    section = text.split("## Connection from the environment", 1)[1].split("\n## ", 1)[0]
    for name in [*KAFKA_VARIABLES, *REDIS_VARIABLES]:
        assert f"`{name}`" in section, name


# --------------------------------------------------------------------------- redis


def test_redis_password_acl_user_and_tls_from_the_environment() -> None:
    env = {
        "LLM_ANALYTICS_REDIS_ADDRESSES": "r1:6379,r2:6379",
        "LLM_ANALYTICS_REDIS_USERNAME": "ops",
        "LLM_ANALYTICS_REDIS_PASSWORD_ENV": "REDIS_PASSWORD",
        "REDIS_PASSWORD": "pw",
        "LLM_ANALYTICS_REDIS_CAFILE": "/ca.pem",
    }
    connection = redis_connection_from_env(None, env)
    assert isinstance(connection, RedisConnection)
    assert connection.addresses == ["r1:6379", "r2:6379"]
    assert connection.username == "ops"
    assert connection.password == SecretRef(from_env="REDIS_PASSWORD")
    assert (
        connection.tls is not None
        and connection.tls.enabled
        and connection.tls.ca_file == "/ca.pem"
    )


def test_redis_in_pod_tls_files_from_the_environment() -> None:
    spec = RedisConnection.model_validate(
        {"kubernetes": {"namespace": "cache"}, "tls": {"inPod": {"keyFile": "/spec/tls.key"}}}
    )
    env = {
        "LLM_ANALYTICS_REDIS_POD_CAFILE": "/certs/ca.crt",
        "LLM_ANALYTICS_REDIS_POD_CERTFILE": "/certs/tls.crt",
    }
    connection = redis_connection_from_env(spec, env)
    assert connection is not None and connection.tls is not None
    assert connection.tls.enabled and connection.tls.ca_file is None  # local paths untouched
    assert connection.tls.in_pod == RedisTlsPodFiles(
        ca_file="/certs/ca.crt", cert_file="/certs/tls.crt", key_file="/spec/tls.key"
    )
    none = redis_connection_from_env(None, {"LLM_ANALYTICS_NAMESPACE": "cache"})
    assert none is not None and none.tls is None


def test_redis_tls_can_be_switched_off_and_namespace_replaces_addresses() -> None:
    spec = RedisConnection.model_validate(
        {"addresses": ["r:1"], "tls": {"enabled": True, "caFile": "/ca.pem"}}
    )
    connection = redis_connection_from_env(
        spec, {"LLM_ANALYTICS_REDIS_TLS": "no", "LLM_ANALYTICS_NAMESPACE": "cache"}
    )
    # The addresses variable is not set: the namespace variable picks the pods.
    assert connection is not None and connection.addresses is None
    assert connection.kubernetes is not None and connection.kubernetes.namespace == "cache"
    assert connection.tls is not None and connection.tls.enabled is False


def test_redis_command_line_options_win_and_conflict() -> None:
    env = {"LLM_ANALYTICS_REDIS_ADDRESSES": "env:1"}
    connection = redis_connection_from_env(None, env, addresses="cli:1")
    assert connection is not None and connection.addresses == ["cli:1"]
    connection = redis_connection_from_env(None, env, namespace="ns")
    assert connection is not None and connection.kubernetes is not None
    with pytest.raises(EnvironmentConnectionError, match="not both"):
        redis_connection_from_env(None, {}, addresses="a:1", namespace="ns")
    with pytest.raises(EnvironmentConnectionError, match="no Redis nodes"):
        redis_connection_from_env(None, {"LLM_ANALYTICS_REDIS_USERNAME": "ops"})
