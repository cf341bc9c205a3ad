"""The sandbox's certificate authority and its ``env`` lines (no services needed)."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest

x509 = pytest.importorskip("cryptography.x509")

from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: E402

from reconciler.sandbox.__main__ import exports  # noqa: E402
from reconciler.sandbox.certs import SandboxCA  # noqa: E402
from reconciler.sandbox.kafka import KafkaSandbox  # noqa: E402


def test_client_certificate_subject_and_private_key(tmp_path: Path) -> None:
    authority = SandboxCA(tmp_path)
    issued = authority.issue_pem("ops")
    # The string form Kafka's principal builder sees, which the mapping rule cuts to CN=ops.
    assert issued.subject == "CN=ops,O=llm-analytics sandbox"
    assert stat.S_IMODE(issued.key_file.stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate(issued.cert_file.read_bytes())
    assert certificate.issuer == authority.certificate.subject


def test_broker_keystore_is_pkcs12_with_ip_san_and_the_ca(tmp_path: Path) -> None:
    authority = SandboxCA(tmp_path)
    path = authority.issue_pkcs12("broker", "store-pw")
    key, certificate, extra = pkcs12.load_key_and_certificates(path.read_bytes(), b"store-pw")
    assert key is not None and certificate is not None
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert [c.subject for c in extra] == [authority.certificate.subject]


def test_tls_shape_attributes_before_start() -> None:
    sandbox = KafkaSandbox("scram")
    try:
        assert sandbox.security_protocol == "SASL_SSL"
        assert sandbox.sasl_mechanism == "SCRAM-SHA-512"
        assert set(sandbox.users) == {"admin", "ops", "alice"}
        assert all(password.startswith(f"{user}-") for user, password in sandbox.users.items())
        assert sandbox.principal("ops") == "User:ops"
        with pytest.raises(ValueError, match="no TLS"):
            sandbox.client_config()  # the CA exists once started
    finally:
        sandbox.stop()
    mtls = KafkaSandbox("mtls")
    try:
        assert mtls.principal("ops") == "User:CN=ops"
        assert mtls.user_names == ["admin", "ops", "alice"]
    finally:
        mtls.stop()
    tls = KafkaSandbox("tls")
    try:
        assert tls.principal() == "User:ANONYMOUS"
        with pytest.raises(ValueError, match="has no users"):
            tls.client_config("ops")
    finally:
        tls.stop()


def test_env_lines_of_a_secured_sandbox() -> None:
    state = {
        "kafka_shape": "scram",
        "bootstrap_servers": "127.0.0.1:1",
        "kafka_env": {
            "LLM_ANALYTICS_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "LLM_ANALYTICS_SECURITY_PROTOCOL": "SASL_SSL",
            "LLM_ANALYTICS_SASL_PASSWORD_ENV": "LLM_ANALYTICS_SANDBOX_KAFKA_PASSWORD",
            "LLM_ANALYTICS_SANDBOX_KAFKA_PASSWORD": "admin-x y",
        },
        "kafka_users": {"admin": "admin-x y", "alice": "alice-secret-1"},
        "redis_addresses": ["127.0.0.1:2"],
    }
    lines = exports(state).splitlines()
    assert lines[0] == "export LLM_ANALYTICS_BOOTSTRAP_SERVERS=127.0.0.1:1"
    assert "export LLM_ANALYTICS_SANDBOX_KAFKA_PASSWORD='admin-x y'" in lines
    assert "export LLM_ANALYTICS_REDIS_ADDRESSES=127.0.0.1:2" in lines
    assert lines[-1].startswith("# SASL_SSL + SCRAM-SHA-512 users")
    assert "admin, alice" in lines[-1] and "alice-secret-1" not in exports(state)
    # A state written before the TLS shapes existed still works.
    old = {"bootstrap_servers": "127.0.0.1:1", "redis_addresses": []}
    assert exports(old) == "export LLM_ANALYTICS_BOOTSTRAP_SERVERS=127.0.0.1:1"
