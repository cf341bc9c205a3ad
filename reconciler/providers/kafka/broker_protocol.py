"""ApiVersions v3 (KIP-511/KIP-584), which aiokafka lacks: its answer carries the cluster's
finalized feature levels (tagged field 2), e.g. ``eligible.leader.replicas.version``
(KIP-966), which decides how the controller treats ``min.insync.replicas``.

ApiVersions is the one flexible request whose *response* header stays version 0 (no tagged
fields), so that a client that does not know the broker yet can read the answer.
"""

from __future__ import annotations

import struct
from io import BytesIO
from typing import Any

from aiokafka.protocol.api import Request, RequestStruct, Response, ResponseHeader_v0
from aiokafka.protocol.types import (
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

FINALIZED_FEATURES_TAG = 2
ELR_FEATURE = "eligible.leader.replicas.version"


class ApiVersionsResponse_v3(Response):
    API_KEY = 18
    API_VERSION = 3
    SCHEMA = Schema(
        ("error_code", Int16),
        (
            "api_keys",
            CompactArray(
                ("api_key", Int16),
                ("min_version", Int16),
                ("max_version", Int16),
                ("tags", TaggedFields),
            ),
        ),
        ("throttle_time_ms", Int32),
        ("tags", TaggedFields),
    )


class ApiVersionsRequest_v3(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 18
    API_VERSION = 3
    RESPONSE_TYPE = ApiVersionsResponse_v3
    SCHEMA = Schema(
        ("client_software_name", CompactString("utf-8")),
        ("client_software_version", CompactString("utf-8")),
        ("tags", TaggedFields),
    )

    def parse_response_header(self, read_buffer: BytesIO | bytes) -> Any:
        return ResponseHeader_v0.decode(read_buffer)


class ApiVersionsRequest(Request[ApiVersionsRequest_v3]):
    """ApiVersions v3, for the finalized features (see :func:`finalized_features`)."""

    API_KEY = 18
    ALLOW_UNKNOWN_API_VERSION = True

    def build(self, request_struct_class: type[ApiVersionsRequest_v3]) -> ApiVersionsRequest_v3:
        return request_struct_class("llm-analytics", "1", {})


def _uvarint(buffer: bytes, offset: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buffer[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


def decode_finalized_features(field: bytes) -> dict[str, int]:
    """Feature name -> finalized max version level, from tagged field 2's bytes."""
    count, offset = _uvarint(field, 0)
    features: dict[str, int] = {}
    for _ in range(max(count - 1, 0)):
        length, offset = _uvarint(field, offset)
        name = field[offset : offset + length - 1].decode()
        offset += length - 1
        (max_level,) = struct.unpack_from(">h", field, offset)
        offset += 4  # max, min version levels
        tags, offset = _uvarint(field, offset)
        for _tag in range(tags):
            _number, offset = _uvarint(field, offset)
            size, offset = _uvarint(field, offset)
            offset += size
        features[name] = max_level
    return features


def finalized_features(response: Any) -> dict[str, int]:
    """The finalized feature levels an ApiVersions v3 answer reports ({} when none)."""
    field = (response.tags or {}).get(FINALIZED_FEATURES_TAG)
    return decode_finalized_features(field) if field else {}
