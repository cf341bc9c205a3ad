"""ACL admin requests: DescribeAcls, CreateAcls and DeleteAcls over :class:`KafkaAdmin`.

aiokafka has the protocol structs of these APIs but no admin methods, and its CreateAcls /
DeleteAcls builders carry a single binding per request; the builders here carry a batch.
Every request goes through ``KafkaAdmin.send`` so it is counted.

Versions: Kafka 4 removed v0 of all three APIs (KIP-896); v1 (Kafka 2.0+) adds the pattern
type (LITERAL / PREFIXED). aiokafka negotiates the highest version both sides know, which is
v1 against any broker from 2.0 to 4.x. Against a pre-2.0 broker (v0 only) bindings read back
as LITERAL and PREFIXED bindings are refused before sending.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, TypeAlias, TypeVar

from aiokafka.errors import IncompatibleBrokerVersion, SecurityDisabled, for_code
from aiokafka.protocol.admin import (
    CreateAclsRequest_v0,
    CreateAclsRequest_v1,
    DeleteAclsRequest_v0,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v0,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Bytes, Schema
from msgspec import Struct

from reconciler.errors import ReconcilerError
from reconciler.providers.kafka.acl_diffs import NO_AUTHORIZER_MESSAGE
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.spec.models import AclOperation, AclPermission, AclResourceType, PatternType
from reconciler.spec.roles import AclBinding, acl_sort_key

__all__ = [
    "ACL_BATCH",
    "AclBinding",
    "AclListing",
    "AclReadFailed",
    "NoAuthorizer",
    "create_acl_bindings",
    "delete_acl_bindings",
    "describe_acl_bindings",
]

# Bindings per CreateAcls / DeleteAcls request: keeps the request count flat while staying
# well under the controller's limit of records per operation (10,000 in Kafka 3.7+).
ACL_BATCH = 1000

# The protocol's int codes of every enum value, in one table (Kafka's AclOperation,
# AclPermissionType, ResourceType and PatternType). ANY (1) is a filter-only value.
ANY = 1
PROTOCOL_CODES: dict[type[StrEnum], dict[StrEnum, int]] = {
    AclResourceType: {
        AclResourceType.TOPIC: 2,
        AclResourceType.GROUP: 3,
        AclResourceType.CLUSTER: 4,
        AclResourceType.TRANSACTIONAL_ID: 5,
        AclResourceType.DELEGATION_TOKEN: 6,
        AclResourceType.USER: 7,
    },
    PatternType: {PatternType.LITERAL: 3, PatternType.PREFIXED: 4},
    AclOperation: {
        AclOperation.ALL: 2,
        AclOperation.READ: 3,
        AclOperation.WRITE: 4,
        AclOperation.CREATE: 5,
        AclOperation.DELETE: 6,
        AclOperation.ALTER: 7,
        AclOperation.DESCRIBE: 8,
        AclOperation.CLUSTER_ACTION: 9,
        AclOperation.DESCRIBE_CONFIGS: 10,
        AclOperation.ALTER_CONFIGS: 11,
        AclOperation.IDEMPOTENT_WRITE: 12,
        AclOperation.CREATE_TOKENS: 13,
        AclOperation.DESCRIBE_TOKENS: 14,
    },
    AclPermission: {AclPermission.DENY: 2, AclPermission.ALLOW: 3},
}
_FROM_CODE: dict[type[StrEnum], dict[int, StrEnum]] = {
    kind: {code: member for member, code in codes.items()} for kind, codes in PROTOCOL_CODES.items()
}
E = TypeVar("E", bound=StrEnum)


def code_of(member: StrEnum) -> int:
    return PROTOCOL_CODES[type(member)][member]


def member_of(kind: type[E], code: int) -> E | None:
    """The enum value of a protocol code, or None for a code this tool does not know."""
    member = _FROM_CODE[kind].get(code)
    return member if isinstance(member, kind) else None


class NoAuthorizer(ReconcilerError):
    """The cluster has no authorizer configured (DescribeAcls answers SECURITY_DISABLED)."""

    def __init__(self) -> None:
        super().__init__(
            NO_AUTHORIZER_MESSAGE, hint="set authorizer.class.name on the brokers to use ACLs"
        )


class AclReadFailed(ReconcilerError):
    """DescribeAcls failed, e.g. the connection's principal may not describe ACLs."""


def _error(code: int, message: str | None) -> str | None:
    if not code:
        return None
    name = for_code(code).__name__
    return f"{name}: {message}" if message else name


class AclListing(Struct, frozen=True):
    """Every binding of the cluster, as read by one DescribeAcls request."""

    bindings: tuple[AclBinding, ...]
    api_version: int
    unknown: int = 0  # bindings with a resource type or operation this tool does not know

    @property
    def supports_prefixed(self) -> bool:
        return self.api_version >= 1


