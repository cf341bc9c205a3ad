"""``redis init`` and ``redis verify``: imperative Redis Cluster commands.

``init`` is the declarative engine in one command: it plans the layout asked for
(``--nodes`` / ``--replicas``) against the live nodes with :class:`RedisClusterProvider`,
shows the plan, and applies it. On bare nodes that creates the cluster; on a running
cluster it adds nodes, rebalances or repairs — and does nothing when all is in place.

``verify`` reads every node once and judges the cluster's health.
Exit codes: 0 healthy / nothing to do, 2 unhealthy (verify), 1 error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.common import (
    app_context,
    emit_json,
    output_option,
    resolve_output,
    run,
)
from reconciler.cli.locks import LockRequest, lock_options
from reconciler.cli.planning import auto_approve_option
from reconciler.errors import EXIT_FOUND, EXIT_OK, ReconcilerError

if TYPE_CHECKING:
    from reconciler.cli.running import ChangeRequest
    from reconciler.providers.redis.health import HealthReport
    from reconciler.providers.redis.provider import RedisClusterProvider
    from reconciler.spec.models import RedisSpec


VERIFY_POD_WAIT_SECONDS = 5


def _target_options(func: Any) -> Any:
    """Where the nodes are: ``-n NAMESPACE`` (pods) or ``--addresses`` (direct), or a spec."""
    options = [
        click.option(
            "-f",
            "--file",
            "spec_path",
            type=click.Path(dir_okay=False),
            default=None,
            envvar="LLM_ANALYTICS_SPEC",
            help="Take the connection (and layout) from this spec's redis section.",
        ),
        click.option(
            "--env",
            default=None,
            envvar="LLM_ANALYTICS_ENV",
            help="Environment overlay of the spec.",
        ),
        click.option(
            "-n",
            "--namespace",
            envvar="LLM_ANALYTICS_NAMESPACE",
            default=None,
            help="Kubernetes namespace of the Redis pods.",
        ),
        click.option(
            "--addresses",
            "--redis-addresses",
            "addresses",
            envvar="LLM_ANALYTICS_REDIS_ADDRESSES",
            default=None,
            help="Redis node addresses host:port,... (direct connections).",
        ),
        click.option(
            "--selector",
            default=None,
            help="Label selector of the Redis pods (default app=redis-cluster).",
        ),
        click.option(
            "--port",
            type=click.IntRange(1, 65535),
            default=None,
            help="Redis port inside the pods (default 6379).",
        ),
        click.option(
            "--password-env",
            default=None,
            metavar="VAR",
            help="Read the Redis password from this environment variable.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _redis_spec(
    spec_path: str | None,
    env: str | None,
    namespace: str | None,
    addresses: str | None,
    selector: str | None,
    port: int | None,
    password_env: str | None,
) -> tuple[RedisSpec, list[str] | None, str | None]:
    """The RedisSpec to use, plus the address / namespace overrides for the provider."""
    from reconciler.spec.models import (
        SecretRef,
    )

    if namespace and addresses:
        raise click.UsageError("give either -n/--namespace or --addresses, not both")
    address_list = [a.strip() for a in addresses.split(",") if a.strip()] if addresses else None
    spec: RedisSpec | None = None
    if spec_path is not None:
        from reconciler.cli.planning import load_protected

        loaded = load_protected(spec_path, env).spec
        if loaded.redis is None:
            raise ReconcilerError(f"{spec_path} has no redis section")
        spec = loaded.redis
    password = SecretRef(from_env=password_env) if password_env else None
    if spec is None:
        return _spec_from_options(address_list, namespace, selector, port, password), None, None
    updates: dict[str, Any] = {}
    if password is not None:
        updates["password"] = password
    kube = spec.connection.kubernetes
    if kube is not None and (selector or port):
        updates["kubernetes"] = kube.model_copy(
            update={k: v for k, v in (("selector", selector), ("port", port)) if v is not None}
        )
    if updates:
        spec = spec.model_copy(update={"connection": spec.connection.model_copy(update=updates)})
    return spec, address_list, namespace


def _spec_from_options(
    addresses: list[str] | None,
    namespace: str | None,
    selector: str | None,
    port: int | None,
    password: Any,
) -> RedisSpec:
    """A RedisSpec from the command's options and the LLM_ANALYTICS_REDIS_* variables."""
    from reconciler.spec.connection_env import redis_connection_from_env
    from reconciler.spec.models import KubernetesTarget, RedisConnection, RedisSpec

    base: RedisConnection | None = None
    if addresses:
        base = RedisConnection(addresses=addresses)
    elif namespace:
        base = RedisConnection(
            kubernetes=KubernetesTarget(
                namespace=namespace, selector=selector or "app=redis-cluster", port=port or 6379
            )
        )
    connection = redis_connection_from_env(base)
    if connection is None:
        raise click.UsageError(
            "say where the nodes are: -n NAMESPACE (Kubernetes pods), --addresses "
            "host:port,... or -f SPEC (or LLM_ANALYTICS_NAMESPACE / "
            "LLM_ANALYTICS_REDIS_ADDRESSES)"
        )
    if password is not None:
        connection = connection.model_copy(update={"password": password})
    return RedisSpec(connection=connection)


