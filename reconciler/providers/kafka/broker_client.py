"""Broker-config admin operations over :class:`KafkaAdmin` (every request counted).

A broker answers DescribeConfigs only for itself (and for the cluster default, name
``""``), so a plan sends one DescribeConfigs per broker the spec names, the default riding
along with the first; one broker is always described to learn which keys are read-only.
IncrementalAlterConfigs goes the same way: per-broker resources to their broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from reconciler.errors import ReconcilerError
from reconciler.providers.kafka.broker_diffs import Entity, LiveBrokers
from reconciler.providers.kafka.broker_protocol import (
    ELR_FEATURE,
    ApiVersionsRequest,
    finalized_features,
)
from reconciler.providers.kafka.client import KafkaAdmin
from reconciler.providers.kafka.identity_client import error_text
from reconciler.providers.kafka.protocol import (
    AlterConfigOp,
    ConfigResource,
    ConfigResourceKind,
    DescribeConfigsRequest,
    IncrementalAlterConfigsRequest,
)
from reconciler.providers.kafka.state import ConfigSource, LiveConfig

BROKER = int(ConfigResourceKind.BROKER)
# (key, value or None to delete)
Alteration = Mapping[str, str | None]


class BrokerReadFailed(ReconcilerError):
    """Broker configs could not be read (e.g. missing DESCRIBE_CONFIGS on the cluster)."""


def resource_name(entity: Entity) -> str:
    return "" if entity is None else str(entity)


async def describe_brokers(admin: KafkaAdmin, named: Sequence[int]) -> LiveBrokers:
    """The cluster default's dynamic configs, every config of the ``named`` brokers that
    exist, and one reference broker's (which keys exist, which are read-only)."""
    broker_ids = (await admin.cluster_state(with_configs=False, topics=[])).broker_ids
    present = [b for b in named if b in broker_ids]
    reference = present[0] if present else (broker_ids[0] if broker_ids else None)
    if reference is None:
        raise BrokerReadFailed(f"the cluster metadata of {admin.endpoint} lists no broker")
    requests: dict[int, list[tuple[int, str, list[str] | None]]] = {
        reference: [(BROKER, "", None), (BROKER, str(reference), None)]
    }
    for broker in present[1:]:
        requests[broker] = [(BROKER, str(broker), None)]

    async def ask(
        node: int, resources: list[tuple[int, str, list[str] | None]]
    ) -> list[ConfigResource]:
        response = await admin.send(DescribeConfigsRequest(resources), node_id=node)
        return list(response.resources(None))

    answers = await asyncio.gather(*(ask(n, r) for n, r in sorted(requests.items())))
    configs: dict[Entity, dict[str, LiveConfig]] = {}
    for answer in answers:
        for code, message, _kind, name, entries in answer:
            if code:
                raise BrokerReadFailed(
                    f"cannot read the configs of broker {name or '<default>'}: "
                    f"{error_text(code, message)}",
                    hint="the connection's principal needs DESCRIBE_CONFIGS on the cluster",
                )
            configs[None if not name else int(name)] = {
                key: LiveConfig(value, ConfigSource.of(source), sensitive, read_only)
                for key, value, read_only, source, sensitive in entries
            }
    default = configs.pop(None, {})
    reference_configs = configs.get(reference, {})
    return LiveBrokers(
        broker_ids=tuple(broker_ids),
        default=default,
        brokers={b: c for b, c in configs.items() if b in present},
        reference=reference_configs,
    )


async def elr_enabled(admin: KafkaAdmin) -> bool | None:
    """Whether eligible leader replicas (KIP-966) are on: ``None`` when unknown."""
    try:
        response = await admin.send(ApiVersionsRequest())
    except (ReconcilerError, NotImplementedError):  # a broker older than 2.4 lacks v3
        return None
    if response.error_code:
        return None
    return finalized_features(response).get(ELR_FEATURE, 0) >= 1


async def alter_brokers(
    admin: KafkaAdmin, alterations: Mapping[Entity, Alteration], *, validate_only: bool = False
) -> dict[Entity, str | None]:
    """Set (value) or delete (None) dynamic configs; entity -> error or None. Per-broker
    resources go to their broker, the cluster default with the first of them (or any)."""
    by_node: dict[int | None, list[tuple[int, str, list[tuple[str, int, str | None]]]]] = {}
    brokers = sorted(e for e in alterations if e is not None)
    for entity, keys in alterations.items():
        entries = [
            (key, int(AlterConfigOp.SET if value is not None else AlterConfigOp.DELETE), value)
            for key, value in sorted(keys.items())
        ]
        node = entity if entity is not None else (brokers[0] if brokers else None)
        by_node.setdefault(node, []).append((BROKER, resource_name(entity), entries))

    async def send(node: int | None, resources: list[object]) -> dict[Entity, str | None]:
        request = IncrementalAlterConfigsRequest(resources, validate_only)  # type: ignore[arg-type]
        response = await admin.send(request, node_id=node)
        return {
            (None if not entry[3] else int(entry[3])): error_text(entry[0], entry[1])
            for entry in response.responses
        }

    answers = await asyncio.gather(*(send(n, r) for n, r in by_node.items()))  # type: ignore[arg-type]
    results: dict[Entity, str | None] = {}
    for answer in answers:
        results.update(answer)
    for entity in alterations:
        results.setdefault(entity, "the broker did not answer for this resource")
    return results


async def describe_every_broker(admin: KafkaAdmin) -> LiveBrokers:
    """The dynamic configs of the cluster default and of every broker (``export``): one
    DescribeConfigs request per broker."""
    broker_ids = (await admin.cluster_state(with_configs=False, topics=[])).broker_ids
    return await describe_brokers(admin, broker_ids)
