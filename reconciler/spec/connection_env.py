"""Connection settings from environment variables, for ad-hoc use (and CI jobs).

Every command that reads a cluster can be pointed at it without a spec, or with the spec's
connection partly overridden, through ``LLM_ANALYTICS_*`` variables (docs/spec.md, section
"Connection from the environment"). This module turns them into the spec's own connection
models, so that the rest of the tool sees one kind of connection whatever its source:

- :func:`kafka_connection_from_env` returns a :class:`KafkaConnection`;
- :func:`redis_connection_from_env` returns a :class:`RedisConnection`.

Each variable that is set replaces the one field it names; everything else comes from the
spec's connection when one is given. Passwords are never values of these variables: a
``..._PASSWORD_ENV`` variable holds the *name* of the variable with the password (a
``SecretRef`` ``fromEnv``), a ``..._PASSWORD_FILE`` variable a file path (``fromFile``); so a
password never sits in a command line, and it is resolved at the edge like every secret.

Pure: reads only the mapping it is given (``os.environ`` by default), touches no file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from reconciler.errors import ReconcilerError
from reconciler.spec.models import (
    KafkaConnection,
    RedisConnection,
    SaslMechanism,
    SecurityProtocol,
)

PREFIX = "LLM_ANALYTICS_"

BOOTSTRAP_SERVERS = "LLM_ANALYTICS_BOOTSTRAP_SERVERS"
SECURITY_PROTOCOL = "LLM_ANALYTICS_SECURITY_PROTOCOL"
SASL_MECHANISM = "LLM_ANALYTICS_SASL_MECHANISM"
SASL_USERNAME = "LLM_ANALYTICS_SASL_USERNAME"
SASL_PASSWORD_ENV = "LLM_ANALYTICS_SASL_PASSWORD_ENV"
SASL_PASSWORD_FILE = "LLM_ANALYTICS_SASL_PASSWORD_FILE"
SSL_CAFILE = "LLM_ANALYTICS_SSL_CAFILE"
SSL_CERTFILE = "LLM_ANALYTICS_SSL_CERTFILE"
SSL_KEYFILE = "LLM_ANALYTICS_SSL_KEYFILE"
SSL_KEY_PASSWORD_ENV = "LLM_ANALYTICS_SSL_KEY_PASSWORD_ENV"
SSL_CHECK_HOSTNAME = "LLM_ANALYTICS_SSL_CHECK_HOSTNAME"
REQUEST_TIMEOUT_MS = "LLM_ANALYTICS_REQUEST_TIMEOUT_MS"

REDIS_ADDRESSES = "LLM_ANALYTICS_REDIS_ADDRESSES"
NAMESPACE = "LLM_ANALYTICS_NAMESPACE"
REDIS_USERNAME = "LLM_ANALYTICS_REDIS_USERNAME"
REDIS_PASSWORD_ENV = "LLM_ANALYTICS_REDIS_PASSWORD_ENV"
REDIS_PASSWORD_FILE = "LLM_ANALYTICS_REDIS_PASSWORD_FILE"
REDIS_TLS = "LLM_ANALYTICS_REDIS_TLS"
REDIS_CAFILE = "LLM_ANALYTICS_REDIS_CAFILE"
REDIS_CERTFILE = "LLM_ANALYTICS_REDIS_CERTFILE"
REDIS_KEYFILE = "LLM_ANALYTICS_REDIS_KEYFILE"
REDIS_POD_CAFILE = "LLM_ANALYTICS_REDIS_POD_CAFILE"
REDIS_POD_CERTFILE = "LLM_ANALYTICS_REDIS_POD_CERTFILE"
REDIS_POD_KEYFILE = "LLM_ANALYTICS_REDIS_POD_KEYFILE"

# Every variable with what it sets (docs/spec.md repeats this table).
KAFKA_VARIABLES: dict[str, str] = {
    BOOTSTRAP_SERVERS: "kafka.connection.bootstrapServers (host:port,...)",
    SECURITY_PROTOCOL: "security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    SASL_MECHANISM: "security.sasl.mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
    SASL_USERNAME: "security.sasl.username",
    SASL_PASSWORD_ENV: "security.sasl.password: {fromEnv: <this variable's value>}",
    SASL_PASSWORD_FILE: "security.sasl.password: {fromFile: <this variable's value>}",
    SSL_CAFILE: "security.tls.caFile (PEM)",
    SSL_CERTFILE: "security.tls.certFile (PEM client certificate, mutual TLS)",
    SSL_KEYFILE: "security.tls.keyFile (PEM key of the client certificate)",
    SSL_KEY_PASSWORD_ENV: "security.tls.keyPassword: {fromEnv: <this variable's value>}",
    SSL_CHECK_HOSTNAME: "security.tls.checkHostname: true or false",
    REQUEST_TIMEOUT_MS: "requestTimeoutMs",
}
REDIS_VARIABLES: dict[str, str] = {
    REDIS_ADDRESSES: "redis.connection.addresses (host:port,...); replaces kubernetes",
    NAMESPACE: "redis.connection.kubernetes.namespace",
    REDIS_USERNAME: "redis.connection.username (ACL user)",
    REDIS_PASSWORD_ENV: "redis.connection.password: {fromEnv: <this variable's value>}",
    REDIS_PASSWORD_FILE: "redis.connection.password: {fromFile: <this variable's value>}",
    REDIS_TLS: "redis.connection.tls.enabled: true or false",
    REDIS_CAFILE: "redis.connection.tls.caFile (implies TLS)",
    REDIS_CERTFILE: "redis.connection.tls.certFile (implies TLS)",
    REDIS_KEYFILE: "redis.connection.tls.keyFile (implies TLS)",
    REDIS_POD_CAFILE: "redis.connection.tls.inPod.caFile (implies TLS)",
    REDIS_POD_CERTFILE: "redis.connection.tls.inPod.certFile (implies TLS)",
    REDIS_POD_KEYFILE: "redis.connection.tls.inPod.keyFile (implies TLS)",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_CONVENTIONAL_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class EnvironmentConnectionError(ReconcilerError):
    """A connection variable is invalid or contradicts the others."""


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    value = _get(env, name)
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise EnvironmentConnectionError(f"{name}={value!r}: expected true or false")


def _choice(env: Mapping[str, str], name: str, allowed: list[str]) -> str | None:
    value = _get(env, name)
    if value is None:
        return None
    by_key = {a.upper().replace("_", "-"): a for a in allowed}
    found = by_key.get(value.upper().replace("_", "-"))
    if found is None:
        raise EnvironmentConnectionError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return found


def _secret_ref(
    env: Mapping[str, str], env_name: str, file_name: str | None
) -> dict[str, str] | None:
    """``{fromEnv: ...}`` / ``{fromFile: ...}`` from the variables; checks the named one."""
    variable = _get(env, env_name)
    path = _get(env, file_name) if file_name else None
    if variable is not None and path is not None:
        raise EnvironmentConnectionError(f"set one of {env_name} and {file_name}, not both")
    if variable is not None:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", variable) or variable not in env:
            # Never echo a value that may be the password itself, put here by mistake.
            shown = f" ({variable})" if _CONVENTIONAL_NAME.match(variable) else ""
            raise EnvironmentConnectionError(
                f"{env_name} names a variable that is not set{shown}",
                hint=f"{env_name} holds the NAME of the variable with the password, e.g. "
                f"{env_name}=KAFKA_PASSWORD with KAFKA_PASSWORD exported; never the password",
            )
        return {"fromEnv": variable}
    if path is not None:
        return {"fromFile": path}
    return None


def _dump(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dumped


def _validated(model: type[Any], data: dict[str, Any], names: list[str]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as problem:
        details = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'connection'}: {error['msg']}"
            for error in problem.errors()
        )
        raise EnvironmentConnectionError(
            f"the connection from the environment is invalid: {details}",
            hint="variables set: " + ", ".join(names) if names else None,
        ) from None


def _variables_set(variables: Iterable[str], environ: Mapping[str, str] | None) -> list[str]:
    env = os.environ if environ is None else environ
    return [name for name in variables if _get(env, name) is not None]


def kafka_variables_set(environ: Mapping[str, str] | None = None) -> list[str]:
    """The Kafka connection variables that are set (names only, never values)."""
    return _variables_set(KAFKA_VARIABLES, environ)


def redis_variables_set(environ: Mapping[str, str] | None = None) -> list[str]:
    """The Redis connection variables that are set (names only, never values)."""
    return _variables_set(REDIS_VARIABLES, environ)


def _put(target: dict[str, Any], **values: Any) -> dict[str, Any]:
    """``target`` with the values that are set (not ``None``) put over it."""
    target.update({key: value for key, value in values.items() if value is not None})
    return target


def _tls_files(env: Mapping[str, str], ca: str, cert: str, key: str) -> dict[str, str]:
    """``caFile``, ``certFile``, ``keyFile`` from the variables of those that are set."""
    named = {"caFile": ca, "certFile": cert, "keyFile": key}
    return _put({}, **{field: _get(env, variable) for field, variable in named.items()})


def _not_with(
    variables: Iterable[str], names: list[str], effective: str, layer: str, hint: str
) -> EnvironmentConnectionError | None:
    """The error for ``layer`` (SASL, TLS) variables set under a protocol without it."""
    stray = [n for n in variables if n in names]
    if not stray:
        return None
    return EnvironmentConnectionError(
        f"{', '.join(stray)} set, but the security protocol is {effective} (no {layer})",
        hint=f"set {SECURITY_PROTOCOL}={hint}",
    )


def kafka_connection_from_env(
    spec_connection: KafkaConnection | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    bootstrap_servers: str | None = None,
) -> KafkaConnection | None:
    """The spec's Kafka connection with the environment's variables merged over it.

    ``bootstrap_servers`` (a command-line option) wins over the variable. Returns ``None``
    when neither the spec nor the environment says where the brokers are.
    """
    env = os.environ if environ is None else environ
    names = kafka_variables_set(env)
    data: dict[str, Any] = _dump(spec_connection) if spec_connection is not None else {}
    servers = bootstrap_servers or _get(env, BOOTSTRAP_SERVERS)
    if servers is not None:
        data["bootstrapServers"] = servers
    if "bootstrapServers" not in data:
        if names:
            raise EnvironmentConnectionError(
                f"{', '.join(names)} set, but no bootstrap servers",
                hint=f"set {BOOTSTRAP_SERVERS} (or --bootstrap-servers, or give -f SPEC)",
            )
        return None
    timeout = _get(env, REQUEST_TIMEOUT_MS)
    if timeout is not None:
        if not timeout.isdigit() or int(timeout) <= 0:
            raise EnvironmentConnectionError(
                f"{REQUEST_TIMEOUT_MS}={timeout!r}: expected a positive number of milliseconds"
            )
        data["requestTimeoutMs"] = int(timeout)

    security: dict[str, Any] = dict(data.get("security") or {})
    _put(security, protocol=_choice(env, SECURITY_PROTOCOL, [p.value for p in SecurityProtocol]))
    effective = security.get("protocol", SecurityProtocol.PLAINTEXT.value)
    _kafka_sasl(env, names, security, effective)
    _kafka_tls(env, names, security, effective)
    data["security"] = security
    connection: KafkaConnection = _validated(KafkaConnection, data, names)
    return connection


def _kafka_sasl(
    env: Mapping[str, str], names: list[str], security: dict[str, Any], effective: str
) -> None:
    """``security.sasl`` from the variables, checked against the protocol."""
    sasl = _put(
        dict(security.get("sasl") or {}),
        mechanism=_choice(env, SASL_MECHANISM, [m.value for m in SaslMechanism]),
        username=_get(env, SASL_USERNAME),
        password=_secret_ref(env, SASL_PASSWORD_ENV, SASL_PASSWORD_FILE),
    )
    if not effective.startswith("SASL_"):
        sasl_vars = (SASL_MECHANISM, SASL_USERNAME, SASL_PASSWORD_ENV, SASL_PASSWORD_FILE)
        stray = _not_with(sasl_vars, names, effective, "SASL", "SASL_SSL (or SASL_PLAINTEXT)")
        if stray is not None:
            raise stray
        return
    missing = [
        variable
        for key, variable in (("username", SASL_USERNAME), ("password", SASL_PASSWORD_ENV))
        if key not in sasl
    ]
    if missing:
        raise EnvironmentConnectionError(
            f"security protocol {effective} needs SASL credentials: set " + " and ".join(missing),
            hint="or give kafka.connection.security.sasl in the spec",
        )
    security["sasl"] = sasl


def _kafka_tls(
    env: Mapping[str, str], names: list[str], security: dict[str, Any], effective: str
) -> None:
    """``security.tls`` from the variables, checked against the protocol."""
    tls = _put(
        dict(security.get("tls") or {}),
        **_tls_files(env, SSL_CAFILE, SSL_CERTFILE, SSL_KEYFILE),
        keyPassword=_secret_ref(env, SSL_KEY_PASSWORD_ENV, None),
        checkHostname=_flag(env, SSL_CHECK_HOSTNAME),
    )
    if effective in ("SSL", "SASL_SSL"):
        if tls:
            security["tls"] = tls
    else:
        tls_vars = (SSL_CAFILE, SSL_CERTFILE, SSL_KEYFILE, SSL_KEY_PASSWORD_ENV, SSL_CHECK_HOSTNAME)
        stray = _not_with(tls_vars, names, effective, "TLS", "SSL (or SASL_SSL)")
        if stray is not None:
            raise stray
    # A PEM holding both the certificate and its key is valid; a key alone is not.
    if "keyFile" in tls and "certFile" not in tls:
        raise EnvironmentConnectionError(f"{SSL_KEYFILE} is set without {SSL_CERTFILE}")


def redis_connection_from_env(
    spec_connection: RedisConnection | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    addresses: str | None = None,
    namespace: str | None = None,
) -> RedisConnection | None:
    """The spec's Redis connection with the environment's variables merged over it.

    ``addresses`` / ``namespace`` (command-line options) win over the variables; addresses
    replace a Kubernetes target and a namespace replaces addresses. Returns ``None`` when
    neither the spec nor the environment says where the nodes are.
    """
    env = os.environ if environ is None else environ
    names = redis_variables_set(env)
    data: dict[str, Any] = _dump(spec_connection) if spec_connection is not None else {}
    direct = addresses or _get(env, REDIS_ADDRESSES)
    pods = namespace or _get(env, NAMESPACE)
    if addresses and namespace:
        raise EnvironmentConnectionError("give Redis addresses or a Kubernetes namespace, not both")
    if direct is not None and (namespace is None):
        data.pop("kubernetes", None)
        data["addresses"] = direct
    elif pods is not None:
        data.pop("addresses", None)
        kubernetes = dict(data.get("kubernetes") or {})
        kubernetes["namespace"] = pods
        data["kubernetes"] = kubernetes
    if "addresses" not in data and "kubernetes" not in data:
        if names:
            raise EnvironmentConnectionError(
                f"{', '.join(names)} set, but no Redis nodes",
                hint=f"set {REDIS_ADDRESSES} or {NAMESPACE} (or give -f SPEC)",
            )
        return None
    _put(
        data,
        username=_get(env, REDIS_USERNAME),
        password=_secret_ref(env, REDIS_PASSWORD_ENV, REDIS_PASSWORD_FILE),
    )
    tls: dict[str, Any] = dict(data.get("tls") or {})
    files = _tls_files(env, REDIS_CAFILE, REDIS_CERTFILE, REDIS_KEYFILE)
    pod_files = _tls_files(env, REDIS_POD_CAFILE, REDIS_POD_CERTFILE, REDIS_POD_KEYFILE)
    if files or pod_files:
        tls.setdefault("enabled", True)  # a file implies TLS
    if pod_files:
        tls["inPod"] = _put(dict(tls.get("inPod") or {}), **pod_files)
    _put(tls, **files, enabled=_flag(env, REDIS_TLS))
    if tls:
        data["tls"] = tls
    connection: RedisConnection = _validated(RedisConnection, data, names)
    return connection


__all__ = [
    "KAFKA_VARIABLES",
    "REDIS_VARIABLES",
    "EnvironmentConnectionError",
    "kafka_connection_from_env",
    "kafka_variables_set",
    "redis_connection_from_env",
    "redis_variables_set",
]