def _progress_line(message: str) -> None:
    click.echo(message, err=True)


def _provider(
    spec: RedisSpec,
    addresses: list[str] | None,
    namespace: str | None,
    masters: int | None = None,
    replicas: int | None = None,
    wait_for_pods: bool = True,
) -> RedisClusterProvider:
    from reconciler.providers.redis.provider import RedisClusterProvider

    return RedisClusterProvider.from_spec(
        spec,
        addresses=addresses,
        namespace=namespace,
        masters=masters,
        replicas=replicas,
        progress=_progress_line,
        wait_for_pods=wait_for_pods,
    )


@click.group("redis")
def redis() -> None:
    """Imperative Redis Cluster commands: init, verify."""


# ------------------------------------------------------------------------------ init


@redis.command("init")
@_target_options
@click.option(
    "--nodes",
    type=click.IntRange(min=1),
    default=None,
    help="Nodes in the cluster: masters × (1 + replicas) (default 6, or the spec's).",
)
@click.option(
    "--replicas",
    type=click.IntRange(min=0),
    default=None,
    help="Replicas per master (default 1, or the spec's).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@auto_approve_option
@click.option(
    "--allow-delete",
    is_flag=True,
    help="Allow removing nodes and forgetting failed ones (destructive).",
)
@lock_options
@output_option(("text", "json", "markdown"))
def init(
    spec_path: str | None,
    env: str | None,
    namespace: str | None,
    addresses: str | None,
    selector: str | None,
    port: int | None,
    password_env: str | None,
    nodes: int | None,
    replicas: int | None,
    dry_run: bool,
    auto_approve: bool,
    allow_delete: bool,
    locking: LockRequest,
    output: str,
    json_alias: bool,
) -> int:
    """Create (or bring to the asked layout) a Redis Cluster: plan, show, apply.

    \b
    On bare nodes: slots split evenly over nodes/(1+replicas) masters; replicas placed on
    other hosts (Kubernetes nodes; IPs in direct mode) than their masters.
    On an existing cluster: adds nodes, rebalances slots, repairs open slots; a second run
    does nothing.
    """
    spec, address_list, ns = _redis_spec(
        spec_path, env, namespace, addresses, selector, port, password_env
    )
    fmt = resolve_output(output, json_alias)
    layout = spec.cluster
    replicas_per = (
        replicas if replicas is not None else (layout.replicas_per_master if spec_path else 1)
    )
    total = nodes if nodes is not None else (layout.node_count if spec_path else 6)
    if total % (1 + replicas_per):
        raise click.UsageError(
            f"--nodes {total} is not a multiple of 1 + --replicas {replicas_per}"
        )
    masters = total // (1 + replicas_per)
    if masters < 3:
        raise click.UsageError(
            f"a Redis Cluster needs at least 3 masters; --nodes {total} "
            f"with --replicas {replicas_per} gives {masters}"
        )
    from reconciler.cli.running import ChangeRequest
    from reconciler.engine.risk import granted_consents

    change = ChangeRequest(
        consents=granted_consents(allow_delete=allow_delete),
        # The asked layout is the point of `redis init`: a shrink (or forgetting a failed
        # node) is planned and refused visibly without --allow-delete (exit 3).
        plan_deletions=True,
        auto_approve=auto_approve,
        dry_run=dry_run,
        output=fmt,
        prompt="Apply these changes? Only 'yes' will be accepted",
        nothing_message="The Redis cluster already matches the layout; nothing to do.",
        done_message=lambda plan: (
            f"Applied {len(plan.actionable)} change(s); the Redis cluster matches "
            f"{masters} masters × {replicas_per} replica(s)."
        ),
    )
    return run(_init(spec, address_list, ns, masters, replicas_per, change, locking))


async def _init(
    spec: RedisSpec,
    addresses: list[str] | None,
    namespace: str | None,
    masters: int,
    replicas: int,
    change: ChangeRequest,
    locking: LockRequest,
) -> int:
    """The asked layout as the desired state, through the engine's workflow (the Redis
    lock: a Kubernetes Lease, or the cluster's own key once it serves slots)."""
    from reconciler.cli.locks import lock_factory
    from reconciler.cli.running import run_changes
    from reconciler.cli.targets import ConnectionOverrides, lock_backends

    app = app_context()
    overrides = ConnectionOverrides(
        redis_addresses=",".join(addresses) if addresses else None, namespace=namespace
    )
    locks = lock_factory(lambda ttl: lock_backends(overrides, ttl, redis=spec), locking, app)
    provider = _provider(spec, addresses, namespace, masters, replicas)
    try:
        return await run_changes([provider], locks, change, app)
    finally:
        await provider.close()


# ------------------------------------------------------------------------------ verify


@redis.command("verify")
@_target_options
@click.option(
    "--replicas",
    type=click.IntRange(min=0),
    default=None,
    help="Replicas each master should have (default: the spec's, else 1).",
)
@output_option()
def verify(
    spec_path: str | None,
    env: str | None,
    namespace: str | None,
    addresses: str | None,
    selector: str | None,
    port: int | None,
    password_env: str | None,
    replicas: int | None,
    output: str,
    json_alias: bool,
) -> int:
    """Check cluster health: state, slots, roles, replicas, placement, failed nodes.

    Exit codes: 0 healthy, 2 unhealthy, 1 could not check.
    """
    spec, address_list, ns = _redis_spec(
        spec_path, env, namespace, addresses, selector, port, password_env
    )
    wanted = (
        replicas if replicas is not None else (spec.cluster.replicas_per_master if spec_path else 1)
    )
    report = run(_verify(spec, address_list, ns, wanted))
    if resolve_output(output, json_alias) == "json":
        emit_json(report.to_json())
    else:
        _echo_report(report, app_context().color_enabled)
    return EXIT_OK if report.healthy else EXIT_FOUND


async def _verify(
    spec: RedisSpec, addresses: list[str] | None, namespace: str | None, replicas: int
) -> HealthReport:
    from reconciler.providers.redis.health import assess

    # verify judges what it finds: pods that are not Ready after a short wait are reported
    # as unreachable nodes (exit 2) rather than failing the whole check.
    kube = spec.connection.kubernetes
    if kube is not None and kube.ready_timeout_seconds > VERIFY_POD_WAIT_SECONDS:
        spec = spec.model_copy(
            update={
                "connection": spec.connection.model_copy(
                    update={
                        "kubernetes": kube.model_copy(
                            update={"ready_timeout_seconds": VERIFY_POD_WAIT_SECONDS}
                        )
                    }
                )
            }
        )
    provider = _provider(spec, addresses, namespace, wait_for_pods=False)
    try:
        observation = await provider.observe()
    finally:
        await provider.close()
    return assess(observation, replicas_per_master=replicas, placement=spec.cluster.placement.value)


def _echo_report(report: HealthReport, color: bool) -> None:
    from reconciler.cli.tables import print_table

    def mark(symbol: str) -> str:
        colours = {"✓": "green", "✗": "red", "!": "yellow"}
        return click.style(symbol, fg=colours[symbol]) if color else symbol

    m = report.metrics
    click.echo("=== Redis Cluster Verification ===\n")
    click.echo("=== Cluster Status ===")
    print_table(
        ["Metric", "Value"],
        [
            ("Cluster State", m["cluster_state"]),
            ("Cluster Size", m["cluster_size"]),
            ("Master Nodes", m["master_nodes"]),
            ("Replica Nodes", m["replica_nodes"]),
            ("Slots Assigned", f"{m['slots_assigned']}/16384"),
            ("Slots OK", f"{m['slots_ok']}/16384"),
        ],
    )
    click.echo("\n=== Health Messages ===")
    for check in report.checks:
        click.echo(f"{mark(check.symbol)} {check.message}")
    if report.healthy:
        click.echo(f"\n{mark('✓')} Cluster verification passed")
    else:
        click.echo(f"\n{mark('✗')} Cluster verification failed ({len(report.problems)} problem(s))")
