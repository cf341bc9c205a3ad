"""``RedisClusterProvider``: the Redis Cluster layout as a resource family of the engine.

``plan`` reads every node (CLUSTER NODES / CLUSTER INFO / DBSIZE), lets the pure planner
(:mod:`reconciler.providers.redis.layout`) decide the steps, estimates the keys each slot
move carries and returns engine ``Change`` objects whose ``payload`` holds exactly what
``apply`` executes. ``apply`` re-discovers the nodes, addresses them by node id (not by IP,
which changes when a pod restarts) and waits for the cluster to agree before moving slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from reconciler.engine.plan import Action, AttributeChange, Change, Notice, NoticeLevel, Risk
from reconciler.engine.providers import (
    ApplyOptions,
    ChangeResult,
    PlanOptions,
    ProviderPlan,
    ResultStatus,
    identity_key,
)
from reconciler.errors import ApplyFailed, ConnectionFailure, PlanRefused, SafetyRefusal
from reconciler.providers.redis.auth import check_replication_auth
from reconciler.providers.redis.layout import DesiredLayout, LayoutPlan, Step, plan_layout
from reconciler.providers.redis.resharding import (
    MigrationError,
    Resharder,
    ReshardSettings,
    estimate_keys,
)
from reconciler.providers.redis.state import (
    ClusterObservation,
    NodeView,
    expand_ranges,
    format_ranges,
    parse_cluster_info,
    parse_cluster_nodes,
)
from reconciler.providers.redis.transports import (
    CommandError,
    NodeEndpoint,
    NodeTransport,
    NodeUnreachable,
)
from reconciler.spec.models import RedisSpec

PROVIDER = "redis"


def _text(reply: Any) -> str:
    if isinstance(reply, bytes):
        return reply.decode(errors="replace")
    return str(reply)


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
    ) -> None:
        self.transport = transport
        self.desired = desired
        self.cluster_name = cluster_name
        self.converge_timeout = converge_timeout
        self.reshard = reshard or ReshardSettings()
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
        return cls(transport, desired, cluster_name=name)

    # ------------------------------------------------------------------ reading

    async def _read(self, endpoint: NodeEndpoint) -> NodeView:
        nodes_reply, info_reply, dbsize = await asyncio.gather(
            self.transport.execute(endpoint, "CLUSTER", "NODES"),
            self.transport.execute(endpoint, "CLUSTER", "INFO"),
            self.transport.execute(endpoint, "DBSIZE"),
        )
        nodes = parse_cluster_nodes(_text(nodes_reply))
        info = parse_cluster_info(_text(info_reply))
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

        async def read(endpoint: NodeEndpoint) -> NodeView | tuple[str, str, str]:
            try:
                return await self._read(endpoint)
            except NodeUnreachable as problem:
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
            first = unreachable[0]
            raise ConnectionFailure(
                first[0],
                first[2],
                hint=f"none of the {len(endpoints)} Redis nodes answered; check that they run "
                "and that the addresses (or namespace/selector) and credentials are right",
            )
        observation = ClusterObservation(views=views, unreachable=unreachable)
        self.last_observation = observation
        return observation

    async def _uncovered_key_holders(self, observation: ClusterObservation) -> dict[int, str]:
        """For uncovered slots (few): which master holds keys in them, if any."""
        uncovered = observation.uncovered_slots()
        if not uncovered or len(uncovered) > 2048:
            return {}
        holders: dict[int, str] = {}
        by_id = {e.id: e for e in await self.transport.discover()}
        for view in observation.members:
            if not view.myself.is_master or view.endpoint_id not in by_id:
                continue
            replies = await self.transport.pipeline(
                by_id[view.endpoint_id], [("CLUSTER", "COUNTKEYSINSLOT", s) for s in uncovered]
            )
            for slot, reply in zip(uncovered, replies, strict=True):
                if isinstance(reply, int) and reply > 0:
                    holders.setdefault(slot, view.node_id)
        return holders

    # ------------------------------------------------------------------ planning

    async def plan(self, options: PlanOptions) -> ProviderPlan:
        observation = await self.observe()
        holders = await self._uncovered_key_holders(observation)
        layout = plan_layout(
            observation,
            self.desired,
            allow_delete=options.allow_delete,
            cluster_name=self.cluster_name,
            keys_in_uncovered=holders,
        )
        changes = await self._changes(layout, observation)
        notices = tuple(
            Notice(level=NoticeLevel(n.level), address=n.subject, message=n.message, kind=n.kind)
            for n in layout.notices
        )
        digest = topology_digest(observation)
        return ProviderPlan(
            changes=tuple(changes),
            notices=notices,
            fingerprints={c.address: digest for c in changes} | cluster_identity(observation),
        )

    def check_saved(self, change: Change, redacted: str) -> None:
        """Interim check until the typed step payloads land: the payload must hold ops."""
        if not isinstance(change.payload.get("ops", []), list):
            raise SafetyRefusal(f"{change.address}: the plan's payload is not valid")

    async def _changes(self, layout: LayoutPlan, observation: ClusterObservation) -> list[Change]:
        endpoints = {e.id: e for e in await self.transport.discover()}
        changes: list[Change] = []
        # A bare node that joins and then replicates is one change ("join as replica of X").
        joins: dict[str, list[Step]] = {}
        for step in layout.steps:
            if step.op in ("meet", "replicate") and step.data.get("why", "join") == "join":
                joins.setdefault(step.data["node_id"], []).append(step)
        emitted: set[str] = set()
        for step in layout.steps:
            node_id = step.data.get("node_id", "")
            if step.op in ("meet", "replicate") and node_id in joins:
                if node_id in emitted:
                    continue
                emitted.add(node_id)
                changes.append(self._node_change(joins[node_id], observation))
                continue
            if step.op == "create":
                changes.append(self._create_change(step))
            elif step.op == "move":
                changes.append(await self._move_change(step, endpoints))
            elif step.op == "fix_open_slot":
                changes.append(self._fix_change(step, observation))
            elif step.op == "forget":
                d = step.data
                changes.append(
                    _step_change(
                        "redis_repair",
                        f"forget_{d['node_id'][:12]}",
                        step,
                        action=Action.DELETE,
                        risks=frozenset({Risk.DESTRUCTIVE}),
                        reason=f"{d['why']} {d['role']} {d['address']} is still known to the cluster",
                        attributes=(AttributeChange(path="node", before=d["address"], after=None),),
                        steps=(f"CLUSTER FORGET {d['node_id']} on every live node",),
                    )
                )
            elif step.op == "assign_slots":
                d = step.data
                slots = expand_ranges(d["slots"])
                changes.append(
                    _step_change(
                        "redis_repair",
                        f"uncovered_slots_{d['endpoint']}",
                        step,
                        action=Action.UPDATE,
                        risks=frozenset({Risk.DISRUPTIVE}),
                        reason=f"{len(slots)} slots are served by no node",
                        attributes=(
                            AttributeChange(
                                path="slots", before=None, after=format_ranges(d["slots"])
                            ),
                        ),
                        steps=(
                            f"assign {len(slots)} uncovered slots {format_ranges(d['slots'])} "
                            f"to {d['address']}",
                        ),
                    )
                )
            elif step.op in ("meet", "replicate"):
                changes.append(self._node_change([step], observation))
            elif step.op == "remove":
                d = step.data
                changes.append(
                    _step_change(
                        "redis_node",
                        d["endpoint"],
                        step,
                        action=Action.DELETE,
                        risks=frozenset({Risk.DESTRUCTIVE, Risk.DISRUPTIVE}),
                        reason=f"the layout has no place for this {d['role']}",
                        attributes=(
                            AttributeChange(path="role", before=d["role"], after=None),
                            AttributeChange(path="address", before=d["address"], after=None),
                        ),
                        steps=(
                            f"CLUSTER FORGET {d['node_id'][:12]} on every other node",
                            f"CLUSTER RESET HARD on {d['address']} (it leaves the cluster empty)",
                        ),
                    )
                )
        return changes

    def _create_change(self, step: Step) -> Change:
        d = step.data
        lines = []
        for master in d["masters"]:
            lines.append(
                f"master {master['address']} ({master['host']}) slots "
                f"{format_ranges(master['slots'])}"
            )
        addr_of = {m["node_id"]: m["address"] for m in d["masters"]}
        for replica in d["replicas"]:
            lines.append(
                f"replica {replica['address']} ({replica['host']}) of "
                f"{addr_of.get(replica['master_id'], replica['master_id'][:8])}"
            )
        return Change(
            address=f"redis_cluster.{self.cluster_name}",
            provider=PROVIDER,
            resource_type="redis_cluster",
            name=self.cluster_name,
            action=Action.CREATE,
            reason=f"{len(d['masters']) + len(d['replicas'])} bare nodes, no cluster yet",
            attributes=(
                AttributeChange(path="masters", before=None, after=len(d["masters"])),
                AttributeChange(path="replicas", before=None, after=len(d["replicas"])),
                AttributeChange(path="slots_assigned", before=None, after=16384),
            ),
            steps=tuple(lines),
            payload={"ops": [{"op": "create", **d}]},
        )

    def _node_change(self, steps: list[Step], observation: ClusterObservation) -> Change:
        first = steps[0].data
        endpoint = first["endpoint"]
        lines: list[str] = []
        attributes: list[AttributeChange] = []
        action = Action.UPDATE
        risks: set[Risk] = set()
        reason = ""
        for step in steps:
            d = step.data
            if step.op == "meet":
                if d["why"] == "join":
                    action = Action.CREATE
                    reason = f"joins the cluster as a {d['role']}"
                    lines.append(f"CLUSTER MEET {d['address']} (node {d['node_id'][:12]})")
                    attributes.append(AttributeChange(path="member", before=None, after=True))
                else:
                    reason = (
                        f"node {d['node_id'][:12]} answers at {d['address']}; the cluster "
                        f"knows it at {d.get('old_address', '?')}"
                        if d["why"] == "readdress"
                        else f"node {d['node_id'][:12]} is not known to the cluster"
                    )
                    lines.append(
                        f"re-introduce node {d['node_id'][:12]} at its new address "
                        f"{d['address']} (CLUSTER MEET)"
                    )
                    attributes.append(
                        AttributeChange(
                            path="address", before=d.get("old_address"), after=d["address"]
                        )
                    )
            else:
                previous = d.get("previous_master_address")
                lines.append(
                    f"CLUSTER REPLICATE {d['master_id'][:12]} on {d['address']} "
                    f"(replica of {d['master_address']})"
                )
                attributes.append(
                    AttributeChange(path="replica_of", before=previous, after=d["master_address"])
                )
                if previous:
                    reason = reason or "replicas rebalanced across masters"
                    risks.add(Risk.DISRUPTIVE)  # the replica resyncs its data from scratch
                elif not reason:
                    reason = "a master lacks replicas"
        return Change(
            address=f"redis_node.{endpoint}",
            provider=PROVIDER,
            resource_type="redis_node",
            name=endpoint,
            action=action,
            attributes=tuple(attributes),
            risks=frozenset(risks),
            reason=reason or None,
            steps=tuple(lines),
            payload={"ops": [{"op": s.op, **s.data} for s in steps]},
        )

    async def _move_change(self, step: Step, endpoints: dict[str, NodeEndpoint]) -> Change:
        d = step.data
        source, target = d["source"], d["target"]
        slots = expand_ranges(d["slots"])
        keys: int | None = None
        endpoint = endpoints.get(source["endpoint"])
        if endpoint is not None:
            try:
                keys = await estimate_keys(self.transport, endpoint, slots)
            except (NodeUnreachable, CommandError):
                keys = None
        estimate = f" (~{keys:,} keys)" if keys is not None else ""
        name = f"{source['endpoint']}->{target['endpoint']}"
        return Change(
            address=f"redis_slots.{name}",
            provider=PROVIDER,
            resource_type="redis_slots",
            name=name,
            action=Action.UPDATE,
            risks=frozenset({Risk.SLOW}),
            reason="rebalance slots across the masters",
            attributes=(
                AttributeChange(path="slots", before=source["address"], after=target["address"]),
                AttributeChange(path="slot_count", before=None, after=len(slots)),
                AttributeChange(path="estimated_keys", before=None, after=keys),
            ),
            steps=(
                f"move {len(slots)} slots {format_ranges(d['slots'])} from "
                f"{source['address']} to {target['address']}{estimate}",
            ),
            payload={"ops": [{"op": "move", **d, "estimated_keys": keys}]},
        )

    def _fix_change(self, step: Step, observation: ClusterObservation) -> Change:
        d = step.data
        known = observation.known_nodes()

        def addr(node_id: str | None) -> str:
            return known[node_id].address if node_id in known else str(node_id)[:12]

        # Like redis-cli --cluster fix: an owner migrating to a live node finishes the move.
        finisher = next(
            (
                t.split("->")[1]
                for t in d["targets"]
                if t.split("->")[0] == d["owner_id"]
                and observation.view_by_node_id(t.split("->")[1]) is not None
            ),
            None,
        )
        state = ", ".join(
            [f"migrating on {addr(n)}" for n in d["migrating"]]
            + [f"importing on {addr(n)}" for n in d["importing"]]
        )
        return Change(
            address=f"redis_repair.open_slot_{d['slot']}",
            provider=PROVIDER,
            resource_type="redis_repair",
            name=f"open_slot_{d['slot']}",
            action=Action.UPDATE,
            risks=frozenset({Risk.DISRUPTIVE}),
            reason=f"slot {d['slot']} is left open ({state})",
            attributes=(
                AttributeChange(path="state", before=state, after="stable"),
                AttributeChange(
                    path="owner", before=addr(d["owner_id"]), after=addr(finisher or d["owner_id"])
                ),
            ),
            steps=(
                (
                    f"finish the move of slot {d['slot']}: migrate its remaining keys from "
                    f"{addr(d['owner_id'])} to {addr(finisher)}, then SETSLOT NODE everywhere",
                )
                if finisher
                else (
                    f"move stray keys of slot {d['slot']} back to its owner "
                    f"{addr(d['owner_id'])}, then SETSLOT STABLE where it is open",
                )
            ),
            payload={"ops": [{"op": "fix_open_slot", **d}]},
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
        results: list[ChangeResult] = []
        runner = _Applier(self, options)
        index = 0
        failed = False
        while index < len(changes):
            change = changes[index]
            batch = [change]
            if _is_move(change):
                while index + len(batch) < len(changes) and _is_move(changes[index + len(batch)]):
                    batch.append(changes[index + len(batch)])
            index += len(batch)
            if failed and not options.continue_on_error:
                results += [
                    ChangeResult(
                        c.address, ResultStatus.SKIPPED, "skipped after an earlier failure"
                    )
                    for c in batch
                ]
                continue
            batch_results = await runner.run(batch)
            results += batch_results
            if any(r.status is ResultStatus.FAILED for r in batch_results):
                failed = True
        return results

    async def wait_converged(
        self, timeout: float | None = None, need_ok: bool = True
    ) -> ClusterObservation:
        """Poll until every reachable member reports cluster_state:ok and all agree."""
        deadline = time.monotonic() + (self.converge_timeout if timeout is None else timeout)
        last_problem = ""
        while True:
            observation = await self.observe()
            members = observation.members
            problem = ""
            if not members:
                problem = "no cluster member answered"
            elif need_ok and any(v.info.state != "ok" for v in members):
                problem = "cluster_state is not ok on " + ", ".join(
                    v.endpoint_id for v in members if v.info.state != "ok"
                )
            elif not observation.config_consistent():
                problem = "nodes do not agree on the configuration yet"
            elif any(n.in_handshake for v in members for n in v.nodes):
                problem = "a node is still in handshake"
            if not problem:
                return observation
            last_problem = problem
            if time.monotonic() > deadline:
                raise ApplyFailed(
                    f"the cluster did not settle: {last_problem}",
                    hint="run `redis verify` to see which node disagrees",
                )
            await asyncio.sleep(0.25)


def _is_move(change: Change) -> bool:
    ops = change.payload.get("ops", [])
    return bool(ops) and all(op.get("op") == "move" for op in ops)


def cluster_identity(observation: ClusterObservation) -> dict[str, str]:
    """The ``@redis`` fingerprint: a digest of the node ids (roles and addresses left out,
    so that it survives failovers and pod restarts)."""
    ids = sorted({*observation.known_nodes(), *(v.node_id for v in observation.bare)})
    return {identity_key("redis"): hashlib.sha256(" ".join(ids).encode()).hexdigest()[:16]}


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
        "open": sorted([o.slot, o.node_id, o.kind, o.other_id] for o in observation.open_slots()),
        "bare": sorted([v.node_id, v.address, v.dbsize] for v in observation.bare),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


class _Applier:
    """Carries out the ops of planned changes against freshly discovered endpoints."""

    def __init__(self, provider: RedisClusterProvider, options: ApplyOptions) -> None:
        self.provider = provider
        self.transport = provider.transport
        self.options = options
        self.endpoints: dict[str, NodeEndpoint] = {}  # node id -> endpoint

    async def refresh(self) -> ClusterObservation:
        observation = await self.provider.observe()
        by_endpoint = {e.id: e for e in await self.transport.discover()}
        self.endpoints = {
            v.node_id: by_endpoint[v.endpoint_id]
            for v in observation.views
            if v.endpoint_id in by_endpoint
        }
        return observation

    def endpoint(self, node_id: str) -> NodeEndpoint:
        try:
            return self.endpoints[node_id]
        except KeyError:
            raise ApplyFailed(
                f"node {node_id[:12]} is not reachable now",
                hint="the cluster changed since the plan; plan again",
            ) from None

    async def run(self, batch: list[Change]) -> list[ChangeResult]:
        progress = self.options.progress
        for change in batch:
            progress.started(change)
        started = time.monotonic()
        try:
            if len(batch) > 1 or _is_move(batch[0]):
                outcomes = await self._moves(batch)
            else:
                await self._ops(batch[0])
                outcomes = {batch[0].address: ""}
        except (ApplyFailed, ConnectionFailure, CommandError, PlanRefused) as problem:
            message = problem.message if hasattr(problem, "message") else str(problem)
            results = [
                ChangeResult(
                    c.address, ResultStatus.FAILED, str(message), time.monotonic() - started
                )
                for c in batch
            ]
            for result in results:
                progress.finished(result)
            return results
        results = [
            ChangeResult(
                c.address,
                ResultStatus.APPLIED,
                outcomes.get(c.address, ""),
                time.monotonic() - started,
            )
            for c in batch
        ]
        for result in results:
            progress.finished(result)
        return results

    async def _ops(self, change: Change) -> None:
        for op in change.payload.get("ops", []):
            await self.refresh()
            handler: Callable[[Change, dict[str, Any]], Awaitable[None]] = getattr(
                self, f"_op_{op['op']}"
            )
            await handler(change, op)

    # ------------------------------------------------------------------ helpers

    async def _exec(self, node_id: str, *args: Any) -> Any:
        return await self.transport.execute(self.endpoint(node_id), *args)

    async def _view(self, node_id: str) -> NodeView:
        return await self.provider._read(self.endpoint(node_id))

    async def _wait(
        self, what: str, check: Callable[[], Awaitable[bool]], timeout: float | None = None
    ) -> None:
        deadline = time.monotonic() + (timeout or self.provider.converge_timeout)
        while not await check():
            if time.monotonic() > deadline:
                raise ApplyFailed(f"timed out waiting until {what}")
            await asyncio.sleep(0.2)

    async def _knows(self, node_id: str, other: str) -> bool:
        view = await self._view(node_id)
        return any(n.id == other and not n.in_handshake and n.ip for n in view.nodes)

    # ------------------------------------------------------------------ ops

    async def _op_create(self, change: Change, op: dict[str, Any]) -> None:
        masters, replicas = op["masters"], op["replicas"]
        everyone = masters + replicas
        for member in everyone:
            view = await self._view(member["node_id"])
            if not view.is_bare or view.dbsize:
                raise ApplyFailed(f"{member['address']} is no longer a bare empty node; plan again")
        for replica in replicas:  # before any slot is assigned: refuse, do not half-create
            await check_replication_auth(
                self.transport,
                self.endpoint(replica["node_id"]),
                self.endpoint(replica["master_id"]),
            )
        for master in masters:
            for start, end in master["slots"]:
                try:
                    await self._exec(master["node_id"], "CLUSTER", "ADDSLOTSRANGE", start, end)
                except CommandError as problem:
                    if "unknown subcommand" not in problem.message.lower():
                        raise
                    await self._exec(
                        master["node_id"], "CLUSTER", "ADDSLOTS", *range(start, end + 1)
                    )
        for epoch, member in enumerate(everyone, start=1):
            # Distinct config epochs avoid the collision-resolution dance at start-up.
            with contextlib.suppress(CommandError):
                await self._exec(member["node_id"], "CLUSTER", "SET-CONFIG-EPOCH", epoch)
        first = masters[0]
        for member in everyone[1:]:
            ip, _, port = member["address"].rpartition(":")
            await self._exec(first["node_id"], "CLUSTER", "MEET", ip, int(port))
        ids = [m["node_id"] for m in everyone]
        self.options.progress.advanced(change, "waiting for every node to know every other")

        async def all_know() -> bool:
            for node in ids:
                view = await self._view(node)
                known = {n.id for n in view.nodes if not n.in_handshake and (n.ip or n.myself)}
                if not set(ids) <= known:
                    return False
            return True

        await self._wait("all nodes know each other", all_know)
        for replica in replicas:
            await self._replicate(replica["node_id"], replica["master_id"])
        self.options.progress.advanced(change, "waiting for cluster_state:ok on every node")
        await self.provider.wait_converged()

    async def _replicate(self, node_id: str, master_id: str) -> None:
        await self._wait(
            f"{node_id[:12]} knows master {master_id[:12]}", lambda: self._knows(node_id, master_id)
        )
        view = await self._view(node_id)
        if view.myself.is_replica and view.myself.master_id == master_id:
            return
        if view.myself.is_master and view.myself.slots:
            raise ApplyFailed(f"{view.address} serves slots and cannot become a replica")
        await check_replication_auth(
            self.transport, self.endpoint(node_id), self.endpoint(master_id)
        )
        await self._exec(node_id, "CLUSTER", "REPLICATE", master_id)

        async def settled() -> bool:
            me = (await self._view(node_id)).myself
            return me.is_replica and me.master_id == master_id

        await self._wait(f"{view.address} replicates {master_id[:12]}", settled)

    async def _op_meet(self, change: Change, op: dict[str, Any]) -> None:
        node_id = op["node_id"]
        introducer = next(
            (nid for nid, _ep in self.endpoints.items() if nid != node_id and self._is_member(nid)),
            None,
        )
        if introducer is None:
            raise ApplyFailed("no live cluster member to introduce the node")
        view = await self._view(node_id)
        if op["why"] == "join" and (not view.is_bare or view.dbsize):
            raise ApplyFailed(f"{op['address']} is no longer a bare empty node; plan again")
        ip, _, port = op["address"].rpartition(":")
        await self._exec(introducer, "CLUSTER", "MEET", ip, int(port))
        self.options.progress.advanced(change, f"waiting until {op['address']} is known")
        await self._wait(
            f"{op['address']} is known to {introducer[:12]}",
            lambda: self._knows(introducer, node_id),
        )
        await self._wait(
            f"{op['address']} knows the cluster", lambda: self._knows(node_id, introducer)
        )
        if op["why"] != "join":
            # After many pods restarted at once the members cannot gossip the new address to
            # each other (they only know each other's old IPs): every member meets the node.
            for member in list(self.endpoints):
                if member in (node_id, introducer) or not self._is_member(member):
                    continue
                with contextlib.suppress(CommandError, NodeUnreachable):
                    await self._exec(member, "CLUSTER", "MEET", ip, int(port))

    def _is_member(self, node_id: str) -> bool:
        observation = self.provider.last_observation
        if observation is None:
            return False
        return any(v.node_id == node_id and not v.is_bare for v in observation.views)

    async def _op_replicate(self, change: Change, op: dict[str, Any]) -> None:
        await self._replicate(op["node_id"], op["master_id"])

    async def _op_assign_slots(self, change: Change, op: dict[str, Any]) -> None:
        observation = self.provider.last_observation
        assert observation is not None
        owners = observation.slot_owners()
        for start, end in op["slots"]:
            free = [s for s in range(start, end + 1) if s not in owners]
            if free:
                await self._exec(op["node_id"], "CLUSTER", "ADDSLOTS", *free)
        await self.provider.wait_converged(need_ok=False)

    async def _op_forget(self, change: Change, op: dict[str, Any]) -> None:
        problems = []
        for node_id in list(self.endpoints):
            if node_id == op["node_id"] or not self._is_member(node_id):
                continue
            try:
                await self._exec(node_id, "CLUSTER", "FORGET", op["node_id"])
            except CommandError as problem:
                if "Unknown node" in problem.message:
                    continue
                problems.append(f"{self.endpoints[node_id].address}: {problem.message}")
        if problems:
            raise ApplyFailed("CLUSTER FORGET failed on " + "; ".join(problems))

    async def _op_remove(self, change: Change, op: dict[str, Any]) -> None:
        node_id = op["node_id"]
        view = await self._view(node_id)
        me = view.myself
        if me.slots:
            raise ApplyFailed(
                f"{op['address']} still serves {me.slot_count} slots; refusing "
                "to remove it (its slots must move first)"
            )
        if me.is_master and view.dbsize:
            raise ApplyFailed(
                f"{op['address']} still holds {view.dbsize} keys; refusing to remove it"
            )
        observation = self.provider.last_observation
        assert observation is not None
        followers = [
            v.address
            for v in observation.members
            if v.myself.is_replica and v.myself.master_id == node_id
        ]
        if followers:
            # Replicas follow a master that lost its slots; give them a moment to move on.
            async def orphaned() -> bool:
                obs = await self.refresh()
                return not any(
                    v.myself.is_replica and v.myself.master_id == node_id for v in obs.members
                )

            await self._wait(
                f"replicas of {op['address']} move to another master", orphaned, timeout=20
            )
        await self._op_forget(change, op)
        await self._exec(node_id, "CLUSTER", "RESET", "HARD")

    async def _op_fix_open_slot(self, change: Change, op: dict[str, Any]) -> None:
        slot = op["slot"]
        observation = self.provider.last_observation
        assert observation is not None
        masters = [v.node_id for v in observation.members if v.myself.is_master]
        resharder = Resharder(self.transport, self.endpoints, masters, self.provider.reshard)
        opens = [o for o in observation.open_slots() if o.slot == slot]
        if not opens:
            return  # closed meanwhile
        owner = observation.slot_owners().get(slot)
        migrating = [o for o in opens if o.kind == "migrating"]
        importing = [o for o in opens if o.kind == "importing"]
        if owner is None:
            owner = migrating[0].node_id if migrating else importing[0].node_id
            for node in {o.node_id for o in opens}:
                await resharder.stabilise(node, [slot])
            await self._exec(owner, "CLUSTER", "ADDSLOTS", slot)
            opens = []
            migrating, importing = [], []
        owner_migrating = [o for o in migrating if o.node_id == owner]
        if owner_migrating and owner_migrating[0].other_id in self.endpoints:
            target = owner_migrating[0].other_id
            # Both sides open (or re-opened): finish the move the way it was started.
            await self._exec(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", owner)
            await resharder.drain(owner, target, [slot])
            await resharder.assign(target, [slot], source=owner)
            for other in {o.node_id for o in opens} - {owner, target}:
                await resharder.stabilise(other, [slot])
        else:
            # Move stray keys from the importing side back to the owner, then close.
            for entry in importing:
                if entry.node_id == owner:
                    continue
                count = await self._exec(entry.node_id, "CLUSTER", "COUNTKEYSINSLOT", slot)
                if isinstance(count, int) and count > 0:
                    await resharder.drain(entry.node_id, owner, [slot], asking=True)
            for node in sorted({o.node_id for o in opens}):
                await resharder.stabilise(node, [slot])
        await self.provider.wait_converged(need_ok=False)

    async def _moves(self, batch: list[Change]) -> dict[str, str]:
        observation = await self.refresh()
        # Preflight: moving slots while nodes disagree (e.g. right after CLUSTER MEET) is
        # what leaves redis-cli's rebalance with CLUSTERDOWN and a half-migrated slot.
        if observation.open_slots():
            raise ApplyFailed(
                "slots are open: " + ", ".join(str(o.slot) for o in observation.open_slots()[:10]),
                hint="plan again: open slots are repaired first",
            )
        down = [
            n.address
            for n in observation.known_nodes().values()
            if n.is_master and n.slots and (n.failed or n.possibly_failed)
        ]
        if down:
            raise ApplyFailed("masters are down: " + ", ".join(down))
        for change in batch:
            self.options.progress.advanced(change, "waiting until all nodes agree")
        observation = await self.provider.wait_converged()
        await self.refresh()
        masters = [v.node_id for v in observation.members if v.myself.is_master]
        outcomes: dict[str, str] = {}
        gate = asyncio.Semaphore(self.provider.reshard.parallel_moves)

        async def one(change: Change) -> None:
            async with gate:
                for op in change.payload["ops"]:
                    source, target = op["source"]["node_id"], op["target"]["node_id"]
                    slots = expand_ranges(op["slots"])
                    owners = observation.slot_owners()
                    slots = [s for s in slots if owners.get(s) == source]  # resume-safe

                    def report(message: str, c: Change = change) -> None:
                        self.options.progress.advanced(c, message)

                    resharder = Resharder(
                        self.transport,
                        self.endpoints,
                        masters,
                        self.provider.reshard,
                        on_progress=report,
                    )
                    stats = await resharder.move(source, target, slots)
                    rate = stats.keys / stats.seconds if stats.seconds else 0.0
                    outcomes[change.address] = (
                        f"moved {stats.slots} slots, {stats.keys} keys in {stats.seconds:.1f}s "
                        f"({rate:,.0f} keys/s)"
                        + (
                            f", {stats.replaced_identical} identical duplicates resolved"
                            if stats.replaced_identical
                            else ""
                        )
                    )

        try:
            results = await asyncio.gather(*(one(c) for c in batch), return_exceptions=True)
        finally:
            pass
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            first = errors[0]
            if isinstance(first, MigrationError | ApplyFailed | CommandError | ConnectionFailure):
                raise first
            raise ApplyFailed(f"slot move failed: {first}") from first
        await self.provider.wait_converged()
        return outcomes


def _step_change(resource_type: str, name: str, step: Step, **fields: Any) -> Change:
    """A change carrying out one planned layout step (its data is the payload apply runs)."""
    return Change(
        address=f"{resource_type}.{name}",
        provider=PROVIDER,
        resource_type=resource_type,
        name=name,
        payload={"ops": [{"op": step.op, **step.data}]},
        **fields,
    )
