"""``redis.users`` and ``redis.config`` as providers: the same on every node.

Redis Cluster replicates neither ACL users nor configs between nodes, so both providers read
every node the transport finds — masters, replicas and bare nodes a layout change is about
to add — diff each against the spec (:mod:`.acl_diffs`, :mod:`.config_diffs`) and write
only the nodes that differ. They run before the layout provider (``cli/targets.py``), so a
node that joins the cluster in the same apply has the users and the configs before it is
given any slot.

Persistence: after writing, each node is told to keep it — ``ACL SAVE`` when it has an
``aclfile``, else ``CONFIG REWRITE`` when it was started from a config file (which then
holds the users too); a node with neither keeps the change until it restarts, and the
result says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from reconciler.engine.payloads import check_payload, parse_payload
from reconciler.engine.plan import Change, Notice, NoticeLevel, unmanaged_notice
from reconciler.engine.providers import (
    ApplyOptions,
    ChangeResult,
    PlanOptions,
    Provider,
    ProviderPlan,
    ResultStatus,
    fingerprint,
)
from reconciler.errors import ApplyFailed, ConnectionFailure, PlanRefused, SafetyRefusal
from reconciler.providers.redis.access_steps import (
    CONFIG_PROVIDER,
    USERS_PROVIDER,
    DeleteUser,
    SetConfig,
    SetUser,
    UserStep,
    config_change,
    user_change,
)
from reconciler.providers.redis.acl_diffs import (
    REPLICATION_COMMANDS,
    TOOL_COMMANDS,
    CommandTables,
    NodeUsers,
    UserRules,
    canonical_user,
    diff_users,
    lockout_problem,
    parse_getuser,
    password_hash,
)
from reconciler.providers.redis.config_diffs import NodeConfig, diff_config
from reconciler.providers.redis.replies import config_pairs, reply_text
from reconciler.providers.redis.transports import (
    Arg,
    CommandError,
    NodeEndpoint,
    NodeTransport,
    NodeUnreachable,
)
from reconciler.spec.models import DeletionPolicy, RedisSpec, RedisUser


def _digest(value: Any) -> str:
    return fingerprint(value)


class _EveryNode:
    """What both providers share: the nodes, reading them all, persisting, results."""

    family = "redis"
    name: str
    read_hint = ""

    def __init__(self, transport: NodeTransport, cluster_name: str = "redis") -> None:
        self.transport = transport
        self.cluster_name = cluster_name

    async def each_node(
        self, read: Callable[[NodeEndpoint], Awaitable[Any]]
    ) -> tuple[dict[str, Any], list[Notice]]:
        """``read`` on every node, concurrently: node name → result, and a warning per node
        that did not answer (its part is left alone)."""
        endpoints = await self.transport.discover()
        if not endpoints:
            raise ConnectionFailure(self.cluster_name, "no Redis node found")

        async def one(endpoint: NodeEndpoint) -> Any:
            try:
                return await read(endpoint)
            except NodeUnreachable as problem:
                return problem
            except CommandError as problem:
                raise PlanRefused(
                    f"{endpoint.id}: cannot read its {self.name} settings ({problem.message})",
                    hint=self.read_hint,
                ) from None

        results = await asyncio.gather(*(one(e) for e in endpoints))
        found: dict[str, Any] = {}
        notices: list[Notice] = []
        for endpoint, result in zip(endpoints, results, strict=True):
            if isinstance(result, NodeUnreachable):
                notices.append(
                    Notice(
                        level=NoticeLevel.WARNING,
                        address=f"redis_node.{endpoint.id}",
                        message=f"did not answer ({result.message}); its {self.name} "
                        "settings are not checked",
                    )
                )
            else:
                found[endpoint.id] = result
        if not found:
            raise ConnectionFailure(
                self.cluster_name, f"none of the {len(endpoints)} nodes answered"
            )
        return found, notices

    async def endpoints(self, names: Sequence[str]) -> dict[str, NodeEndpoint]:
        by_name = {e.id: e for e in await self.transport.discover()}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ApplyFailed(
                f"node(s) {', '.join(missing)} not found now",
                hint="the nodes changed since the plan; plan again",
            )
        return {n: by_name[n] for n in names}

    async def persist(self, endpoint: NodeEndpoint, *, acl: bool) -> str | None:
        """Make the node keep what was written; a note when it cannot (None: kept)."""
        try:
            if acl:
                aclfile = await self.transport.execute(endpoint, "CONFIG", "GET", "aclfile")
                if isinstance(aclfile, list) and len(aclfile) > 1 and reply_text(aclfile[1]):
                    await self.transport.execute(endpoint, "ACL", "SAVE")
                    return None
            info = reply_text(await self.transport.execute(endpoint, "INFO", "server"))
            config_file = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in info.splitlines()
                    if line.startswith("config_file:")
                ),
                "",
            )
            if not config_file:
                return f"{endpoint.id} has no config file: kept until it restarts"
            await self.transport.execute(endpoint, "CONFIG", "REWRITE")
        except CommandError as problem:
            return f"{endpoint.id}: not persisted ({problem.message})"
        return None

    async def run_changes(
        self,
        changes: Sequence[Change],
        options: ApplyOptions,
        carry_out: Callable[[Change], Awaitable[str]],
    ) -> list[ChangeResult]:
        results: list[ChangeResult] = []
        failed = False
        for change in changes:
            if failed and not options.continue_on_error:
                results.append(
                    ChangeResult(
                        change.address, ResultStatus.SKIPPED, "skipped after an earlier failure"
                    )
                )
                continue
            options.progress.started(change)
            started = time.monotonic()
            try:
                message = await carry_out(change)
                result = ChangeResult(
                    change.address, ResultStatus.APPLIED, message, time.monotonic() - started
                )
            except (ApplyFailed, ConnectionFailure, CommandError) as problem:
                failed = True
                result = ChangeResult(
                    change.address, ResultStatus.FAILED, problem.message, time.monotonic() - started
                )
            options.progress.finished(result)
            results.append(result)
        return results

    async def write(
        self,
        change: Change,
        nodes: Sequence[str],
        command: Sequence[Arg],
        *,
        acl: bool,
        options: ApplyOptions,
    ) -> str:
        """Run ``command`` on each node (one at a time, named in any failure), then persist."""
        endpoints = await self.endpoints(nodes)
        notes: list[str] = []
        for name, endpoint in endpoints.items():
            reply = (await self.transport.pipeline(endpoint, [command]))[0]
            if isinstance(reply, CommandError):
                raise ApplyFailed(f"{name}: {reply.message}")
            options.progress.advanced(change, f"written on {name}")
            note = await self.persist(endpoint, acl=acl)
            if note:
                notes.append(note)
        done = f"on {len(endpoints)} node(s)"
        return done if not notes else f"{done}; " + "; ".join(notes)

    def request_counts(self) -> dict[str, Any]:
        return dict(self.transport.request_counts())

    async def close(self) -> None:
        """The transport belongs to the layout provider, which closes it."""


# --------------------------------------------------------------------------- users


class RedisUsersProvider(_EveryNode):
    """ACL users identical on every node (``redis.users``)."""

    name = USERS_PROVIDER
    resource_types: tuple[str, ...] = (USERS_PROVIDER,)
    read_hint = (
        "the connection user needs +acl (users, getuser, cat, setuser, save) and "
        "+config|get to manage redis.users"
    )

    def __init__(
        self,
        transport: NodeTransport,
        users: Sequence[RedisUser],
        *,
        deletion: DeletionPolicy = DeletionPolicy.NEVER,
        tool_user: str | None = None,
        tool_password: str | None = None,
        tool_password_known: bool = True,
        cluster_name: str = "redis",
        resolve: Callable[[Any, str], str | None] | None = None,
    ) -> None:
        super().__init__(transport, cluster_name)
        self.users = list(users)
        self.deletion = deletion
        self.tool_user = tool_user or "default"
        self.tool_sha = password_hash(tool_password) if tool_password else None
        self.tool_password_known = tool_password_known
        self._resolve = resolve
        self._desired: dict[str, UserRules] | None = None

    def desired(self) -> dict[str, UserRules]:
        """The spec's users in canonical form; passwords resolved (and hashed) once."""
        if self._desired is None:
            from reconciler.secrets import resolve_secret

            resolve = self._resolve or (lambda ref, what: resolve_secret(ref, what=what))
            self._desired = {}
            for user in self.users:
                secrets = [
                    resolve(ref, f"redis.users {user.name} password {i + 1}")
                    for i, ref in enumerate(user.passwords)
                ]
                self._desired[user.name] = canonical_user(
                    user, [s for s in secrets if s is not None]
                )
        return self._desired

    async def _read_node(
        self, endpoint: NodeEndpoint
    ) -> tuple[dict[str, UserRules], dict[str, str]]:
        names = await self.transport.execute(endpoint, "ACL", "USERS")
        users = [reply_text(n) for n in names] if isinstance(names, list) else []
        commands: list[Sequence[Arg]] = [("ACL", "GETUSER", u) for u in users]
        commands += [("CONFIG", "GET", "masteruser"), ("CONFIG", "GET", "masterauth")]
        replies = await self.transport.pipeline(endpoint, commands)
        found: dict[str, UserRules] = {}
        for user, reply in zip(users, replies, strict=False):
            rules = parse_getuser(reply) if not isinstance(reply, CommandError) else None
            if rules is not None:
                found[user] = rules
        replication: dict[str, str] = {}
        masteruser, masterauth = replies[-2], replies[-1]
        if isinstance(masterauth, list) and len(masterauth) > 1 and reply_text(masterauth[1]):
            user = (
                reply_text(masteruser[1])
                if isinstance(masteruser, list) and len(masteruser) > 1
                else ""
            )
            replication[user or "default"] = password_hash(reply_text(masterauth[1]))
        return found, replication

    async def _observe(self) -> tuple[list[NodeUsers], dict[str, str], list[Notice]]:
        found, notices = await self.each_node(self._read_node)
        nodes = [NodeUsers(name, users) for name, (users, _) in found.items()]
        replication: dict[str, str] = {}
        for _, (_, logins) in found.items():
            replication.update(logins)
        return nodes, replication, notices

    async def tables(self, node: str) -> CommandTables | None:
        """The command categories of one node (None when it does not let us read them)."""
        endpoint = (await self.endpoints([node]))[node]
        try:
            names = await self.transport.execute(endpoint, "ACL", "CAT")
        except CommandError:
            return None
        categories = [reply_text(n) for n in names] if isinstance(names, list) else []
        replies = await self.transport.pipeline(endpoint, [("ACL", "CAT", c) for c in categories])
        tables: dict[str, frozenset[str]] = {}
        for category, reply in zip(categories, replies, strict=True):
            if isinstance(reply, list):
                tables[category] = frozenset(reply_text(c).lower() for c in reply)
        return CommandTables(tables) if tables else None

    async def plan(self, options: PlanOptions) -> ProviderPlan:
        desired = self.desired()
        nodes, replication, notices = await self._observe()
        protected = {self.tool_user: "the tool's own connection user"}
        for user in replication:
            protected.setdefault(user, "the user the replicas log in as (masteruser)")
        delete = self.deletion is DeletionPolicy.ALLOW and options.allow_delete
        tables = await self.tables(nodes[0].name)
        diff = diff_users(
            desired, nodes, delete_unlisted=delete, protected=frozenset(protected), tables=tables
        )
        refused = self._lockouts(desired, replication, tables)
        changes = [user_change(d) for d in diff.changes if d.name not in refused]
        notices += [
            Notice(
                level=NoticeLevel.ERROR,
                address=f"{USERS_PROVIDER}.{name}",
                kind="refused",
                message=why,
            )
            for name, why in refused.items()
        ]
        notices += [
            self._unlisted(name, holders, protected.get(name), delete)
            for name, holders in diff.unmanaged
        ]
        return ProviderPlan(
            changes=tuple(changes),
            notices=tuple(notices),
            fingerprints=_user_fingerprints([c.address for c in changes], nodes),
        )

    def _unlisted(
        self, name: str, holders: tuple[str, ...], protected: str | None, delete: bool
    ) -> Notice:
        """The notice of a user on the nodes that the spec does not list."""
        address = f"{USERS_PROVIDER}.{name}"
        if self.deletion is not DeletionPolicy.ALLOW:
            return Notice(
                level=NoticeLevel.INFO,
                address=address,
                message=f"not in the spec (on {len(holders)} node(s)); left alone "
                "(redis.ownership.users.deletion: never)",
            )
        if protected is not None:  # refused when it would be deleted, else a warning
            return Notice(
                level=NoticeLevel.ERROR if delete else NoticeLevel.WARNING,
                address=address,
                kind="refused" if delete else "note",
                message=f"not in the spec, but it is {protected}: it is never deleted "
                "through the spec; list it in redis.users",
            )
        # The spec owns every user: one it does not list is drift.
        return unmanaged_notice(address, deletion_allowed=True, kept_because="not in the spec")

    def _lockouts(
        self,
        desired: dict[str, UserRules],
        replication: dict[str, str],
        tables: CommandTables | None,
    ) -> dict[str, str]:
        """Users whose spec would lock out the tool's login or the replicas' (refused)."""
        refused: dict[str, str] = {}
        tool = desired.get(self.tool_user)
        if tool is not None:
            sha = self.tool_sha
            if not self.tool_password_known and not tool.nopass and tool.password_hashes:
                sha = tool.password_hashes[0]  # the pod's own password: cannot be checked here
            problem = lockout_problem(tool, sha, TOOL_COMMANDS, tables)
            if problem:
                refused[self.tool_user] = (
                    f"refused: this is the tool's own connection user and {problem}; the tool "
                    "would lock itself out of the cluster"
                )
        for user, sha in replication.items():
            rules = desired.get(user)
            problem = lockout_problem(rules, sha, REPLICATION_COMMANDS, tables) if rules else None
            if problem and user not in refused:
                refused[user] = (
                    f"refused: the replicas log in as {user!r} (masteruser/masterauth) and "
                    f"{problem}; replication would break"
                )
        return refused

    async def fingerprints(self, addresses: Sequence[str]) -> dict[str, str]:
        nodes, _, _ = await self._observe()
        return _user_fingerprints(addresses, nodes)

    def check_saved(self, change: Change, redacted: str) -> None:
        step = check_payload(change, UserStep, redacted)
        expected = f"{USERS_PROVIDER}.{step.user}"
        if change.address != expected:
            raise SafetyRefusal(
                f"{change.address}: the plan's address differs from its payload ({expected}); "
                "the plan file was altered; nothing was changed",
                hint="plan again and apply the new plan file unmodified",
            )

    async def apply(self, changes: Sequence[Change], options: ApplyOptions) -> list[ChangeResult]:
        async def carry_out(change: Change) -> str:
            step = parse_payload(change, UserStep)
            if isinstance(step, DeleteUser):
                command: list[Arg] = ["ACL", "DELUSER", step.user]
            else:
                assert isinstance(step, SetUser)
                if isinstance(step.password_hashes, str):
                    raise ApplyFailed(
                        f"{change.address}: its passwords were not restored; plan again"
                    )
                command = ["ACL", "SETUSER", step.user, *step.rules().setuser_args()]
            return await self.write(change, step.nodes, command, acl=True, options=options)

        return await self.run_changes(changes, options, carry_out)


