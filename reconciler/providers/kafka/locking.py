"""The apply lock of a Kafka cluster: a consumer group with one lock holder.

The lock is the classic group ``llm-analytics-apply-lock`` (protocol type
``llm-analytics-lock``), run by the cluster's group coordinator:

- **Atomic**: the coordinator serialises JoinGroup/SyncGroup; in every generation exactly one
  member (the leader) computes the assignment, and every member receives the same decision
  through SyncGroup: which member holds the lock.
- **Expiring**: a member that stops heartbeating is removed by the coordinator after the
  session timeout (the lock's TTL), measured by the broker's clock, not ours. A crashed run
  therefore frees the lock within the TTL; a clean run leaves the group (LeaveGroup).
- **Named holder**: every member's JoinGroup metadata carries its :class:`LockOwner`, and the
  assignment repeats the holder's; DescribeGroups shows both to a waiting run without it
  joining the group (so waiting never disturbs the holder).
- **Fencing token**: the group generation in which the holder got the lock.
- **Takeover of a dead holder**: a waiting run on the holder's host that proves it dead
  (:func:`reconciler.engine.locking.holder_is_provably_dead`) removes exactly that member
  with LeaveGroup (by member id) and joins, instead of waiting for its session timeout.

A waiting run only joins when the group is Empty/Dead. Two runs that join at the same moment
end up in one generation (or two consecutive ones); the leader's rule keeps the lock with a
member that already holds it, else gives it to the earliest requester, and the others leave.
While it holds the lock, a run heartbeats every few seconds; when the coordinator announces
a rebalance (someone joined), it rejoins claiming the lock, and keeps it.

The lock uses its own connection: JoinGroup waits at the coordinator until the rebalance
completes, and a broker answers one request per connection at a time, so sharing the
admin connection of the apply would stall it. See docs/locking.md for the evaluation of the
alternatives (a lock topic created with CreateTopics).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.errors import for_code
from aiokafka.protocol.admin import DescribeGroupsRequest
from aiokafka.protocol.coordination import FindCoordinatorRequest
from aiokafka.protocol.group import (
    HeartbeatRequest,
    JoinGroupRequest,
    LeaveGroupRequest,
    SyncGroupRequest,
)
from msgspec import Struct

from reconciler.engine.locking import (
    DEFAULT_TTL_SECONDS,
    LockAttempt,
    LockLost,
    LockOwner,
    LockUnavailable,
)
from reconciler.engine.polling import retries
from reconciler.errors import ConnectionFailure, ReconcilerError
from reconciler.providers.kafka.client import KafkaAdmin, connection_settings
from reconciler.spec.models import KafkaConnection

log = logging.getLogger(__name__)

LOCK_GROUP = "llm-analytics-apply-lock"
PROTOCOL_TYPE = "llm-analytics-lock"
PROTOCOL_NAME = "lock-v1"
FORMAT_VERSION = 1

# Kafka error codes the lock handles by name.
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16
ILLEGAL_GENERATION = 22
UNKNOWN_MEMBER_ID = 25
REBALANCE_IN_PROGRESS = 27
GROUP_AUTHORIZATION_FAILED = 30
MEMBER_ID_REQUIRED = 79
FENCED_INSTANCE_ID = 82
_COORDINATOR_MOVED = {COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR}
# How long a group coordinator that is moving or still loading is waited for.
COORDINATOR_WAIT_SECONDS = 60.0
_MEMBER_GONE = {UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID}

# The broker accepts session timeouts between group.min.session.timeout.ms (default 6 s)
# and group.max.session.timeout.ms (default 30 min).
MIN_TTL_SECONDS = 6.0
MAX_TTL_SECONDS = 1800.0
_JOIN_ATTEMPTS = 20
_TAKEOVER_POLLS = 25


def _error_name(code: int) -> str:
    return for_code(code).__name__


# --------------------------------------------------------------------------- pure parts


class Claim(Struct, frozen=True):
    """What one member says in its JoinGroup metadata: who it is and whether it holds."""

    owner: LockOwner
    held_token: int | None = None


class Decision(Struct, frozen=True):
    """The leader's assignment, the same for every member of a generation."""

    holder_member_id: str
    owner: LockOwner | None
    token: int


