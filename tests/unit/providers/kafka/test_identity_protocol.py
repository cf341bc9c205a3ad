"""The quota and SCRAM protocol structs encode as Kafka's message schemas say."""

from __future__ import annotations

import hashlib
import struct

from reconciler.providers.kafka.identity_client import salted_password, scram_upsertion
from reconciler.providers.kafka.identity_protocol import (
    AlterClientQuotasRequest,
    AlterClientQuotasRequest_v0,
    AlterClientQuotasRequest_v1,
    AlterUserScramCredentialsRequest,
    AlterUserScramCredentialsRequest_v0,
    DescribeClientQuotasRequest,
    DescribeClientQuotasRequest_v1,
    DescribeClientQuotasResponse_v1,
    DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsRequest_v0,
    quota_entries,
)


def test_describe_client_quotas_matches_everything() -> None:
    encoded = DescribeClientQuotasRequest().build(DescribeClientQuotasRequest_v1).encode()
    assert encoded == b"\x01\x00\x00"  # empty compact array, strict=false, no tags


def test_describe_user_scram_credentials_asks_for_every_user() -> None:
    built = DescribeUserScramCredentialsRequest().build(DescribeUserScramCredentialsRequest_v0)
    assert built.encode() == b"\x00\x00"  # null compact array, no tags


def test_alter_client_quotas_both_versions() -> None:
    entries = [((("user", "alice"), ("client-id", None)), [("producer_byte_rate", 1024.0, False)])]
    flexible = AlterClientQuotasRequest(entries).build(AlterClientQuotasRequest_v1).encode()
    assert b"alice" in flexible and struct.pack(">d", 1024.0) in flexible
    assert b"\x05user" in flexible  # compact string: length + 1
    plain = AlterClientQuotasRequest(entries, validate_only=True).build(AlterClientQuotasRequest_v0)
    body = plain.encode()
    assert body.endswith(b"\x01") and b"\x00\x04user" in body and b"\xff\xff" in body


def test_describe_client_quotas_response_decodes() -> None:
    response = DescribeClientQuotasResponse_v1(
        0,
        0,
        None,
        [
            (
                [("user", "alice", {}), ("client-id", None, {})],
                [("request_percentage", 50.0, {})],
                {},
            )
        ],
        {},
    )
    decoded = DescribeClientQuotasResponse_v1.decode(response.encode())
    assert quota_entries(decoded) == [
        ((("user", "alice"), ("client-id", None)), {"request_percentage": 50.0})
    ]


def test_salted_password_is_rfc5802_hi() -> None:
    salt = b"0123456789abcdef"
    expected = hashlib.pbkdf2_hmac("sha512", b"pencil", salt, 4096)
    assert salted_password("SCRAM-SHA-512", "pencil", salt, 4096) == expected
    assert len(salted_password("SCRAM-SHA-256", "pencil", salt, 4096)) == 32


def test_upsertions_carry_salt_and_salted_password_never_the_password() -> None:
    upsertion = scram_upsertion("bob", "SCRAM-SHA-256", 4096, "pencil")
    request = AlterUserScramCredentialsRequest([("old", 2)], [upsertion])
    encoded = request.build(AlterUserScramCredentialsRequest_v0).encode()
    assert b"pencil" not in encoded and upsertion[4] in encoded and b"bob" in encoded
    assert "pencil" not in repr(request)
