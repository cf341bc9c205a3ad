"""``kafka acls create -n NAMESPACE`` and ``kafka acls list``.

``create`` runs the namespace's standard ACL set through the engine (plan -> render ->
apply), so it shows exactly what it adds and is a no-op the second time. It never deletes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from reconciler.cli.common import (
    app_context,
    emit_json,
    output_option,
    resolve_output,
    run,
)
from reconciler.cli.kafka import run_kafka_changes, spec_connection_options
from reconciler.cli.kafka_verify import load_optional_spec
from reconciler.cli.locks import LockRequest, lock_options
from reconciler.cli.planning import auto_approve_option

if TYPE_CHECKING:
    from reconciler.cli.running import ChangeRequest
    from reconciler.spec.models import ClusterSpec
    from reconciler.spec.roles import AclBinding

ACLS_FORMAT_VERSION = "1.0"


@click.group()
def acls() -> None:
    """Create the standard ACL set of a namespace; list ACLs."""


async def _create(
    spec: ClusterSpec | None,
    bootstrap_servers: str | None,
    namespace: str,
    change: ChangeRequest,
    locking: LockRequest,
) -> int:
    """The namespace's standard set as the desired state, through the engine's workflow."""
    from reconciler.catalog import LLM_TOPIC_NAMES
    from reconciler.providers.kafka.acls import KafkaAclsProvider
    from reconciler.spec.roles import namespace_acl_set

    pairs = namespace_acl_set(namespace, LLM_TOPIC_NAMES)
    return await run_kafka_changes(
        spec,
        bootstrap_servers,
        lambda admin: KafkaAclsProvider.from_pairs(admin, pairs),
        change,
        locking,
    )


@acls.command("create")
@click.option(
    "-n",
    "--namespace",
    required=True,
    envvar="LLM_ANALYTICS_NAMESPACE",
    help="Namespace whose principals get the standard set "
    "(User:<ns>-producer, User:<ns>-consumer, User:<ns>-monitoring).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@auto_approve_option
@lock_options
@output_option(("text", "json", "markdown"))
@spec_connection_options
def create(
    namespace: str,
    dry_run: bool,
    auto_approve: bool,
    locking: LockRequest,
    output: str,
    json_alias: bool,
    spec_path: str | None,
    env: str | None,
    bootstrap_servers: str | None,
) -> int:
    """Create the standard ACL set of NAMESPACE for the 14 LLM topics (missing ones only).

    \b
    User:<ns>-producer    WRITE, DESCRIBE on the LLM topics; IDEMPOTENT_WRITE on the cluster
    User:<ns>-consumer    READ, DESCRIBE on the LLM topics; READ on groups "<ns>-*"
    User:<ns>-monitoring  DESCRIBE, DESCRIBE_CONFIGS on the cluster and the LLM topics;
                          DESCRIBE on groups "<ns>-*"
    """
    import sys

    from reconciler.cli.running import ChangeRequest

    spec = load_optional_spec(spec_path, env)
    change = ChangeRequest(
        # It only ever adds grants: no terminal needed to confirm that.
        auto_approve=auto_approve or not sys.stdin.isatty(),
        dry_run=dry_run,
        output=resolve_output(output, json_alias),
        done_message=lambda plan: (
            f"Done: {plan.summary()['add']} ACL binding(s) created for namespace {namespace}."
        ),
    )
    return run(_create(spec, bootstrap_servers, namespace, change, locking))


async def _read(spec: ClusterSpec | None, bootstrap_servers: str | None) -> tuple[AclBinding, ...]:
    from reconciler.cli.targets import ConnectionOverrides, open_kafka_admin
    from reconciler.providers.kafka.acl_client import describe_acl_bindings

    async with open_kafka_admin(spec, ConnectionOverrides(bootstrap_servers)) as admin:
        return (await describe_acl_bindings(admin)).bindings


@acls.command("list")
@click.option(
    "--principal",
    "principals",
    multiple=True,
    help="Only this principal's bindings (repeatable; 'alice' means User:alice).",
)
@output_option()
@spec_connection_options
def list_acls(
    principals: tuple[str, ...],
    output: str,
    json_alias: bool,
    spec_path: str | None,
    env: str | None,
    bootstrap_servers: str | None,
) -> None:
    """List ACL bindings: principal, permission, operation, resource, pattern, host."""
    from reconciler.spec.roles import normalise_principal

    spec = load_optional_spec(spec_path, env)
    bindings = run(_read(spec, bootstrap_servers))
    wanted = {normalise_principal(p) for p in principals}
    shown = [b for b in bindings if not wanted or b.principal in wanted]
    if resolve_output(output, json_alias) == "json":
        emit_json({"format_version": ACLS_FORMAT_VERSION, "acls": [b.to_dict() for b in shown]})
        return
    _print_bindings(shown, color=app_context().color_enabled)


def _print_bindings(bindings: list[AclBinding], *, color: bool) -> None:
    """A box table never cut to the terminal width: principals and resource names are
    identifiers, and a truncated one is useless (piped output has no width at all)."""
    import sys

    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(bindings)} ACL binding(s)", box=box.SQUARE, title_justify="left")
    for header in ("Principal", "Permission", "Operation", "Resource", "Pattern", "Host"):
        table.add_column(header, no_wrap=True, overflow="ignore")
    for b in bindings:
        table.add_row(
            b.principal,
            b.permission.value,
            b.operation.value,
            b.resource,
            b.pattern_type.value,
            b.host,
        )
    width = None if sys.stdout.isatty() else 10_000
    Console(no_color=not color, width=width, soft_wrap=True).print(table)
