"""Pure diff of desired SCRAM users against live credentials: (desired, live) -> plan.

Kafka shows which mechanisms a user has and their iteration counts, never the password, so
the plan compares only those: a missing mechanism or a different iteration count is an
upsert; a mechanism the spec does not give is removed (destructive). A changed password is
invisible; it is applied only when asked (``rotate``: every listed user's credentials are
upserted). The plan holds the password's *reference* (env variable or file), never its value.

Users that must keep working are ``protected``: the tool's own connection user, the
brokers' super users (the inter-broker user among them) and ``ownership.users.protected``;
any change to them is refused at plan time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from typing import Any

from pydantic import Field

from reconciler.engine.payloads import Payload, change_from_payload
from reconciler.engine.plan import Action, Change, Notice, NoticeLevel, Risk, unmanaged_notice
from reconciler.engine.providers import ProviderPlan
from reconciler.model_defaults import new_dict
from reconciler.spec.kafka_identities import UserOwnership, UserSpec
from reconciler.spec.models import DeletionPolicy

PROVIDER = "kafka_user"
USERS_ADDRESS = f"{PROVIDER}.*"
# Not "password": the renderers hide attributes that look like secrets, and this is not one.
PASSWORD_ATTRIBUTE = "set_from"

# user -> {mechanism: iterations}
LiveCredentials = Mapping[str, Mapping[str, int]]


def user_address(name: str) -> str:
    return f"{PROVIDER}.{name}"


def password_reference(ref: Mapping[str, Any] | None) -> str | None:
    """How the plan shows a password: where it comes from, never what it is."""
    if not ref:
        return None
    if ref.get("fromEnv"):
        return f"env {ref['fromEnv']}"
    return f"file {ref.get('fromFile')}"


class UserPayload(Payload):
    """What apply sends for one user: mechanisms to upsert (with the password's reference)
    and mechanisms to delete."""

    name: str
    upsert: dict[str, int] = Field(default_factory=new_dict)  # mechanism -> iterations
    delete: tuple[str, ...] = ()
    # The password's reference, {"fromEnv": VAR} or {"fromFile": path}; named so that the
    # plan's redaction (keys that look like secrets) leaves the reference readable.
    source: dict[str, str] | None = None

    def displayed(self) -> dict[str, Any]:
        shown: dict[str, Any] = {f"{m}.iterations": i for m, i in sorted(self.upsert.items())}
        shown.update({f"{m}.iterations": None for m in sorted(self.delete)})
        if self.upsert:
            shown[PASSWORD_ATTRIBUTE] = password_reference(self.source)
        return shown


def _change(
    name: str,
    upsert: dict[str, int],
    delete: tuple[str, ...],
    live: Mapping[str, int] | None,
    password: dict[str, str] | None,
    reason: str,
) -> Change:
    if live is None:
        action = Action.CREATE
    elif not upsert and set(delete) == set(live):
        action = Action.DELETE
    else:
        action = Action.UPDATE
    risks = set()
    if delete:
        risks |= {Risk.DESTRUCTIVE, Risk.DISRUPTIVE}  # clients using it fail to authenticate
    if upsert and live is not None and any(m in live for m in upsert):
        risks.add(Risk.DISRUPTIVE)  # an existing credential is replaced
    before: dict[str, Any] = {f"{m}.iterations": i for m, i in (live or {}).items()}
    return change_from_payload(
        UserPayload(name=name, upsert=upsert, delete=delete, source=password),
        before=before,
        address=user_address(name),
        provider=PROVIDER,
        resource_type=PROVIDER,
        name=name,
        action=action,
        risks=frozenset(risks),
        reason=reason,
    )


def _refused(name: str, why: str) -> Notice:
    return Notice(
        level=NoticeLevel.ERROR,
        address=user_address(name),
        kind="refused",
        message=f"{why}; changing or removing its credentials could lock it out, so the "
        "tool refuses (manage it outside this spec)",
    )


def in_scope(name: str, ownership: UserOwnership) -> bool:
    return name in ownership.names or any(name.startswith(p) for p in ownership.prefixes)


def diff_users(
    desired: Sequence[UserSpec],
    live: LiveCredentials,
    ownership: UserOwnership,
    *,
    allow_delete: bool,
    rotate: Set[str] = frozenset(),
    protected: Mapping[str, str] | None = None,
) -> ProviderPlan:
    """Creations, upserts and (scoped) removals of SCRAM credentials.

    ``rotate``: users whose credentials are upserted even when they look the same (their
    password changed: ``--rotate-credentials``). ``protected``: user -> why it must not change (refused with an error notice)."""
    guard = dict(protected or {})
    guard.update({n: "it is listed in ownership.users.protected" for n in ownership.protected})
    changes: list[Change] = []
    notices: list[Notice] = []
    seen: set[str] = set()
    for user in sorted(desired, key=lambda u: u.name):
        if user.name in seen:
            notices.append(
                Notice(
                    level=NoticeLevel.ERROR,
                    address=user_address(user.name),
                    kind="validation",
                    message="kafka.users: this user is listed twice",
                )
            )
            continue
        seen.add(user.name)
        current = live.get(user.name)
        have = dict(current or {})
        wanted = {c.mechanism.value: c.iterations for c in user.credentials}
        rotating = user.name in rotate
        upsert = {m: i for m, i in wanted.items() if rotating or have.get(m) != i}
        delete = tuple(sorted(m for m in have if m not in wanted))
        if not upsert and not delete:
            continue
        if user.name in guard:
            notices.append(_refused(user.name, guard[user.name]))
            continue
        reason = "kafka.users" + (" (--rotate-credentials)" if rotating else "")
        password = user.password.model_dump(by_alias=True, exclude_none=True)
        changes.append(_change(user.name, upsert, delete, current, password, reason))
    for name in sorted(n for n in live if n not in seen and in_scope(n, ownership)):
        if not live[name]:
            continue
        if ownership.deletion is DeletionPolicy.ALLOW and allow_delete:
            if name in guard:
                notices.append(_refused(name, guard[name]))
                continue
            reason = "ownership.users names this user and the spec does not list it"
            changes.append(_change(name, {}, tuple(sorted(live[name])), live[name], None, reason))
        else:
            notices.append(
                unmanaged_notice(
                    user_address(name),
                    deletion_allowed=ownership.deletion is DeletionPolicy.ALLOW,
                    kept_because="ownership.users names this user but the spec does not list it",
                )
            )
    return ProviderPlan(changes=tuple(changes), notices=tuple(notices))
