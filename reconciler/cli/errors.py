"""The single error path: one clear message on stderr, a stable exit code, no traceback
unless ``--debug`` was given. Every line is masked: a secret the spec resolved never
appears in an error message or a traceback either."""

from __future__ import annotations

import sys
import traceback

import click

from reconciler.errors import EXIT_ERROR, ReconcilerError
from reconciler.logging_redaction import mask_secrets


def _say(text: str) -> None:
    click.echo(mask_secrets(text), err=True)


def _traceback() -> None:
    sys.stderr.write(mask_secrets(traceback.format_exc()))


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
        import io

        shown = io.StringIO()
        problem.show(file=shown)
        sys.stderr.write(mask_secrets(shown.getvalue()))
        # click exits 2 on usage errors; 2 means "found something" here, so a typo must
        # never read as "changes present" to a job using --detailed-exitcode.
        return EXIT_ERROR
    except ReconcilerError as problem:
        if debug:
            _traceback()
        _say(f"Error: {problem}")
        return problem.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception as problem:
        if debug:
            _traceback()
        else:
            _say(
                f"Error: unexpected {type(problem).__name__}: {problem}\n"
                "  hint: run again with --debug for the full traceback"
            )
        return EXIT_ERROR
    return result if isinstance(result, int) else 0
