"""``export``: the live Kafka topics written as a spec, so that planning it shows no changes."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.common import kafka_connection_options, run


def live_topics_to_spec(
    state: Any, bootstrap_servers: str, prefixes: tuple[str, ...]
) -> dict[str, Any]:
    """A spec document (plain data) describing the non-internal topics of ``state``."""
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
        overrides = {k: v for k, v in sorted(topic.overrides().items()) if v is not None}
        if overrides:
            entry["config"] = overrides
        topics.append(entry)
    return {
        "apiVersion": "llm-analytics/v1",
        "kind": "ClusterSpec",
        "metadata": {"name": "exported"},
        "kafka": {"connection": {"bootstrapServers": bootstrap_servers}, "topics": topics},
    }


@click.command()
@kafka_connection_options
@click.option(
    "-o",
    "--output",
    "output_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the spec to this file (default: stdout).",
)
@click.option("--prefix", "prefixes", multiple=True, help="Only topics with this name prefix.")
def export(
    bootstrap_servers: str | None, output_path: str | None, prefixes: tuple[str, ...]
) -> None:
    """Write the live Kafka topics as spec YAML (partitions, RF, topic-level configs)."""
    import yaml

    from reconciler.cli.targets import ConnectionOverrides, open_kafka_admin

    async def fetch() -> Any:
        async with open_kafka_admin(None, ConnectionOverrides(bootstrap_servers)) as admin:
            return admin.endpoint, await admin.cluster_state(with_configs=True)

    endpoint, state = run(fetch())
    document = live_topics_to_spec(state, endpoint, prefixes)
    text = "# yaml-language-server: $schema=schemas/cluster-spec.schema.json\n" + yaml.safe_dump(
        document, sort_keys=False, default_flow_style=False
    )
    if output_path:
        with open(output_path, "w", encoding="utf-8") as handle:
            handle.write(text)
        click.echo(f"Wrote {len(document['kafka']['topics'])} topic(s) to {output_path}", err=True)
    else:
        click.echo(text, nl=False)
