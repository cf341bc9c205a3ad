"""Why a Kafka connection or request failed, in words an operator can act on.

aiokafka's bootstrap swallows the cause of a failed connection ("Unable to bootstrap from
...") and waits a full request timeout on a peer that never answers. So before the admin
client bootstraps, :func:`probe_bootstrap` connects to every bootstrap address itself, all at
once and within one deadline (:data:`reconciler.errors.CONNECT_TIMEOUT_SECONDS`): TCP, then
aiokafka's own connection setup (TLS, ApiVersions, SASL) and one Metadata request. The first
address that answers is used; when none does, :func:`explain_connect_failure` names the
cause: refused, DNS, no TCP answer, untrusted certificate, missing or refused client
certificate, TLS spoken to a plaintext listener (or the reverse), SASL where the listener has
none (or the reverse), a SASL mechanism the listener does not enable (with the ones it does),
wrong credentials, a peer that is not Kafka or never answers.

:func:`describe_kafka_error` gives every aiokafka error class a plain sentence; the unit
tests enumerate them, so an aiokafka upgrade that adds a class fails until it is described.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from typing import Any

import aiokafka.errors as Errors
from aiokafka.conn import create_conn
from aiokafka.protocol.admin import SaslHandShakeRequest
from aiokafka.protocol.metadata import MetadataRequest
from msgspec import Struct

from reconciler.errors import CONNECT_TIMEOUT_SECONDS, ConnectionFailure

CLIENT_ID = "llm-analytics"

# Requests that change nothing: safe to send again, to another broker, after a failure.
IDEMPOTENT_APIS = frozenset(
    {
        "ApiVersions",
        "Metadata",
        "DescribeConfigs",
        "DescribeAcls",
        "DescribeGroups",
        "DescribeCluster",
        "DescribeLogDirs",
        "DescribeClientQuotas",
        "DescribeUserScramCredentials",
        "ListGroups",
        "ListPartitionReassignments",
        "FindCoordinator",
    }
)

# Failures of one broker connection during a request (another broker may still answer).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    Errors.NodeNotReadyError,
    Errors.RequestTimedOutError,
    Errors.KafkaConnectionError,
    Errors.KafkaTimeoutError,
    Errors.CorrelationIdError,
    TimeoutError,
    ConnectionError,
)


# --------------------------------------------------------------------------- error sentences

# Errors raised by aiokafka itself (not broker error codes): one sentence each.
CLIENT_ERRORS: dict[type[BaseException], str] = {
    Errors.KafkaError: "the Kafka client failed",
    Errors.IllegalStateError: "the Kafka client was used in a state that does not allow it",
    Errors.IllegalArgumentError: "the Kafka client was given an invalid argument",
    Errors.NoBrokersAvailable: "no broker is available",
    Errors.NodeNotReadyError: "the broker connection is not ready (the broker is down or "
    "unreachable)",
    Errors.KafkaProtocolError: "the peer broke the Kafka protocol (is it a Kafka broker?)",
    Errors.CorrelationIdError: "the answer did not match the request (the peer broke the "
    "Kafka protocol)",
    Errors.Cancelled: "the request was cancelled",
    Errors.TooManyInFlightRequests: "too many requests are waiting on one broker connection",
    Errors.StaleMetadata: "the cluster metadata is stale",
    Errors.MetadataEmptyBrokerList: "the cluster metadata lists no brokers",
    Errors.UnrecognizedBrokerVersion: "the broker's version is not recognised by the client",
    Errors.IncompatibleBrokerVersion: "the broker is too old for this request",
    Errors.CommitFailedError: "an offset commit failed",
    Errors.AuthenticationMethodNotSupported: "the broker does not support this "
    "authentication method",
    Errors.AuthenticationFailedError: "authentication failed",
    Errors.KafkaUnavailableError: "Kafka is unavailable",
    Errors.KafkaTimeoutError: "no answer in time",
    Errors.KafkaConnectionError: "the broker connection failed or was dropped",
    Errors.UnsupportedCodecError: "a compression codec is not available",
    Errors.KafkaConfigurationError: "the Kafka client configuration is invalid",
    Errors.QuotaViolationError: "a quota was exceeded",
    Errors.ConsumerStoppedError: "the consumer was stopped",
    Errors.IllegalOperation: "the operation is not allowed on this client",
    Errors.NoOffsetForPartitionError: "no offset is stored for a partition",
    Errors.RecordTooLargeError: "a record is too large",
    Errors.ProducerClosed: "the producer was closed",
    Errors.ProducerFenced: "the producer was fenced by a newer instance",
}

# Broker error codes the tool meets and can say more about than the protocol's description.
BROKER_ERRORS: dict[int, str] = {
    -1: "the broker failed with an unknown server error (its log has the details)",
    7: "the broker timed out on the request",
    8: "the broker is not available",
    14: "the group coordinator is still loading",
    15: "the group coordinator is not available",
    16: "this broker is not the group coordinator",
    29: "not authorized to access the topic (ACLs of this principal)",
    30: "not authorized to use the consumer group (ACLs of this principal)",
    31: "not authorized for this cluster operation (the principal needs ALTER, DESCRIBE or "
    "CREATE on the cluster, or to be a super user)",
    33: "the broker does not enable this SASL mechanism",
    34: "the request does not fit the SASL state of the connection (does the listener use SASL?)",
    35: "the broker does not support this version of the request",
    41: "this broker is not the active controller",
    42: "the broker rejected the request as malformed",
    53: "not authorized for the transactional id",
    54: "the cluster has no authorizer (security features are disabled)",
    58: "SASL authentication failed",
}


def _broker_sentence(error: type[Errors.BrokerResponseError]) -> str:
    errno = getattr(error, "errno", None)
    known = BROKER_ERRORS.get(errno) if isinstance(errno, int) else None
    description = (getattr(error, "description", "") or "").strip().rstrip(".")
    text = known or description or error.__name__
    code = getattr(error, "message", "") or error.__name__
    return f"{text} ({code}, Kafka error {errno})"


def describe_kafka_error(problem: BaseException) -> str:
    """A plain sentence for an aiokafka error (the detail it carries appended)."""
    kind = type(problem)
    sentence: str | None
    if isinstance(problem, Errors.BrokerResponseError) and kind is not Errors.BrokerResponseError:
        sentence = _broker_sentence(kind)
    else:
        sentence = next(
            (text for cls in kind.__mro__ if (text := CLIENT_ERRORS.get(cls)) is not None),
            None,
        )
        if sentence is None:
            if isinstance(problem, TimeoutError):
                sentence = "no answer in time"
            elif isinstance(problem, OSError):
                sentence = problem.strerror or "a network error"
            else:
                sentence = kind.__name__
    detail = _detail(problem)
    return f"{sentence}: {detail}" if detail and detail not in sentence else sentence


def _detail(problem: BaseException) -> str:
    """The exception's own text, unless it is only a repr of a connection object."""
    if not problem.args:
        return ""
    parts = [a for a in problem.args if isinstance(a, str | int) and not isinstance(a, bool)]
    return " ".join(str(a) for a in parts).strip()


