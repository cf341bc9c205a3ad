"""``kafka verify``: one look at a cluster's health, judged by the pure rules of
:mod:`reconciler.providers.kafka.health`.

Exit codes: 0 healthy, 2 unhealthy, 1 could not check (e.g. unreachable).
"""

from __future__ import annotations

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
from reconciler.errors import EXIT_FOUND, EXIT_OK

if TYPE_CHECKING:
    from reconciler.providers.kafka.health import HealthReport
    from reconciler.spec.models import ClusterSpec


def load_optional_spec(spec_path: str | None, env: str | None) -> ClusterSpec | None:
    """The spec at ``spec_path`` (with its ``--env`` overlay), or None without a path."""
    if spec_path is None:
        return None
    from reconciler.cli.planning import load_protected

    return load_protected(spec_path, env).spec


async def _check(
    spec: ClusterSpec | None, bootstrap_servers: str | None, expected_brokers: int | None
) -> HealthReport:
    from reconciler.catalog import LLM_TOPIC_NAMES
    from reconciler.cli.targets import ConnectionOverrides, open_kafka_admin
    from reconciler.providers.kafka.health import MIN_ISR_KEY, judge_health, spec_drift
    from reconciler.spec.resolving import resolve_topics

    kafka = spec.kafka if spec is not None else None
    desired = resolve_topics(kafka) if kafka is not None else []
    keys = frozenset({MIN_ISR_KEY, *(key for topic in desired for key in topic.config)})
    async with open_kafka_admin(spec, ConnectionOverrides(bootstrap_servers)) as admin:
        state = await admin.cluster_state(with_configs=True, config_keys=keys)
    if kafka is not None and desired:
        return judge_health(
            state,
            [t.name for t in desired],
            topics_label="spec",
            expected_brokers=expected_brokers or kafka.expected_brokers,
            drift=spec_drift(desired, state),
        )
    return judge_health(
        state,
        LLM_TOPIC_NAMES,
        expected_brokers=expected_brokers or (kafka.expected_brokers if kafka else None),
    )


def _echo_text(report: HealthReport, color: bool) -> None:
    from reconciler.cli.tables import print_table

    def mark(ok: bool) -> str:
        return (
            click.style("✓", fg="green")
            if ok and color
            else click.style("✗", fg="red")
            if color
            else ("✓" if ok else "✗")
        )

    click.echo("=== Kafka Cluster Verification ===\n")
    click.echo("=== Cluster Status ===")
    print_table(["Metric", "Value"], report.rows)
    click.echo("\n=== Health Messages ===")
    for check in report.checks:
        click.echo(f"{mark(check.ok)} {check.message}")
    verdict = "Cluster verification passed" if report.healthy else "Cluster verification failed"
    click.echo(f"\n{mark(report.healthy)} {verdict}")


@click.command()
@click.option(
    "-f",
    "--file",
    "spec_path",
    type=click.Path(dir_okay=False),
    default=None,
    envvar="LLM_ANALYTICS_SPEC",
    help="Check against this spec: its connection (SASL/TLS), topics, "
    "expectedBrokers and topic settings.",
)
@click.option(
    "--env", default=None, envvar="LLM_ANALYTICS_ENV", help="Environment overlay of the spec."
)
@click.option(
    "--expected-brokers",
    type=click.IntRange(min=1),
    default=None,
    help="Fail unless at least this many brokers are up (default: the spec's "
    "kafka.expectedBrokers; without either, the count is only reported).",
)
@output_option()
@kafka_connection_options
def verify(
    spec_path: str | None,
    env: str | None,
    expected_brokers: int | None,
    output: str,
    json_alias: bool,
    bootstrap_servers: str | None,
) -> int:
    """Check cluster health: brokers, controller, topics, replication, min ISR.

    \b
    Without a spec the 14 built-in LLM topics are expected; with -f the spec's topics, and
    their live settings are compared with the spec.
    Exit codes: 0 healthy, 2 unhealthy, 1 could not check (unreachable, bad spec).
    """
    spec = load_optional_spec(spec_path, env)
    report = run(_check(spec, bootstrap_servers, expected_brokers))
    if resolve_output(output, json_alias) == "json":
        body: dict[str, Any] = report.to_json_dict()
        emit_json(body)
    else:
        _echo_text(report, app_context().color_enabled)
    return EXIT_OK if report.healthy else EXIT_FOUND
