"""The flexible encoding (KIP-482) of a protocol schema, derived from its classic form.

A flexible version writes strings, bytes and arrays in their compact forms and ends every
struct with tagged fields; otherwise its fields are those of the classic version. Writing a
request's fields once and deriving the flexible schema keeps the two versions from drifting
apart (Kafka's own JSON message specs describe both with one field list as well).
"""

from __future__ import annotations

from typing import Any

from aiokafka.protocol.types import (
    Array,
    Bytes,
    CompactArray,
    CompactBytes,
    CompactString,
    Schema,
    String,
    TaggedFields,
)


def flexible(schema: Schema) -> Schema:
    """``schema`` in the flexible encoding: compact types, a tagged-fields trailer per struct."""
    fields = [
        (name, _compact(kind)) for name, kind in zip(schema.names, schema.fields, strict=True)
    ]
    return Schema(*fields, ("tags", TaggedFields))


def _compact(kind: Any) -> Any:
    if isinstance(kind, Schema):
        return flexible(kind)
    if isinstance(kind, Array):
        return CompactArray(_compact(kind.array_of))
    if isinstance(kind, String):
        return CompactString(kind.encoding)
    if kind is Bytes:
        return CompactBytes
    return kind  # fixed-width types encode alike in both forms
