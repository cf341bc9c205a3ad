"""ApiVersions v3 (KIP-511/KIP-584), which aiokafka lacks: its answer carries the cluster's
finalized feature levels (tagged field 2), e.g. ``eligible.leader.replicas.version``
(KIP-966), which decides how the controller treats ``min.insync.replicas``.

ApiVersions is the one flexible request whose *response* header stays version 0 (no tagged
fields), so that a client that does not know the broker yet can read the answer.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from aiokafka.protocol.api import Request, RequestStruct, Response, ResponseHeader_v0
from aiokafka.protocol.types import Array, Int16, Int32, Schema, String

from reconciler.providers.kafka.flexible import flexible

FINALIZED_FEATURES_TAG = 2
ELR_FEATURE = "eligible.leader.replicas.version"

# The tagged field's value: FinalizedFeatureKey structs, flexible like the response.
_FINALIZED_FEATURES = flexible(
    Schema(
        (
            "features",
            Array(
                ("name", String("utf-8")),
                ("max_version_level", Int16),
                ("min_version_level", Int16),
            ),
        )
    )
).fields[0]


class ApiVersionsResponse_v3(Response):
    API_KEY = 18
    API_VERSION = 3
    SCHEMA = flexible(
        Schema(
            ("error_code", Int16),
            ("api_keys", Array(("api_key", Int16), ("min_version", Int16), ("max_version", Int16))),
            ("throttle_time_ms", Int32),
        )
    )


class ApiVersionsRequest_v3(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 18
    API_VERSION = 3
    RESPONSE_TYPE = ApiVersionsResponse_v3
    SCHEMA = flexible(
        Schema(
            ("client_software_name", String("utf-8")),
            ("client_software_version", String("utf-8")),
        )
    )

    def parse_response_header(self, read_buffer: BytesIO | bytes) -> Any:
        return ResponseHeader_v0.decode(read_buffer)


class ApiVersionsRequest(Request[ApiVersionsRequest_v3]):
    """ApiVersions v3, for the finalized features (see :func:`finalized_features`)."""

    API_KEY = 18
    ALLOW_UNKNOWN_API_VERSION = True

    def build(self, request_struct_class: type[ApiVersionsRequest_v3]) -> ApiVersionsRequest_v3:
        return request_struct_class("llm-analytics", "1", {})


def decode_finalized_features(field: bytes) -> dict[str, int]:
    """Feature name -> finalized max version level, from tagged field 2's bytes."""
    features = _FINALIZED_FEATURES.decode(BytesIO(field)) or []
    return {name: max_level for name, max_level, _min_level, _tags in features}


def finalized_features(response: Any) -> dict[str, int]:
    """The finalized feature levels an ApiVersions v3 answer reports ({} when none)."""
    field = (response.tags or {}).get(FINALIZED_FEATURES_TAG)
    return decode_finalized_features(field) if field else {}
