"""Our protocol additions encode and decode exactly like aiokafka's generic structs."""

from __future__ import annotations

from io import BytesIO

from aiokafka.protocol import metadata
from aiokafka.protocol.admin import DescribeConfigsResponse_v1, DescribeConfigsResponse_v2
from hypothesis import given
from hypothesis import strategies as st

from reconciler.providers.kafka.protocol import (
    FastDescribeConfigsResponse,
    IncrementalAlterConfigsRequest,
    MetadataRequest,
)

names = st.text(min_size=0, max_size=20)
values = st.none() | st.text(max_size=30)
entries = st.lists(
    st.tuples(
        names,
        values,
        st.booleans(),
        st.integers(0, 8),
        st.booleans(),
        st.lists(st.tuples(names, values, st.integers(0, 8)), max_size=2),
    ),
    max_size=5,
)
resources = st.lists(
    st.tuples(st.integers(0, 100), values, st.integers(0, 4), names, entries), max_size=4
)


@given(throttle=st.integers(0, 1000), resources=resources)
def test_fast_describe_configs_decoder_matches_aiokafka(throttle: int, resources: list) -> None:  # type: ignore[type-arg]
    for reference in (DescribeConfigsResponse_v1, DescribeConfigsResponse_v2):
        encoded = reference(throttle, resources).encode()
        expected = reference.decode(BytesIO(encoded))
        fast = FastDescribeConfigsResponse.decode(BytesIO(encoded))
        everything = fast.resources()
        assert [list(r[:4]) for r in everything] == [list(r[:4]) for r in expected.resources]
        for ours, theirs in zip(everything, expected.resources, strict=True):
            assert ours[4] == [tuple(e[:5]) for e in theirs[4]]
        keep = frozenset(n for r in resources for e in r[4][:1] for n in [e[0]])
        for ours, theirs in zip(fast.resources(keep), expected.resources, strict=True):
            assert ours[4] == [tuple(e[:5]) for e in theirs[4] if e[3] == 1 or e[0] in keep]


def test_incremental_alter_configs_encodes_set_and_delete_in_both_versions() -> None:
    request = IncrementalAlterConfigsRequest(
        [(2, "t", [("retention.ms", 0, "1000"), ("x", 1, None)])]
    )
    v0 = request.prepare({44: (0, 0)}).encode()
    v1 = request.prepare({44: (1, 1)}).encode()
    assert b"retention.ms" in v0 and b"\xff\xff" in v0  # null value as int16 -1
    assert b"\rretention.ms" in v1  # compact string: length + 1
    assert request.prepare({44: (0, 1)}).API_VERSION == 1


int32s = st.lists(st.integers(-(2**31), 2**31 - 1), max_size=4)
partitions = st.lists(
    st.tuples(
        st.integers(0, 100), st.integers(0, 2**31 - 1), st.integers(-1, 10), int32s, int32s, int32s
    ),
    max_size=3,
)
metadata_topics = st.lists(
    st.tuples(st.integers(0, 100), names, st.booleans(), partitions), max_size=4
)
brokers = st.lists(
    st.tuples(st.integers(0, 100), names, st.integers(0, 65535), st.none() | names), max_size=3
)


@given(
    brokers=brokers,
    cluster_id=st.none() | names,
    controller=st.integers(-1, 100),
    topics=metadata_topics,
)
def test_fast_metadata_decoder_matches_aiokafka(
    brokers: list,  # type: ignore[type-arg]
    cluster_id: str | None,
    controller: int,
    topics: list,  # type: ignore[type-arg]
) -> None:
    for struct in MetadataRequest._CLASSES:
        version = struct.API_VERSION
        reference = getattr(metadata, f"MetadataResponse_v{version}")
        fields: list[object] = [0] if version >= 3 else []
        fields.append(brokers)
        fields += [cluster_id] if version >= 2 else []
        fields += [
            controller,
            [(e, n, i, [p if version >= 5 else p[:5] for p in ps]) for e, n, i, ps in topics],
        ]
        encoded = reference(*fields).encode()
        expected = reference.decode(BytesIO(encoded))
        fast = struct.RESPONSE_TYPE.decode(BytesIO(encoded))
        assert fast.brokers == [tuple(b) for b in expected.brokers]
        assert fast.controller_id == expected.controller_id
        assert fast.cluster_id == (expected.cluster_id if version >= 2 else None)
        assert fast.topics == [
            (
                t[0],
                t[1],
                bool(t[2]),
                [
                    (
                        p[0],
                        p[1],
                        p[2],
                        tuple(p[3]),
                        tuple(p[4]),
                        tuple(p[5]) if version >= 5 else (),
                    )
                    for p in t[3]
                ],
            )
            for t in expected.topics
        ]


def test_metadata_request_keeps_the_api_name_and_versions_one_to_five() -> None:
    assert MetadataRequest.__name__ == "MetadataRequest"  # counted as "Metadata"
    assert [s.API_VERSION for s in MetadataRequest._CLASSES] == [1, 2, 3, 4, 5]
    built = MetadataRequest(None, allow_auto_topic_creation=False).prepare({3: (0, 12)})
    assert built.API_VERSION == 5 and built.topics is None
