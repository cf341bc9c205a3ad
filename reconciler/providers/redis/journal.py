"""The journal of slot moves in progress: a hash the tool owns, ``{llm-analytics}:slot-moves``.

Before a group of slots is opened for a move, each slot is recorded (``HSET slot "source
target"``, node ids); once ``SETSLOT NODE`` made the target its owner, the entries are
removed (``HDEL``). A crash in between leaves the entries: the next plan reads them and
checks those slots' keys on every master, which finds an interrupted move even when both
sides lost their MIGRATING/IMPORTING state (a restarted or failed-over node forgets it).

Next to it, ``{llm-analytics}:move-rate`` holds the rate the last measured apply's moves
achieved (:class:`~reconciler.providers.redis.pacing.MeasuredRate`): plans estimate with it
wherever they run.

The keys share the ``{llm-analytics}`` hash tag with the apply lock, so they live on one
master (and its replicas); commands follow MOVED/ASK like the lock does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.engine.polling import retries
from reconciler.providers.redis.locking import redirect_target
from reconciler.providers.redis.pacing import MeasuredRate
from reconciler.providers.redis.transports import (
    Arg,
    CommandError,
    NodeEndpoint,
    NodeTransport,
    NodeUnreachable,
    Reply,
)

JOURNAL_KEY = "{llm-analytics}:slot-moves"
RATE_KEY = "{llm-analytics}:move-rate"
_REDIRECTS = 8
# KEYS[1]: the hash; ARGV: field, value, ...: the hash holds exactly those afterwards.
_REPLACE_HASH = "redis.call('DEL', KEYS[1]) redis.call('HSET', KEYS[1], unpack(ARGV)) return 1"


class JournalUnavailable(Exception):
    """The journal could not be read or written (the message says why)."""


class MoveJournal:
    def __init__(
        self, transport: NodeTransport, key: str = JOURNAL_KEY, rate_key: str = RATE_KEY
    ) -> None:
        self.transport = transport
        self.key = key
        self.rate_key = rate_key

    async def read(self) -> dict[int, tuple[str, str]]:
        """slot -> (source id, target id) of every move recorded and not finished."""
        reply = await self._run("HGETALL", self.key)
        entries: dict[int, tuple[str, str]] = {}
        items = reply if isinstance(reply, list) else []
        for field, value in zip(items[::2], items[1::2], strict=True):
            if not isinstance(field, bytes) or not isinstance(value, bytes):
                continue
            source, _, target = value.decode(errors="replace").partition(" ")
            if field.isdigit() and source and target:
                entries[int(field)] = (source, target)
        return entries

    async def record(self, slots: Sequence[int], source: str, target: str) -> None:
        if slots:
            pairs: list[Arg] = []
            for slot in slots:
                pairs += [slot, f"{source} {target}"]
            await self._run("HSET", self.key, *pairs)

    async def clear(self, slots: Sequence[int]) -> None:
        if slots:
            await self._run("HDEL", self.key, *slots)

    async def clear_all(self, entries: Mapping[int, object]) -> None:
        await self.clear(sorted(entries))

    async def read_rate(self) -> MeasuredRate | None:
        """The rate the last measured apply's moves achieved, if one was recorded."""
        reply = await self._run("HGETALL", self.rate_key)
        items = [
            i.decode(errors="replace") if isinstance(i, bytes) else str(i)
            for i in (reply if isinstance(reply, list) else [])
        ]
        return MeasuredRate.from_fields(dict(zip(items[::2], items[1::2], strict=True)))

    async def record_rate(self, rate: MeasuredRate) -> None:
        """Replace the recorded rate by ``rate`` (one transaction: never half of each)."""
        fields: list[Arg] = [a for pair in rate.fields().items() for a in pair]
        await self._run("EVAL", _REPLACE_HASH, 1, self.rate_key, *fields)

    async def _run(self, *args: Arg) -> Reply:
        candidates = await self.transport.discover()
        if not candidates:
            raise JournalUnavailable("no Redis node found")
        endpoint: NodeEndpoint | None = None
        tried = 0
        async for attempt in retries(attempts=_REDIRECTS + len(candidates)):
            here = endpoint or candidates[tried % len(candidates)]
            try:
                return await self.transport.execute(here, *args)
            except NodeUnreachable:
                if endpoint is not None:
                    raise JournalUnavailable(
                        f"{here.address}, which serves the journal's slot, does not answer"
                    ) from None
                tried += 1
                if tried >= len(candidates):
                    raise JournalUnavailable("no Redis node answered") from None
            except CommandError as problem:
                target = redirect_target(problem)
                if problem.code == "MOVED" and target:
                    endpoint = _at(target, candidates)
                elif problem.code == "ASK" and target:
                    reply = (
                        await self.transport.pipeline(_at(target, candidates), [("ASKING",), args])
                    )[1]
                    if not isinstance(reply, CommandError):
                        return reply
                    if reply.code != "TRYAGAIN":
                        raise JournalUnavailable(reply.message) from None
                    attempt.retry_in(0.05)
                elif (
                    problem.code in ("TRYAGAIN", "CLUSTERDOWN")
                    and "not served" not in problem.message
                ):
                    attempt.retry_in(0.1)
                elif "not served" in problem.message and endpoint is None:
                    # A node outside the cluster (a bare one, not met yet) serves no slot:
                    # ask the next one rather than give up.
                    tried += 1
                    if tried >= len(candidates):
                        raise JournalUnavailable(problem.message) from None
                else:
                    raise JournalUnavailable(problem.message) from None
        raise JournalUnavailable("too many redirections")


def _at(address: str, candidates: Sequence[NodeEndpoint]) -> NodeEndpoint:
    """The discovered endpoint at ``address`` (keeps the pod name), else a direct one."""
    for endpoint in candidates:
        if endpoint.address == address:
            return endpoint
    host = address.rsplit(":", 1)[0].strip("[]")
    return NodeEndpoint(id=address, address=address, host=host)
