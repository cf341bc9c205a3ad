"""Client-quota and SCRAM-credential requests aiokafka lacks, on its protocol layer.

- ``DescribeClientQuotas`` (API key 48) v0-v1 and ``AlterClientQuotas`` (49) v0-v1 (KIP-546);
  v1 is the flexible encoding. Kafka 4.x supports both versions of each.
- ``DescribeUserScramCredentials`` (50) v0 and ``AlterUserScramCredentials`` (51) v0
  (KIP-554), flexible only. Upsertions carry the salt and the salted password (RFC 5802
  ``Hi()``), computed by the client: the password itself never crosses the wire.

aiokafka negotiates the highest version both sides know, per connection (ApiVersions).
"""

from __future__ import annotations

from typing import Any, TypeAlias

from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Array,
    Boolean,
    Bytes,
    Float64,
    Int8,
    Int16,
    Int32,
    Schema,
    String,
)

from reconciler.providers.kafka.flexible import flexible

MATCH_EXACT, MATCH_DEFAULT, MATCH_ANY = 0, 1, 2
# Kafka's ScramMechanism codes.
SCRAM_CODES = {"SCRAM-SHA-256": 1, "SCRAM-SHA-512": 2}
SCRAM_NAMES = {code: name for name, code in SCRAM_CODES.items()}

# ((entity type, entity name or None for the default), ...)
QuotaEntity = tuple[tuple[str, str | None], ...]
# (entity, [(key, value, remove)])
QuotaAlteration = tuple[QuotaEntity, list[tuple[str, float, bool]]]


# --------------------------------------------------------------------------- DescribeClientQuotas


class DescribeClientQuotasResponse_v0(Response):
    API_KEY = 48
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", String("utf-8")),
        (
            "entries",
            Array(
                (
                    "entity",
                    Array(("entity_type", String("utf-8")), ("entity_name", String("utf-8"))),
                ),
                ("values", Array(("key", String("utf-8")), ("value", Float64))),
            ),
        ),
    )


class DescribeClientQuotasResponse_v1(Response):
    API_KEY = 48
    API_VERSION = 1
    SCHEMA = flexible(DescribeClientQuotasResponse_v0.SCHEMA)


class DescribeClientQuotasRequest_v0(RequestStruct):
    API_KEY = 48
    API_VERSION = 0
    RESPONSE_TYPE = DescribeClientQuotasResponse_v0
    SCHEMA = Schema(
        (
            "components",
            Array(
                ("entity_type", String("utf-8")),
                ("match_type", Int8),
                ("match", String("utf-8")),
            ),
        ),
        ("strict", Boolean),
    )


class DescribeClientQuotasRequest_v1(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 48
    API_VERSION = 1
    RESPONSE_TYPE = DescribeClientQuotasResponse_v1
    SCHEMA = flexible(DescribeClientQuotasRequest_v0.SCHEMA)


DescribeClientQuotasRequestStruct: TypeAlias = (
    DescribeClientQuotasRequest_v0 | DescribeClientQuotasRequest_v1
)


class DescribeClientQuotasRequest(Request[DescribeClientQuotasRequestStruct]):
    """Every quota entity of the cluster (no components, not strict) in one request."""

    API_KEY = 48

    def build(
        self, request_struct_class: type[DescribeClientQuotasRequestStruct]
    ) -> DescribeClientQuotasRequestStruct:
        if request_struct_class.API_VERSION >= 1:
            return request_struct_class([], False, {})
        return request_struct_class([], False)


def quota_entries(response: Any) -> list[tuple[QuotaEntity, dict[str, float]]]:
    """(entity, {key: value}) of a DescribeClientQuotas response (either version)."""
    entries = []
    for entry in response.entries or ():
        entity = tuple((part[0], part[1]) for part in entry[0] or ())
        entries.append((entity, {value[0]: float(value[1]) for value in entry[1] or ()}))
    return entries


# --------------------------------------------------------------------------- AlterClientQuotas

_QUOTA_ENTITY = Array(("entity_type", String("utf-8")), ("entity_name", String("utf-8")))


class AlterClientQuotasResponse_v0(Response):
    API_KEY = 49
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "entries",
            Array(
                ("error_code", Int16),
                ("error_message", String("utf-8")),
                ("entity", _QUOTA_ENTITY),
            ),
        ),
    )


class AlterClientQuotasResponse_v1(Response):
    API_KEY = 49
    API_VERSION = 1
    SCHEMA = flexible(AlterClientQuotasResponse_v0.SCHEMA)


class AlterClientQuotasRequest_v0(RequestStruct):
    API_KEY = 49
    API_VERSION = 0
    RESPONSE_TYPE = AlterClientQuotasResponse_v0
    SCHEMA = Schema(
        (
            "entries",
            Array(
                ("entity", _QUOTA_ENTITY),
                ("ops", Array(("key", String("utf-8")), ("value", Float64), ("remove", Boolean))),
            ),
        ),
        ("validate_only", Boolean),
    )


