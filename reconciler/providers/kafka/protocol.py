"""Kafka protocol requests aiokafka lacks, added to its protocol layer.

``IncrementalAlterConfigs`` (API key 44, versions 0-1, KIP-339) changes only the keys it
names; the legacy ``AlterConfigs`` resets every key it does not name, so the tool never
uses it. Version 1 is the flexible encoding (compact strings/arrays, tagged fields).
aiokafka negotiates the highest version both sides support, per connection.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Any, TypeAlias

from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Array,
    Boolean,
    Bytes,
    CompactArray,
    CompactString,
    Int8,
    Int16,
    Int32,
    Int64,
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


# --------------------------------------------------------------------------- DescribeConfigs
#
# aiokafka decodes responses field by field through generic type objects; for a
# DescribeConfigs answer covering thousands of topics (≈40 entries each) that costs seconds.
# The response layout of versions 1-2 is fixed, so the response keeps its raw bytes and is
# walked once, decoding only the entries the caller keeps (topic overrides and the keys it
# names); every other entry is skipped by its length prefixes without building objects.

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_TOPIC_OVERRIDE_SOURCE = 1  # DYNAMIC_TOPIC_CONFIG
_NO_SYNONYMS = b"\x00\x00\x00\x00"

# (name, value, read_only, config_source, is_sensitive)
ConfigEntry = tuple[str, str | None, bool, int, bool]
# (error_code, error_message, resource_type, resource_name, entries)
ConfigResource = tuple[int, str | None, int, str | None, list[ConfigEntry]]


def decode_describe_configs(
    buffer: bytes, keep: frozenset[str] | None = None
) -> tuple[int, list[ConfigResource]]:
    """Walk a DescribeConfigs v1/v2 response body.

    ``keep``: config names to return whatever their source; entries set on the resource
    itself (topic overrides) are always returned. ``None`` returns every entry.
    """
    int16, int32 = _INT16.unpack_from, _INT32.unpack_from
    wanted = None if keep is None else {name.encode() for name in keep}
    offset = 0

    def string() -> str | None:
        nonlocal offset
        (length,) = int16(buffer, offset)
        offset += 2
        if length < 0:
            return None
        offset += length
        return buffer[offset - length : offset].decode()

    (throttle,) = int32(buffer, offset)
    (resource_count,) = int32(buffer, offset + 4)
    offset += 8
    resources: list[ConfigResource] = []
    for _ in range(resource_count):
        (error_code,) = int16(buffer, offset)
        offset += 2
        error_message = string()
        resource_type = buffer[offset]
        offset += 1
        resource_name = string()
        (entry_count,) = int32(buffer, offset)
        offset += 4
        entries: list[ConfigEntry] = []
        for _ in range(entry_count):
            # Lengths are read byte-wise: per-field unpack calls dominate on large answers.
            name_end = offset + 2 + (buffer[offset] << 8 | buffer[offset + 1])
            name = buffer[offset + 2 : name_end]
            value_length = buffer[name_end] << 8 | buffer[name_end + 1]
            if value_length == 0xFFFF:  # null value
                value_bytes, flags_at = None, name_end + 2
            else:
                flags_at = name_end + 2 + value_length
                value_bytes = buffer[name_end + 2 : flags_at]
            source = buffer[flags_at + 1]
            offset = flags_at + 7
            if buffer[flags_at + 3 : offset] != _NO_SYNONYMS:
                (synonym_count,) = int32(buffer, flags_at + 3)
                for _ in range(synonym_count):
                    for _field in range(2):  # synonym name, value
                        (length,) = int16(buffer, offset)
                        offset += 2 + (length if length > 0 else 0)
                    offset += 1  # synonym source
            if wanted is not None and source != _TOPIC_OVERRIDE_SOURCE and name not in wanted:
                continue
            entries.append(
                (
                    name.decode(),
                    None if value_bytes is None else value_bytes.decode(),
                    buffer[flags_at] != 0,
                    source,
                    buffer[flags_at + 2] != 0,
                )
            )
        resources.append((error_code, error_message, resource_type, resource_name, entries))
    if offset > len(buffer):
        raise ValueError("buffer underrun decoding DescribeConfigs response")
    return throttle, resources


class FastDescribeConfigsResponse(Response):
    """DescribeConfigs response v1/v2 kept as raw bytes; see :func:`decode_describe_configs`."""

    API_KEY = 32
    API_VERSION = 2
    SCHEMA = Schema(("raw", Bytes))

    @classmethod
    def decode(cls, data: Any) -> FastDescribeConfigsResponse:
        return cls(data.read() if hasattr(data, "read") else bytes(data))

    def resources(self, keep: frozenset[str] | None = None) -> list[ConfigResource]:
        return decode_describe_configs(self.raw, keep)[1]


class DescribeConfigsRequest_v1(RequestStruct):
    API_KEY = 32
    API_VERSION = 1
    RESPONSE_TYPE = FastDescribeConfigsResponse
    SCHEMA = Schema(
        (
            "resources",
            Array(
                ("resource_type", Int8),
                ("resource_name", String("utf-8")),
                ("config_names", Array(String("utf-8"))),
            ),
        ),
        ("include_synonyms", Boolean),
    )


class DescribeConfigsRequest_v2(RequestStruct):
    API_KEY = 32
    API_VERSION = 2
    RESPONSE_TYPE = FastDescribeConfigsResponse
    SCHEMA = DescribeConfigsRequest_v1.SCHEMA


DescribeConfigsRequestStruct: TypeAlias = DescribeConfigsRequest_v1 | DescribeConfigsRequest_v2


class DescribeConfigsRequest(Request[DescribeConfigsRequestStruct]):
    """DescribeConfigs v1-v2 (every broker since 1.1; Kafka 4 dropped v0) with fast decoding.

    ``resources``: (resource type, name, config names or None for all).
    """

    API_KEY = 32

    def __init__(
        self, resources: list[tuple[int, str, list[str] | None]], include_synonyms: bool = False
    ) -> None:
        self._resources = resources
        self._include_synonyms = include_synonyms

    def build(
        self, request_struct_class: type[DescribeConfigsRequestStruct]
    ) -> DescribeConfigsRequestStruct:
        return request_struct_class(self._resources, self._include_synonyms)


# --------------------------------------------------------------------------- DescribeLogDirs
#
# API key 35, version 1 (every broker since 1.1; Kafka 4 dropped only v0). Sent to each
# broker once: it answers for the replicas it hosts (size per partition and log dir).


class DescribeLogDirsResponse_v1(Response):
    API_KEY = 35
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            Array(
                ("error_code", Int16),
                ("log_dir", String("utf-8")),
                (
                    "topics",
                    Array(
                        ("name", String("utf-8")),
                        (
                            "partitions",
                            Array(
                                ("partition_index", Int32),
                                ("partition_size", Int64),
                                ("offset_lag", Int64),
                                ("is_future_key", Boolean),
                            ),
                        ),
                    ),
                ),
            ),
        ),
    )


class DescribeLogDirsRequest_v1(RequestStruct):
    API_KEY = 35
    API_VERSION = 1
    RESPONSE_TYPE = DescribeLogDirsResponse_v1
    SCHEMA = Schema(
        ("topics", Array(("topic", String("utf-8")), ("partitions", Array(Int32)))),
    )


class DescribeLogDirsRequest(Request[DescribeLogDirsRequest_v1]):
    """The replicas a broker hosts and their sizes; ``topics`` None asks for every topic."""

    API_KEY = 35

    def __init__(self, topics: dict[str, list[int]] | None) -> None:
        self._topics = topics

    def build(
        self, request_struct_class: type[DescribeLogDirsRequest_v1]
    ) -> DescribeLogDirsRequest_v1:
        topics = None if self._topics is None else list(self._topics.items())
        return request_struct_class(topics)


def replica_sizes(response: Any) -> dict[tuple[str, int], int]:
    """(topic, partition) -> bytes of the broker's current replica (future replicas, the
    copies a reassignment is still making, are left out; several log dirs add up)."""
    sizes: dict[tuple[str, int], int] = {}
    for error_code, _log_dir, topics in response.results:
        if error_code:
            continue
        for name, partitions in topics:
            for index, size, _lag, is_future in partitions:
                if not is_future:
                    sizes[(name, index)] = sizes.get((name, index), 0) + size
    return sizes


# --------------------------------------------------------------------------- Metadata
#
# A Metadata answer for every topic of a large cluster lists every partition with its
# replica and ISR arrays; aiokafka's generic decoder builds several objects per field. The
# layout of versions 1-5 is fixed, so the answer is walked once with a few slices and
# ``unpack_from`` calls per partition.

_INT32_ARRAYS: dict[int, struct.Struct] = {}

# (node id, host, port, rack)
MetadataBroker = tuple[int, str, int, str | None]
# (error code, partition, leader, replicas, isr, offline replicas)
MetadataPartition = tuple[int, int, int, tuple[int, ...], tuple[int, ...], tuple[int, ...]]
# (error code, topic name, is internal, partitions)
MetadataTopic = tuple[int, str, bool, list[MetadataPartition]]


def _int32_array(count: int) -> struct.Struct:
    packed = _INT32_ARRAYS.get(count)
    if packed is None:
        packed = _INT32_ARRAYS[count] = struct.Struct(f">{count}i")
    return packed


def decode_metadata(
    buffer: bytes, version: int
) -> tuple[list[MetadataBroker], str | None, int, list[MetadataTopic]]:
    """Walk a Metadata v1-v5 response body: (brokers, cluster id, controller id, topics)."""
    int16, int32 = _INT16.unpack_from, _INT32.unpack_from
    offset = 4 if version >= 3 else 0  # throttle_time_ms

    def string() -> str | None:
        nonlocal offset
        length = buffer[offset] << 8 | buffer[offset + 1]
        offset += 2
        if length == 0xFFFF:
            return None
        offset += length
        return buffer[offset - length : offset].decode()

    def int32_array() -> tuple[int, ...]:
        nonlocal offset
        (count,) = int32(buffer, offset)
        offset += 4
        if count <= 0:
            return ()
        values: tuple[int, ...] = _int32_array(count).unpack_from(buffer, offset)
        offset += 4 * count
        return values

    brokers: list[MetadataBroker] = []
    (broker_count,) = int32(buffer, offset)
    offset += 4
    for _ in range(broker_count):
        (node_id,) = int32(buffer, offset)
        offset += 4
        host = string() or ""
        (port,) = int32(buffer, offset)
        offset += 4
        brokers.append((node_id, host, port, string()))
    cluster_id = string() if version >= 2 else None
    (controller_id,) = int32(buffer, offset)
    (topic_count,) = int32(buffer, offset + 4)
    offset += 8
    topics: list[MetadataTopic] = []
    offline_too = version >= 5
    for _ in range(topic_count):
        (topic_error,) = int16(buffer, offset)
        offset += 2
        name = string() or ""
        internal = buffer[offset] != 0
        (partition_count,) = int32(buffer, offset + 1)
        offset += 5
        partitions: list[MetadataPartition] = []
        for _ in range(max(partition_count, 0)):
            error_code, partition, leader = _PARTITION_HEAD.unpack_from(buffer, offset)
            offset += 10
            replicas = int32_array()
            isr = int32_array()
            offline = int32_array() if offline_too else ()
            partitions.append((error_code, partition, leader, replicas, isr, offline))
        topics.append((topic_error, name, internal, partitions))
    if offset > len(buffer):
        raise ValueError("buffer underrun decoding Metadata response")
    return brokers, cluster_id, controller_id, topics


_PARTITION_HEAD = struct.Struct(">hii")


class _FastMetadataResponse(Response):
    """Metadata response kept as raw bytes, decoded by :func:`decode_metadata` on creation."""

    API_KEY = 3
    API_VERSION = 5
    SCHEMA = Schema(("raw", Bytes))

    brokers: list[MetadataBroker]
    cluster_id: str | None
    controller_id: int
    topics: list[MetadataTopic]

    @classmethod
    def decode(cls, data: Any) -> _FastMetadataResponse:
        raw = data.read() if hasattr(data, "read") else bytes(data)
        response = cls(raw)
        decoded = decode_metadata(raw, cls.API_VERSION)
        response.brokers, response.cluster_id, response.controller_id, response.topics = decoded
        return response


def _metadata_versions() -> tuple[type[RequestStruct], ...]:
    """Metadata request structs v1-v5 whose answers use the fast decoder."""
    from aiokafka.protocol import metadata

    structs = []
    for version in range(1, 6):
        base = getattr(metadata, f"MetadataRequest_v{version}")
        response = type(
            f"FastMetadataResponse_v{version}", (_FastMetadataResponse,), {"API_VERSION": version}
        )
        structs.append(
            type(
                f"FastMetadataRequest_v{version}",
                (base,),
                {"RESPONSE_TYPE": response, "API_VERSION": version},
            )
        )
    return tuple(structs)


def _aiokafka_metadata_request() -> type[Request[Any]]:
    from aiokafka.protocol.metadata import MetadataRequest as Base

    return Base


class MetadataRequest(_aiokafka_metadata_request()):  # type: ignore[misc]
    """aiokafka's MetadataRequest (v1-v5) answered through :func:`decode_metadata`."""


MetadataRequest._CLASSES = _metadata_versions()
