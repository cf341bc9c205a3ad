"""``export``: the live Kafka topics written as a spec, so that planning it shows no changes."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.common import run
from reconciler.cli.kafka import spec_connection_options


def live_topics_to_spec(
    state: Any, bootstrap_servers: str, prefixes: tuple[str, ...]
) -> dict[str, Any]:
    """A spec document (plain data) describing the non-internal topics of ``state``.

    Durations and sizes are written in the spec's humane units where one divides them
    exactly (``retention.ms: 7d``, ``segment.bytes: 1GiB``), so that the spec reads back the
    same numbers."""
    from reconciler.spec.units import humane_config_value

    topics = []
    for name in sorted(state.topics):
        topic = state.topics[name]
        if topic.internal or (prefixes and not name.startswith(prefixes)):
            continue
        entry: dict[str, Any] = {
            "name": name,
            "partitions": topic.partition_count,
            "replicationFactor": topic.replication_factor,
        }
        overrides = {
            k: humane_config_value(k, v) or v
            for k, v in sorted(topic.overrides().items())
            if v is not None
        }
        if overrides:
            entry["config"] = overrides
        topics.append(entry)
    return {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": "exported"},
        "kafka": {"connection": {"bootstrapServers": bootstrap_servers}, "topics": topics},
    }


def live_identities_to_spec(
    quotas: dict[Any, dict[str, float]], users: dict[str, dict[str, int]]
) -> dict[str, Any]:
    """``kafka.quotas`` and ``kafka.users`` (plain data) for live quota entities and SCRAM
    users. Passwords cannot be read: each user gets a ``fromEnv`` reference to fill in."""
    import re

    keys = {"user": "user", "client-id": "clientId", "ip": "ip"}
    exported_quotas = []
    for entity in sorted(quotas, key=lambda e: [(k, v or "") for k, v in e]):
        values = quotas[entity]
        if not values:
            continue
        entry: dict[str, Any] = {keys[k]: "<default>" if v is None else v for k, v in entity}
        entry["config"] = {
            k: int(v) if float(v).is_integer() else v for k, v in sorted(values.items())
        }
        exported_quotas.append(entry)
    exported_users = [
        {
            "name": name,
            "password": {
                "fromEnv": "LLM_ANALYTICS_USER_"
                + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
                + "_PASSWORD"
            },
            "credentials": [
                {"mechanism": m, "iterations": i} for m, i in sorted(users[name].items())
            ],
        }
        for name in sorted(users)
        if users[name]
    ]
    found: dict[str, Any] = {}
    if exported_quotas:
        found["quotas"] = exported_quotas
    if exported_users:
        found["users"] = exported_users
    return found


def live_brokers_to_spec(live: Any) -> dict[str, Any]:
    """``kafka.brokers`` (plain data) for the dynamic configs of the cluster default and of
    each broker (``server.properties`` values and built-in defaults are not exported).
    Secrets cannot be read: each gets a ``fromEnv`` reference to fill in."""
    import re

    from reconciler.spec.kafka_brokers import humane_broker_value

    def section(entity: int | None) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for key, entry in sorted(live.own(entity).items()):
            if entry.sensitive or entry.value is None:
                variable = re.sub(r"[^A-Za-z0-9]", "_", key).upper()
                config[key] = {"fromEnv": f"LLM_ANALYTICS_BROKER_{variable}"}
            else:
                config[key] = humane_broker_value(key, entry.value)
        return config

    found: dict[str, Any] = {}
    default = section(None)
    if default:
        found["default"] = {"config": default}
    overrides = [{"id": b, "config": c} for b in sorted(live.brokers) if (c := section(b))]
    if overrides:
        found["overrides"] = overrides
    return {"brokers": found} if found else {}


EXPORT_FORMATS = ("yaml", "json")


def _format_or_legacy_path(ctx: click.Context, _: click.Parameter, value: str) -> str:
    """``-o`` is the format (yaml, json); the old ``-o FILE`` still works, with a warning."""
    if value in EXPORT_FORMATS:
        return value
    click.echo(
        f"Warning: `export -o {value}` as the destination is deprecated; use --out {value} "
        "(-o is the format: yaml or json).",
        err=True,
    )
    ctx.meta["legacy_out"] = value
    return "yaml"


@click.command()
@spec_connection_options
@click.option(
    "-o",
    "--output",
    "output",
    default="yaml",
    show_default=True,
    callback=_format_or_legacy_path,
    metavar="[yaml|json]",
    help="Format of the exported spec.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the spec to this file (default: stdout).",
)
@click.option("--prefix", "prefixes", multiple=True, help="Only topics with this name prefix.")
@click.pass_context
def export(
    ctx: click.Context,
    spec_path: str | None,
    env: str | None,
    bootstrap_servers: str | None,
    output: str,
    out: str | None,
    prefixes: tuple[str, ...],
) -> None:
    """Write the live Kafka topics as a spec (partitions, RF, topic-level configs), with
    the client quotas, SCRAM users (passwords as fromEnv references to fill in) and the
    dynamic broker configs.

    \b
    With -f SPEC the spec's connection (SASL, TLS: references only, never a secret) is
    used and written into the exported spec.
    """
    import json

    from reconciler.cli.kafka import _overrides, _spec_or_none
    from reconciler.cli.output import echo
    from reconciler.cli.targets import open_kafka_admin

    spec = _spec_or_none(spec_path, env)
    out = out or ctx.meta.get("legacy_out")

    async def fetch() -> Any:
        async with open_kafka_admin(spec, _overrides(bootstrap_servers)) as admin:
            state = await admin.cluster_state(with_configs=True)
            return admin.endpoint, state, {**await _identities(admin), **await _brokers(admin)}

    endpoint, state, sections = run(fetch())
    document = live_topics_to_spec(state, endpoint, prefixes)
    document["kafka"].update(sections)
    if spec is not None and spec.kafka is not None:
        document["kafka"]["connection"] = spec.kafka.connection.model_dump(
            mode="json", by_alias=True, exclude_defaults=True
        )
    if output == "json":
        text = json.dumps(document, indent=2) + "\n"
    else:
        import yaml

        text = (
            "# yaml-language-server: $schema=schemas/cluster-spec.schema.json\n"
            + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
        )
    if out:
        from reconciler.engine.planfile import write_atomically

        write_atomically(out, text)
        echo(f"Wrote {len(document['kafka']['topics'])} topic(s) to {out}", err=True)
    else:
        echo(text, nl=False)


async def _identities(admin: Any) -> dict[str, Any]:
    """Live quotas and SCRAM users as spec sections; none when the principal may not read
    them (said on stderr)."""
    from reconciler.cli.output import echo
    from reconciler.providers.kafka.identity_client import (
        IdentityReadFailed,
        describe_quotas,
        describe_scram,
    )

    try:
        return live_identities_to_spec(await describe_quotas(admin), await describe_scram(admin))
    except IdentityReadFailed as problem:
        echo(f"Warning: quotas and users not exported: {problem}", err=True)
        return {}


async def _brokers(admin: Any) -> dict[str, Any]:
    """The dynamic broker configs as a spec section; none when they cannot be read."""
    from reconciler.cli.output import echo
    from reconciler.providers.kafka.broker_client import BrokerReadFailed, describe_every_broker

    try:
        return live_brokers_to_spec(await describe_every_broker(admin))
    except BrokerReadFailed as problem:
        echo(f"Warning: broker configs not exported: {problem}", err=True)
        return {}
