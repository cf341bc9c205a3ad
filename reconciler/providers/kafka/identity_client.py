"""Quota and SCRAM admin operations over :class:`KafkaAdmin` (every request counted).

A plan reads every quota entity with one DescribeClientQuotas request and every user's
credentials with one DescribeUserScramCredentials request, whatever their number; applies
send one AlterClientQuotas / AlterUserScramCredentials request per batch.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from aiokafka.errors import for_code

from reconciler.errors import ReconcilerError
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.providers.kafka.identity_protocol import (
    SCRAM_CODES,
    SCRAM_NAMES,
    AlterClientQuotasRequest,
    AlterUserScramCredentialsRequest,
    DescribeClientQuotasRequest,
    DescribeUserScramCredentialsRequest,
    QuotaAlteration,
    QuotaEntity,
    ScramDeletion,
    ScramUpsertion,
    quota_entries,
)
from reconciler.providers.kafka.protocol import ConfigResourceKind, DescribeConfigsRequest
from reconciler.providers.kafka.quota_diffs import normalise_entity

# Entities / credentials per alter request: one request for typical specs, bounded records
# per controller operation for huge ones.
BATCH = 1000
SALT_BYTES = 32
_HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
_RESOURCE_NOT_FOUND = 91  # DescribeUserScramCredentials: the user has no credentials


class IdentityReadFailed(ReconcilerError):
    """Quotas or SCRAM credentials could not be read (e.g. missing DESCRIBE_CONFIGS)."""


def error_text(code: int, message: str | None) -> str | None:
    if not code:
        return None
    name = for_code(code).__name__
    return f"{name}: {message}" if message else name


def salted_password(mechanism: str, password: str, salt: bytes, iterations: int) -> bytes:
    """RFC 5802 ``Hi(Normalize(password), salt, i)``: PBKDF2-HMAC with the mechanism's hash."""
    return hashlib.pbkdf2_hmac(_HASHES[mechanism], password.encode(), salt, iterations)


def scram_upsertion(
    user: str, mechanism: str, iterations: int, password: str, salt: bytes | None = None
) -> ScramUpsertion:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    return (
        user,
        SCRAM_CODES[mechanism],
        iterations,
        salt,
        salted_password(mechanism, password, salt, iterations),
    )


async def describe_quotas(admin: KafkaAdmin) -> dict[QuotaEntity, dict[str, float]]:
    """Every quota entity of the cluster and its values, in one request."""
    response = await admin.send(DescribeClientQuotasRequest())
    problem = error_text(response.error_code, response.error_message)
    if problem:
        raise IdentityReadFailed(
            f"cannot read the client quotas of {admin.endpoint}: {problem}",
            hint="the connection's principal needs DESCRIBE_CONFIGS on the cluster",
        )
    return {normalise_entity(entity): values for entity, values in quota_entries(response)}


async def alter_quotas(
    admin: KafkaAdmin, alterations: Sequence[QuotaAlteration], *, validate_only: bool = False
) -> dict[QuotaEntity, str | None]:
    """Set/remove quota keys in batches; entity -> error message or None."""
    results: dict[QuotaEntity, str | None] = {}
    for start in range(0, len(alterations), BATCH):
        batch = list(alterations[start : start + BATCH])
        response = await admin.send(AlterClientQuotasRequest(batch, validate_only=validate_only))
        answered = {
            normalise_entity((p[0], p[1]) for p in entry[2] or ()): error_text(entry[0], entry[1])
            for entry in response.entries or ()
        }
        for entity, _ops in batch:
            results[entity] = answered.get(
                normalise_entity(entity), "the broker did not answer for this entity"
            )
    return results


async def describe_scram(admin: KafkaAdmin) -> dict[str, dict[str, int]]:
    """Every user's SCRAM mechanisms and iteration counts (never a password), one request."""
    response = await admin.send(DescribeUserScramCredentialsRequest())
    problem = error_text(response.error_code, response.error_message)
    if problem:
        raise IdentityReadFailed(
            f"cannot read the SCRAM users of {admin.endpoint}: {problem}",
            hint="the connection's principal needs DESCRIBE on the cluster",
        )
    users: dict[str, dict[str, int]] = {}
    for user, code, message, infos, _tags in response.results or ():
        if code == _RESOURCE_NOT_FOUND:
            continue
        if code:
            raise IdentityReadFailed(f"cannot read SCRAM user {user}: {error_text(code, message)}")
        users[user] = {
            SCRAM_NAMES[mechanism]: iterations
            for mechanism, iterations, _t in infos or ()
            if mechanism in SCRAM_NAMES
        }
    return users


async def alter_scram(
    admin: KafkaAdmin,
    deletions: Sequence[tuple[str, str]],
    upsertions: Sequence[ScramUpsertion],
) -> dict[str, str | None]:
    """Delete (user, mechanism) and upsert credentials; user -> error or None.

    Kafka refuses to alter a user's credentials twice in one request, so the k-th
    alteration of every user goes into round k: a user has at most two mechanisms, so at
    most two rounds (each in batches), whatever the number of users."""
    rounds: list[tuple[list[ScramDeletion], list[ScramUpsertion]]] = []
    seen: dict[str, int] = {}
    for kind, item in [("d", (u, SCRAM_CODES[m])) for u, m in deletions] + [
        ("u", u) for u in upsertions
    ]:
        index = seen.get(item[0], 0)
        seen[item[0]] = index + 1
        while len(rounds) <= index:
            rounds.append(([], []))
        if kind == "d":
            rounds[index][0].append(item)  # type: ignore[arg-type]
        else:
            rounds[index][1].append(item)  # type: ignore[arg-type]
    results: dict[str, str | None] = {}
    for round_deletions, round_upsertions in rounds:
        items = [(d, None) for d in round_deletions] + [(None, u) for u in round_upsertions]
        for start in range(0, len(items), BATCH):
            batch = items[start : start + BATCH]
            request = AlterUserScramCredentialsRequest(
                [d for d, _ in batch if d is not None], [u for _, u in batch if u is not None]
            )
            response = await admin.send(request)
            for user, code, message, _tags in response.results or ():
                results[user] = results.get(user) or error_text(code, message)
    return results


async def super_users(admin: KafkaAdmin, broker_id: int) -> frozenset[str]:
    """The user names in the broker's ``super.users`` (``User:name;...``), one request."""
    request = DescribeConfigsRequest([(ConfigResourceKind.BROKER, str(broker_id), ["super.users"])])
    response = await admin.send(request, node_id=broker_id)
    names: set[str] = set()
    for code, message, _kind, _name, entries in response.resources(frozenset({"super.users"})):
        if code:
            raise IdentityReadFailed(
                f"cannot read super.users of broker {broker_id}: {error_text(code, message)}; "
                "without it the tool cannot tell which users must not change",
                hint="the connection's principal needs DESCRIBE_CONFIGS on the cluster",
            )
        for key, value, *_ in entries:
            if key == "super.users" and value:
                for principal in value.split(";"):
                    kind, _, name = principal.strip().partition(":")
                    if kind == "User" and name:
                        names.add(name)
    return frozenset(names)