class AlterClientQuotasRequest_v1(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 49
    API_VERSION = 1
    RESPONSE_TYPE = AlterClientQuotasResponse_v1
    SCHEMA = flexible(AlterClientQuotasRequest_v0.SCHEMA)


AlterClientQuotasRequestStruct: TypeAlias = (
    AlterClientQuotasRequest_v0 | AlterClientQuotasRequest_v1
)


class AlterClientQuotasRequest(Request[AlterClientQuotasRequestStruct]):
    """Set or remove quota keys of many entities in one request."""

    API_KEY = 49

    def __init__(self, entries: list[QuotaAlteration], validate_only: bool = False) -> None:
        self.entries = entries
        self._validate_only = validate_only

    def build(
        self, request_struct_class: type[AlterClientQuotasRequestStruct]
    ) -> AlterClientQuotasRequestStruct:
        if request_struct_class.API_VERSION >= 1:
            flexible: list[Any] = [
                (
                    [(kind, name, {}) for kind, name in entity],
                    [(key, value, remove, {}) for key, value, remove in ops],
                    {},
                )
                for entity, ops in self.entries
            ]
            return request_struct_class(flexible, self._validate_only, {})
        plain: list[Any] = [
            ([(kind, name) for kind, name in entity], list(ops)) for entity, ops in self.entries
        ]
        return request_struct_class(plain, self._validate_only)


# --------------------------------------------------------------------------- SCRAM credentials
# Both requests exist in the flexible encoding only (v0 is flexible).


class DescribeUserScramCredentialsResponse_v0(Response):
    API_KEY = 50
    API_VERSION = 0
    SCHEMA = flexible(
        Schema(
            ("throttle_time_ms", Int32),
            ("error_code", Int16),
            ("error_message", String("utf-8")),
            (
                "results",
                Array(
                    ("user", String("utf-8")),
                    ("error_code", Int16),
                    ("error_message", String("utf-8")),
                    ("credential_infos", Array(("mechanism", Int8), ("iterations", Int32))),
                ),
            ),
        )
    )


class DescribeUserScramCredentialsRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 50
    API_VERSION = 0
    RESPONSE_TYPE = DescribeUserScramCredentialsResponse_v0
    # One field: Array() takes a lone field for the element type, so wrap it in a Schema.
    SCHEMA = flexible(Schema(("users", Array(Schema(("name", String("utf-8")))))))


class DescribeUserScramCredentialsRequest(Request[DescribeUserScramCredentialsRequest_v0]):
    """The SCRAM mechanisms and iterations of every user (a null user list) in one request."""

    API_KEY = 50

    def build(
        self, request_struct_class: type[DescribeUserScramCredentialsRequest_v0]
    ) -> DescribeUserScramCredentialsRequest_v0:
        return request_struct_class(None, {})


class AlterUserScramCredentialsResponse_v0(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = flexible(
        Schema(
            ("throttle_time_ms", Int32),
            (
                "results",
                Array(
                    ("user", String("utf-8")),
                    ("error_code", Int16),
                    ("error_message", String("utf-8")),
                ),
            ),
        )
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = flexible(
        Schema(
            ("deletions", Array(("name", String("utf-8")), ("mechanism", Int8))),
            (
                "upsertions",
                Array(
                    ("name", String("utf-8")),
                    ("mechanism", Int8),
                    ("iterations", Int32),
                    ("salt", Bytes),
                    ("salted_password", Bytes),
                ),
            ),
        )
    )


# (user, mechanism code)
ScramDeletion = tuple[str, int]
# (user, mechanism code, iterations, salt, salted password)
ScramUpsertion = tuple[str, int, int, bytes, bytes]


class AlterUserScramCredentialsRequest(Request[AlterUserScramCredentialsRequest_v0]):
    """Delete and upsert SCRAM credentials of many users in one request."""

    API_KEY = 51

    def __init__(self, deletions: list[ScramDeletion], upsertions: list[ScramUpsertion]) -> None:
        self.deletions = deletions
        self.upsertions = upsertions

    def build(
        self, request_struct_class: type[AlterUserScramCredentialsRequest_v0]
    ) -> AlterUserScramCredentialsRequest_v0:
        return request_struct_class(
            [(*d, {}) for d in self.deletions], [(*u, {}) for u in self.upsertions], {}
        )

    def __repr__(self) -> str:  # never show the salted passwords
        return (
            f"AlterUserScramCredentialsRequest({len(self.deletions)} deletion(s), "
            f"{len(self.upsertions)} upsertion(s))"
        )
