"""The ``llm-analytics`` command: global options, lazily loaded command groups, error path.

Commands live in their own modules and are imported only when invoked, so that
``llm-analytics --help`` stays fast and never imports aiokafka or kubernetes-asyncio.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import sys
from typing import Any

import click

from reconciler import __version__
from reconciler.cli.common import AppContext

# command name -> "module:attribute"; modules are imported on first use only.
COMMANDS: dict[str, str] = {
    "validate": "reconciler.cli.validate:validate",
    "plan": "reconciler.cli.planning:plan",
    "apply": "reconciler.cli.planning:apply",
    "show": "reconciler.cli.planning:show",
    "drift": "reconciler.cli.drift:drift",
    "export": "reconciler.cli.export:export",
    "kafka": "reconciler.cli.kafka:kafka",
    "operator": "reconciler.cli.operator:operator",
    "redis": "reconciler.cli.redis:redis",
}

COMMAND_HELP: dict[str, str] = {
    "validate": "Check a spec file without touching any cluster.",
    "plan": "Show what apply would change (Terraform-style).",
    "apply": "Carry out a plan: from a spec, or a saved plan file.",
    "show": "Render a saved plan file.",
    "drift": "Report resources changed outside the spec (for schedules).",
    "export": "Write the live Kafka topics as spec YAML.",
    "kafka": "Imperative Kafka commands: topics, ACLs, verify.",
    "operator": "Kubernetes operator: reconcile ClusterSpec resources (kopf).",
    "redis": "Imperative Redis Cluster commands: init, verify.",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on demand."""

    def __init__(
        self, *args: Any, lazy_commands: dict[str, str], lazy_help: dict[str, str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands
        self.lazy_help = lazy_help

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            module_name, attribute = self.lazy_commands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text without importing the command modules.
        rows = [(name, self.lazy_help.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    lazy_help=COMMAND_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="llm-analytics")
@click.option(
    "--debug",
    is_flag=True,
    envvar="LLM_ANALYTICS_DEBUG",
    help="Log details (admin request counts, timings) and show tracebacks.",
)
@click.option("--no-color", is_flag=True, envvar="NO_COLOR", help="Never colour the output.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, no_color: bool) -> None:
    """Declarative plan/apply for the Kafka and Redis clusters of the LLM analytics platform.

    \b
    Exit codes:
      0  success, no changes, healthy
      1  error (bad spec, unreachable cluster, failed action)
      2  found something: changes (plan --detailed-exitcode), drift, unhealthy
      3  refused for safety: stale plan, lock held, destructive change without its flag
    """
    ctx.obj = AppContext(debug=debug, color=not no_color)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if debug:
        # aiokafka logs every response in full at DEBUG: megabytes for a large cluster.
        logging.getLogger("aiokafka").setLevel(logging.INFO)
    else:
        # Client libraries log connection retries at ERROR; we report failures ourselves.
        for noisy in ("aiokafka", "kafka", "kubernetes_asyncio", "asyncio"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)


# Generation thresholds of the cyclic garbage collector for one-shot commands. With Python's
# defaults a large spec (10,000 topics: about a million objects, nearly all long-lived) makes
# the collector walk the whole heap again each time it grows by a quarter, which measured as
# half of the spec's loading time; young generations are still collected (cycles do not pile
# up), the whole heap only after about 10^10 allocations. The operator keeps the defaults.
ONE_SHOT_GC_THRESHOLDS = (100_000, 50, 1_000)
LONG_RUNNING_COMMANDS = frozenset({"operator"})


def tune_gc(args: list[str]) -> None:
    """Freeze what start-up allocated and raise the collector's thresholds, unless the
    command is long-running."""
    command = next((arg for arg in args if not arg.startswith("-")), None)
    if command in LONG_RUNNING_COMMANDS:
        return
    gc.freeze()
    gc.set_threshold(*ONE_SHOT_GC_THRESHOLDS)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map every error to one line and an exit code."""
    from reconciler.cli.errors import run_cli

    tune_gc(list(sys.argv[1:] if argv is None else argv))
    # No pydantic plugin may see spec values (they carry secret references and, once
    # resolved, secrets); skipping their discovery also spares start-up an entry-point scan.
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    sys.exit(run_cli(cli, argv))


if __name__ == "__main__":
    main()
