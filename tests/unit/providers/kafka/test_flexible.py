"""The flexible form of a classic schema: compact types and a tagged-fields trailer per struct."""

from __future__ import annotations

import io

from aiokafka.protocol.types import (
    Array,
    Bytes,
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int32,
    Schema,
    String,
    TaggedFields,
)

from reconciler.providers.kafka.flexible import flexible

CLASSIC = Schema(
    ("name", String("utf-8")),
    ("salt", Bytes),
    ("items", Array(("mechanism", Int8), ("iterations", Int32))),
    ("names", Array(String("utf-8"))),
)


def test_every_struct_ends_with_tagged_fields_and_types_are_compact() -> None:
    schema = flexible(CLASSIC)
    assert schema.names == ("name", "salt", "items", "names", "tags")
    name, salt, items, names, tags = schema.fields
    assert isinstance(name, CompactString) and salt is CompactBytes and tags is TaggedFields
    assert isinstance(items, CompactArray) and items.array_of.names[-1] == "tags"
    assert isinstance(names, CompactArray) and isinstance(names.array_of, CompactString)


def test_a_flexible_struct_round_trips() -> None:
    schema = flexible(CLASSIC)
    value = ("alice", b"\x01\x02", [(1, 4096, {}), (2, 8192, {})], ["a", "b"], {})
    assert schema.decode(io.BytesIO(schema.encode(value))) == value
