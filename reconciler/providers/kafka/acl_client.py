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

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias, TypeVar

from aiokafka.errors import IncompatibleBrokerVersion, SecurityDisabled, for_code
from aiokafka.protocol.admin import (
    CreateAclsRequest_v0,
    CreateAclsRequest_v1,
    DeleteAclsRequest_v0,
    DeleteAclsRequest_v1,
    DescribeAclsRequest,
)
from aiokafka.protocol.api import Request

from reconciler.errors import ReconcilerError
from reconciler.providers.kafka.acl_diffs import NO_AUTHORIZER_MESSAGE
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.spec.models import AclOperation, AclPermission, AclResourceType, PatternType
from reconciler.spec.roles import AclBinding

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
        AclResourceType.TOPIC: 2, AclResourceType.GROUP: 3, AclResourceType.CLUSTER: 4,
        AclResourceType.TRANSACTIONAL_ID: 5, AclResourceType.DELEGATION_TOKEN: 6,
        AclResourceType.USER: 7,
    },
    PatternType: {PatternType.LITERAL: 3, PatternType.PREFIXED: 4},
    AclOperation: {
        AclOperation.ALL: 2, AclOperation.READ: 3, AclOperation.WRITE: 4,
        AclOperation.CREATE: 5, AclOperation.DELETE: 6, AclOperation.ALTER: 7,
        AclOperation.DESCRIBE: 8, AclOperation.CLUSTER_ACTION: 9,
        AclOperation.DESCRIBE_CONFIGS: 10, AclOperation.ALTER_CONFIGS: 11,
        AclOperation.IDEMPOTENT_WRITE: 12, AclOperation.CREATE_TOKENS: 13,
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
        super().__init__(NO_AUTHORIZER_MESSAGE,
                         hint="set authorizer.class.name on the brokers to use ACLs")


class AclReadFailed(ReconcilerError):
    """DescribeAcls failed, e.g. the connection's principal may not describe ACLs."""


def _error(code: int, message: str | None) -> str | None:
    if not code:
        return None
    name = for_code(code).__name__
    return f"{name}: {message}" if message else name


@dataclass(frozen=True)
class AclListing:
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
            rows.append((code_of(b.resource_type), b.resource_name, b.principal, b.host,
                         code_of(b.operation), code_of(b.permission)))
        else:
            rows.append((code_of(b.resource_type), b.resource_name, code_of(b.pattern_type),
                         b.principal, b.host, code_of(b.operation), code_of(b.permission)))
    return rows


class CreateAclsRequest(Request[CreateAclsRequestStruct]):
    """CreateAcls with many bindings (one ``creations`` entry each)."""

    API_KEY = 30

    def __init__(self, bindings: Sequence[AclBinding]) -> None:
        self.bindings = list(bindings)

    def build(self, request_struct_class: type[CreateAclsRequestStruct]
              ) -> CreateAclsRequestStruct:
        return request_struct_class(_rows(self.bindings, request_struct_class.API_VERSION))


class DeleteAclsRequest(Request[DeleteAclsRequestStruct]):
    """DeleteAcls with one exact-match filter per binding (no ANY, no MATCH)."""

    API_KEY = 31

    def __init__(self, bindings: Sequence[AclBinding]) -> None:
        self.bindings = list(bindings)

    def build(self, request_struct_class: type[DeleteAclsRequestStruct]
              ) -> DeleteAclsRequestStruct:
        return request_struct_class(_rows(self.bindings, request_struct_class.API_VERSION))


# --------------------------------------------------------------------------- operations

async def describe_acl_bindings(admin: KafkaAdmin, *, node_id: int | None = None
                                ) -> AclListing:
    """Every ACL binding of the cluster in ONE DescribeAcls request (a match-any filter),
    answered by ``node_id`` or any broker.

    Raises :class:`NoAuthorizer` when the cluster has none, :class:`AclReadFailed` on any
    other error (typically: the principal lacks DESCRIBE on the cluster).
    """
    request = DescribeAclsRequest(
        resource_type=ANY, resource_name=None,  # type: ignore[arg-type]
        resource_pattern_type_filter=ANY, principal=None,  # type: ignore[arg-type]
        host=None, operation=ANY, permission_type=ANY,  # type: ignore[arg-type]
    )
    response = await admin.send(request, node_id=node_id)
    if response.error_code == SecurityDisabled.errno:
        raise NoAuthorizer()
    if response.error_code:
        raise AclReadFailed(
            f"cannot read the ACLs of {admin.endpoint}: "
            f"{_error(response.error_code, response.error_message)}",
            hint="the connection's principal needs DESCRIBE on the cluster (or be a super user)")
    version = response.API_VERSION
    bindings: set[AclBinding] = set()
    unknown = 0
    for resource in response.resources:
        if version >= 1:
            type_code, name, pattern_code, acls = resource
        else:
            (type_code, name, acls), pattern_code = resource, code_of(PatternType.LITERAL)
        resource_type = member_of(AclResourceType, type_code)
        pattern_type = member_of(PatternType, pattern_code)
        for principal, host, operation_code, permission_code in acls:
            operation = member_of(AclOperation, operation_code)
            permission = member_of(AclPermission, permission_code)
            if None in (resource_type, pattern_type, operation, permission):
                unknown += 1
                continue
            bindings.add(AclBinding(
                principal=principal, resource_type=resource_type,  # type: ignore[arg-type]
                pattern_type=pattern_type, resource_name=name,  # type: ignore[arg-type]
                operation=operation, permission=permission, host=host,  # type: ignore[arg-type]
            ))
    return AclListing(bindings=tuple(sorted(bindings)), api_version=version, unknown=unknown)


async def create_acl_bindings(admin: KafkaAdmin, bindings: Sequence[AclBinding]
                              ) -> dict[AclBinding, str | None]:
    """Create bindings in batches; binding -> error message or None."""
    results: dict[AclBinding, str | None] = {}
    for start in range(0, len(bindings), ACL_BATCH):
        batch = list(bindings[start:start + ACL_BATCH])
        response = await admin.send(CreateAclsRequest(batch))
        answers = list(response.creation_responses)
        for index, binding in enumerate(batch):
            if index < len(answers):
                code, message = answers[index][0], answers[index][1]
                results[binding] = _error(code, message)
            else:
                results[binding] = "the broker did not answer for this binding"
    return results


async def delete_acl_bindings(admin: KafkaAdmin, bindings: Sequence[AclBinding]
                              ) -> dict[AclBinding, str | None]:
    """Delete exactly these bindings in batches; binding -> error message or None.

    A filter that matches nothing is a success: the binding is already gone.
    """
    results: dict[AclBinding, str | None] = {}
    for start in range(0, len(bindings), ACL_BATCH):
        batch = list(bindings[start:start + ACL_BATCH])
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
