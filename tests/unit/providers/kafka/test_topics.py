"""The topics provider's plan against an in-memory fake of our own KafkaAdmin: what it asks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.engine.providers import PlanOptions
from reconciler.errors import RequestFailed
from reconciler.providers.kafka.state import ConfigSource, KafkaClusterState
from reconciler.providers.kafka.topics import KafkaTopicsProvider
from reconciler.spec.models import TopicOwnership
from tests.unit.providers.kafka.test_topic_diffs import desired, live_topic, state

LEFT = ("0:1,1:2", ConfigSource.DYNAMIC_TOPIC_CONFIG)


@dataclass
class FakeAdmin:
    live: KafkaClusterState
    reassigning: dict[tuple[str, int], Any] | None = None  # None: not allowed to list them
    asked: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)

    async def cluster_state(self, **_: Any) -> KafkaClusterState:
        self.asked.append("Metadata")
        return self.live

    async def list_reassignments(self) -> dict[tuple[str, int], Any]:
        self.asked.append("ListPartitionReassignments")
        if self.reassigning is None:
            raise RequestFailed("ListPartitionReassignments: CLUSTER_AUTHORIZATION_FAILED")
        return self.reassigning


async def plan_with(admin: FakeAdmin) -> Any:
    provider = KafkaTopicsProvider(admin, [desired("t")], TopicOwnership())  # type: ignore[arg-type]
    return await provider.plan(PlanOptions(validate=False))


async def test_leftover_throttle_lists_are_removed_only_where_no_reassignment_runs() -> None:
    throttled = state(live_topic("t", leader_replication_throttled_replicas=LEFT))
    at_rest = FakeAdmin(throttled, reassigning={})
    (change,) = (await plan_with(at_rest)).changes
    assert change.payload["config"] == {"leader.replication.throttled.replicas": None}
    assert at_rest.asked == ["Metadata", "ListPartitionReassignments"]

    moving = FakeAdmin(throttled, reassigning={("t", 0): ([1, 2], [2], [])})
    assert not (await plan_with(moving)).changes  # the running reassignment's own throttle

    refused = FakeAdmin(throttled, reassigning=None)  # no Describe on the cluster: kept
    assert not (await plan_with(refused)).changes

    plain = FakeAdmin(state(live_topic("t")), reassigning={})
    assert not (await plan_with(plain)).changes
    assert plain.asked == ["Metadata"]  # nothing throttled: not asked
