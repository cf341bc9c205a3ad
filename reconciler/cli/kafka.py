"""``kafka``: the imperative commands of the older tool, on the same engine.

``kafka topics create|list|describe|delete``; ``kafka verify`` and ``kafka acls`` live in
their own modules and are loaded on demand.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.common import (
    app_context,
    emit_json,
    kafka_connection_options,
    output_option,
    resolve_output,
    run,
)
from reconciler.cli.locks import lock_options
from reconciler.cli.main import LazyGroup
from reconciler.cli.planning import auto_approve_option
from reconciler.errors import ReconcilerError, SafetyRefusal

if TYPE_CHECKING:
    from reconciler.cli.locks import LockRequest
    from reconciler.cli.running import ChangeRequest
    from reconciler.engine.providers import Provider
    from reconciler.providers.kafka.client import KafkaAdmin
    from reconciler.spec.models import ClusterSpec

KAFKA_COMMANDS = {
    "verify": "reconciler.cli.kafka_verify:verify",
    "acls": "reconciler.cli.kafka_acls:acls",
}
KAFKA_HELP = {
    "topics": "Create, list, describe and delete topics.",
    "verify": "Check cluster health: brokers, topics, replication.",
    "acls": "Create the standard ACL set of a namespace; list ACLs.",
}


@click.group(cls=LazyGroup, lazy_commands=KAFKA_COMMANDS, lazy_help=KAFKA_HELP)
def kafka() -> None:
    """Imperative Kafka commands (the engine's plan/apply underneath)."""


@kafka.group()
def topics() -> None:
    """Create, list, describe and delete topics."""


def _spec_or_none(spec_path: str | None, env: str | None):
    """The spec (secrets protected) when ``-f`` was given, else None."""
    if spec_path is None:
        return None
    from reconciler.cli.planning import load_protected

    return load_protected(spec_path, env).spec


def _overrides(bootstrap_servers: str | None):
    from reconciler.cli.targets import ConnectionOverrides

    return ConnectionOverrides(bootstrap_servers=bootstrap_servers)


def spec_connection_options(func: Any) -> Any:
    """``-f SPEC [--env E]``: connect with the spec's kafka.connection (SASL, TLS), plus
    ``--bootstrap-servers``."""
    func = kafka_connection_options(func)
    func = click.option(
        "--env", default=None, envvar="LLM_ANALYTICS_ENV", help="Environment overlay of the spec."
    )(func)
    return click.option(
        "-f",
        "--file",
        "spec_path",
        type=click.Path(dir_okay=False),
        default=None,
        envvar="LLM_ANALYTICS_SPEC",
        help="Connect with this spec's kafka.connection (bootstrap servers, SASL, TLS).",
    )(func)


async def run_kafka_changes(
    spec: ClusterSpec | None,
    bootstrap_servers: str | None,
    build: Callable[[KafkaAdmin], Provider],
    change: ChangeRequest,
    locking: LockRequest,
) -> int:
    """A command that changes the Kafka cluster alone (``kafka topics``, ``kafka acls``):
    the engine's workflow with the provider ``build(admin)`` returns, under the Kafka lock,
    on the connection the command uses."""
    from reconciler.cli.locks import kafka_lock_factory
    from reconciler.cli.running import run_changes
    from reconciler.cli.targets import open_kafka_admin

    app = app_context()
    overrides = _overrides(bootstrap_servers)
    locks = kafka_lock_factory(spec, overrides, locking, app)
    async with open_kafka_admin(spec, overrides) as admin:
        return await run_changes([build(admin)], locks, change, app)


def _read_topics(
    spec_path: str | None, env: str | None, bootstrap_servers: str | None, **read: Any
) -> Any:
    """One read of the cluster's topics (``KafkaAdmin.cluster_state(**read)``), on the
    command's connection."""
    from reconciler.cli.targets import open_kafka_admin

    spec = _spec_or_none(spec_path, env)

    async def fetch() -> Any:
        async with open_kafka_admin(spec, _overrides(bootstrap_servers)) as admin:
            return await admin.cluster_state(**read)

    return run(fetch())


@topics.command("create")
@spec_connection_options
@click.option(
    "--replication-factor",
    type=click.IntRange(min=1),
    default=None,
    help="Override the replication factor (min.insync.replicas is capped to it).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@auto_approve_option
@lock_options
@output_option(("text", "json", "markdown"))
def create_topics(
    spec_path: str | None,
    env: str | None,
    bootstrap_servers: str | None,
    replication_factor: int | None,
    dry_run: bool,
    auto_approve: bool,
    locking: Any,
    output: str,
    json_alias: bool,
) -> int:
    """Create missing topics (default: the 14 built-in LLM topics); existing ones are kept.

    \b
    With -f SPEC: the spec's topics (and its connection). Existing topics are never changed
    here (apply -f SPEC does that); how they differ from the spec is reported.
    """
    from msgspec.structs import replace

    from reconciler.catalog import LLM_TOPICS
    from reconciler.cli.running import ChangeRequest
    from reconciler.providers.kafka.topics import KafkaTopicsProvider
    from reconciler.spec.models import TopicOwnership
    from reconciler.spec.resolving import resolve_topics

    spec = _spec_or_none(spec_path, env)
    desired = resolve_topics(spec.kafka) if spec is not None and spec.kafka else list(LLM_TOPICS)
    if replication_factor is not None:
        desired = [
            replace(
                t,
                replication_factor=replication_factor,
                config=_cap_min_isr(t.config, replication_factor),
            )
            for t in desired
        ]
    change = ChangeRequest(
        auto_approve=auto_approve or not sys.stdin.isatty(),
        dry_run=dry_run,
        output=resolve_output(output, json_alias),
        done_message=lambda plan: f"Done: {plan.summary()['add']} topic(s) created.",
    )
    return run(
        run_kafka_changes(
            spec,
            bootstrap_servers,
            lambda admin: KafkaTopicsProvider(admin, desired, TopicOwnership(), create_only=True),
            change,
            locking,
        )
    )


def _cap_min_isr(config: dict[str, str], replication_factor: int) -> dict[str, str]:
    capped = dict(config)
    if "min.insync.replicas" in capped:
        capped["min.insync.replicas"] = str(
            min(int(capped["min.insync.replicas"]), replication_factor)
        )
    return capped


@topics.command("delete")
@click.argument("names")
@spec_connection_options
@click.option(
    "--force",
    is_flag=True,
    help="Delete without asking (required when not a terminal): the deletion's consent.",
)
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@lock_options
@output_option(("text", "json", "markdown"))
def delete_topics(
    names: str,
    spec_path: str | None,
    env: str | None,
    bootstrap_servers: str | None,
    force: bool,
    dry_run: bool,
    locking: Any,
    output: str,
    json_alias: bool,
) -> int:
    """Delete the comma-separated topics NAMES (never internal topics).

    \b
    The desired state is "these topics absent": the plan lists each deletion, a missing
    topic is an error (exit 1). Without --force it asks on a terminal and is refused (exit
    3) elsewhere.
    """
    from reconciler.cli.running import ChangeRequest
    from reconciler.engine.risk import Consent
    from reconciler.providers.kafka.topics import KafkaTopicsProvider
    from reconciler.spec.models import DeletionPolicy, TopicOwnership

    wanted = [n.strip() for n in names.split(",") if n.strip()]
    internal = [n for n in wanted if n.startswith("__")]
    if internal:
        raise SafetyRefusal(f"refusing to delete internal topics: {', '.join(internal)}")
    interactive = sys.stdin.isatty()
    # The command names the topics; --force (or "yes" on a terminal) is the consent.
    consents = frozenset({Consent.DELETE}) if force or interactive or dry_run else frozenset()
    change = ChangeRequest(
        consents=consents,
        auto_approve=force,
        dry_run=dry_run,
        output=resolve_output(output, json_alias),
        prompt=f"Delete {len(wanted)} topic(s) and all their data? Only 'yes' will be accepted",
        consent_names={"--allow-delete": "--force"},
        plan_deletions=True,
        done_message=lambda plan: f"Done: {plan.summary()['destroy']} topic(s) deleted.",
    )
    scope = TopicOwnership(names=wanted, deletion=DeletionPolicy.ALLOW)
    return run(
        run_kafka_changes(
            _spec_or_none(spec_path, env),
            bootstrap_servers,
            lambda admin: KafkaTopicsProvider(admin, [], scope, required=wanted),
            change,
            locking,
        )
    )


@topics.command("list")
@click.option("--llm-only", is_flag=True, help="Only the 14 built-in LLM topics.")
@click.option("--include-internal", is_flag=True, help="Also list internal topics (__*).")
@output_option()
@spec_connection_options
def list_topics(
    llm_only: bool,
    include_internal: bool,
    output: str,
    json_alias: bool,
    spec_path: str | None,
    env: str | None,
    bootstrap_servers: str | None,
) -> None:
    """List topics with partitions, replication factor and health."""
    from reconciler.catalog import LLM_TOPIC_NAMES

    state = _read_topics(spec_path, env, bootstrap_servers, with_configs=False)
    rows = []
    for name in sorted(state.topics):
        topic = state.topics[name]
        if (llm_only and name not in LLM_TOPIC_NAMES) or (topic.internal and not include_internal):
            continue
        rows.append(
            {
                "name": name,
                "partitions": topic.partition_count,
                "replication_factor": topic.replication_factor,
                "under_replicated_partitions": sum(p.under_replicated for p in topic.partitions),
                "offline_partitions": sum(p.offline for p in topic.partitions),
                "internal": topic.internal,
            }
        )
    if resolve_output(output, json_alias) == "json":
        emit_json({"format_version": "1.0", "topics": rows})
        return
    from reconciler.cli.tables import print_table

    print_table(
        ["Topic", "Partitions", "RF", "Under-replicated", "Offline"],
        [
            [
                r["name"],
                r["partitions"],
                r["replication_factor"],
                r["under_replicated_partitions"],
                r["offline_partitions"],
            ]
            for r in rows
        ],
        title=f"{len(rows)} topic(s)",
    )


@topics.command("describe")
@click.argument("topic")
@output_option()
@spec_connection_options
def describe_topic(
    topic: str,
    output: str,
    json_alias: bool,
    spec_path: str | None,
    env: str | None,
    bootstrap_servers: str | None,
) -> None:
    """Partitions (leader, replicas, ISR) and configs (with their source) of TOPIC."""
    state = _read_topics(spec_path, env, bootstrap_servers, with_configs=True, topics=[topic])
    live = state.topics.get(topic)
    if live is None:
        raise ReconcilerError(f"no such topic: {topic}")
    partitions = [
        {
            "partition": p.partition,
            "leader": p.leader,
            "replicas": list(p.replicas),
            "isr": list(p.isr),
            "offline_replicas": list(p.offline_replicas),
        }
        for p in live.partitions
    ]
    configs = {
        key: {
            "value": None if c.sensitive else c.value,
            "source": c.source.name,
            "sensitive": c.sensitive,
        }
        for key, c in sorted(live.configs.items())
    }
    if resolve_output(output, json_alias) == "json":
        emit_json(
            {
                "format_version": "1.0",
                "name": topic,
                "internal": live.internal,
                "partitions": partitions,
                "replication_factor": live.replication_factor,
                "configs": configs,
            }
        )
        return
    from reconciler.cli.tables import print_table

    click.echo(
        f"Topic: {topic}  partitions: {live.partition_count}  "
        f"replication factor: {live.replication_factor}"
    )
    print_table(
        ["Partition", "Leader", "Replicas", "ISR"],
        [
            [
                p["partition"],
                p["leader"],
                ",".join(map(str, p["replicas"])),
                ",".join(map(str, p["isr"])),
            ]
            for p in partitions
        ],
    )
    overrides = {k: v for k, v in configs.items() if v["source"] != "DEFAULT_CONFIG"}
    print_table(
        ["Config", "Value", "Source"],
        [
            [k, "(sensitive)" if v["sensitive"] else v["value"], v["source"]]
            for k, v in overrides.items()
        ],
        title="Configs not at their default",
    )