# --------------------------------------------------------------------------- connect failures


class ConnectProblem(Struct, frozen=True):
    """Why one address could not be used: a stable kind, a sentence, a hint."""

    kind: str
    reason: str
    hint: str | None = None
    reached: bool = True  # TCP connected (the message then does not say "cannot reach")


def _chain(problem: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = problem
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _find(problem: BaseException, kind: type[BaseException]) -> Any:
    return next((p for p in _chain(problem) if isinstance(p, kind)), None)


def _sasl_identity(settings: Mapping[str, Any]) -> str:
    return (
        f"SASL {settings.get('sasl_mechanism', 'PLAIN')} as {settings.get('sasl_plain_username')}"
    )


def _uses_tls(settings: Mapping[str, Any]) -> bool:
    return str(settings.get("security_protocol", "PLAINTEXT")) in ("SSL", "SASL_SSL")


def _uses_sasl(settings: Mapping[str, Any]) -> bool:
    return str(settings.get("security_protocol", "PLAINTEXT")).startswith("SASL_")


def _trust_source(settings: Mapping[str, Any]) -> str:
    context = settings.get("ssl_context")
    ca = getattr(context, "ca_file", None)
    return f"the CA file {ca}" if ca else "the CAs this client trusts (the system store?)"


def _has_client_cert(settings: Mapping[str, Any]) -> bool | None:
    """True/False when connection_settings built the context, None when unknown."""
    context = settings.get("ssl_context")
    if context is not None and hasattr(context, "cert_file"):
        return bool(context.cert_file)
    return None


def _framing(read: asyncio.IncompleteReadError) -> str | None:
    """What the first bytes of an answer that was read as a Kafka frame size look like."""
    expected = read.expected
    if expected is None:
        return None
    head = (int(expected) & 0xFFFFFFFF).to_bytes(4, "big") if int(expected) >= 0 else b""
    if head[:1] in (b"\x15", b"\x16") and head[1:2] == b"\x03":
        return "tls"
    if head.isascii() and head.decode("ascii", "replace").isprintable():
        return f"text {head.decode('ascii')!r}"
    return None


def explain_connect_failure(
    problem: BaseException,
    settings: Mapping[str, Any],
    *,
    timeout: float,
    after_handshake: bool = False,
) -> ConnectProblem:
    """The cause of a failed connection setup (TLS, ApiVersions, SASL, first Metadata).

    ``after_handshake``: TLS, ApiVersions and SASL (if any) had succeeded; the first real
    request failed. Each layer is asked in turn, from the handshake up.
    """
    protocol = str(settings.get("security_protocol", "PLAINTEXT"))
    if after_handshake and not _uses_sasl(settings):
        required = _sasl_required(problem, settings, protocol)
        if required is not None:
            return required
    for explain in (_tls_problem, _sasl_problem, _framing_problem):
        found = explain(problem, settings, protocol)
        if found is not None:
            return found
    return _late_problem(problem, settings, protocol, timeout)


def _sasl_required(
    problem: BaseException, settings: Mapping[str, Any], protocol: str
) -> ConnectProblem | None:
    closed = _find(problem, Errors.KafkaConnectionError) or _find(problem, ConnectionError)
    if closed is None:
        return None
    sasl = "SASL_SSL" if _uses_tls(settings) else "SASL_PLAINTEXT"
    return ConnectProblem(
        "sasl-required",
        f"the broker closed the connection at the first request after the handshake: "
        f"the listener requires SASL authentication, the client uses {protocol}",
        f"use security protocol {sasl} with security.sasl (mechanism, username, password)",
    )


def _tls_problem(
    problem: BaseException, settings: Mapping[str, Any], protocol: str
) -> ConnectProblem | None:
    verify = _find(problem, ssl.SSLCertVerificationError)
    if verify is not None:
        message = getattr(verify, "verify_message", None) or str(verify)
        if "hostname" in message.lower() or "ip address mismatch" in message.lower():
            return ConnectProblem(
                "tls-hostname",
                f"TLS: certificate verify failed ({message})",
                "the broker's certificate does not name this host; connect by a name it "
                "carries, or set security.tls.checkHostname: false",
            )
        return ConnectProblem(
            "tls-verify",
            f"TLS: certificate verify failed ({message}): the broker's certificate is not "
            f"signed by {_trust_source(settings)}",
            "set security.tls.caFile (or LLM_ANALYTICS_SSL_CAFILE) to the CA that signed "
            "the brokers' certificates",
        )
    tls_error = _find(problem, ssl.SSLError)
    if tls_error is None:
        return None
    upper = str(tls_error).upper()
    if any(alert in upper for alert in _CLIENT_CERT_ALERTS):
        return _client_cert_problem(tls_error, settings)
    if any(
        marker in upper
        for marker in ("WRONG_VERSION_NUMBER", "UNEXPECTED_EOF", "RECORD_LAYER", "PACKET")
    ) or isinstance(tls_error, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return _tls_to_plaintext(protocol)
    return ConnectProblem(
        "tls", f"TLS handshake failed: {getattr(tls_error, 'reason', None) or tls_error}"
    )


_CLIENT_CERT_ALERTS = (
    "ALERT_BAD_CERTIFICATE",
    "CERTIFICATE_REQUIRED",
    "ALERT_UNKNOWN_CA",
    "ALERT_CERTIFICATE_UNKNOWN",
    "ALERT_HANDSHAKE_FAILURE",
    "ALERT_ACCESS_DENIED",
)


def _client_cert_problem(tls_error: ssl.SSLError, settings: Mapping[str, Any]) -> ConnectProblem:
    alert = getattr(tls_error, "reason", None) or str(tls_error)
    if _has_client_cert(settings) is False:
        return ConnectProblem(
            "tls-client-cert",
            f"TLS: the broker requires a client certificate (mutual TLS) and none "
            f"was given (alert: {alert})",
            "set security.tls.certFile and keyFile (or LLM_ANALYTICS_SSL_CERTFILE "
            "and LLM_ANALYTICS_SSL_KEYFILE)",
        )
    return ConnectProblem(
        "tls-client-cert",
        f"TLS: the broker refused the client certificate (alert: {alert})",
        "the broker requires a client certificate signed by a CA it trusts; check "
        "certFile/keyFile (a missing certificate gives this too)",
    )


def _sasl_problem(
    problem: BaseException, settings: Mapping[str, Any], protocol: str
) -> ConnectProblem | None:
    error = _find(problem, Errors.SaslAuthenticationFailed)
    if isinstance(problem, Errors.SaslAuthenticationFailed) or error is not None:
        detail = _detail(error) or "the broker refused the credentials"
        return ConnectProblem(
            "authentication",
            f"authentication failed ({_sasl_identity(settings)}): {detail}",
            "check the username and the password (the secret its fromEnv/fromFile names, or "
            "the variable LLM_ANALYTICS_SASL_PASSWORD_ENV names)",
        )
    if _find(problem, Errors.IllegalSaslStateError) is not None:
        plain = "SSL" if protocol == "SASL_SSL" else "PLAINTEXT"
        return ConnectProblem(
            "sasl-not-enabled",
            f"the listener does not use SASL, but the client uses {protocol} "
            f"({_sasl_identity(settings)})",
            f"use security protocol {plain} (without sasl) for this listener",
        )
    return None


def _framing_problem(
    problem: BaseException, settings: Mapping[str, Any], protocol: str
) -> ConnectProblem | None:
    read = _find(problem, asyncio.IncompleteReadError)
    if read is None:
        return None
    framing = _framing(read)
    if framing == "tls" and not _uses_tls(settings):
        tls = "SASL_SSL" if _uses_sasl(settings) else "SSL"
        return ConnectProblem(
            "tls-expected",
            f"the listener speaks TLS, the client {protocol} (it answered with a TLS alert)",
            f"use security protocol {tls} with the CA of the brokers (security.tls.caFile "
            "or LLM_ANALYTICS_SSL_CAFILE)",
        )
    if framing is not None and framing.startswith("text"):
        return ConnectProblem(
            "not-kafka",
            f"the peer is not a Kafka broker (it answered {framing[5:]}..., e.g. an HTTP server)",
            "check the host and port of the bootstrap servers",
        )
    return None


def _late_problem(
    problem: BaseException, settings: Mapping[str, Any], protocol: str, timeout: float
) -> ConnectProblem:
    """Timeouts, versions and closed connections: what is left after the handshake layers."""
    if isinstance(problem, TimeoutError | Errors.KafkaTimeoutError | Errors.RequestTimedOutError):
        stage = (
            "the TLS handshake or the first Kafka request"
            if _uses_tls(settings)
            else ("the first Kafka request (ApiVersions)")
        )
        return ConnectProblem(
            "no-answer",
            f"connected, but no answer to {stage} within {timeout:g}s: the peer is not a "
            "Kafka broker, or it accepts connections and never answers",
            "check the host and port of the bootstrap servers (a Kafka listener, not another "
            "service), and that the broker is not hung",
        )
    if isinstance(problem, Errors.UnrecognizedBrokerVersion | Errors.IncompatibleBrokerVersion):
        return ConnectProblem(
            "version",
            f"the broker's Kafka version is not supported: {describe_kafka_error(problem)}",
        )
    if isinstance(problem, Errors.KafkaConnectionError | ConnectionError):
        if _uses_tls(settings):
            return _tls_to_plaintext(protocol)
        return ConnectProblem(
            "closed",
            "the peer closed the connection without a Kafka answer: it is not a Kafka "
            "listener, or it expects TLS",
            "check the port and the security protocol (SSL/SASL_SSL for a TLS listener)",
        )
    return ConnectProblem("kafka", describe_kafka_error(problem))


def _tls_to_plaintext(protocol: str) -> ConnectProblem:
    plain = "SASL_PLAINTEXT" if protocol == "SASL_SSL" else "PLAINTEXT"
    return ConnectProblem(
        "tls-mismatch",
        f"TLS handshake failed: the peer closed the connection during it; the listener "
        f"probably does not speak TLS (the client uses {protocol})",
        f"use security protocol {plain} for a plaintext listener, or check the port",
    )


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    host = host.strip("[]") or "localhost"
    try:
        return host, int(port)
    except ValueError:
        return address.strip(), 9092


def _conn_kwargs(settings: Mapping[str, Any]) -> dict[str, Any]:
    keys = (
        "ssl_context",
        "security_protocol",
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
        "sasl_kerberos_service_name",
        "sasl_kerberos_domain_name",
        "sasl_oauth_token_provider",
    )
    return {k: settings[k] for k in keys if k in settings and settings[k] is not None}


async def _enabled_mechanisms(host: str, port: int, settings: Mapping[str, Any]) -> list[str]:
    """The SASL mechanisms a listener enables (a handshake on a connection without SASL)."""
    kwargs = _conn_kwargs(settings)
    for key in ("sasl_mechanism", "sasl_plain_username", "sasl_plain_password"):
        kwargs.pop(key, None)
    kwargs["security_protocol"] = "SSL" if _uses_tls(settings) else "PLAINTEXT"
    conn = await create_conn(host, port, client_id=CLIENT_ID, request_timeout_ms=3000, **kwargs)
    try:
        response = await conn.send(SaslHandShakeRequest(str(settings.get("sasl_mechanism"))))
        return [str(m) for m in response.enabled_mechanisms]
    finally:
        conn.close()


async def probe_address(
    address: str, settings: Mapping[str, Any], deadline: float, *, total: float | None = None
) -> None:
    """Connect, authenticate and read metadata once; raise :class:`ConnectProblem` details.

    ``deadline`` is a ``time.monotonic()`` value.
    """
    host, port = _split(address)
    await _probe_tcp(host, port, max(0.1, deadline - time.monotonic()))
    await _probe_kafka(address, host, port, settings, deadline, total)


async def _probe_tcp(host: str, port: int, timeout: float) -> None:
    """A bare TCP connection first: no answer, DNS and refusals are told apart here."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    except TimeoutError:
        raise _unreached(
            "no-tcp",
            f"no TCP connection within {timeout:.3g}s (host down, or packets dropped by a "
            "firewall)",
            "check the address and the network path to the brokers",
        ) from None
    except socket.gaierror as problem:
        raise _unreached(
            "dns",
            f"cannot resolve host {host!r}: {problem.strerror}",
            "check the bootstrap servers",
        ) from None
    except ConnectionRefusedError:
        raise _unreached(
            "refused",
            f"connection refused (nothing listens on {host}:{port})",
            "check that the brokers are up and that this is their port",
        ) from None
    except OSError as problem:
        raise _unreached(
            "refused",
            problem.strerror or str(problem) or type(problem).__name__,
            "check that the brokers are up and that this is their port",
        ) from None


def _unreached(kind: str, reason: str, hint: str) -> _Failed:
    return _Failed(ConnectProblem(kind, reason, hint, reached=False))


async def _probe_kafka(
    address: str,
    host: str,
    port: int,
    settings: Mapping[str, Any],
    deadline: float,
    total: float | None,
) -> None:
    """TLS, ApiVersions, SASL and one Metadata request through aiokafka's connection."""
    timeout = max(0.1, deadline - time.monotonic())
    conn = None
    try:
        async with asyncio.timeout(timeout):
            conn = await create_conn(
                host,
                port,
                client_id=CLIENT_ID,
                request_timeout_ms=int(timeout * 1000) + 1000,
                **_conn_kwargs(settings),
            )
            await conn.send(MetadataRequest([]))
            if not conn.connected():  # closed right after answering
                raise Errors.KafkaConnectionError(f"Connection at {address} closed")
    except Errors.UnsupportedSaslMechanismError:
        raise _Failed(await _mechanism_mismatch(host, port, settings, deadline)) from None
    except (Errors.KafkaError, OSError, asyncio.IncompleteReadError, TimeoutError) as problem:
        raise _Failed(
            explain_connect_failure(
                problem,
                settings,
                timeout=total or CONNECT_TIMEOUT_SECONDS,
                after_handshake=conn is not None,
            )
        ) from None
    finally:
        if conn is not None:
            conn.close()


async def _mechanism_mismatch(
    host: str, port: int, settings: Mapping[str, Any], deadline: float
) -> ConnectProblem:
    wanted = settings.get("sasl_mechanism")
    try:
        async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
            enabled = await _enabled_mechanisms(host, port, settings)
    except Exception:
        enabled = []
    listed = ", ".join(enabled) if enabled else "others"
    return ConnectProblem(
        "sasl-mechanism",
        f"SASL mechanism mismatch: the client uses {wanted} "
        f"(as {settings.get('sasl_plain_username')}), the listener enables {listed}",
        f"set security.sasl.mechanism (or LLM_ANALYTICS_SASL_MECHANISM) to "
        f"{enabled[0] if enabled else 'a mechanism the listener enables'}",
    )


class _Failed(Exception):
    def __init__(self, problem: ConnectProblem) -> None:
        super().__init__(problem.reason)
        self.problem = problem


def connect_failure(
    endpoint: str, failures: Sequence[tuple[str, ConnectProblem]]
) -> ConnectionFailure:
    """One error for every bootstrap address that failed (one sentence when they agree)."""
    if not failures:
        return ConnectionFailure(endpoint, "no bootstrap servers")
    kinds = {p.kind for _, p in failures}
    first = failures[0][1]
    if len(kinds) == 1:
        where = ",".join(a for a, _ in failures)
        failure = ConnectionFailure(
            where, first.reason, hint=first.hint, reached=first.reached, kind=first.kind
        )
    else:
        reasons = "; ".join(f"{address}: {p.reason}" for address, p in failures)
        best = next((p for _, p in failures if p.reached), first)
        failure = ConnectionFailure(
            endpoint, reasons, hint=best.hint, reached=best.reached, kind=best.kind
        )
    return failure


async def probe_bootstrap(
    servers: Sequence[str], settings: Mapping[str, Any], *, timeout: float = CONNECT_TIMEOUT_SECONDS
) -> str:
    """The first bootstrap address that connects, authenticates and answers Metadata.

    Every address is tried at once; all within ``timeout``. Raises ConnectionFailure with
    the cause when none works.
    """
    deadline = time.monotonic() + timeout
    endpoint = ",".join(servers)
    tasks = {
        asyncio.ensure_future(probe_address(address, settings, deadline, total=timeout)): address
        for address in servers
    }
    failures: dict[str, ConnectProblem] = {}
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                problem = task.exception()
                if problem is None:
                    return tasks[task]
                if isinstance(problem, _Failed):
                    failures[tasks[task]] = problem.problem
                else:
                    failures[tasks[task]] = ConnectProblem("kafka", describe_kafka_error(problem))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    raise connect_failure(endpoint, [(a, failures[a]) for a in servers if a in failures])


__all__ = [
    "BROKER_ERRORS",
    "CLIENT_ERRORS",
    "IDEMPOTENT_APIS",
    "TRANSIENT_ERRORS",
    "ConnectProblem",
    "connect_failure",
    "describe_kafka_error",
    "explain_connect_failure",
    "probe_address",
    "probe_bootstrap",
]
