"""``RedisClusterProvider``: the Redis Cluster layout as a resource family of the engine.

``plan`` reads every node once (CLUSTER NODES / CLUSTER INFO / DBSIZE), plus — only when
something is wrong — the journal of slot moves in progress and the keys each master holds in
the troubled slots; the pure planner (:mod:`.layout`, :mod:`.repairing`) turns that into
typed steps (:mod:`.steps`), each one engine ``Change`` whose payload is exactly what
``apply`` (:mod:`.applying`) executes. The fingerprints of a plan come from the same read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from reconciler.engine.payloads import check_payload
from reconciler.engine.plan import Change, Notice, NoticeLevel
from reconciler.engine.providers import (
    DEFAULT_STALL_SECONDS,
    ApplyOptions,
    ChangeResult,
    PlanOptions,
    ProviderPlan,
    fingerprint,
    identity_key,
)
from reconciler.errors import ApplyFailed, ConnectionFailure, PlanRefused
from reconciler.providers.redis.journal import JournalUnavailable, MoveJournal
from reconciler.providers.redis.layout import DesiredLayout, plan_layout
from reconciler.providers.redis.repairing import SlotEvidence, troubled_slots
from reconciler.providers.redis.replies import reply_text
from reconciler.providers.redis.resharding import ReshardSettings, estimate_keys
from reconciler.providers.redis.state import (
    ClusterObservation,
    NodeView,
    parse_cluster_info,
    parse_cluster_nodes,
)
from reconciler.providers.redis.steps import PROVIDER, MoveSlots, RedisStep, to_change
from reconciler.providers.redis.transports import (
    CommandError,
    NodeEndpoint,
    NodeTransport,
    NodeUnreachable,
)
from reconciler.providers.redis.waiting import Pending, poll
from reconciler.spec.models import RedisSpec
from reconciler.spec.units import MoveRate, parse_move_rate

#: At most this many keys of troubled slots are compared copy by copy at plan time.
DUPLICATE_SCAN_LIMIT = 200_000


class RedisClusterProvider:
    """Plans and applies a Redis Cluster layout (masters, replicas, slots, repairs)."""

    family = "redis"
    resource_types: tuple[str, ...] = ("redis_cluster", "redis_node", "redis_slots", "redis_repair")

    name = PROVIDER

    def __init__(
        self,
        transport: NodeTransport,
        desired: DesiredLayout,
        *,
        cluster_name: str = "redis",
        converge_timeout: float = 60.0,
        reshard: ReshardSettings | None = None,
        stall_timeout: float = DEFAULT_STALL_SECONDS,
        move_rate: MoveRate | None = None,
    ) -> None:
        self.transport = transport
        # The spec's limit of slot moves (``redis.cluster.moveRate``); a plan's overrides it.
        self.move_rate = move_rate
        self.desired = desired
        self.cluster_name = cluster_name
        self.converge_timeout = converge_timeout
        self.reshard = reshard or ReshardSettings()
        # A slot move that moves no key for this long is reported stuck and fails.
        self.stall_timeout = stall_timeout
        self.journal = MoveJournal(transport)
        self.last_observation: ClusterObservation | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_spec(
        cls,
        redis: RedisSpec,
        *,
        addresses: list[str] | None = None,
        namespace: str | None = None,
        masters: int | None = None,
        replicas: int | None = None,
        cluster_name: str | None = None,
        progress: Callable[[str], None] | None = None,
        wait_for_pods: bool = True,
    ) -> RedisClusterProvider:
        """Build the provider from the spec's ``redis`` section and command-line overrides.

        ``addresses`` switches to direct connections; ``namespace`` to Kubernetes pods
        (keeping the spec's selector/port/kubeconfig when it has a Kubernetes target).
        ``wait_for_pods=False`` reports pods that are not Ready after the target's timeout as
        unreachable nodes instead of failing (what ``redis verify`` wants).
        """
        from reconciler.secrets import resolve_secret

        connection = redis.connection
        password = resolve_secret(connection.password, what="redis password")
        layout = redis.cluster
        desired = DesiredLayout(
            masters=masters if masters is not None else layout.masters,
            replicas_per_master=replicas if replicas is not None else layout.replicas_per_master,
            placement=layout.placement.value,
        )
        transport: NodeTransport
        if addresses is None and namespace is None and connection.addresses is not None:
            addresses = list(connection.addresses)
        if addresses is not None:
            from reconciler.providers.redis.transports import DirectTransport

            tls = connection.tls
            transport = DirectTransport(
                addresses,
                username=connection.username,
                password=password,
                tls=bool(tls and tls.enabled),
                tls_ca_file=tls.ca_file if tls else None,
                tls_cert_file=tls.cert_file if tls else None,
                tls_key_file=tls.key_file if tls else None,
                tls_check_hostname=bool(tls and tls.check_hostname),
            )
            name = cluster_name or "redis"
        else:
            from reconciler.providers.redis.kubernetes import KubernetesTransport
            from reconciler.spec.models import KubernetesTarget

            target = connection.kubernetes
            if target is None:
                assert namespace is not None
                target = KubernetesTarget(namespace=namespace)
            elif namespace is not None:
                target = target.model_copy(update={"namespace": namespace})
            transport = KubernetesTransport(
                target,
                username=connection.username,
                password=password,
                tls=bool(connection.tls and connection.tls.enabled),
                tls_files=connection.tls.in_pod if connection.tls else None,
                progress=progress,
                require_all_ready=wait_for_pods,
            )
            name = cluster_name or target.namespace
        rate = parse_move_rate(layout.move_rate) if layout.move_rate else None
        return cls(transport, desired, cluster_name=name, move_rate=rate)

    # ------------------------------------------------------------------ reading

    async def _read(self, endpoint: NodeEndpoint) -> NodeView:
        nodes_reply, info_reply, dbsize = await asyncio.gather(
            self.transport.execute(endpoint, "CLUSTER", "NODES"),
            self.transport.execute(endpoint, "CLUSTER", "INFO"),
            self.transport.execute(endpoint, "DBSIZE"),
        )
        nodes = parse_cluster_nodes(reply_text(nodes_reply))
        info = parse_cluster_info(reply_text(info_reply))
        return NodeView(
            endpoint.id,
            endpoint.address,
            endpoint.host,
            endpoint.zone,
            tuple(nodes),
            info,
            int(dbsize) if isinstance(dbsize, int) else 0,
        )

    async def observe(self) -> ClusterObservation:
        """Read every discovered node; unreachable ones are listed, not fatal (unless all)."""
        endpoints = await self.transport.discover()
        if not endpoints:
            raise ConnectionFailure(
                self.cluster_name,
                "no Redis node found",
                hint="check the addresses / namespace and label selector",
            )

        problems: list[NodeUnreachable] = []

        async def read(endpoint: NodeEndpoint) -> NodeView | tuple[str, str, str]:
            try:
                return await self._read(endpoint)
            except NodeUnreachable as problem:
                problems.append(problem)
                return (endpoint.id, endpoint.address, problem.message)
            except CommandError as problem:
                if "cluster support disabled" in problem.message:
                    raise PlanRefused(
                        f"{endpoint.id} is not running in cluster mode",
                        hint="start redis-server with cluster-enabled yes",
                    ) from None
                raise ConnectionFailure(endpoint.id, problem.message) from None

        results = await asyncio.gather(*(read(e) for e in endpoints))
        views = [r for r in results if isinstance(r, NodeView)]
        unreachable = [r for r in results if isinstance(r, tuple)]
        if not views:
            first = next(p for p in problems if p.endpoint == unreachable[0][0])
            raise ConnectionFailure(
                first.endpoint,
                first.reason,
                hint=first.hint
                or f"none of the {len(endpoints)} Redis nodes answered; check that they run "
                "and that the addresses (or namespace/selector) and credentials are right",
                reached=first.reached,
                kind=first.kind,
            )
        observation = ClusterObservation(views=views, unreachable=unreachable)
        self.last_observation = observation
        return observation

    async def endpoints_by_node(self, observation: ClusterObservation) -> dict[str, NodeEndpoint]:
        """node id -> endpoint, for every node that answered."""
        by_endpoint = {e.id: e for e in await self.transport.discover()}
        return {
            v.node_id: by_endpoint[v.endpoint_id]
            for v in observation.views
            if v.endpoint_id in by_endpoint
        }

    # ------------------------------------------------------------------ evidence

    async def evidence(self, observation: ClusterObservation) -> SlotEvidence:
        """The journal and the keys of troubled slots (none read when nothing is wrong)."""
        if not observation.members:
            return SlotEvidence()
        journal, unread = await self._read_journal(observation)
        slots = troubled_slots(observation, journal)
        endpoints = await self.endpoints_by_node(observation)
        heirs = _heirs(observation, endpoints)
        offsets = await self._offsets(endpoints, heirs)
        if not slots:
            return SlotEvidence(journal=journal, offsets=offsets, journal_unread=unread)
        masters = [
            v.node_id for v in observation.members if v.myself.is_master and v.node_id in endpoints
        ] + heirs
        counts = await asyncio.gather(
            *(
                self.transport.pipeline(
                    endpoints[m], [("CLUSTER", "COUNTKEYSINSLOT", s) for s in slots]
                )
                for m in masters
            )
        )
        keys: dict[int, dict[str, int]] = {}
        for master, replies in zip(masters, counts, strict=True):
            for slot, reply in zip(slots, replies, strict=True):
                if isinstance(reply, int) and reply > 0:
                    keys.setdefault(slot, {})[master] = reply
        duplicates = await self._duplicates(observation, endpoints, keys)
        return SlotEvidence(
            keys=keys,
            journal=journal,
            duplicates=duplicates,
            offsets=offsets,
            journal_unread=unread,
        )

    async def _offsets(
        self, endpoints: dict[str, NodeEndpoint], heirs: list[str]
    ) -> dict[str, int]:
        """master_repl_offset of the replicas of failed masters (who is most up to date)."""
        offsets: dict[str, int] = {}
        for node_id in heirs:
            try:
                info = reply_text(
                    await self.transport.execute(endpoints[node_id], "INFO", "replication")
                )
            except (NodeUnreachable, CommandError):
                continue
            for line in info.splitlines():
                if line.startswith("master_repl_offset:"):
                    offsets[node_id] = int(line.split(":", 1)[1].strip() or 0)
        return offsets

    async def _read_journal(
        self, observation: ClusterObservation
    ) -> tuple[dict[int, tuple[str, str]], str]:
        """The journal of moves in progress, and why it could not be read ("": it was)."""
        if observation.uncovered_slots() and len(observation.uncovered_slots()) == 16384:
            return {}, ""  # no slot assigned yet: no move ever ran
        try:
            return await self.journal.read(), ""
        except (JournalUnavailable, NodeUnreachable, CommandError) as problem:
            # A cluster that cannot serve the journal's slot is repaired first; the plan
            # says what it could not see.
            return {}, str(problem) or type(problem).__name__

    async def _duplicates(
        self,
        observation: ClusterObservation,
        endpoints: dict[str, NodeEndpoint],
        keys: dict[int, dict[str, int]],
    ) -> dict[int, tuple[int, int]]:
        """slot -> (keys on two masters, of which with different values where both copies
        could be read without changing the cluster: the owner's and an importer's)."""
        shared = {s: holders for s, holders in keys.items() if len(holders) > 1}
        if not shared or sum(sum(h.values()) for h in shared.values()) > DUPLICATE_SCAN_LIMIT:
            return {}
        found: dict[int, tuple[int, int]] = {}
        for slot, holders in sorted(shared.items()):
            names: dict[str, set[bytes]] = {}
            for node, count in holders.items():
                reply = await self.transport.execute(
                    endpoints[node], "CLUSTER", "GETKEYSINSLOT", slot, count
                )
                names[node] = {
                    k for k in (reply if isinstance(reply, list) else []) if isinstance(k, bytes)
                }
            nodes = sorted(names)
            both = set.union(*(names[a] & names[b] for a in nodes for b in nodes if a < b))
            if not both:
                continue
            readable = [n for n in nodes if _can_read(observation, n, slot)]
            differing = 0
            if len(readable) >= 2:
                dumps = [
                    await self.transport.pipeline(
                        endpoints[n], [c for k in sorted(both) for c in (("ASKING",), ("DUMP", k))]
                    )
                    for n in readable[:2]
                ]
                differing = sum(
                    1
                    for a, b in zip(dumps[0][1::2], dumps[1][1::2], strict=True)
                    if a is not None and b is not None and a != b
                )
            found[slot] = (len(both), differing)
        return found

    # ------------------------------------------------------------------ planning

    async def plan(self, options: PlanOptions) -> ProviderPlan:
        observation = await self.observe()
        evidence = await self.evidence(observation)
        layout = plan_layout(
            observation,
            self.desired,
            allow_delete=options.allow_delete,
            cluster_name=self.cluster_name,
            evidence=evidence,
        )
        endpoints = await self.endpoints_by_node(observation)
        limit = options.move_rate or self.move_rate
        changes = [await self._estimated(step, endpoints, limit) for step in layout.steps]
        changes, sized = await self._sized(changes, endpoints)
        digest = topology_digest(observation)
        unread = _journal_notice(self.cluster_name, self.journal.key, evidence.journal_unread)
        return ProviderPlan(
            changes=tuple(changes),
            notices=(*layout.notices, *sized, *unread),
            fingerprints={c.address: digest for c in changes} | cluster_identity(observation),
        )

    async def _estimated(
        self, step: Any, endpoints: dict[str, NodeEndpoint], limit: MoveRate | None
    ) -> Change:
        """The change of a step; a slot move carries the keys it is expected to move and
        the rate limit it is to keep."""
        if isinstance(step, MoveSlots) and limit is not None:
            step = step.model_copy(update={"rate_limit": limit.spelled()})
        if isinstance(step, MoveSlots) and step.source.node_id in endpoints:
            try:
                keys = await estimate_keys(
                    self.transport, endpoints[step.source.node_id], step.slot_list()
                )
            except (NodeUnreachable, CommandError):
                keys = None
            step = step.model_copy(update={"estimated_keys": keys})
        return to_change(step)

    async def _sized(
        self, changes: list[Change], endpoints: dict[str, NodeEndpoint]
    ) -> tuple[list[Change], list[Notice]]:
        """Slot moves with their impact (keys, sampled bytes, ETA, the target's memory);
        notices refusing moves that would push a master over its maxmemory."""
        from reconciler.providers.redis.sizing import (
            judge_moves,
            measure_moves,
            shared_limit_notice,
        )

        moves = [
            (c, MoveSlots.model_validate(c.payload))
            for c in changes
            if c.payload.get("kind") == "move_slots"
        ]
        if not moves:
            return changes, []
        try:
            rate = await self.journal.read_rate()
        except (JournalUnavailable, NodeUnreachable, CommandError):
            rate = None  # the documented default, then
        try:
            impacts, memory = await measure_moves(self.transport, moves, endpoints, rate)
        except (NodeUnreachable, CommandError):
            return changes, []
        impacts, notices = judge_moves(moves, impacts, memory)
        shared = shared_limit_notice(moves, impacts)
        if shared is not None:
            notices.append(shared)
        return [
            c.model_copy(update={"impact": impacts[c.address]}) if c.address in impacts else c
            for c in changes
        ], notices

    def check_saved(self, change: Change, redacted: str) -> None:
        """Refuse (exit 3) a saved change whose payload is not a valid Redis step or does
        not yield exactly the attributes it shows."""
        step = check_payload(change, RedisStep, redacted)
        rebuilt = to_change(step)
        if (rebuilt.address, rebuilt.action, rebuilt.risks) != (
            change.address,
            change.action,
            change.risks,
        ):
            from reconciler.errors import SafetyRefusal

            raise SafetyRefusal(
                f"{change.address}: the plan's address, action or risks differ from what its "
                "payload does; the plan file was altered; nothing was changed",
                hint="plan again and apply the new plan file unmodified",
            )

    # ------------------------------------------------------------------ fingerprints

    async def fingerprints(self, addresses: Sequence[str]) -> dict[str, str]:
        """One digest of the cluster topology (ids, roles, slots, open slots, bare nodes).

        Every Redis change depends on the whole layout, so all addresses share it: any
        topology change since the plan makes the plan stale.
        """
        observation = await self.observe()
        digest = topology_digest(observation)
        return {address: digest for address in addresses} | cluster_identity(observation)

    def request_counts(self) -> dict[str, Any]:
        return dict(self.transport.request_counts())

    async def close(self) -> None:
        await self.transport.close()

    # ------------------------------------------------------------------ applying

    async def apply(self, changes: Sequence[Change], options: ApplyOptions) -> list[ChangeResult]:
        from reconciler.providers.redis.applying import apply_changes

        return await apply_changes(self, changes, options)

    async def wait_converged(
        self,
        timeout: float | None = None,
        need_ok: bool = True,
        report: Callable[[str], None] | None = None,
    ) -> ClusterObservation:
        """Poll until every reachable member reports cluster_state:ok and all agree."""

        async def settled() -> ClusterObservation | Pending:
            observation = await self.observe()
            members = observation.members
            if not members:
                return Pending("no cluster member answered")
            if need_ok and any(v.info.state != "ok" for v in members):
                return Pending(
                    "cluster_state is not ok on "
                    + ", ".join(v.endpoint_id for v in members if v.info.state != "ok")
                )
            if not observation.config_consistent():
                return Pending("nodes do not agree on the configuration yet")
            if any(n.in_handshake for v in members for n in v.nodes):
                return Pending("a node is still in handshake")
            return observation

        try:
            return await poll(
                settled,
                what="the cluster settles",
                timeout=self.converge_timeout if timeout is None else timeout,
                interval=0.25,
                report=report,
            )
        except ApplyFailed as problem:
            raise ApplyFailed(
                problem.message.replace("timed out after", "the cluster did not settle; waited"),
                hint="run `redis verify` to see which node disagrees",
            ) from None


def _heirs(observation: ClusterObservation, endpoints: dict[str, NodeEndpoint]) -> list[str]:
    """Reachable replicas of failed masters (they may take over, keys and all)."""
    failed = {n.id for n in observation.failed_nodes() if n.failed}
    return sorted(
        v.node_id
        for v in observation.members
        if v.myself.is_replica and v.myself.master_id in failed and v.node_id in endpoints
    )


def _can_read(observation: ClusterObservation, node_id: str, slot: int) -> bool:
    """Whether a key of ``slot`` can be read on the node without changing the cluster
    (it owns the slot, or imports it: ASKING)."""
    view = observation.view_by_node_id(node_id)
    if view is None:
        return False
    me = view.myself
    return slot in me.slot_set() or any(s == slot for s, _ in me.importing)


def cluster_identity(observation: ClusterObservation) -> dict[str, str]:
    """The ``@redis`` fingerprint: a digest of the node ids every member knows and of the
    bare nodes (roles and addresses left out, so that it survives failovers and pod
    restarts)."""
    ids = sorted({*observation.known_nodes(), *(v.node_id for v in observation.bare)})
    return {identity_key("redis"): fingerprint(ids)}


def topology_digest(observation: ClusterObservation) -> str:
    known = observation.known_nodes()
    body = {
        "nodes": sorted(
            [
                n.id,
                n.address,
                "master" if n.is_master else "replica",
                n.master_id or "",
                [list(r) for r in n.slots],
                n.failed or n.no_address,
            ]
            for n in known.values()
        ),
        "open": sorted(
            [o.slot, o.node_id, o.kind, o.other_id, o.seen_on] for o in observation.open_slots()
        ),
        "bare": sorted([v.node_id, v.address, v.dbsize] for v in observation.bare),
    }
    return fingerprint(body)


def _journal_notice(cluster_name: str, key: str, reason: str) -> list[Notice]:
    if not reason:
        return []
    return [
        Notice(
            level=NoticeLevel.WARNING,
            address=f"redis_cluster.{cluster_name}",
            message=f"the journal of slot moves ({key}) could not be read: {reason}; "
            "a move interrupted after both sides forgot their open slots would not be seen",
        )
    ]