def _user_fingerprints(addresses: Sequence[str], nodes: Sequence[NodeUsers]) -> dict[str, str]:
    out: dict[str, str] = {}
    for address in addresses:
        user = address.split(".", 1)[1]
        state = {n.name: repr(n.users.get(user)) for n in nodes}
        out[address] = _digest(state)
    return out


# --------------------------------------------------------------------------- config


class RedisConfigProvider(_EveryNode):
    """``CONFIG SET`` parameters identical on every node (``redis.config``)."""

    name = CONFIG_PROVIDER
    resource_types: tuple[str, ...] = (CONFIG_PROVIDER,)
    read_hint = "the connection user needs +config (get, set, rewrite) to manage redis.config"

    def __init__(
        self,
        transport: NodeTransport,
        config: dict[str, Any],
        *,
        cluster_name: str = "redis",
    ) -> None:
        super().__init__(transport, cluster_name)
        self.config = dict(config)

    async def _read_node(self, endpoint: NodeEndpoint) -> dict[str, str]:
        names = list(self.config)
        reply = await self.transport.execute(endpoint, "CONFIG", "GET", *names)
        return config_pairs(reply)

    async def _observe(self) -> tuple[list[NodeConfig], list[Notice]]:
        found, notices = await self.each_node(self._read_node)
        return [NodeConfig(name, values) for name, values in found.items()], notices

    async def plan(self, options: PlanOptions) -> ProviderPlan:
        if not self.config:
            return ProviderPlan()
        nodes, notices = await self._observe()
        diff = diff_config(self.config, nodes)
        changes = [config_change(d) for d in diff.changes]
        notices += [
            Notice(
                level=NoticeLevel.ERROR,
                address=f"{CONFIG_PROVIDER}.{name}",
                kind="refused",
                message=f"redis.config.{name}: {why}",
            )
            for name, why in diff.refused
        ]
        return ProviderPlan(
            changes=tuple(changes),
            notices=tuple(notices),
            fingerprints=_config_fingerprints([c.address for c in changes], nodes),
        )

    async def fingerprints(self, addresses: Sequence[str]) -> dict[str, str]:
        if not self.config:
            return {}
        nodes, _ = await self._observe()
        return _config_fingerprints(addresses, nodes)

    def check_saved(self, change: Change, redacted: str) -> None:
        step = check_payload(change, SetConfig, redacted)
        if change.address != f"{CONFIG_PROVIDER}.{step.parameter}":
            raise SafetyRefusal(
                f"{change.address}: the plan's address differs from its payload; the plan file "
                "was altered; nothing was changed",
                hint="plan again and apply the new plan file unmodified",
            )

    async def apply(self, changes: Sequence[Change], options: ApplyOptions) -> list[ChangeResult]:
        async def carry_out(change: Change) -> str:
            step = parse_payload(change, SetConfig)
            command: list[Arg] = ["CONFIG", "SET", step.parameter, step.value]
            return await self.write(change, step.nodes, command, acl=False, options=options)

        return await self.run_changes(changes, options, carry_out)


