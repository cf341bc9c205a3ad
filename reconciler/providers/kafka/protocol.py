"""Kafka protocol requests aiokafka lacks, added to its protocol layer.

``IncrementalAlterConfigs`` (API key 44, versions 0-1, KIP-339) changes only the keys it
names; the legacy ``AlterConfigs`` resets every key it does not name, so the tool never
uses it. Version 1 is the flexible encoding (compact strings/arrays, tagged fields).
aiokafka negotiates the highest version both sides support, per connection.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, TypeAlias

from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Array,
    Boolean,
    CompactArray,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    String,
    TaggedFields,
)


class AlterConfigOp(IntEnum):
    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


class ConfigResourceKind(IntEnum):
    TOPIC = 2
    BROKER = 4


class IncrementalAlterConfigsResponse_v0(Response):
    API_KEY = 44
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "responses",
            Array(
                ("error_code", Int16),
                ("error_message", String("utf-8")),
                ("resource_type", Int8),
                ("resource_name", String("utf-8")),
            ),
        ),
    )


class IncrementalAlterConfigsResponse_v1(Response):
    API_KEY = 44
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "responses",
            CompactArray(
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("resource_type", Int8),
                ("resource_name", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class IncrementalAlterConfigsRequest_v0(RequestStruct):
    API_KEY = 44
    API_VERSION = 0
    RESPONSE_TYPE = IncrementalAlterConfigsResponse_v0
    SCHEMA = Schema(
        (
            "resources",
            Array(
                ("resource_type", Int8),
                ("resource_name", String("utf-8")),
                (
                    "configs",
                    Array(
                        ("name", String("utf-8")),
                        ("config_operation", Int8),
                        ("value", String("utf-8")),
                    ),
                ),
            ),
        ),
        ("validate_only", Boolean),
    )


class IncrementalAlterConfigsRequest_v1(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 44
    API_VERSION = 1
    RESPONSE_TYPE = IncrementalAlterConfigsResponse_v1
    SCHEMA = Schema(
        (
            "resources",
            CompactArray(
                ("resource_type", Int8),
                ("resource_name", CompactString("utf-8")),
                (
                    "configs",
                    CompactArray(
                        ("name", CompactString("utf-8")),
                        ("config_operation", Int8),
                        ("value", CompactString("utf-8")),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("validate_only", Boolean),
        ("tags", TaggedFields),
    )


IncrementalAlterConfigsRequestStruct: TypeAlias = (
    IncrementalAlterConfigsRequest_v0 | IncrementalAlterConfigsRequest_v1
)

# (resource type, resource name, [(config name, operation, value or None)])
ConfigAlteration = tuple[int, str, list[tuple[str, int, str | None]]]


class IncrementalAlterConfigsRequest(Request[IncrementalAlterConfigsRequestStruct]):
    """Set or delete individual config keys of many resources in one request."""

    API_KEY = 44

    def __init__(self, resources: list[ConfigAlteration], validate_only: bool = False) -> None:
        self._resources = resources
        self._validate_only = validate_only

    def build(
        self, request_struct_class: type[IncrementalAlterConfigsRequestStruct]
    ) -> IncrementalAlterConfigsRequestStruct:
        if request_struct_class.API_VERSION >= 1:
            resources: list[Any] = [
                (kind, name, [(*entry, {}) for entry in entries], {})
                for kind, name, entries in self._resources
            ]
            return request_struct_class(resources, self._validate_only, {})
        return request_struct_class(self._resources, self._validate_only)