def encode_claim(claim: Claim) -> bytes:
    return json.dumps(
        {"v": FORMAT_VERSION, "owner": claim.owner.to_dict(), "held_token": claim.held_token},
        sort_keys=True,
    ).encode()


def decode_claim(data: bytes | None) -> Claim | None:
    """A member's claim; ``None`` for metadata this tool did not write."""
    try:
        body = json.loads(data or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    owner = LockOwner.from_dict(body.get("owner"))
    if owner is None:
        return None
    token = body.get("held_token")
    return Claim(owner, token if isinstance(token, int) else None)


def encode_decision(decision: Decision) -> bytes:
    return json.dumps(
        {
            "v": FORMAT_VERSION,
            "holder": decision.holder_member_id,
            "owner": decision.owner.to_dict() if decision.owner else None,
            "token": decision.token,
        },
        sort_keys=True,
    ).encode()


def decode_decision(data: bytes | None) -> Decision | None:
    try:
        body = json.loads(data or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("holder"), str):
        return None
    token = body.get("token")
    return Decision(
        body["holder"],
        LockOwner.from_dict(body.get("owner")),
        token if isinstance(token, int) else -1,
    )


def choose_holder(members: Sequence[tuple[str, Claim | None]], generation: int) -> Decision:
    """The leader's rule, deterministic for any member order.

    A member that already holds the lock keeps it (the oldest token if, against the rules,
    several claim it); otherwise the earliest requester gets it with the current generation
    as its fencing token. Members with unreadable metadata never get it.
    """
    readable = [(member_id, claim) for member_id, claim in members if claim is not None]
    if not readable:
        raise LockUnavailable("no member of the lock group speaks this tool's lock protocol")
    holding = [
        (claim.held_token, member_id, claim)
        for member_id, claim in readable
        if claim.held_token is not None
    ]
    if holding:
        token, member_id, claim = min(holding, key=lambda item: (item[0], item[1]))
        return Decision(member_id, claim.owner, int(token))
    member_id, claim = min(readable, key=lambda item: (item[1].owner.started_at, item[0]))
    return Decision(member_id, claim.owner, generation)


class GroupView(Struct, frozen=True):
    """DescribeGroups of the lock group, reduced to what a waiting run needs."""

    state: str
    protocol_type: str
    holder: LockOwner | None
    members: int
    holder_member_id: str = ""  # the holder's member id, when the group is Stable
    member_ids: tuple[str, ...] = ()


def group_view(
    state: str,
    protocol_type: str,
    members: Sequence[tuple[bytes | None, bytes | None]],
    member_ids: Sequence[str] = (),
) -> GroupView:
    """The holder from members' (metadata, assignment): the assignment names it once the
    group is Stable; before that, a lone member's own claim is the best guess.
    ``member_ids`` (in the order of ``members``) let the view name the holder's member."""
    holder: LockOwner | None = None
    holder_member_id = ""
    for _, assignment in members:
        decision = decode_decision(assignment)
        if decision is not None and decision.owner is not None:
            holder = decision.owner
            holder_member_id = decision.holder_member_id
            break
    if holder is None and len(members) == 1:
        claim = decode_claim(members[0][0])
        holder = claim.owner if claim is not None else None
        holder_member_id = member_ids[0] if member_ids and holder is not None else ""
    if holder_member_id and member_ids and holder_member_id not in member_ids:
        holder_member_id = ""  # the assignment names a member that has left
    return GroupView(
        state or "", protocol_type or "", holder, len(members), holder_member_id, tuple(member_ids)
    )


# --------------------------------------------------------------------------- the backend


class KafkaGroupLock:
    """The apply lock of one Kafka cluster (see the module docstring)."""

    lock_order = 10

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        group: str = LOCK_GROUP,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
    ) -> None:
        if not MIN_TTL_SECONDS <= ttl_seconds <= MAX_TTL_SECONDS:
            raise ReconcilerError(
                f"a Kafka lock TTL must lie between {MIN_TTL_SECONDS:g}s and "
                f"{MAX_TTL_SECONDS:g}s (the brokers' session timeout bounds), got {ttl_seconds:g}s"
            )
        self.group = group
        self.ttl_seconds = ttl_seconds
        # Frequent heartbeats: a rebalance started by a waiting run is answered at once.
        self.renew_interval = max(1.0, min(3.0, ttl_seconds / 10))
        self._session_ms = int(ttl_seconds * 1000)
        self._rebalance_ms = int(ttl_seconds * 1000)
        settings = dict(settings)
        # JoinGroup may wait for the rebalance at the coordinator; never time out before it.
        settings["request_timeout_ms"] = max(
            int(settings.get("request_timeout_ms", 30_000)), self._rebalance_ms + 10_000
        )
        self._settings = settings
        self.endpoint = str(settings["bootstrap_servers"])
        self.description = f"Kafka consumer group {group} on {self.endpoint}"
        self._admin: KafkaAdmin | None = None
        self._coordinator: int | None = None
        self._member_id = ""
        self._generation = -1
        self._owner: LockOwner | None = None
        self._token: int | None = None

    @classmethod
    def from_connection(
        cls,
        connection: KafkaConnection | None,
        bootstrap_override: str | None = None,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        group: str = LOCK_GROUP,
    ) -> KafkaGroupLock:
        """The lock for the spec's (or the overridden) cluster, with the same credentials."""
        return cls(
            connection_settings(connection, bootstrap_override),
            group=group,
            ttl_seconds=ttl_seconds,
        )

    @property
    def held(self) -> bool:
        return self._token is not None

    @property
    def token(self) -> int | None:
        return self._token

    # ------------------------------------------------------------------ requests

    async def _client(self) -> KafkaAdmin:
        if self._admin is None:
            admin = KafkaAdmin(self._settings)
            await admin.start()
            self._admin = admin
        return self._admin

    async def _find_coordinator(self) -> int:
        admin = await self._client()
        async for _ in retries(timeout=COORDINATOR_WAIT_SECONDS, interval=0.25):
            response = await admin.send(FindCoordinatorRequest(self.group, 0))
            if not response.error_code:
                return int(response.coordinator_id)
            if response.error_code == GROUP_AUTHORIZATION_FAILED:
                raise self._denied()
            if response.error_code not in _COORDINATOR_MOVED:
                raise ReconcilerError(
                    f"FindCoordinator for the lock group {self.group}: "
                    f"{_error_name(response.error_code)}"
                )
            # The coordinator (and __consumer_offsets) may still be starting: try again.
        raise ConnectionFailure(
            self.endpoint,
            f"no group coordinator for {self.group} is available",
            hint="check broker health",
        )

    def _denied(self) -> ReconcilerError:
        return ReconcilerError(
            f"not authorized to use the consumer group {self.group} (the apply lock)",
            hint=f"grant this principal READ and DESCRIBE on GROUP {self.group}, or use --no-lock",
        )

    async def _send(self, request: Any) -> Any:
        """A request to the group coordinator. When the coordinator's connection fails
        (broker down, connection dropped), the coordinator is looked up again once (another
        broker takes the group over) and the request goes there, as after NOT_COORDINATOR."""
        admin = await self._client()
        if self._coordinator is None:
            self._coordinator = await self._find_coordinator()
        try:
            return await admin.send(request, node_id=self._coordinator)
        except ConnectionFailure as problem:
            if problem.kind != "request":
                raise
            log.warning(
                "the lock group's coordinator (broker %s) failed: %s; looking it up again",
                self._coordinator,
                problem.reason,
            )
            self._coordinator = await self._find_coordinator()
            return await admin.send(request, node_id=self._coordinator)

    async def describe(self) -> GroupView:
        """The lock group as DescribeGroups shows it (no membership needed).

        A fresh cluster creates ``__consumer_offsets`` on the first group request and loads
        it for a while (COORDINATOR_LOAD_IN_PROGRESS): that is waited out, bounded."""
        async for _ in retries(timeout=COORDINATOR_WAIT_SECONDS, interval=0.25):
            response = await self._send(DescribeGroupsRequest([self.group]))
            for entry in response.groups:
                error_code, state, protocol_type, members = entry[0], entry[2], entry[3], entry[5]
                if error_code in _COORDINATOR_MOVED:
                    self._coordinator = None
                    break
                if error_code == GROUP_AUTHORIZATION_FAILED:
                    raise self._denied()
                if error_code == 69:  # GROUP_ID_NOT_FOUND: nobody holds it
                    return GroupView("Dead", "", None, 0)
                if error_code:
                    raise ReconcilerError(f"DescribeGroups {self.group}: {_error_name(error_code)}")
                return group_view(
                    state, protocol_type, [(m[3], m[4]) for m in members], [m[0] for m in members]
                )
        raise ConnectionFailure(self.endpoint, f"cannot describe the lock group {self.group}")

    async def _join(self, owner: LockOwner) -> Decision:
        """Join (or rejoin) and return this generation's decision."""
        async for attempt in retries(attempts=_JOIN_ATTEMPTS):
            claim = encode_claim(Claim(owner, self._token))
            join = await self._send(
                JoinGroupRequest(
                    self.group,
                    self._session_ms,
                    self._rebalance_ms,
                    self._member_id,
                    None,  # null: a dynamic member, never a static one
                    PROTOCOL_TYPE,
                    [(PROTOCOL_NAME, claim)],
                )
            )
            code = join.error_code
            if code == MEMBER_ID_REQUIRED:
                self._member_id = join.member_id
                continue
            if code in _MEMBER_GONE:
                self._member_lost(code)
                self._member_id = ""
                continue
            if code == REBALANCE_IN_PROGRESS:
                attempt.retry_in(0.1)
                continue
            if code in _COORDINATOR_MOVED:
                self._coordinator = None
                attempt.retry_in(0.25)
                continue
            if code == GROUP_AUTHORIZATION_FAILED:
                raise self._denied()
            if code:
                raise ReconcilerError(f"JoinGroup {self.group}: {_error_name(code)}")
            self._member_id, self._generation = join.member_id, join.generation_id
            assignments: list[tuple[str, bytes]] = []
            if join.leader_id == join.member_id:
                members = [(m[0], decode_claim(m[-1])) for m in join.members]
                decision = choose_holder(members, join.generation_id)
                payload = encode_decision(decision)
                assignments = [(member_id, payload) for member_id, _ in members]
            sync = await self._send(
                SyncGroupRequest(
                    self.group,
                    self._generation,
                    self._member_id,
                    None,
                    assignments,
                )
            )
            code = sync.error_code
            if code in (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION):
                continue  # someone joined meanwhile: join the next generation
            if code == UNKNOWN_MEMBER_ID:
                self._member_lost(code)
                self._member_id = ""
                continue
            if code in _COORDINATOR_MOVED:
                self._coordinator = None
                continue
            if code:
                raise ReconcilerError(f"SyncGroup {self.group}: {_error_name(code)}")
            decision_or_none = decode_decision(sync.member_assignment)
            if decision_or_none is None:
                raise LockUnavailable(
                    f"the lock group {self.group} holds an assignment this "
                    "tool cannot read (is another program using it?)"
                )
            return decision_or_none
        raise ReconcilerError(
            f"could not join the lock group {self.group} after "
            f"{_JOIN_ATTEMPTS} attempts (it keeps rebalancing)"
        )

    def _member_lost(self, code: int) -> None:
        if self._token is not None:
            self._token = None
            raise LockLost(
                f"the group coordinator dropped this run from {self.group} "
                f"({_error_name(code)}): its session expired"
            )

    async def _leave(self) -> None:
        if not self._member_id:
            return
        member_id, self._member_id = self._member_id, ""
        try:
            await self._send(LeaveGroupRequest(self.group, member_id))
        except Exception as problem:  # the session timeout removes it anyway
            log.debug("LeaveGroup %s failed: %s", self.group, problem)

    # ------------------------------------------------------------------ LockBackend

    async def try_acquire(self, owner: LockOwner) -> LockAttempt:
        view = await self.describe()
        if view.protocol_type and view.protocol_type != PROTOCOL_TYPE:
            raise LockUnavailable(
                f"the consumer group {self.group} exists with protocol type "
                f"{view.protocol_type!r}; another program uses the lock group's name"
            )
        if view.state == "Stable" and view.members:
            return LockAttempt(
                False,
                holder=view.holder,
                detail="" if view.holder else "holder not readable",
                observed=view.holder_member_id or None,
            )
        if view.state in ("PreparingRebalance", "CompletingRebalance"):
            return LockAttempt(False, holder=view.holder, detail="the lock group is rebalancing")
        decision = await self._join(owner)
        if decision.holder_member_id == self._member_id:
            self._owner, self._token = owner, decision.token
            return LockAttempt(True, token=decision.token)
        await self._leave()
        return LockAttempt(False, holder=decision.owner)

    async def take_over(self, owner: LockOwner, stale: LockAttempt) -> LockAttempt:
        """Remove a provably dead holder from the group (LeaveGroup naming its member id,
        which the coordinator accepts from any client), then take the lock as usual.

        Only that member is removed; if it already left, or someone else got the lock
        first, the group protocol decides as always and we wait.
        """
        member_id = stale.observed
        if not isinstance(member_id, str) or not member_id:
            return stale
        response = await self._send(LeaveGroupRequest(self.group, member_id))
        code = response.error_code
        if code == GROUP_AUTHORIZATION_FAILED:
            raise self._denied()
        if code in _COORDINATOR_MOVED:
            self._coordinator = None
            return LockAttempt(False, holder=stale.holder, detail="the coordinator moved")
        if code and code != UNKNOWN_MEMBER_ID:
            raise ReconcilerError(f"LeaveGroup {self.group} (takeover): {_error_name(code)}")
        attempt = stale
        # Until the coordinator has completed the dead member's exit, the group rebalances.
        async for _ in retries(attempts=_TAKEOVER_POLLS, interval=0.2):
            attempt = await self.try_acquire(owner)
            if attempt.acquired or attempt.detail != "the lock group is rebalancing":
                return attempt
        return attempt

    async def renew(self) -> None:
        if self._token is None or self._owner is None:
            raise LockLost(f"{self.group} is not held")
        response = await self._send(HeartbeatRequest(self.group, self._generation, self._member_id))
        code = response.error_code
        if not code:
            return
        if code == REBALANCE_IN_PROGRESS:
            decision = await self._join(self._owner)
            if decision.holder_member_id != self._member_id:
                self._token = None
                who = decision.owner.describe() if decision.owner else "another member"
                raise LockLost(f"the lock group {self.group} gave the lock to {who}")
            return
        if code in _MEMBER_GONE:
            self._member_lost(code)
        if code in _COORDINATOR_MOVED:
            self._coordinator = None
        raise ReconcilerError(f"Heartbeat {self.group}: {_error_name(code)}")

    async def release(self) -> None:
        self._token = None
        await self._leave()

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()


__all__ = [
    "LOCK_GROUP",
    "PROTOCOL_TYPE",
    "Claim",
    "Decision",
    "GroupView",
    "KafkaGroupLock",
    "choose_holder",
    "decode_claim",
    "decode_decision",
    "encode_claim",
    "encode_decision",
    "group_view",
]
