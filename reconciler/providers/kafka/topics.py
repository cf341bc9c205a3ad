"""The Kafka topics provider: reads live topics, plans with the pure diff, applies in batches."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from reconciler.engine.interrupts import raise_if_interrupted, request_in_flight
from reconciler.engine.payloads import check_payload, parse_payload
from reconciler.engine.plan import Action, Change, Notice, NoticeLevel
from reconciler.engine.polling import StallWatch, wait_for
from reconciler.engine.providers import (
    ApplyOptions,
    ChangeResult,
    PlanOptions,
    ProviderPlan,
    ResultStatus,
    fingerprint,
    identity_key,
)
from reconciler.errors import PlanRefused, RequestFailed
from reconciler.providers.kafka.client import KafkaAdmin, NewTopicRequest, TopicPartition
from reconciler.providers.kafka.state import KafkaClusterState
from reconciler.providers.kafka.topic_diffs import (
    PROVIDER,
    diff_topics,
    held_throttle_lists,
    in_ownership,
    missing_topic_notices,
    places_replicas,
    same_config_value,
    topic_address,
)
from reconciler.providers.kafka.topic_payloads import (
    PAYLOAD_BY_ACTION,
    TopicCreate,
    TopicUpdate,
)
from reconciler.spec.models import TopicOwnership
from reconciler.spec.resolving import DesiredTopic

REASSIGNMENT_POLL_SECONDS = 1.0
# A reassignment that makes no progress for this long is reported as stuck (the apply
# fails, releasing the lock; a rerun resumes). A throttled move that advances never stalls.
PROGRESS_EVERY_SECONDS = 10.0
# Brokers create a log per new partition before metadata lists the topic: allow time in
# proportion to the work (a loaded 2-core machine manages a few dozen partitions a second).
PROPAGATION_TIMEOUT_SECONDS = 60.0
PROPAGATION_SECONDS_PER_PARTITION = 0.05
CONFIG_PROPAGATION_SECONDS = 30.0
# How long a plan waits for topics the controller reports as existing to show in metadata.
METADATA_LAG_SECONDS = 15.0
TOPIC_EXISTS = "TopicAlreadyExistsError"


def _shows_topic(state: KafkaClusterState, name: str, partitions: int | None) -> bool:
    """Whether ``state`` shows topic ``name`` with ``partitions`` partitions, each led
    (``None``: that it does not show the topic)."""
    topic = state.topics.get(name)
    if topic is None:
        return partitions is None
    return topic.partition_count == partitions and all(p.leader >= 0 for p in topic.partitions)


def _topic_fingerprint(state: KafkaClusterState, name: str, desired_keys: Sequence[str]) -> str:
    topic = state.topics.get(name)
    if topic is None:
        facts: dict[str, Any] = {"exists": False}
    else:
        configs = topic.overrides()
        for key in desired_keys:
            if key in topic.configs:
                configs[key] = topic.configs[key].value
        facts = {
            "exists": True,
            "partitions": topic.partition_count,
            "replicas": [list(p.replicas) for p in topic.partitions],
            "configs": dict(sorted(configs.items())),
        }
    return fingerprint(facts)


def cluster_identity(state: KafkaClusterState) -> dict[str, str]:
    """The ``@kafka`` fingerprint: the cluster id Metadata reports."""
    return {identity_key("kafka"): state.cluster_id or "unknown"}


def _update_of(change: Change) -> TopicUpdate | None:
    if change.action is not Action.UPDATE:
        return None
    return parse_payload(change, TopicUpdate)


class KafkaTopicsProvider:
    """Plan/apply of Kafka topics (partitions, replication factor, configs)."""

    name = PROVIDER
    family = "kafka"
    resource_types: tuple[str, ...] = (PROVIDER,)

    def __init__(
        self,
        admin: KafkaAdmin,
        desired: Sequence[DesiredTopic],
        ownership: TopicOwnership,
        *,
        create_only: bool = False,
        required: Sequence[str] = (),
    ) -> None:
        """``create_only``: plan creations only, keep existing topics as they are;
        ``required``: topics that must exist (an error notice for each one that does not)."""
        self.admin = admin
        self.desired = list(desired)
        self.ownership = ownership
        self.create_only = create_only
        self.required = list(required)
        # Only these keys (and the topics' own overrides) are decoded from DescribeConfigs.
        self.config_keys = frozenset(key for topic in self.desired for key in topic.config)

    def request_counts(self) -> dict[str, Any]:
        return dict(self.admin.requests)

    async def close(self) -> None:
        """The admin connection is shared and closed by whoever opened it."""

    def scope(self) -> list[str] | None:
        """The topics a plan reads: every topic when a prefix is owned (the unlisted ones
        are found by listing them all), else only those listed, owned by name or required,
        which Metadata then names, so that the read follows the spec, not the cluster."""
        if self.ownership.prefixes:
            return None
        names = {t.name for t in self.desired} | set(self.ownership.names) | set(self.required)
        return sorted(names)

    async def read(self) -> KafkaClusterState:
        """The scope's partitions; configs only of the topics the spec lists or owns:
        nothing else is compared. When a replication factor changes, placement weighs the
        replicas of every topic: the others' partitions are read then too (no configs)."""
        listed = {topic.name for topic in self.desired}
        scope = self.scope()
        state = await self.admin.cluster_state(
            with_configs=True,
            config_keys=self.config_keys,
            configs_of=lambda name: in_ownership(name, self.ownership, listed),
            topics=scope,
        )
        if scope is not None and places_replicas(self.desired, state):
            state = state.widened(await self.admin.cluster_state(with_configs=False))
        return state

    async def plan(self, options: PlanOptions) -> ProviderPlan:
        for attempt in range(2):
            state = await self.read()
            planned = diff_topics(
                self.desired,
                state,
                self.ownership,
                allow_delete=options.allow_delete,
                create_only=self.create_only,
                at_rest=await self._throttled_at_rest(state),
            )
            notices = [*planned.notices, *missing_topic_notices(self.required, state)]
            if not options.validate:
                break
            validation = await self.validate_changes(planned.changes)
            lagging = [n for n in validation if TOPIC_EXISTS in n.message]
            if not lagging or attempt:
                notices.extend(validation)
                break
            # The controller knows topics this broker's metadata does not show yet (created
            # a moment ago, e.g. by an interrupted run): wait for them, then read again.
            await self._await_visible([n.address.removeprefix(f"{PROVIDER}.") for n in lagging])
        return ProviderPlan(
            changes=await self._with_impact(planned.changes, state, options.throttle),
            notices=tuple(notices),
            fingerprints=self._fingerprints(state, [c.address for c in planned.changes]),
        )

    async def _throttled_at_rest(self, state: KafkaClusterState) -> frozenset[str]:
        """Listed topics holding replica throttle lists their spec does not set, and no
        reassignment in progress: an interrupted apply's leftovers. One
        ListPartitionReassignments, sent only when some topic holds such lists; a principal
        not allowed to list them (Describe on the cluster) leaves the lists alone."""
        throttled = {
            topic.name
            for topic in self.desired
            if (live := state.topics.get(topic.name)) is not None
            and held_throttle_lists(topic, live)
        }
        if not throttled:
            return frozenset()
        try:
            moving = {name for name, _ in await self.admin.list_reassignments()}
        except RequestFailed:
            return frozenset()
        return frozenset(throttled - moving)

    async def _with_impact(
        self, changes: Sequence[Change], state: KafkaClusterState, throttle: int | None
    ) -> tuple[Change, ...]:
        """The changes with what they cost (``impact``): replica sizes from one
        DescribeLogDirs request per leader broker concerned, when some change needs them.
        A reassignment also carries the ``throttle`` it is to run at in its payload."""
        from reconciler.providers.kafka.impact import partitions_to_size, topic_impact

        updates = [
            (change, update, state.topics[change.name])
            for change in changes
            if (update := _update_of(change)) is not None and change.name in state.topics
        ]
        wanted = partitions_to_size(updates)
        sizes = await self.admin.replica_sizes(wanted) if wanted else {}
        impacts = {
            change.address: topic_impact(update, live, sizes, throttle)
            for change, update, live in updates
        }
        throttled = {c.address for c, u, _ in updates if u.reassignment and throttle}
        return tuple(
            change.model_copy(
                update={
                    "impact": impacts.get(change.address, {}),
                    "payload": {**change.payload, "throttle": throttle}
                    if change.address in throttled
                    else change.payload,
                }
            )
            for change in changes
        )

    async def _await_visible(self, names: Sequence[str]) -> None:
        async def check() -> tuple[bool, None]:
            states = await self.admin.cluster_state_on_each(with_configs=False, topics=names)
            return all(name in state.topics for state in states for name in names), None

        await wait_for(check, timeout=METADATA_LAG_SECONDS, interval=0.3)

    def check_saved(self, change: Change, redacted: str) -> None:
        model = PAYLOAD_BY_ACTION.get(change.action)
        if model is None:
            raise PlanRefused(f"{change.address}: topics cannot be {change.action.value}d")
        check_payload(change, model, redacted)

    async def validate_changes(self, changes: Sequence[Change]) -> list[Notice]:
        """Ask the brokers to validate creations and partition increases (validateOnly)."""
        creations = [_new_topic(c) for c in changes if c.action is Action.CREATE]
        increases = _partition_increases(changes)
        errors: dict[str, str | None] = {}
        if creations:
            errors.update(await self.admin.create_topics(creations, validate_only=True))
        if increases:
            errors.update(await self.admin.create_partitions(increases, validate_only=True))
        return [
            Notice(
                level=NoticeLevel.ERROR,
                address=topic_address(name),
                kind="validation",
                message=f"the broker rejects this change: {error}",
            )
            for name, error in sorted(errors.items())
            if error
        ]

    async def fingerprints(self, addresses: Sequence[str]) -> dict[str, str]:
        names = [a.removeprefix(f"{PROVIDER}.") for a in addresses]
        state = await self.admin.cluster_state(
            with_configs=bool(names), config_keys=self.config_keys, topics=names
        )
        return self._fingerprints(state, addresses)

    def _fingerprints(self, state: KafkaClusterState, addresses: Sequence[str]) -> dict[str, str]:
        keys = {topic_address(t.name): list(t.config) for t in self.desired}
        prefix = f"{PROVIDER}."
        found = {
            address: _topic_fingerprint(state, address.removeprefix(prefix), keys.get(address, []))
            for address in addresses
            if address.startswith(prefix)
        }
        return found | cluster_identity(state)

    async def apply(self, changes: Sequence[Change], options: ApplyOptions) -> list[ChangeResult]:
        """Creates, config updates, partition increases, reassignments, then deletes; batched."""
        started = time.monotonic()
        errors: dict[str, list[str]] = {c.address: [] for c in changes}
        for change in changes:
            options.progress.started(change)

        def record(results: dict[str, str | None], what: str) -> None:
            for name, error in results.items():
                address = topic_address(name)
                if error and address in errors:
                    errors[address].append(f"{what}: {error}")

        def failed() -> bool:
            return not options.continue_on_error and any(errors.values())

        phases = [
            ("create", self._apply_creates),
            ("alter configs", self._apply_configs),
            ("add partitions", self._apply_partitions),
            ("reassign", self._apply_reassignments),
            ("delete", self._apply_deletes),
        ]
        ran: set[str] = set()
        for what, phase in phases:
            if failed():
                break
            raise_if_interrupted(
                done=[c.address for c in changes if _phases(c) <= ran and not errors[c.address]],
                not_done=[c.address for c in changes if not _phases(c) <= ran],
            )
            if what == "reassign":  # a long wait: it has safe points of its own
                record(await phase(changes, options), what)
            else:
                async with request_in_flight():  # one batched write: never abandoned half-way
                    record(await phase(changes, options), what)
            ran.add(what)
        # A change is skipped when a phase it needs did not run (stopped at a failure).
        skipped = {c.address for c in changes if not errors[c.address] and _phases(c) - ran}

        done = [c for c in changes if not errors[c.address] and c.address not in skipped]
        unseen = await self._await_propagation(done, options)
        unseen += [a for a in await self._await_configs(done) if a not in unseen]
        for address in unseen:
            errors[address].append(
                "accepted by the controller but not yet visible in broker "
                "metadata; run plan again shortly to confirm"
            )
        results = []
        for address, problems in errors.items():
            if problems:
                result = ChangeResult(address, ResultStatus.FAILED, "; ".join(problems))
            elif address in skipped:
                result = ChangeResult(
                    address, ResultStatus.SKIPPED, "skipped after an earlier failure"
                )
            else:
                result = ChangeResult(
                    address, ResultStatus.APPLIED, "done", round(time.monotonic() - started, 3)
                )
            options.progress.finished(result)
            results.append(result)
        return results

    async def _await_propagation(
        self, changes: Sequence[Change], options: ApplyOptions
    ) -> list[str]:
        """Wait until every broker's metadata shows the applied creations, deletions and
        partition counts: the controller answers before the brokers have caught up, and the
        plan that verifies the apply (from any broker) must not see a stale cluster. Returns
        the addresses still unseen."""
        expected: dict[str, int | None] = {}
        for change in changes:
            if change.action is Action.CREATE:
                expected[change.name] = parse_payload(change, TopicCreate).partitions
            elif change.action is Action.DELETE:
                expected[change.name] = None
        expected.update(_partition_increases(changes))
        work = sum(count or 1 for count in expected.values())
        timeout = max(PROPAGATION_TIMEOUT_SECONDS, work * PROPAGATION_SECONDS_PER_PARTITION)
        by_name = {c.name: c for c in changes}
        total = len(expected)

        async def check() -> tuple[bool, dict[str, int | None]]:
            nonlocal expected
            # Everything was sent: stopping here only skips the wait for metadata.
            raise_if_interrupted(done=[c.address for c in changes])
            states = await self.admin.cluster_state_on_each(
                with_configs=False, topics=list(expected)
            )
            expected = {
                name: count
                for name, count in expected.items()
                if any(not _shows_topic(state, name, count) for state in states)
            }
            return not expected, expected

        def report(unseen: dict[str, int | None], _: float) -> None:
            if total > 100:
                options.progress.advanced(
                    by_name[next(iter(unseen))],
                    f"waiting for broker metadata: {total - len(unseen)}/{total} visible",
                )

        if expected:
            await wait_for(check, timeout=timeout, interval=0.5, on_wait=report)
        return [topic_address(name) for name in expected]

    async def _await_configs(self, changes: Sequence[Change]) -> list[str]:
        """Wait until every broker's DescribeConfigs shows the altered values: a broker
        answers IncrementalAlterConfigs before the others have applied the record, and the
        plan that verifies the apply must not read the old value (a false "still differs").
        Returns the addresses still showing another value at the deadline."""
        wanted: dict[str, dict[str, str | None]] = {}
        for change in changes:
            update = _update_of(change)
            if update is not None and update.config:
                wanted[change.name] = dict(update.config)
        if not wanted:
            return []
        keys = frozenset(k for config in wanted.values() for k in config)

        async def check() -> tuple[bool, list[str]]:
            states = await self.admin.cluster_state_on_each(
                with_configs=True, topics=list(wanted), config_keys=keys
            )
            differing = [
                name
                for name, config in wanted.items()
                if any(
                    name in state.topics and not _shows(state.topics[name].overrides(), config)
                    for state in states
                )
            ]
            return not differing, differing

        polled = await wait_for(check, timeout=CONFIG_PROPAGATION_SECONDS, interval=0.2)
        return [topic_address(name) for name in polled.value]

    async def _apply_creates(
        self, changes: Sequence[Change], _: ApplyOptions
    ) -> dict[str, str | None]:
        creations = [_new_topic(c) for c in changes if c.action is Action.CREATE]
        return await self.admin.create_topics(creations) if creations else {}

    async def _apply_configs(
        self, changes: Sequence[Change], _: ApplyOptions
    ) -> dict[str, str | None]:
        alterations: dict[str, dict[str, str | None]] = {}
        for change in changes:
            update = _update_of(change)
            if update is not None and update.config:
                alterations[change.name] = dict(update.config)
        return await self.admin.alter_topic_configs(alterations) if alterations else {}

    async def _apply_partitions(
        self, changes: Sequence[Change], _: ApplyOptions
    ) -> dict[str, str | None]:
        increases = _partition_increases(changes)
        return await self.admin.create_partitions(increases) if increases else {}

    async def _apply_reassignments(
        self, changes: Sequence[Change], options: ApplyOptions
    ) -> dict[str, str | None]:
        updates = {c.name: (c, _update_of(c)) for c in changes}
        planned = {name: c for name, (c, u) in updates.items() if u is not None and u.reassignment}
        if not planned:
            return {}
        assignments = {
            (name, partition): replicas
            for name, (_, update) in updates.items()
            if update is not None
            for partition, replicas in update.reassignment.items()
        }
        results: dict[str, str | None] = {}
        throttled = await self._throttle(planned)
        async with request_in_flight():
            altered = await self.admin.alter_reassignments(assignments)
        for (name, partition), error in altered.items():
            if error:
                results[name] = f"partition {partition}: {error}"
        waiting = {key: assignments[key] for key in assignments if key[0] not in results}
        results.update(await self._await_reassignments(waiting, planned, options))
        if throttled is not None and not any(results.values()):
            await self._unthrottle(*throttled)
        return results

    async def _throttle(self, planned: dict[str, Change]) -> tuple[list[str], list[int]] | None:
        """Throttle the replicas about to move (at the payloads' ``throttle``); the topics and
        brokers throttled, to clear afterwards. Topics whose spec sets the throttled-replica
        lists itself keep them."""
        from reconciler.providers.kafka.throttling import REPLICA_KEYS, throttle_settings

        rates = {u.throttle for c in planned.values() if (u := _update_of(c)) and u.throttle}
        if not rates:
            return None
        own = {t.name for t in self.desired if any(k in t.config for k in REPLICA_KEYS)}
        moves = {
            name: {
                int(a.path.removeprefix("replicas.")): (list(a.before or []), list(a.after or []))
                for a in change.attributes
                if a.path.startswith("replicas.")
            }
            for name, change in planned.items()
            if name not in own
        }
        topics, brokers = throttle_settings(moves, min(rates))
        failed = {**await self.admin.alter_broker_configs(brokers)}
        failed.update(await self.admin.alter_topic_configs(topics))  # type: ignore[arg-type]
        problems = [f"{k}: {v}" for k, v in failed.items() if v]
        if problems:
            raise PlanRefused(f"cannot set the replication throttle: {'; '.join(problems)}")
        return list(topics), list(brokers)

    async def _unthrottle(self, topics: list[str], brokers: list[int]) -> None:
        """Clear the throttle set by :meth:`_throttle` (the reassignment is done)."""
        from reconciler.providers.kafka.throttling import cleared

        topic_configs, broker_configs = cleared(topics, brokers)
        await self.admin.alter_topic_configs(topic_configs)
        await self.admin.alter_broker_configs(broker_configs)

    async def _await_reassignments(
        self,
        waiting: dict[TopicPartition, list[int]],
        planned: dict[str, Change],
        options: ApplyOptions,
    ) -> dict[str, str | None]:
        """Wait while the reassignments advance (a replica caught up or a partition done);
        stop when nothing advanced for the stall time, naming the stuck partitions."""
        total = len(waiting)
        watch = StallWatch(stall=options.stall_seconds(), report_every=PROGRESS_EVERY_SECONDS)
        ongoing: dict[TopicPartition, tuple[list[int], list[int], list[int]]] = {}

        async def check() -> tuple[bool, int]:
            nonlocal ongoing
            # The reassignment goes on in the cluster; a rerun waits for it (resumes).
            raise_if_interrupted(done=[c.address for c in planned.values()])
            ongoing = await self.admin.list_reassignments()
            for key in [k for k in waiting if k not in ongoing]:
                del waiting[key]
            # Remaining work: partitions not done, plus replicas still to catch up.
            watch.observe(len(waiting) + sum(len(ongoing[k][1]) for k in waiting))
            return not waiting or watch.stalled, total - len(waiting)

        def report(done: int, _: float) -> None:
            if watch.report_due():
                for change in planned.values():
                    options.progress.advanced(
                        change, f"reassignment {done}/{total} partitions done"
                    )

        await wait_for(
            check, timeout=float("inf"), interval=REASSIGNMENT_POLL_SECONDS, on_wait=report
        )
        for change in planned.values():
            options.progress.advanced(
                change, f"reassignment {total - len(waiting)}/{total} partitions done"
            )
        if not waiting:
            return {}
        return await self._stalled(waiting, ongoing, watch.stalled_for)

    async def _stalled(
        self,
        waiting: dict[TopicPartition, list[int]],
        ongoing: dict[TopicPartition, tuple[list[int], list[int], list[int]]],
        seconds: float,
    ) -> dict[str, str | None]:
        """Why each stuck partition is stuck (a target broker offline, or still copying)."""
        live = {
            b.node_id
            for b in (await self.admin.cluster_state(with_configs=False, topics=[])).brokers
        }
        by_topic: dict[str, list[str]] = {}
        for (name, partition), target in sorted(waiting.items()):
            adding = ongoing.get((name, partition), ([], [], []))[1]
            offline = sorted(set(target) - live)
            why = (
                f"target broker(s) {', '.join(map(str, offline))} offline"
                if offline
                else f"replica(s) {', '.join(map(str, adding)) or '?'} not yet in sync"
            )
            by_topic.setdefault(name, []).append(f"partition {partition} ({why})")
        return {
            name: f"reassignment made no progress for {seconds:.0f}s: {'; '.join(stuck)}; it "
            "goes on in the cluster — run apply again once the brokers are back to resume"
            for name, stuck in by_topic.items()
        }

    async def _apply_deletes(
        self, changes: Sequence[Change], _: ApplyOptions
    ) -> dict[str, str | None]:
        names = [c.name for c in changes if c.action is Action.DELETE]
        return await self.admin.delete_topics(names) if names else {}


def _new_topic(change: Change) -> NewTopicRequest:
    payload = parse_payload(change, TopicCreate)
    return NewTopicRequest(
        name=change.name,
        partitions=payload.partitions,
        replication_factor=payload.replication_factor,
        config=dict(payload.config),
    )


def _shows(overrides: dict[str, str | None], config: dict[str, str | None]) -> bool:
    """Whether a topic's overrides show every altered key (``None``: removed)."""
    return all(
        overrides.get(key) is None
        if value is None
        else same_config_value(key, value, overrides.get(key))
        for key, value in config.items()
    )


def _partition_increases(changes: Sequence[Change]) -> dict[str, int]:
    increases: dict[str, int] = {}
    for change in changes:
        update = _update_of(change)
        if update is not None and update.partitions is not None:
            increases[change.name] = update.partitions
    return increases


def _phases(change: Change) -> set[str]:
    """The apply phases a change needs."""
    if change.action is Action.CREATE:
        return {"create"}
    if change.action is Action.DELETE:
        return {"delete"}
    update = _update_of(change)
    return update.phases() if update is not None else set()
