"""The redis.conf the sandboxes write: security shapes, and the Kubernetes pods' TLS files."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509

from reconciler.sandbox.kubernetes import RedisPod, RedisPods
from reconciler.sandbox.redis import AclUser, auth_config, resolve_users, standard_acl_users


def test_auth_config_shapes() -> None:
    assert auth_config(password="p", acl_users=[], replication_user=None) == [
        'requirepass "p"',
        'masterauth "p"',
    ]
    users = [AclUser("ops", "o"), AclUser("replication", "r", "+psync")]
    admin, replication = resolve_users(users, None)
    assert (admin, replication) == ("ops", "replication")
    assert auth_config(password=None, acl_users=users, replication_user=replication) == [
        "user default off",
        'user ops on ">o" ~* &* +@all',
        'user replication on ">r" +psync',
        "masteruser replication",
        'masterauth "r"',
    ]
    assert auth_config(password="p", acl_users=[], replication_user=None, masterauth=False) == [
        'requirepass "p"'
    ]
    with pytest.raises(ValueError, match="not one of"):
        resolve_users(users, None, admin_user="nobody")


def _pods(tmp_path: Path, **shape: Any) -> RedisPods:
    sandbox: Any = SimpleNamespace(workdir=tmp_path)  # only the directory is used here
    return RedisPods(sandbox, "ns", **shape)


def test_pod_config_holds_the_secrets_and_a_certificate_for_the_pod_ip(tmp_path: Path) -> None:
    users = standard_acl_users(prefix="unit-")
    pods = _pods(tmp_path, acl_users=users, tls=True, tls_auth_clients="yes")
    pod = RedisPod("redis-cluster-0", "127.0.42.7", "node-0", "zone-a", tmp_path / "p0")
    text = pods._config_text(pod)
    assert pods.tls is not None and pods.admin_user == "ops"
    assert "bind 127.0.42.7" in text and "port 0" in text and "tls-port 6379" in text
    assert "tls-cluster yes" in text and "tls-auth-clients yes" in text
    assert f'tls-ca-cert-file "{pods.tls.ca_file}"' in text
    assert "masteruser replication" in text and "user default off" in text
    cert = x509.load_pem_x509_certificate((pods.tls.directory / "redis-cluster-0.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.42.7") in names.get_values_for_type(x509.IPAddress)
    assert pods.cli_args()[:2] == ["--user", "ops"] and "--cacert" in pods.cli_args()
    assert pods.client_kwargs()["password"] == users[0].password


def test_pod_config_without_tls(tmp_path: Path) -> None:
    pods = _pods(tmp_path, password="pw")
    pod = RedisPod("redis-cluster-1", "127.0.42.8", "node-1", "zone-b", tmp_path / "p1")
    text = pods._config_text(pod)
    assert "port 6379" in text and "tls-port" not in text and pods.tls is None
    assert 'requirepass "pw"' in text and 'masterauth "pw"' in text
    assert pods.cli_args() == [] and pods.client_kwargs()["username"] is None
