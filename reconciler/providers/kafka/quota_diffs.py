"""Pure diff of desired client quotas against live ones: (desired, live, ownership) -> plan.

An entity (a user, a client id, both, or an ip; ``<default>`` for a type's default) listed
in the spec is managed completely: its keys are set to the spec's values and keys the spec
does not give are removed (destructive). A live entity the spec does not list is considered
only when ownership names one of its parts; it is removed only with
``ownership.quotas.deletion: allow`` *and* ``--allow-delete``. Other entities are not
touched and not listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import Field

from reconciler.engine.payloads import Payload, change_from_payload
from reconciler.engine.plan import Action, Change, Notice, NoticeLevel, Risk, unmanaged_notice
from reconciler.engine.providers import ProviderPlan
from reconciler.model_defaults import new_dict
from reconciler.spec.kafka_identities import DEFAULT_ENTITY, QuotaOwnership, QuotaSpec
from reconciler.spec.models import DeletionPolicy

PROVIDER = "kafka_quota"
QUOTAS_ADDRESS = f"{PROVIDER}.*"
_TYPE_ORDER = {"user": 0, "client-id": 1, "ip": 2}

# ((entity type, name or None for the default entity), ...) in Kafka's order
Entity = tuple[tuple[str, str | None], ...]


def normalise_entity(parts: Iterable[tuple[str, str | None]]) -> Entity:
    """The canonical form: types in order user, client-id, ip; ``<default>`` as ``None``."""
    return tuple(
        sorted(
            ((kind, None if name == DEFAULT_ENTITY else name) for kind, name in parts),
            key=lambda part: _TYPE_ORDER.get(part[0], 9),
        )
    )


def entity_name(entity: Entity) -> str:
    """``user=alice,client-id=ingest`` (``<default>`` for a default entity)."""
    return ",".join(f"{kind}={DEFAULT_ENTITY if name is None else name}" for kind, name in entity)


def quota_address(entity: Entity) -> str:
    return f"{PROVIDER}.{entity_name(entity)}"


class QuotaPayload(Payload):
    """What apply sends for one entity: keys to set and keys to remove."""

    entity: tuple[tuple[str, str | None], ...]
    set: dict[str, float] = Field(default_factory=new_dict)
    remove: tuple[str, ...] = ()

    def displayed(self) -> dict[str, Any]:
        shown: dict[str, Any] = dict(sorted(self.set.items()))
        shown.update({key: None for key in sorted(self.remove)})
        return shown

    def operations(self) -> list[tuple[str, float, bool]]:
        """AlterClientQuotas ops: (key, value, remove)."""
        return [(k, v, False) for k, v in sorted(self.set.items())] + [
            (k, 0.0, True) for k in sorted(self.remove)
        ]


def in_scope(entity: Entity, ownership: QuotaOwnership) -> bool:
    """Whether ownership names a part of the entity (so the spec manages it unlisted)."""
    names = {
        "user": ownership.users,
        "client-id": ownership.client_ids,
        "ip": ownership.ips,
    }
    for kind, name in entity:
        listed = {None if n == DEFAULT_ENTITY else n for n in names.get(kind, ())}
        if name in listed:
            return True
    return False


def _change(
    entity: Entity, wanted: Mapping[str, float], live: Mapping[str, float] | None, reason: str
) -> Change | None:
    current = dict(live or {})
    to_set = {k: v for k, v in wanted.items() if current.get(k) != v}
    to_remove = tuple(sorted(k for k in current if k not in wanted))
    if not to_set and not to_remove:
        return None
    if live is None:
        action = Action.CREATE
    elif not wanted:
        action = Action.DELETE
    else:
        action = Action.UPDATE
    risks = set()
    if to_remove:
        risks.add(Risk.DESTRUCTIVE)
    if any(k not in current or v < current[k] for k, v in to_set.items()):
        risks.add(Risk.DISRUPTIVE)  # a new or lower limit throttles clients from now on
    return change_from_payload(
        QuotaPayload(entity=entity, set=to_set, remove=to_remove),
        before=current,
        address=quota_address(entity),
        provider=PROVIDER,
        resource_type=PROVIDER,
        name=entity_name(entity),
        action=action,
        risks=frozenset(risks),
        reason=reason,
    )


def diff_quotas(
    desired: Sequence[QuotaSpec],
    live: Mapping[Entity, Mapping[str, float]],
    ownership: QuotaOwnership,
    *,
    allow_delete: bool,
) -> ProviderPlan:
    """The changes that make the live quotas what ``desired`` asks (scoped removals)."""
    changes: list[Change] = []
    notices: list[Notice] = []
    wanted: dict[Entity, dict[str, float]] = {}
    for index, spec in enumerate(desired):
        entity = normalise_entity(spec.entity())
        if entity in wanted:
            notices.append(
                Notice(
                    level=NoticeLevel.ERROR,
                    address=quota_address(entity),
                    kind="validation",
                    message=f"kafka.quotas[{index}]: this entity is listed twice",
                )
            )
            continue
        wanted[entity] = spec.values()
    for entity in sorted(wanted, key=entity_name):
        change = _change(entity, wanted[entity], live.get(entity), "kafka.quotas")
        if change is not None:
            changes.append(change)
    for entity in sorted((e for e in live if e not in wanted), key=entity_name):
        if not in_scope(entity, ownership) or not live[entity]:
            continue
        if ownership.deletion is DeletionPolicy.ALLOW and allow_delete:
            reason = "ownership.quotas names this entity and the spec does not list it"
            change = _change(entity, {}, live[entity], reason)
            if change is not None:
                changes.append(change)
        else:
            notices.append(
                unmanaged_notice(
                    quota_address(entity),
                    deletion_allowed=ownership.deletion is DeletionPolicy.ALLOW,
                    kept_because="ownership.quotas names this entity but the spec does not list it",
                )
            )
    return ProviderPlan(changes=tuple(changes), notices=tuple(notices))
