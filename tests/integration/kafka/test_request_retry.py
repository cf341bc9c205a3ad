"""Idempotent admin requests survive a broker that fails mid-request (real 3-node cluster)."""

from __future__ import annotations

import logging

import pytest
from aiokafka.protocol.metadata import MetadataRequest

from reconciler.errors import ConnectionFailure
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.sandbox import KafkaSandbox


async def test_reads_move_to_a_live_broker_when_one_is_down(
    kafka_cluster: KafkaSandbox, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with KafkaAdmin(kafka_cluster.client_config()) as admin:
        before = await admin.cluster_state(with_configs=False)
        assert len(before.brokers) == 3
        victim = max(kafka_cluster.node_ids)
        live = [i for i in kafka_cluster.node_ids if i != victim]
        kafka_cluster.stop_broker(victim)
        try:
            # The victim is asked first every time (aiokafka may still list it; either way
            # the request to it fails: connection refused or not ready).
            monkeypatch.setattr(admin, "_broker_ids", lambda: [victim, *live])
            caplog.set_level(logging.WARNING, logger="reconciler.providers.kafka.client")
            admin.requests.clear()
            state = await admin.cluster_state(with_configs=True)
            assert {b.node_id for b in state.brokers} == set(live)
            assert admin.requests["Metadata"] == 2  # one failed on the victim, one answered
            assert admin.requests["DescribeConfigs"] == 2
            assert any(f"to broker {victim} failed" in r.getMessage() for r in caplog.records), (
                caplog.text
            )

            # With every candidate down, the failure names each broker tried and its cause.
            monkeypatch.setattr(admin, "_broker_ids", lambda: [victim, victim])
            with pytest.raises(ConnectionFailure) as caught:
                await admin.send(MetadataRequest([]))
            text = str(caught.value)
            assert f"Metadata request failed on broker {victim}" in text
            assert "check broker health" in text
        finally:
            kafka_cluster.start_broker(victim)


async def test_a_write_goes_to_a_live_broker_when_the_first_cannot_be_reached(
    kafka_cluster: KafkaSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing was sent to the broker that is down, so even a write may move on."""
    from reconciler.providers.kafka.protocol import IncrementalAlterConfigsRequest

    async with KafkaAdmin(kafka_cluster.client_config()) as admin:
        await admin.cluster_state(with_configs=False)
        victim = max(kafka_cluster.node_ids)
        live = [i for i in kafka_cluster.node_ids if i != victim]
        kafka_cluster.stop_broker(victim)
        try:
            monkeypatch.setattr(admin, "_broker_ids", lambda: [victim, *live])
            admin.requests.clear()
            response = await admin.send(IncrementalAlterConfigsRequest([], False))
            assert list(response.responses) == []
            assert admin.requests["IncrementalAlterConfigs"] == 1  # sent once, to a live broker
        finally:
            kafka_cluster.start_broker(victim)
