"""The topics provider against a real broker: plan, apply, drift, refusals, reassignment."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from reconciler.engine.applying import apply_plan
from reconciler.engine.plan import Action, NoticeLevel, Risk
from reconciler.engine.planning import build_plan
from reconciler.engine.providers import ApplyOptions, PlanOptions, ResultStatus
from reconciler.providers.kafka.client import KafkaAdmin, NewTopicRequest
from reconciler.providers.kafka.topics import KafkaTopicsProvider
from reconciler.spec.models import DeletionPolicy, TopicOwnership
from reconciler.spec.resolving import DesiredTopic


def topic(name: str, partitions: int = 3, rf: int = 1, **config: str) -> DesiredTopic:
    return DesiredTopic(
        name=name,
        partitions=partitions,
        replication_factor=rf,
        config={k.replace("_", "."): v for k, v in config.items()},
    )


async def converge(
    admin: KafkaAdmin,
    desired: list[DesiredTopic],
    ownership: TopicOwnership | None = None,
    allow_delete: bool = False,
) -> Any:
    provider = KafkaTopicsProvider(admin, desired, ownership or TopicOwnership())
    plan = await build_plan([provider], PlanOptions(allow_delete=allow_delete))
    results = await apply_plan(plan, [provider], ApplyOptions())
    assert all(r.status is ResultStatus.APPLIED for r in results), results
    return plan


@pytest.fixture
async def single_admin(kafka_single: Any) -> Any:
    async with KafkaAdmin(kafka_single.client_config()) as admin:
        yield admin


async def test_create_then_second_plan_is_empty(single_admin: KafkaAdmin, unique_name: Any) -> None:
    name = unique_name("create")
    desired = [topic(name, retention_ms="86400000", cleanup_policy="delete")]
    plan = await converge(single_admin, desired)
    assert [c.action for c in plan.changes] == [Action.CREATE]
    state = await single_admin.cluster_state(topics=[name])
    assert state.topics[name].partition_count == 3
    assert state.topics[name].configs["retention.ms"].value == "86400000"
    again = await build_plan(
        [KafkaTopicsProvider(single_admin, desired, TopicOwnership())], PlanOptions()
    )
    assert not again.has_changes


async def test_out_of_band_changes_show_with_before_after_and_are_reverted(
    single_admin: KafkaAdmin, unique_name: Any
) -> None:
    name = unique_name("drift")
    desired = [topic(name, retention_ms="86400000")]
    await converge(single_admin, desired)
    # Another client changes retention and adds an override behind the tool's back.
    assert await single_admin.alter_topic_configs(
        {name: {"retention.ms": "3600000", "segment.ms": "600000"}}
    ) == {name: None}
    provider = KafkaTopicsProvider(single_admin, desired, TopicOwnership())
    plan = await build_plan([provider], PlanOptions())
    (change,) = plan.changes
    (attr,) = change.attributes
    assert (attr.path, attr.before, attr.after) == ("config.retention.ms", "3600000", "86400000")
    unmanaged = [n for n in plan.notices if n.kind == "unmanaged"]
    assert unmanaged and "segment.ms=600000" in unmanaged[0].message
    await apply_plan(plan, [provider], ApplyOptions())
    overrides = (await single_admin.cluster_state(topics=[name])).topics[name].overrides()
    assert overrides == {"retention.ms": "86400000", "segment.ms": "600000"}  # additive: kept


async def test_partition_increase_applies_and_decrease_is_refused(
    single_admin: KafkaAdmin, unique_name: Any
) -> None:
    name = unique_name("parts")
    await converge(single_admin, [topic(name, partitions=2)])
    plan = await converge(single_admin, [topic(name, partitions=4)])
    assert Risk.KEY_REMAPPING in plan.changes[0].risks
    assert (await single_admin.cluster_state(topics=[name])).topics[name].partition_count == 4
    refused = await build_plan(
        [KafkaTopicsProvider(single_admin, [topic(name, partitions=1)], TopicOwnership())],
        PlanOptions(),
    )
    assert refused.changes == ()
    assert refused.has_errors and "cannot decrease" in refused.notices[0].message
    assert (await single_admin.cluster_state(topics=[name])).topics[name].partition_count == 4


async def test_broker_validates_creation_at_plan_time(
    single_admin: KafkaAdmin, unique_name: Any
) -> None:
    name = unique_name("rf3")
    provider = KafkaTopicsProvider(single_admin, [topic(name, rf=3)], TopicOwnership())
    plan = await build_plan([provider], PlanOptions())
    errors = [n for n in plan.notices if n.level is NoticeLevel.ERROR]
    assert errors and "InvalidReplicationFactor" in errors[0].message
    assert name not in (await single_admin.cluster_state(with_configs=False)).topics


async def test_unmanaged_topic_is_deleted_only_with_policy_and_flag(
    single_admin: KafkaAdmin, unique_name: Any
) -> None:
    prefix = unique_name("own") + "-"
    keep, stray = prefix + "keep", prefix + "stray"
    await converge(single_admin, [topic(keep), topic(stray)])
    scope_never = TopicOwnership(prefixes=[prefix])
    scope_allow = TopicOwnership(prefixes=[prefix], deletion=DeletionPolicy.ALLOW)
    for ownership, flag in ((scope_never, True), (scope_allow, False)):
        plan = await converge(single_admin, [topic(keep)], ownership, allow_delete=flag)
        assert plan.changes == ()
        assert any(n.address == f"kafka_topic.{stray}" for n in plan.notices)
    assert stray in (await single_admin.cluster_state(with_configs=False)).topics
    plan = await converge(single_admin, [topic(keep)], scope_allow, allow_delete=True)
    assert [(c.action, c.name) for c in plan.changes] == [(Action.DELETE, stray)]
    deadline = time.monotonic() + 30
    while stray in (await single_admin.cluster_state(with_configs=False)).topics:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.5)


async def test_request_count_does_not_grow_with_topic_count(
    single_admin: KafkaAdmin, unique_name: Any
) -> None:
    prefix = unique_name("count")
    counts = []
    for n in (2, 40):
        desired = [topic(f"{prefix}-{n}-{i}", partitions=1) for i in range(n)]
        await converge(single_admin, desired)
        single_admin.requests.clear()
        await build_plan(
            [KafkaTopicsProvider(single_admin, desired, TopicOwnership())], PlanOptions()
        )
        counts.append(sum(single_admin.requests.values()))
    assert counts[0] == counts[1] == 2  # one Metadata + one DescribeConfigs


async def test_sasl_admin_on_secure_sandbox(kafka_secure: Any, unique_name: Any) -> None:
    name = unique_name("sasl")
    async with KafkaAdmin(kafka_secure.client_config("admin")) as admin:
        await converge(admin, [topic(name)])
        assert name in (await admin.cluster_state(with_configs=False)).topics


async def test_replication_increase_by_reassignment_keeps_messages(
    kafka_cluster: Any, unique_name: Any
) -> None:
    name = unique_name("rf")
    config = kafka_cluster.client_config()
    async with KafkaAdmin(config) as admin:
        await converge(admin, [topic(name, partitions=3, rf=1)])
        producer = AIOKafkaProducer(**config)
        await producer.start()
        try:
            for i in range(30):
                await producer.send_and_wait(name, f"m{i}".encode(), key=str(i).encode())
        finally:
            await producer.stop()
        # Placement weighs every topic's replicas: the plan reads the whole cluster again.
        admin.requests.clear()
        wider = KafkaTopicsProvider(admin, [topic(name, partitions=3, rf=3)], TopicOwnership())
        await build_plan([wider], PlanOptions())
        assert admin.requests["Metadata"] == 2
        assert admin.requests["DescribeConfigs"] == 1  # the second read: partitions only
        plan = await converge(admin, [topic(name, partitions=3, rf=3)])
        assert Risk.SLOW in plan.changes[0].risks
        state = await admin.cluster_state(topics=[name])
        assert state.topics[name].replication_factor == 3
        assert await admin.list_reassignments() == {}
    consumer = AIOKafkaConsumer(
        name, auto_offset_reset="earliest", enable_auto_commit=False, **config
    )
    try:
        await consumer.start()
        seen: set[bytes] = set()
        deadline = time.monotonic() + 30
        while len(seen) < 30 and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                seen.update(r.value for r in records if r.value is not None)
        assert seen == {f"m{i}".encode() for i in range(30)}
    finally:
        await consumer.stop()


async def test_failure_stops_later_phases_and_reports_skipped_changes(
    single_admin: KafkaAdmin, unique_name: Any
) -> None:
    existing, racing = unique_name("phase-existing"), unique_name("phase-racing")
    await converge(single_admin, [topic(existing)])
    desired = [topic(existing, retention_ms="7200000"), topic(racing)]
    provider = KafkaTopicsProvider(single_admin, desired, TopicOwnership())
    plan = await build_plan([provider], PlanOptions())
    assert [c.action for c in plan.changes] == [Action.UPDATE, Action.CREATE]
    # Someone creates the topic between plan and apply: the create phase fails.
    assert await single_admin.create_topics([NewTopicRequest(racing, 3, 1, {})]) == {racing: None}
    results = {r.address: r for r in await apply_plan(plan, [provider], ApplyOptions())}
    assert results[f"kafka_topic.{racing}"].status is ResultStatus.FAILED
    assert "TopicAlreadyExists" in results[f"kafka_topic.{racing}"].message
    assert results[f"kafka_topic.{existing}"].status is ResultStatus.SKIPPED
    overrides = (await single_admin.cluster_state(topics=[existing])).topics[existing].overrides()
    assert "retention.ms" not in overrides
    deadline = time.monotonic() + 30
    while racing not in (await single_admin.cluster_state(with_configs=False)).topics:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    resumed = await converge(single_admin, desired)  # a second apply picks up where it stopped
    assert [c.name for c in resumed.changes] == [existing]


async def test_plan_describes_configs_only_of_listed_and_owned_topics(
    single_admin: KafkaAdmin, unique_name: Any
) -> None:
    prefix = unique_name("scope")
    listed, owned, other = f"{prefix}-listed", f"{prefix}-owned", unique_name("outside")
    await converge(
        single_admin,
        [topic(n, partitions=1, retention_ms="3600000") for n in (listed, owned, other)],
    )
    # A prefix is owned: every topic is listed (to find the unlisted ones in the scope),
    # only those in the scope are described.
    by_prefix = TopicOwnership(prefixes=[f"{prefix}-o"])
    state = await KafkaTopicsProvider(single_admin, [topic(listed, partitions=1)], by_prefix).read()
    assert state.topics[listed].configs and state.topics[owned].configs
    assert state.topics[other].configs == {}  # listed by Metadata, never described
    assert state.topics[other].partition_count == 1
    # Names only: Metadata names the scope's topics, so the read follows the spec.
    ownership = TopicOwnership(names=[owned], deletion=DeletionPolicy.ALLOW)
    provider = KafkaTopicsProvider(single_admin, [topic(listed, partitions=1)], ownership)
    state = await provider.read()
    assert state.topics[listed].configs and state.topics[owned].configs
    assert other not in state.topics
    single_admin.requests.clear()
    plan = await build_plan([provider], PlanOptions(allow_delete=True))
    assert dict(single_admin.requests) == {"Metadata": 1, "DescribeConfigs": 1}
    # The owned topic is still planned for deletion (its fingerprint includes its configs);
    # the listed topic's own retention override is still reported as unmanaged.
    assert [(c.action, c.name) for c in plan.changes] == [(Action.DELETE, owned)]
    assert any(n.address == f"kafka_topic.{listed}" and n.kind == "unmanaged" for n in plan.notices)
    assert not any(other in n.address for n in plan.notices)


async def test_a_throttle_left_by_an_interrupted_reassignment_is_removed(
    single_admin: KafkaAdmin, unique_name: Any
) -> None:
    """An apply stopped mid-reassignment leaves the throttle lists it set; once no
    reassignment moves the topic, the next plan removes them (a wildcard stays)."""
    name = unique_name("throttle")
    desired = [topic(name, partitions=2)]
    await converge(single_admin, desired)
    leftover = {
        "leader.replication.throttled.replicas": "0:1,1:1",
        "follower.replication.throttled.replicas": "*",
    }
    assert not any((await single_admin.alter_topic_configs({name: leftover})).values())
    single_admin.requests.clear()
    plan = await converge(single_admin, desired)
    assert single_admin.requests["ListPartitionReassignments"] == 1
    (change,) = plan.changes
    assert change.payload["config"] == {"leader.replication.throttled.replicas": None}
    state = await single_admin.cluster_state(topics=[name])
    assert state.topics[name].overrides() == {"follower.replication.throttled.replicas": "*"}
    single_admin.requests.clear()
    again = await build_plan(
        [KafkaTopicsProvider(single_admin, desired, TopicOwnership())], PlanOptions()
    )
    assert not again.changes and "ListPartitionReassignments" not in single_admin.requests
