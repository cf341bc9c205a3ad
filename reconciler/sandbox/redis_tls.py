"""Certificates for the Redis sandbox's TLS shapes: one CA, one server and one client pair.

Generated with ``/usr/bin/openssl`` (no Python dependency) into a directory of the sandbox,
once per sandbox. The server certificate names ``127.0.0.1``, ``::1`` and ``localhost`` (plus
any extra IPs given) so that clients which check host names accept it; the client
certificate's subject is ``CN=<client_name>`` for ``tls-auth-clients yes``.

Kept apart from the Kafka sandbox's certificate code on purpose: Redis reads PEM files
directly, Kafka wants PKCS12 keystores.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from msgspec import Struct

from reconciler.sandbox._process import SandboxError

DAYS = 2


class RedisTlsFiles(Struct, frozen=True):
    """PEM files of a sandbox: the CA, the servers' certificate and a client certificate."""

    directory: Path
    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl() -> str:
    found = shutil.which("openssl") or shutil.which("openssl", path="/usr/bin:/usr/local/bin")
    if found is None:
        raise SandboxError("openssl not found; install it with: apt-get install -y openssl")
    return found


def _run(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        [_openssl(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise SandboxError(f"openssl {args[0]} failed: {done.stderr.strip()[-1500:]}")


def _signed(
    directory: Path,
    name: str,
    subject: str,
    extensions: str,
) -> tuple[Path, Path]:
    key, csr, cert, ext = (directory / f"{name}{s}" for s in (".key", ".csr", ".crt", ".ext"))
    ext.write_text(extensions)
    _run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key.name, cwd=directory)
    _run("req", "-new", "-key", key.name, "-subj", subject, "-out", csr.name, cwd=directory)
    _run(
        "x509",
        "-req",
        "-in",
        csr.name,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        str(DAYS),
        "-sha256",
        "-extfile",
        ext.name,
        "-out",
        cert.name,
        cwd=directory,
    )
    key.chmod(0o600)
    csr.unlink()
    ext.unlink()
    return cert, key


def issue_server_certificate(
    directory: Path, name: str, extra_ips: tuple[str, ...] = ()
) -> tuple[Path, Path]:
    """A server certificate ``<name>.crt`` + ``<name>.key`` signed by the CA of
    ``directory`` (made by :func:`generate`), naming loopback and ``extra_ips``."""
    names = ["IP:127.0.0.1", "IP:::1", "DNS:localhost", *(f"IP:{ip}" for ip in extra_ips)]
    return _signed(
        directory,
        name,
        "/CN=redis-sandbox",
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        # Cluster bus and replication links are TLS clients too: the servers present this
        # certificate to each other.
        "extendedKeyUsage=serverAuth,clientAuth\n"
        f"subjectAltName={','.join(names)}\n",
    )


def generate(
    directory: Path, *, client_name: str = "ops", extra_ips: tuple[str, ...] = ()
) -> RedisTlsFiles:
    """A fresh CA, a server certificate for loopback (+ ``extra_ips``) and a client one."""
    directory.mkdir(parents=True, exist_ok=True)
    _run(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        str(DAYS),
        "-subj",
        "/CN=llm-analytics sandbox Redis CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    (directory / "ca.key").chmod(0o600)
    server_cert, server_key = issue_server_certificate(directory, "server", extra_ips)
    client_cert, client_key = _signed(
        directory,
        "client",
        f"/CN={client_name}",
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=clientAuth\n",
    )
    return RedisTlsFiles(
        directory=directory,
        ca_file=directory / "ca.crt",
        server_cert=server_cert,
        server_key=server_key,
        client_cert=client_cert,
        client_key=client_key,
    )
