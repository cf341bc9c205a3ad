"""Our protocol additions encode and decode exactly like aiokafka's generic structs."""

from __future__ import annotations

from io import BytesIO

from aiokafka.protocol.admin import DescribeConfigsResponse_v1, DescribeConfigsResponse_v2
from hypothesis import given
from hypothesis import strategies as st

from reconciler.providers.kafka.protocol import (
    FastDescribeConfigsResponse,
    IncrementalAlterConfigsRequest,
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
