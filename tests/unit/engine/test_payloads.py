"""Typed payloads: what a change shows is what it executes."""

from __future__ import annotations

import pytest

from reconciler.engine.payloads import change_from_payload, check_payload
from reconciler.engine.plan import Action
from reconciler.errors import SafetyRefusal
from reconciler.providers.kafka.topic_payloads import TopicCreate, TopicUpdate


def test_attributes_come_from_the_payload() -> None:
    payload = TopicUpdate(partitions=6, reassignment={0: [1, 2]}, config={"retention.ms": None})
    change = change_from_payload(
        payload,
        before={"partitions": 3},
        address="kafka_topic.t",
        provider="kafka_topic",
        resource_type="kafka_topic",
        name="t",
        action=Action.UPDATE,
    )
    shown = {a.path: (a.before, a.after) for a in change.attributes}
    assert shown == {
        "partitions": (3, 6),
        "replication_factor": (None, 2),
        "replicas.0": (None, [1, 2]),
        "config.retention.ms": (None, None),
    }
    assert check_payload(change, TopicUpdate) == payload


def test_an_altered_payload_or_attribute_is_refused() -> None:
    change = change_from_payload(
        TopicCreate(partitions=3, replication_factor=1),
        address="kafka_topic.t",
        provider="kafka_topic",
        resource_type="kafka_topic",
        name="t",
        action=Action.CREATE,
    )
    tampered = change.model_copy(update={"payload": {**change.payload, "partitions": 40}})
    with pytest.raises(SafetyRefusal, match="partitions"):
        check_payload(tampered, TopicCreate)
    invalid = change.model_copy(update={"payload": {**change.payload, "partitions": 2**40}})
    with pytest.raises(SafetyRefusal, match="not valid"):
        check_payload(invalid, TopicCreate)
    unknown = change.model_copy(update={"payload": {**change.payload, "extra": 1}})
    with pytest.raises(SafetyRefusal):
        check_payload(unknown, TopicCreate)
