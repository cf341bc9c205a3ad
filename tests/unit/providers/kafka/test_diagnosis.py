"""Plain messages for every aiokafka error, and the causes of failed connections.

The real failures (untrusted CA, missing client certificate, wrong password, silent peer...)
are proven against real brokers in tests/integration/kafka/test_security.py; here the
classification itself, and the promise that every aiokafka error class has a sentence.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiokafka.errors as Errors
import pytest

from reconciler.errors import CONNECT_TIMEOUT_SECONDS, ConnectionFailure
from reconciler.providers.kafka.client import TlsContext, tls_context
from reconciler.providers.kafka.diagnosis import (
    CLIENT_ERRORS,
    ConnectProblem,
    connect_failure,
    describe_kafka_error,
    explain_connect_failure,
    probe_bootstrap,
)


def _error_classes() -> list[type[BaseException]]:
    return sorted(
        (
            value
            for value in vars(Errors).values()
            if inspect.isclass(value) and issubclass(value, BaseException)
        ),
        key=lambda cls: cls.__name__,
    )


def _instance(cls: type[BaseException]) -> BaseException:
    try:
        return cls("detail text")
    except TypeError:
        return cls()


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda cls: cls.__name__)
def test_every_aiokafka_error_class_has_a_plain_sentence(cls: type[BaseException]) -> None:
    message = describe_kafka_error(_instance(cls))
    assert message
    assert not message.lower().startswith("unexpected")
    assert "unexpected" not in message.lower().split(":")[0]
    if not issubclass(cls, Errors.BrokerResponseError):
        # Client-side classes are described one by one: a new one must be added by hand.
        assert cls in CLIENT_ERRORS, f"add {cls.__name__} to diagnosis.CLIENT_ERRORS"
    elif cls is not Errors.BrokerResponseError:
        assert f"Kafka error {cls.errno}" in message  # type: ignore[attr-defined]


def test_broker_errors_read_as_sentences_with_their_code() -> None:
    message = describe_kafka_error(Errors.TopicAuthorizationFailedError())
    assert message.startswith("not authorized to access the topic")
    assert "TOPIC_AUTHORIZATION_FAILED" in message
    assert describe_kafka_error(Errors.for_code(-1)()).startswith(
        "the broker failed with an unknown server error"
    )


def test_a_connection_object_in_args_is_not_printed() -> None:
    class Conn:
        def __repr__(self) -> str:
            return "<AIOKafkaConnection host=h port=1>"

    message = describe_kafka_error(Errors.UnsupportedSaslMechanismError(Conn()))
    assert "AIOKafkaConnection" not in message


SASL = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_plain_username": "ops",
    "sasl_plain_password": "pw-never-printed",
}


def _explain(problem: BaseException, **settings: object) -> ConnectProblem:
    return explain_connect_failure(problem, settings, timeout=CONNECT_TIMEOUT_SECONDS)


def test_authentication_failure_names_mechanism_and_user_never_the_password() -> None:
    problem = _explain(Errors.SaslAuthenticationFailed("Invalid username or password"), **SASL)
    assert problem.kind == "authentication"
    assert problem.reason.startswith("authentication failed (SASL SCRAM-SHA-512 as ops)")
    assert "pw-never-printed" not in problem.reason + (problem.hint or "")


def test_certificate_verify_failure_names_the_ca_file(tmp_path: Path) -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "unable to get local issuer certificate"  # type: ignore[attr-defined]
    context = TlsContext(ssl.PROTOCOL_TLS_CLIENT)
    context.ca_file = "/etc/ca.pem"
    problem = _explain(error, security_protocol="SSL", ssl_context=context)
    assert problem.kind == "tls-verify"
    assert "TLS: certificate verify failed (unable to get local issuer certificate)" in (
        problem.reason
    )
    assert "/etc/ca.pem" in problem.reason


def test_missing_client_certificate_is_named() -> None:
    closed = Errors.KafkaConnectionError("Connection at h:1 closed")
    closed.__cause__ = ssl.SSLError(
        1, "[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate"
    )
    context = TlsContext(ssl.PROTOCOL_TLS_CLIENT)
    problem = _explain(closed, security_protocol="SSL", ssl_context=context)
    assert problem.kind == "tls-client-cert"
    assert "requires a client certificate" in problem.reason
    context.cert_file = "/x/ops.pem"
    problem = _explain(closed, security_protocol="SSL", ssl_context=context)
    assert "refused the client certificate" in problem.reason


def test_plaintext_client_on_a_tls_listener() -> None:
    closed = Errors.KafkaConnectionError("Connection at h:1 closed")
    closed.__cause__ = asyncio.IncompleteReadError(b"\x02\x02", 0x15030300)
    problem = _explain(closed, security_protocol="PLAINTEXT")
    assert problem.kind == "tls-expected"
    assert "speaks TLS" in problem.reason


def test_tls_client_on_a_plaintext_listener() -> None:
    problem = _explain(
        ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), security_protocol="SSL"
    )
    assert problem.kind == "tls-mismatch"


def test_sasl_client_on_a_listener_without_sasl() -> None:
    problem = _explain(Errors.IllegalSaslStateError("x"), **SASL)
    assert problem.kind == "sasl-not-enabled"
    assert "use security protocol SSL" in (problem.hint or "")


def test_no_sasl_on_a_sasl_listener() -> None:
    closed = Errors.KafkaConnectionError("Connection at h:1 closed")
    problem = explain_connect_failure(
        closed, {"security_protocol": "SSL"}, timeout=8, after_handshake=True
    )
    assert problem.kind == "sasl-required"


def test_an_http_server_is_not_kafka() -> None:
    closed = Errors.KafkaConnectionError("closed")
    closed.__cause__ = asyncio.IncompleteReadError(b"/1.1", int.from_bytes(b"HTTP", "big"))
    problem = _explain(closed, security_protocol="PLAINTEXT")
    assert problem.kind == "not-kafka"


def test_timeout_says_not_kafka_or_no_answer() -> None:
    problem = _explain(TimeoutError(), security_protocol="PLAINTEXT")
    assert problem.kind == "no-answer"
    assert "not a Kafka broker" in problem.reason


def test_failures_of_several_addresses_are_joined() -> None:
    same = connect_failure(
        "a:1,b:2",
        [
            ("a:1", ConnectProblem("refused", "refused", reached=False)),
            ("b:2", ConnectProblem("refused", "refused", reached=False)),
        ],
    )
    assert str(same).startswith("cannot reach a:1,b:2: refused")
    mixed = connect_failure(
        "a:1,b:2",
        [
            ("a:1", ConnectProblem("refused", "connection refused", reached=False)),
            ("b:2", ConnectProblem("authentication", "authentication failed (SASL PLAIN as x)")),
        ],
    )
    assert isinstance(mixed, ConnectionFailure)
    assert mixed.kind == "authentication"
    assert "a:1: connection refused; b:2: authentication failed" in str(mixed)


# --------------------------------------------------------------------------- real sockets


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A TCP listener that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


async def test_a_silent_peer_fails_within_the_deadline(silent_listener: str) -> None:
    began = time.monotonic()
    with pytest.raises(ConnectionFailure) as caught:
        await probe_bootstrap([silent_listener], {"security_protocol": "PLAINTEXT"}, timeout=1.5)
    assert time.monotonic() - began < 3
    assert caught.value.kind == "no-answer"


async def test_refused_and_silent_addresses_each_named(silent_listener: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(ConnectionFailure) as caught:
        await probe_bootstrap(
            [f"127.0.0.1:{closed_port}", silent_listener],
            {"security_protocol": "PLAINTEXT"},
            timeout=1.0,
        )
    text = str(caught.value)
    assert f"127.0.0.1:{closed_port}: connection refused" in text
    assert f"{silent_listener}: connected, but no answer" in text


# --------------------------------------------------------------------------- TLS files


def test_tls_context_names_a_missing_ca_file(tmp_path: Path) -> None:
    from reconciler.errors import ReconcilerError

    with pytest.raises(ReconcilerError, match=r"CA file .*missing.pem: no such file"):
        tls_context(ca_file=str(tmp_path / "missing.pem"))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ReconcilerError, match="not a readable PEM"):
        tls_context(ca_file=str(garbage))
    with pytest.raises(ReconcilerError, match=r"keyFile .* without certFile"):
        tls_context(key_file=str(garbage))


def test_tls_context_loads_a_client_certificate(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    from reconciler.errors import ReconcilerError
    from reconciler.sandbox.certs import SandboxCA

    authority = SandboxCA(tmp_path)
    ops = authority.issue_pem("ops")
    other = authority.issue_pem("other")
    context = tls_context(
        ca_file=str(authority.ca_file), cert_file=str(ops.cert_file), key_file=str(ops.key_file)
    )
    assert context.cert_file == str(ops.cert_file)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    with pytest.raises(ReconcilerError, match="does not belong"):
        tls_context(cert_file=str(ops.cert_file), key_file=str(other.key_file))
