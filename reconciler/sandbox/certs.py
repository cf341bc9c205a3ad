"""A throw-away certificate authority for the TLS sandbox shapes.

Every sandbox that needs TLS makes its own CA in its temporary directory and issues:

- a broker certificate (``CN=broker``, SAN ``127.0.0.1`` and ``localhost``) with its key and
  chain in a PKCS12 keystore, which Kafka reads directly (``ssl.keystore.type=PKCS12``);
- client certificates (``CN=<name>``) as PEM certificate + unencrypted PEM key, which Python's
  ``ssl`` module (and so aiokafka and redis-py) loads with ``load_cert_chain``.

The CA certificate is written as PEM; Kafka reads it as a PEM truststore
(``ssl.truststore.type=PEM``, Kafka 2.7+): a PKCS12 file without Java's private
"trusted certificate" attribute would hold no trust anchor for Java.

Keys are EC P-256: generated in about a millisecond (RSA 2048 takes ~50 ms each) and
supported by every TLS stack involved (Java 17, OpenSSL 3).
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from msgspec import Struct

ORGANIZATION = "llm-analytics sandbox"
VALIDITY = datetime.timedelta(days=2)


class IssuedCertificate(Struct, frozen=True):
    """One certificate issued by a :class:`SandboxCA`, with its files."""

    common_name: str
    cert_file: Path
    key_file: Path
    subject: str  # RFC 4514 form, as Kafka reads it: "CN=ops,O=llm-analytics sandbox"


def _name(common_name: str) -> x509.Name:
    # DER order is most general first; the string form (RFC 4514/2253, Kafka's) reverses
    # it: "CN=ops,O=llm-analytics sandbox".
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


class SandboxCA:
    """A CA whose key lives only in this process and whose certificate is ``ca.pem``."""

    def __init__(self, directory: Path, *, name: str = "llm-analytics sandbox CA") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def _issue(
        self, common_name: str, *, server: bool
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if server:
            usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        return builder.sign(self._key, hashes.SHA256()), key

    def issue_pem(self, common_name: str, *, server: bool = False) -> IssuedCertificate:
        """A certificate + unencrypted key as ``<cn>.pem`` / ``<cn>-key.pem``."""
        certificate, key = self._issue(common_name, server=server)
        cert_file = self.directory / f"{common_name}.pem"
        key_file = self.directory / f"{common_name}-key.pem"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        _write_private(
            key_file,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        return IssuedCertificate(
            common_name, cert_file, key_file, certificate.subject.rfc4514_string()
        )

    def issue_pkcs12(self, common_name: str, password: str, *, server: bool = True) -> Path:
        """A PKCS12 keystore ``<cn>.p12`` (key, certificate and the CA) for a Java server."""
        certificate, key = self._issue(common_name, server=server)
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(10_000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password.encode())
        )
        data = pkcs12.serialize_key_and_certificates(
            common_name.encode(), key, certificate, [self.certificate], encryption
        )
        path = self.directory / f"{common_name}.p12"
        _write_private(path, data)
        return path


__all__ = ["IssuedCertificate", "SandboxCA"]