# --------------------------------------------------------------------------- requests

_BindingRow = tuple[Any, ...]
CreateAclsRequestStruct: TypeAlias = CreateAclsRequest_v0 | CreateAclsRequest_v1
DeleteAclsRequestStruct: TypeAlias = DeleteAclsRequest_v0 | DeleteAclsRequest_v1


def _rows(bindings: Sequence[AclBinding], version: int) -> list[_BindingRow]:
    rows: list[_BindingRow] = []
    for b in bindings:
        if version < 1:
            if b.pattern_type is not PatternType.LITERAL:
                raise IncompatibleBrokerVersion("the brokers do not support PREFIXED ACLs")
            rows.append(
                (
                    code_of(b.resource_type),
                    b.resource_name,
                    b.principal,
                    b.host,
                    code_of(b.operation),
                    code_of(b.permission),
                )
            )
        else:
            rows.append(
                (
                    code_of(b.resource_type),
                    b.resource_name,
                    code_of(b.pattern_type),
                    b.principal,
                    b.host,
                    code_of(b.operation),
                    code_of(b.permission),
                )
            )
    return rows


# (resource type, resource name, pattern type, principal, host, operation, permission) codes
AclRow = tuple[int, str, int, str, str, int, int]
_INT16, _INT32 = struct.Struct(">h"), struct.Struct(">i")
_LITERAL_CODE = 3


def decode_describe_acls(buffer: bytes, version: int) -> tuple[int, str | None, list[AclRow]]:
    """Walk a DescribeAcls v0/v1 response body in one pass: (error code, message, rows).

    aiokafka's generic decoder builds a Struct per resource and per binding, which dominates
    a plan's time with tens of thousands of bindings; this reads the fields in place.
    """
    int16, int32 = _INT16.unpack_from, _INT32.unpack_from
    offset = 4  # throttle_time_ms

    def string() -> str | None:
        nonlocal offset
        (length,) = int16(buffer, offset)
        offset += 2
        if length < 0:
            return None
        offset += length
        return buffer[offset - length : offset].decode()

    (error_code,) = int16(buffer, offset)
    offset += 2
    error_message = string()
    rows: list[AclRow] = []
    (resource_count,) = int32(buffer, offset)
    offset += 4
    for _ in range(max(resource_count, 0)):
        resource_type = buffer[offset]
        offset += 1
        resource_name = string() or ""
        pattern_type = _LITERAL_CODE  # v0 knows only literal names
        if version >= 1:
            pattern_type = buffer[offset]
            offset += 1
        (acl_count,) = int32(buffer, offset)
        offset += 4
        for _ in range(max(acl_count, 0)):
            principal = string() or ""
            host = string() or ""
            rows.append(
                (
                    resource_type,
                    resource_name,
                    pattern_type,
                    principal,
                    host,
                    buffer[offset],
                    buffer[offset + 1],
                )
            )
            offset += 2
    if offset > len(buffer):
        raise ValueError("buffer underrun decoding DescribeAcls response")
    return error_code, error_message, rows


class _RawDescribeAclsResponse(Response):
    """A DescribeAcls response kept as bytes; :meth:`decoded` walks it once."""

    API_KEY = 29
    SCHEMA = Schema(("raw", Bytes))

    @classmethod
    def decode(cls, data: Any) -> _RawDescribeAclsResponse:
        return cls(data.read() if hasattr(data, "read") else bytes(data))

    def decoded(self) -> tuple[int, str | None, list[AclRow]]:
        return decode_describe_acls(self.raw, self.API_VERSION)


class DescribeAclsResponse_v0(_RawDescribeAclsResponse):
    API_VERSION = 0


class DescribeAclsResponse_v1(_RawDescribeAclsResponse):
    API_VERSION = 1


class DescribeAclsRequest_v0_raw(RequestStruct):
    API_KEY = 29
    API_VERSION = 0
    RESPONSE_TYPE = DescribeAclsResponse_v0
    SCHEMA = DescribeAclsRequest_v0.SCHEMA


class DescribeAclsRequest_v1_raw(RequestStruct):
    API_KEY = 29
    API_VERSION = 1
    RESPONSE_TYPE = DescribeAclsResponse_v1
    SCHEMA = DescribeAclsRequest_v1.SCHEMA


DescribeAclsRequestStruct: TypeAlias = DescribeAclsRequest_v0_raw | DescribeAclsRequest_v1_raw


class DescribeAclsRequest(Request[DescribeAclsRequestStruct]):
    """DescribeAcls with a match-any filter: every binding of the cluster."""

    API_KEY = 29

    def build(
        self, request_struct_class: type[DescribeAclsRequestStruct]
    ) -> DescribeAclsRequestStruct:
        # resource type, name, [pattern type,] principal, host, operation, permission
        if request_struct_class.API_VERSION >= 1:
            return request_struct_class(ANY, None, ANY, None, None, ANY, ANY)
        return request_struct_class(ANY, None, None, None, ANY, ANY)


