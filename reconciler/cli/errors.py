"""The single error path: one clear message on stderr, a stable exit code, no traceback
unless ``--debug`` was given."""

from __future__ import annotations

import sys
import traceback

import click

from reconciler.errors import EXIT_ERROR, ReconcilerError


def _debug_requested(argv: list[str]) -> bool:
    import os

    return "--debug" in argv or os.environ.get("LLM_ANALYTICS_DEBUG", "") not in ("", "0")


def run_cli(command: click.Command, argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    try:
        result = command.main(args=args, prog_name="llm-analytics", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_ERROR
    except click.exceptions.Exit as stop:
        return stop.exit_code
    except click.ClickException as problem:
        problem.show()
        # click exits 2 on usage errors; 2 means "found something" here, so a typo must
        # never read as "changes present" to a job using --detailed-exitcode.
        return EXIT_ERROR
    except ReconcilerError as problem:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {problem}", err=True)
        return problem.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception as problem:
        if debug:
            traceback.print_exc()
        else:
            click.echo(
                f"Error: unexpected {type(problem).__name__}: {problem}\n"
                "  hint: run again with --debug for the full traceback",
                err=True,
            )
        return EXIT_ERROR
    return result if isinstance(result, int) else 0
