"""The private parts of aiokafka the Kafka admin client relies on (its protocol layer has
no public way to send an arbitrary request to a chosen broker). The dependency is pinned to
the tested minor range in pyproject.toml; this test fails loudly, naming what moved, when
an aiokafka release drops or renames one of them."""

from __future__ import annotations

import inspect

import aiokafka
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient

PRIVATE_ADMIN_METHODS = ("_send_to_controller", "_send_request_to_node", "_send_request")
CLIENT_METHODS = ("force_metadata_update", "send", "ready", "cluster")


def test_the_private_admin_methods_exist_and_are_coroutines() -> None:
    for name in PRIVATE_ADMIN_METHODS:
        method = getattr(AIOKafkaAdminClient, name, None)
        assert method is not None, f"aiokafka {aiokafka.__version__} lost {name}"
        assert inspect.iscoroutinefunction(method), f"{name} is no longer a coroutine"


async def test_the_admin_client_still_wraps_an_aiokafka_client() -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:1")
    assert isinstance(admin._client, AIOKafkaClient)
    await admin.close()
    for name in CLIENT_METHODS:
        assert hasattr(admin._client, name), f"AIOKafkaClient lost {name}"


def test_the_request_signatures_we_call() -> None:
    to_node = inspect.signature(AIOKafkaAdminClient._send_request_to_node)
    assert list(to_node.parameters)[1:3] == ["node_id", "request"]
    to_controller = inspect.signature(AIOKafkaAdminClient._send_to_controller)
    assert list(to_controller.parameters)[1:2] == ["request"]


def test_a_second_connection_to_a_broker_is_a_connection_group() -> None:
    from aiokafka.client import ConnectionGroup

    assert {ConnectionGroup.DEFAULT, ConnectionGroup.COORDINATION} == set(ConnectionGroup)
    for name in ("send", "ready"):
        parameters = inspect.signature(getattr(AIOKafkaClient, name)).parameters
        assert "group" in parameters, f"AIOKafkaClient.{name} lost its group parameter"