class CreateAclsRequest(Request[CreateAclsRequestStruct]):
    """CreateAcls with many bindings (one ``creations`` entry each)."""

    API_KEY = 30

    def __init__(self, bindings: Sequence[AclBinding]) -> None:
        self.bindings = list(bindings)

    def build(self, request_struct_class: type[CreateAclsRequestStruct]) -> CreateAclsRequestStruct:
        return request_struct_class(_rows(self.bindings, request_struct_class.API_VERSION))


class DeleteAclsRequest(Request[DeleteAclsRequestStruct]):
    """DeleteAcls with one exact-match filter per binding (no ANY, no MATCH)."""

    API_KEY = 31

    def __init__(self, bindings: Sequence[AclBinding]) -> None:
        self.bindings = list(bindings)

    def build(self, request_struct_class: type[DeleteAclsRequestStruct]) -> DeleteAclsRequestStruct:
        return request_struct_class(_rows(self.bindings, request_struct_class.API_VERSION))


# --------------------------------------------------------------------------- operations


async def describe_acl_bindings(admin: KafkaAdmin, *, node_id: int | None = None) -> AclListing:
    """Every ACL binding of the cluster in ONE DescribeAcls request (a match-any filter),
    answered by ``node_id`` or any broker.

    Raises :class:`NoAuthorizer` when the cluster has none, :class:`AclReadFailed` on any
    other error (typically: the principal lacks DESCRIBE on the cluster).
    """
    response = await admin.send(DescribeAclsRequest(), node_id=node_id)
    error_code, error_message, rows = response.decoded()
    if error_code == SecurityDisabled.errno:
        raise NoAuthorizer()
    if error_code:
        raise AclReadFailed(
            f"cannot read the ACLs of {admin.endpoint}: {_error(error_code, error_message)}",
            hint="the connection's principal needs DESCRIBE on the cluster (or be a super user)",
        )
    resource_types, patterns = _FROM_CODE[AclResourceType], _FROM_CODE[PatternType]
    operations, permissions = _FROM_CODE[AclOperation], _FROM_CODE[AclPermission]
    bindings: set[AclBinding] = set()
    unknown = 0
    for type_code, name, pattern_code, principal, host, operation_code, permission_code in rows:
        resource_type, pattern_type = resource_types.get(type_code), patterns.get(pattern_code)
        operation, permission = operations.get(operation_code), permissions.get(permission_code)
        if resource_type is None or pattern_type is None or operation is None or permission is None:
            unknown += 1
            continue
        bindings.add(
            AclBinding(
                principal=principal,
                resource_type=resource_type,  # type: ignore[arg-type]
                pattern_type=pattern_type,  # type: ignore[arg-type]
                resource_name=name,
                operation=operation,  # type: ignore[arg-type]
                permission=permission,  # type: ignore[arg-type]
                host=host,
            )
        )
    return AclListing(
        bindings=tuple(sorted(bindings, key=acl_sort_key)),
        api_version=response.API_VERSION,
        unknown=unknown,
    )


async def create_acl_bindings(
    admin: KafkaAdmin, bindings: Sequence[AclBinding]
) -> dict[AclBinding, str | None]:
    """Create bindings in batches; binding -> error message or None."""
    results: dict[AclBinding, str | None] = {}
    for start in range(0, len(bindings), ACL_BATCH):
        batch = list(bindings[start : start + ACL_BATCH])
        response = await admin.send(CreateAclsRequest(batch))
        answers = list(response.creation_responses)
        for index, binding in enumerate(batch):
            if index < len(answers):
                code, message = answers[index][0], answers[index][1]
                results[binding] = _error(code, message)
            else:
                results[binding] = "the broker did not answer for this binding"
    return results


async def delete_acl_bindings(
    admin: KafkaAdmin, bindings: Sequence[AclBinding]
) -> dict[AclBinding, str | None]:
    """Delete exactly these bindings in batches; binding -> error message or None.

    A filter that matches nothing is a success: the binding is already gone.
    """
    results: dict[AclBinding, str | None] = {}
    for start in range(0, len(bindings), ACL_BATCH):
        batch = list(bindings[start : start + ACL_BATCH])
        response = await admin.send(DeleteAclsRequest(batch))
        answers = list(response.filter_responses)
        for index, binding in enumerate(batch):
            if index >= len(answers):
                results[binding] = "the broker did not answer for this binding"
                continue
            code, message, matching = answers[index][0], answers[index][1], answers[index][2]
            problem = _error(code, message)
            if problem is None:
                problem = next((_error(m[0], m[1]) for m in matching if m[0]), None)
            results[binding] = problem
    return results
