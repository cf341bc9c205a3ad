"""``operator``: reconcile every ClusterSpec resource of a Kubernetes cluster (docs/operator.md).

``operator run`` starts the kopf operator; ``operator crd`` prints the CustomResourceDefinition
(generated from the spec models, like ``schemas/``). kopf is imported by ``run`` only.
"""

from __future__ import annotations

import click

from reconciler.cli.locks import DurationSeconds
from reconciler.cli.output import echo


@click.group("operator")
def operator() -> None:
    """Kubernetes operator mode: a ClusterSpec custom resource per cluster."""


@operator.command("run")
@click.option(
    "-n",
    "--namespace",
    "namespaces",
    multiple=True,
    help="Watch ClusterSpecs in this namespace (repeatable; default: every namespace).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=4,
    show_default=True,
    help="Clusters checked at the same time.",
)
@click.option(
    "--check-timeout",
    type=DurationSeconds(),
    default="10m",
    show_default=True,
    help="Longest time one check (plan, or plan and apply) of one cluster may take.",
)
@click.option(
    "--peering",
    default="llm-analytics",
    show_default=True,
    help="kopf peering name: of the replicas sharing it, one is active.",
)
@click.option("--standalone", is_flag=True, help="No peering (a single replica).")
@click.option("--priority", type=int, default=0, help="Peering priority (highest is active).")
@click.option(
    "--peering-lifetime",
    type=click.IntRange(5, 3600),
    default=60,
    show_default=True,
    help="Seconds after which a silent active replica is replaced by another.",
)
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve Prometheus metrics.")
@click.option("--liveness", help="kopf liveness endpoint, e.g. http://0.0.0.0:8080/healthz.")
def run_command(
    namespaces: tuple[str, ...],
    concurrency: int,
    check_timeout: float,
    peering: str,
    standalone: bool,
    priority: int,
    peering_lifetime: int,
    metrics_port: int | None,
    liveness: str | None,
) -> None:
    """Check each ClusterSpec every interval (and when it changes); apply where it says so."""
    import asyncio
    import logging

    from reconciler.operator.handlers import CheckSettings
    from reconciler.operator.running import OperatorOptions, run_operator

    logging.getLogger().setLevel(logging.INFO)
    options = OperatorOptions(
        namespaces=namespaces,
        checks=CheckSettings(concurrency=concurrency, check_timeout=check_timeout),
        peering=None if standalone else peering,
        priority=priority,
        peering_lifetime=peering_lifetime,
        metrics_port=metrics_port,
        liveness_endpoint=liveness,
    )
    asyncio.run(run_operator(options))


@operator.command("crd")
def crd_command() -> None:
    """Print the ClusterSpec CustomResourceDefinition as YAML."""
    from reconciler.operator.manifests import crd_yaml

    echo(crd_yaml(), nl=False)
