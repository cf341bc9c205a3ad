"""Replication credentials: will a new replica be able to log in on its master?

A replica of a password-protected master needs ``masterauth`` (and ``masteruser`` when it
logs in as an ACL user); without it ``CLUSTER REPLICATE`` succeeds, the node shows up as a
replica, and its link stays down for ever (``master_link_status:down``, ``NOAUTH`` in its
log): a replica that never syncs and cannot fail over. Before a node is made a replica the
provider checks, with what the nodes report about themselves:

- the replica's ``CONFIG GET masteruser`` / ``masterauth`` (the value is only hashed here:
  never logged, never stored);
- the master's ``ACL GETUSER <masteruser or default>``: the user must exist and be ``on``;
  ``nopass`` needs nothing, otherwise the SHA-256 of ``masterauth`` must be one of the user's
  password hashes (which is what ``ACL GETUSER`` lists).

When a node does not let us look (``CONFIG`` renamed or not permitted, no ``ACL`` before
Redis 6) the check is skipped: the replica's link is then the only witness. Nothing is ever
changed here; a mismatch is refused with a message saying what to set.
"""

from __future__ import annotations

import hashlib
import logging

from reconciler.errors import ApplyFailed
from reconciler.providers.redis.replies import reply_text
from reconciler.providers.redis.transports import (
    CommandError,
    NodeEndpoint,
    NodeTransport,
    Reply,
)

log = logging.getLogger(__name__)


class ReplicationAuthError(ApplyFailed):
    """A replica would not be able to authenticate to its master."""


def _config_value(reply: Reply) -> str | None:
    """``CONFIG GET name`` → its value ("" when unset); None when the reply is empty."""
    if isinstance(reply, list) and len(reply) >= 2:
        return reply_text(reply[1])
    return None


def _words(value: Reply) -> set[str]:
    return {reply_text(item) for item in value} if isinstance(value, list) else set()


def _fields(reply: Reply) -> dict[str, Reply]:
    """``ACL GETUSER`` (RESP2: a flat name/value list) → dict."""
    if not isinstance(reply, list):
        return {}
    return {reply_text(reply[i]): reply[i + 1] for i in range(0, len(reply) - 1, 2)}


async def check_replication_auth(
    transport: NodeTransport, replica: NodeEndpoint, master: NodeEndpoint
) -> None:
    """Raise :class:`ReplicationAuthError` when ``replica`` could not log in on ``master``."""
    try:
        user_reply = await transport.execute(replica, "CONFIG", "GET", "masteruser")
        auth_reply = await transport.execute(replica, "CONFIG", "GET", "masterauth")
    except CommandError as problem:
        log.debug("cannot read masterauth of %s (%s); not checked", replica.id, problem.code)
        return
    masteruser = _config_value(user_reply) or ""
    masterauth = _config_value(auth_reply)
    if masterauth is None:
        return
    user = masteruser or "default"
    try:
        acl = await transport.execute(master, "ACL", "GETUSER", user)
    except CommandError as problem:
        log.debug("cannot read ACL user %s of %s (%s); not checked", user, master.id, problem.code)
        return
    where = f"{replica.address} (replica of {master.address})"
    if acl is None:
        raise ReplicationAuthError(
            f"{where}: its masteruser {user!r} does not exist on the master, so replication "
            "cannot log in; create the user on every node (with +psync +replconf +ping) or set "
            "masteruser/masterauth on the replica to an existing user, then apply again"
        )
    fields = _fields(acl)
    flags = _words(fields.get("flags"))
    if "off" in flags:
        raise ReplicationAuthError(
            f"{where}: the master's user {user!r}, which the replica logs in as "
            f"({'masteruser' if masteruser else 'no masteruser: the default user'}), is "
            "switched off; set masteruser (and masterauth) on the replica to an enabled "
            "replication user, then apply again"
        )
    if "nopass" in flags:
        return
    hashes = {h.lower() for h in _words(fields.get("passwords"))}
    if not masterauth:
        raise ReplicationAuthError(
            f"{where}: the master requires a password for user {user!r} but the replica has "
            "no masterauth, so it could never sync (master_link_status:down) nor fail over. "
            "Set masterauth (and masteruser for an ACL user) in the replica's configuration "
            "(the common charts set it from the same secret as requirepass), then apply again"
        )
    if hashes and hashlib.sha256(masterauth.encode()).hexdigest() not in hashes:
        raise ReplicationAuthError(
            f"{where}: the replica's masterauth is not a password of user {user!r} on the "
            "master, so replication would fail with WRONGPASS; fix masterauth on the replica "
            "(or masteruser), then apply again"
        )


__all__ = ["ReplicationAuthError", "check_replication_auth"]