def _config_fingerprints(addresses: Sequence[str], nodes: Sequence[NodeConfig]) -> dict[str, str]:
    out: dict[str, str] = {}
    for address in addresses:
        parameter = address.split(".", 1)[1]
        out[address] = _digest({n.name: n.values.get(parameter) for n in nodes})
    return out


def access_providers(
    transport: NodeTransport, redis: RedisSpec, *, cluster_name: str = "redis"
) -> list[Provider]:
    """The providers of the spec's ``redis.users`` and ``redis.config`` (those it has)."""
    from reconciler.secrets import resolve_secret

    providers: list[Provider] = []
    connection = redis.connection
    if redis.users or redis.ownership.users.deletion is DeletionPolicy.ALLOW:
        pod_env = connection.kubernetes.pod_password_env if connection.kubernetes else None
        providers.append(
            RedisUsersProvider(
                transport,
                redis.users,
                deletion=redis.ownership.users.deletion,
                tool_user=connection.username,
                tool_password=resolve_secret(connection.password, what="redis password"),
                tool_password_known=connection.password is not None or not pod_env,
                cluster_name=cluster_name,
            )
        )
    if redis.config:
        providers.append(
            RedisConfigProvider(transport, dict(redis.config), cluster_name=cluster_name)
        )
    return providers
