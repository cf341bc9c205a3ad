"""``kafka``: the imperative commands of the older tool, on the same engine.

``kafka topics create|list|describe|delete``; ``kafka verify`` and ``kafka acls`` live in
their own modules and are loaded on demand.
"""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli.common import (
    app_context,
    emit_json,
    kafka_connection_options,
    output_option,
    resolve_output,
    run,
)
from reconciler.cli.main import LazyGroup
from reconciler.errors import EXIT_OK, ApplyFailed, ReconcilerError, SafetyRefusal

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


def _spec_or_none(spec_path: str | None, env: str | None):  # type: ignore[no-untyped-def]
    if spec_path is None:
        return None
    from reconciler.spec.loading import load_spec

    return load_spec(spec_path, env=env).spec


def _overrides(bootstrap_servers: str | None):  # type: ignore[no-untyped-def]
    from reconciler.cli.targets import ConnectionOverrides

    return ConnectionOverrides(bootstrap_servers=bootstrap_servers)


def _echo_plan(plan: Any, fmt: str) -> None:
    from reconciler.cli.planning import echo_plan

    echo_plan(plan, fmt, app_context())


async def _run_topic_plan(
    spec_path: str | None,
    env: str | None,
    bootstrap: str | None,
    build: Any,
    fmt: str,
    dry_run: bool,
) -> int:
    """Plan topic changes with ``build(state) -> Plan``, show them, apply unless dry-run."""
    from reconciler.cli.progress import ConsoleProgress
    from reconciler.cli.targets import open_kafka_admin
    from reconciler.engine.applying import apply_plan
    from reconciler.engine.providers import ApplyOptions, ResultStatus
    from reconciler.providers.kafka.topics import KafkaTopicsProvider
    from reconciler.spec.models import TopicOwnership

    spec = _spec_or_none(spec_path, env)
    async with open_kafka_admin(spec, _overrides(bootstrap)) as admin:
        state = await admin.cluster_state(with_configs=True)
        plan = build(state)
        provider = KafkaTopicsProvider(admin, [], TopicOwnership())
        validation = await provider.validate_changes(plan.changes)
        plan = plan.model_copy(update={"notices": plan.notices + tuple(validation)})
        _echo_plan(plan, fmt)
        if plan.has_errors:
            raise ReconcilerError("the broker rejects the plan; nothing was changed")
        if dry_run or not plan.has_changes:
            return EXIT_OK
        results = await apply_plan(
            plan, [provider], ApplyOptions(progress=ConsoleProgress(app_context().color_enabled))
        )
        failed = [r for r in results if r.status is ResultStatus.FAILED]
        if failed:
            raise ApplyFailed("\n".join(f"{r.address}: {r.message}" for r in failed))
        if fmt == "text":
            click.echo(f"Done: {len(results)} change(s) applied.")
        return EXIT_OK


@topics.command("create")
@click.option(
    "-f",
    "--file",
    "spec_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Create the topics of this spec instead of the 14 built-in LLM topics.",
)
@click.option("--env", default=None, help="Environment overlay of the spec.")
@click.option(
    "--replication-factor",
    type=click.IntRange(min=1),
    default=None,
    help="Override the replication factor (min.insync.replicas is capped to it).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@output_option(("text", "json", "markdown"))
@kafka_connection_options
def create_topics(
    spec_path: str | None,
    env: str | None,
    replication_factor: int | None,
    dry_run: bool,
    output: str,
    json_alias: bool,
    bootstrap_servers: str | None,
) -> int:
    """Create missing topics (default: the 14 built-in LLM topics); existing ones are kept."""
    from dataclasses import replace

    from reconciler.catalog import LLM_TOPICS
    from reconciler.engine.plan import Action, Plan
    from reconciler.providers.kafka.topic_diffs import diff_topics
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

    def build(state: Any) -> Plan:
        planned = diff_topics(desired, state, TopicOwnership(), allow_delete=False)
        return Plan(changes=tuple(c for c in planned.changes if c.action is Action.CREATE))

    return run(
        _run_topic_plan(
            spec_path, env, bootstrap_servers, build, resolve_output(output, json_alias), dry_run
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
@click.option("--force", is_flag=True, help="Delete without asking (required when not a TTY).")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@output_option(("text", "json", "markdown"))
@kafka_connection_options
def delete_topics(
    names: str,
    force: bool,
    dry_run: bool,
    output: str,
    json_alias: bool,
    bootstrap_servers: str | None,
) -> int:
    """Delete the comma-separated topics NAMES (never internal topics)."""
    import sys

    from reconciler.engine.plan import Action, AttributeChange, Change, Plan, Risk
    from reconciler.providers.kafka.topic_diffs import PROVIDER, topic_address

    wanted = [n.strip() for n in names.split(",") if n.strip()]
    internal = [n for n in wanted if n.startswith("__")]
    if internal:
        raise SafetyRefusal(f"refusing to delete internal topics: {', '.join(internal)}")
    if not dry_run and not force:
        if not sys.stdin.isatty():
            raise SafetyRefusal("refusing to delete topics without --force when not interactive")
        click.confirm(f"Delete {len(wanted)} topic(s) and all their data?", abort=True, err=True)

    def build(state: Any) -> Plan:
        missing = [n for n in wanted if n not in state.topics]
        if missing:
            raise ReconcilerError(f"no such topic(s): {', '.join(missing)}")
        return Plan(
            changes=tuple(
                Change(
                    address=topic_address(n),
                    provider=PROVIDER,
                    resource_type=PROVIDER,
                    name=n,
                    action=Action.DELETE,
                    risks=frozenset({Risk.DESTRUCTIVE, Risk.DATA_LOSS}),
                    attributes=(
                        AttributeChange(path="partitions", before=state.topics[n].partition_count),
                    ),
                    reason="kafka topics delete",
                )
                for n in wanted
            )
        )

    return run(
        _run_topic_plan(
            None, None, bootstrap_servers, build, resolve_output(output, json_alias), dry_run
        )
    )


@topics.command("list")
@click.option("--llm-only", is_flag=True, help="Only the 14 built-in LLM topics.")
@click.option("--include-internal", is_flag=True, help="Also list internal topics (__*).")
@output_option()
@kafka_connection_options
def list_topics(
    llm_only: bool,
    include_internal: bool,
    output: str,
    json_alias: bool,
    bootstrap_servers: str | None,
) -> None:
    """List topics with partitions, replication factor and health."""
    from reconciler.catalog import LLM_TOPIC_NAMES
    from reconciler.cli.targets import open_kafka_admin

    async def fetch() -> Any:
        async with open_kafka_admin(None, _overrides(bootstrap_servers)) as admin:
            return await admin.cluster_state(with_configs=False)

    state = run(fetch())
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
@kafka_connection_options
def describe_topic(
    topic: str, output: str, json_alias: bool, bootstrap_servers: str | None
) -> None:
    """Partitions (leader, replicas, ISR) and configs (with their source) of TOPIC."""
    from reconciler.cli.targets import open_kafka_admin

    async def fetch() -> Any:
        async with open_kafka_admin(None, _overrides(bootstrap_servers)) as admin:
            return await admin.cluster_state(with_configs=True, topics=[topic])

    state = run(fetch())
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
