"""Where broker-config requests go (a broker answers only for itself and the default), and
the ApiVersions v3 request's encoding; an in-memory fake of KafkaAdmin records the sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from reconciler.providers.kafka.broker_client import alter_brokers, describe_brokers
from reconciler.providers.kafka.broker_protocol import ApiVersionsRequest, ApiVersionsRequest_v3
from reconciler.providers.kafka.protocol import (
    DescribeConfigsRequest,
    IncrementalAlterConfigsRequest,
)


@dataclass
class FakeAdmin:
    brokers: tuple[int, ...] = (1, 2, 3)
    sent: list[tuple[int | None, Any]] = field(default_factory=list)
    endpoint: str = "fake:9092"

    async def cluster_state(self, **_: Any) -> Any:
        return SimpleNamespace(broker_ids=list(self.brokers))

    async def send(self, request: Any, *, node_id: int | None = None) -> Any:
        self.sent.append((node_id, request))
        if isinstance(request, DescribeConfigsRequest):
            answer = [
                (0, None, 4, name, [("background.threads", "10", False, 5, False)])
                for _kind, name, _keys in request._resources
            ]
            return SimpleNamespace(resources=lambda keep: answer)
        assert isinstance(request, IncrementalAlterConfigsRequest)
        return SimpleNamespace(
            responses=[(0, None, 4, name) for _kind, name, _entries in request._resources]
        )


async def test_each_named_broker_is_described_by_itself_the_default_rides_along() -> None:
    admin = FakeAdmin()
    live = await describe_brokers(admin, [3, 2, 9])  # type: ignore[arg-type]
    targets = {node: [r[1] for r in request._resources] for node, request in admin.sent}
    assert targets == {3: ["", "3"], 2: ["2"]}  # broker 9 does not exist: not asked
    assert set(live.brokers) == {2, 3} and live.reference["background.threads"].value == "10"
    assert live.broker_ids == (1, 2, 3)

    alone = FakeAdmin()
    await describe_brokers(alone, [])  # type: ignore[arg-type]
    assert [(n, [r[1] for r in q._resources]) for n, q in alone.sent] == [(1, ["", "1"])]


async def test_alterations_go_to_their_broker_and_the_default_with_the_first() -> None:
    admin = FakeAdmin()
    results = await alter_brokers(
        admin,  # type: ignore[arg-type]
        {None: {"a.ms": "1"}, 2: {"b": None}, 1: {"c": "x"}},
        validate_only=True,
    )
    assert results == {None: None, 1: None, 2: None}
    by_node = {node: request for node, request in admin.sent}
    assert sorted(by_node, key=str) == [1, 2]
    assert [r[1] for r in by_node[1]._resources] == ["", "1"]
    assert by_node[2]._resources == [(4, "2", [("b", 1, None)])]  # DELETE
    assert by_node[1]._validate_only

    only_default = FakeAdmin()
    await alter_brokers(only_default, {None: {"a.ms": "1"}})  # type: ignore[arg-type]
    assert [node for node, _ in only_default.sent] == [None]  # any broker


def test_api_versions_v3_encoding_and_v0_response_header() -> None:
    built = ApiVersionsRequest().build(ApiVersionsRequest_v3)
    assert built.encode() == b"\x0ellm-analytics\x021\x00"  # compact strings, no tags
    header = built.parse_response_header(b"\x00\x00\x00\x07")
    assert header.correlation_id == 7  # version 0: no tagged fields after the id
