"""The ACL request builders and the protocol code table (no broker needed)."""

from __future__ import annotations

from enum import StrEnum

import pytest
from aiokafka.errors import IncompatibleBrokerVersion
from aiokafka.protocol.admin import (
    CreateAclsRequest_v0,
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsResponse_v0,
    DescribeAclsResponse_v1,
)

from reconciler.providers.kafka.acl_client import (
    PROTOCOL_CODES,
    CreateAclsRequest,
    DeleteAclsRequest,
    code_of,
    decode_describe_acls,
    member_of,
)
from reconciler.spec.models import AclOperation, AclPermission, AclResourceType, PatternType
from reconciler.spec.roles import AclBinding

LITERAL = AclBinding("User:a", AclResourceType.TOPIC, PatternType.LITERAL, "t", AclOperation.WRITE)
PREFIXED = AclBinding(
    "User:a",
    AclResourceType.GROUP,
    PatternType.PREFIXED,
    "g-",
    AclOperation.READ,
    AclPermission.DENY,
    "10.0.0.1",
)


@pytest.mark.parametrize("kind", list(PROTOCOL_CODES))
def test_every_enum_value_has_a_distinct_code_and_maps_back(kind: type[StrEnum]) -> None:
    codes = PROTOCOL_CODES[kind]
    assert set(codes) == set(kind)
    assert len(set(codes.values())) == len(codes)
    assert all(member_of(kind, code_of(member)) is member for member in kind)
    assert member_of(kind, 99) is None


def test_kafka_codes_of_the_common_values() -> None:
    assert code_of(AclResourceType.TOPIC) == 2 and code_of(AclResourceType.CLUSTER) == 4
    assert code_of(PatternType.LITERAL) == 3 and code_of(PatternType.PREFIXED) == 4
    assert code_of(AclOperation.READ) == 3 and code_of(AclOperation.IDEMPOTENT_WRITE) == 12
    assert code_of(AclPermission.DENY) == 2 and code_of(AclPermission.ALLOW) == 3


def test_create_request_v1_carries_every_binding_with_its_pattern_type() -> None:
    struct = CreateAclsRequest([LITERAL, PREFIXED]).build(CreateAclsRequest_v1)
    assert struct.creations == [
        (2, "t", 3, "User:a", "*", 4, 3),
        (3, "g-", 4, "User:a", "10.0.0.1", 3, 2),
    ]
    assert struct.encode()  # a valid wire form


def test_delete_request_v1_uses_exact_filters() -> None:
    struct = DeleteAclsRequest([PREFIXED]).build(DeleteAclsRequest_v1)
    assert struct.filters == [(3, "g-", 4, "User:a", "10.0.0.1", 3, 2)]


def test_v0_has_no_pattern_type_and_refuses_prefixed() -> None:
    assert CreateAclsRequest([LITERAL]).build(CreateAclsRequest_v0).creations == [
        (2, "t", "User:a", "*", 4, 3)
    ]
    with pytest.raises(IncompatibleBrokerVersion):
        CreateAclsRequest([PREFIXED]).build(CreateAclsRequest_v0)


def test_request_names_count_as_the_api_names() -> None:
    assert CreateAclsRequest.__name__.removesuffix("Request") == "CreateAcls"
    assert DeleteAclsRequest.__name__.removesuffix("Request") == "DeleteAcls"


@pytest.mark.parametrize("version", [0, 1])
def test_fast_describe_decoder_matches_the_protocol_schema(version: int) -> None:
    acls = [("User:a", "*", 4, 3), ("User:é", "10.0.0.1", 3, 2)]
    if version:
        resources = [(2, "orders", 4, acls), (4, "kafka-cluster", 3, [])]
        body = DescribeAclsResponse_v1(0, 0, None, resources)
    else:
        body = DescribeAclsResponse_v0(0, 0, None, [(2, "orders", acls)])
    error_code, message, rows = decode_describe_acls(body.encode(), version)
    assert (error_code, message) == (0, None)
    pattern = 4 if version else 3  # v0 has no pattern type: LITERAL
    assert rows == [
        (2, "orders", pattern, "User:a", "*", 4, 3),
        (2, "orders", pattern, "User:é", "10.0.0.1", 3, 2),
    ]
    no_authorizer = DescribeAclsResponse_v1(0, 54, "No Authorizer is configured", [])
    assert decode_describe_acls(no_authorizer.encode(), 1)[:2] == (
        54,
        "No Authorizer is configured",
    )
