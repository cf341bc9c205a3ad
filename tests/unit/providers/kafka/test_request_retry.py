"""KafkaAdmin.send's broker choice on failures, with a scripted stand-in for aiokafka's
client (the real thing: tests/integration/kafka/test_request_retry.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiokafka.errors as Errors
import pytest
from aiokafka.protocol.metadata import MetadataRequest

from reconciler.errors import ConnectionFailure, RequestFailed
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.providers.kafka.protocol import IncrementalAlterConfigsRequest


@dataclass
class Broker:
    nodeId: int
    host: str = "127.0.0.1"
    port: int = 9092


@dataclass
class Cluster:
    ids: list[int]
    controller: Broker | None = None

    def brokers(self) -> set[Broker]:
        return {Broker(i, port=9000 + i) for i in self.ids}  # type: ignore[misc]

    def broker_metadata(self, node_id: int) -> Broker | None:
        return Broker(node_id, port=9000 + node_id) if node_id in self.ids else None


@dataclass
class FakeClient:
    """``behaviour[node]``: "ok", "down" (never ready), or an exception raised on send."""

    behaviour: dict[int, Any]
    cluster: Cluster = field(init=False)
    sent: list[int] = field(default_factory=list)
    _retry_backoff: float = 0.01

    def __post_init__(self) -> None:
        self.cluster = Cluster(sorted(self.behaviour), Broker(min(self.behaviour)))

    async def ready(self, node_id: int) -> bool:
        return self.behaviour[node_id] != "down"

    async def send(self, node_id: int, request: Any) -> Any:
        self.sent.append(node_id)
        outcome = self.behaviour[node_id]
        if isinstance(outcome, BaseException):
            raise outcome
        return f"answer from {node_id}"

    async def force_metadata_update(self) -> None:
        return None


def admin_with(
    behaviour: dict[int, Any], order: list[int], monkeypatch: pytest.MonkeyPatch
) -> tuple[KafkaAdmin, FakeClient]:
    import reconciler.providers.kafka.client as client_module

    monkeypatch.setattr(client_module, "CONNECT_TIMEOUT_SECONDS", 0.2)
    admin = KafkaAdmin({"bootstrap_servers": "b:1"})
    fake = FakeClient(behaviour)

    class Wrapper:
        _client = fake

    admin._admin = Wrapper()  # type: ignore[assignment]
    monkeypatch.setattr(admin, "_broker_ids", lambda: list(order))
    return admin, fake


Run = Callable[[], Any]


async def test_an_idempotent_read_moves_on_after_a_dropped_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin, fake = admin_with(
        {1: Errors.KafkaConnectionError("dropped"), 2: "ok"}, [1, 2], monkeypatch
    )
    assert await admin.send(MetadataRequest([])) == "answer from 2"
    assert fake.sent == [1, 2]
    assert admin.requests["Metadata"] == 2


async def test_a_timed_out_read_moves_on(monkeypatch: pytest.MonkeyPatch) -> None:
    admin, fake = admin_with(
        {1: Errors.RequestTimedOutError(), 2: "down", 3: "ok"}, [1, 2, 3], monkeypatch
    )
    assert await admin.send(MetadataRequest([])) == "answer from 3"
    assert fake.sent == [1, 3]  # 2 was never connected: nothing sent there


async def test_a_write_is_not_repeated_once_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    admin, fake = admin_with(
        {1: Errors.KafkaConnectionError("dropped"), 2: "ok"}, [1, 2], monkeypatch
    )
    with pytest.raises(ConnectionFailure) as caught:
        await admin.send(IncrementalAlterConfigsRequest([], False))
    assert fake.sent == [1]
    text = str(caught.value)
    assert "IncrementalAlterConfigs request failed on broker 1 (127.0.0.1:9001)" in text
    assert "may or may not have been carried out" in text


async def test_a_write_moves_on_when_nothing_was_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    admin, fake = admin_with({1: "down", 2: "ok"}, [1, 2], monkeypatch)
    assert await admin.send(IncrementalAlterConfigsRequest([], False)) == "answer from 2"
    assert fake.sent == [2]
    assert admin.requests["IncrementalAlterConfigs"] == 1


async def test_every_broker_failing_names_each(monkeypatch: pytest.MonkeyPatch) -> None:
    admin, _ = admin_with({1: "down", 2: Errors.KafkaConnectionError("reset")}, [1, 2], monkeypatch)
    with pytest.raises(ConnectionFailure) as caught:
        await admin.send(MetadataRequest([]))
    text = str(caught.value)
    assert "broker 1 (127.0.0.1:9001): the broker connection is not ready" in text
    assert "broker 2 (127.0.0.1:9002): the broker connection failed or was dropped: reset" in text
    assert caught.value.kind == "request"


async def test_a_broker_error_is_a_plain_request_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    admin, _ = admin_with({1: Errors.ClusterAuthorizationFailedError()}, [1], monkeypatch)
    with pytest.raises(RequestFailed) as caught:
        await admin.send(MetadataRequest([]))
    assert "not authorized for this cluster operation" in str(caught.value)


async def test_controller_requests_retry_after_a_metadata_refresh_when_idempotent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiokafka.protocol.admin import ListPartitionReassignmentsRequest

    admin, fake = admin_with(
        {1: Errors.KafkaConnectionError("dropped"), 2: "ok"}, [1, 2], monkeypatch
    )

    async def new_controller() -> None:
        fake.cluster.controller = Broker(2)

    fake.force_metadata_update = new_controller  # type: ignore[method-assign]
    request = ListPartitionReassignmentsRequest(30_000, None, {})  # type: ignore[arg-type]
    assert await admin.send(request, controller=True) == "answer from 2"
    assert fake.sent == [1, 2]


async def test_pinned_describe_configs_never_answers_from_another_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A broker's own view (``cluster_state(node_id=…)``) is that broker's or an error:
    another broker may not have applied the records yet."""
    admin, fake = admin_with({1: "down", 2: "ok"}, [1, 2], monkeypatch)
    with pytest.raises(ConnectionFailure):
        await admin.topic_configs(["t"], node_id=1, pinned=True)
    assert fake.sent == []
