"""The console side of the engine's workflow: how a changing command shows its plan, asks
for confirmation, reports progress and renders the outcome.

Every changing command (``apply``, ``kafka topics create|delete``, ``kafka acls create``,
``redis init``) builds its providers — the desired state it asks for — and calls
:func:`run_changes`; the engine's :class:`~reconciler.engine.workflow.Workflow` does the
rest (lock, read once, plan, gate, confirm, apply, verify).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import click
from msgspec import Struct, field

from reconciler.cli.common import AppContext, emit_json
from reconciler.cli.output import echo, echo_plan, stamp
from reconciler.errors import EXIT_ERROR, EXIT_OK, SafetyRefusal

if TYPE_CHECKING:
    from reconciler.engine.plan import Plan
    from reconciler.engine.planfile import SavedPlan
    from reconciler.engine.providers import Progress, Provider
    from reconciler.engine.risk import Consent
    from reconciler.engine.selection import Selection
    from reconciler.engine.workflow import Guard, RunResult

DEFAULT_PROMPT = "Do you want to perform these actions? Only 'yes' will be accepted"


class ChangeRequest(Struct, frozen=True):
    """How a changing command wants its changes made."""

    consents: frozenset[Consent] = frozenset()
    selection: Selection | None = None
    auto_approve: bool = False
    continue_on_error: bool = False
    dry_run: bool = False
    stall_timeout: float | None = None
    output: str = "text"
    prompt: str = DEFAULT_PROMPT
    done_message: Callable[[Plan], str] | None = None
    nothing_message: str = "Nothing to apply."
    # How this command spells a consent, when not as the flag itself (``--force``).
    consent_names: dict[str, str] = field(default_factory=dict)
    # Plan deletions whatever the consents (a command that asks for them: topics delete).
    plan_deletions: bool = False
    # The policy rules the plan must pass (``engine.policies.PolicyCheck``), if any.
    policy: Any = None
    # The replication throttle of data moves, bytes/s.
    throttle: int | None = None
    # The limit of Redis slot moves (``--redis-move-rate``; None: the spec's, else none).
    move_rate: Any = None
    rotate_credentials: bool = False  # --rotate-credentials (kafka.users)

    def run_options(self) -> Any:
        from reconciler.engine.selection import Selection
        from reconciler.engine.workflow import RunOptions

        return RunOptions(
            consents=self.consents,
            selection=self.selection or Selection(),
            continue_on_error=self.continue_on_error,
            dry_run=self.dry_run,
            stall_timeout=self.stall_timeout,
            consent_names=self.consent_names,
            plan_deletions=self.plan_deletions,
            policy=self.policy,
            throttle=self.throttle,
            move_rate=self.move_rate,
            rotate_credentials=self.rotate_credentials,
        )


class ConsoleUI:
    """The workflow's view of a terminal or a job log."""

    def __init__(self, app: AppContext, request: ChangeRequest) -> None:
        from reconciler.cli.progress import ConsoleProgress

        self.app = app
        self.request = request
        self.progress: Progress = ConsoleProgress(app.color_enabled)

    def planned(self, plan: Plan) -> None:
        if self.request.output != "json":
            echo_plan(plan, self.request.output, self.app)

    async def confirm(self, plan: Plan) -> None:
        await confirm_in_thread(self.request.auto_approve, self.request.prompt)

    def note(self, text: str) -> None:
        echo(f"{stamp()}{text}", err=True)


def _confirm(auto_approve: bool, prompt: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise SafetyRefusal(
            "refusing to apply without --auto-approve: no terminal to confirm on",
            hint="review the plan, then run again with --auto-approve (or -y/--yes)",
        )
    answer = click.prompt(prompt, default="", show_default=False, err=True)
    if answer.strip() != "yes":
        raise click.exceptions.Abort()


async def confirm_in_thread(auto_approve: bool, prompt: str = DEFAULT_PROMPT) -> None:
    """Ask for confirmation without blocking the event loop, so that the lock's heartbeat
    keeps running while a person reads the plan. A daemon thread, so that Ctrl-C is not held
    up by a pending prompt."""
    if auto_approve or not sys.stdin.isatty():
        _confirm(auto_approve, prompt)
        return
    import threading

    loop = asyncio.get_running_loop()
    answered: asyncio.Future[None] = loop.create_future()

    def ask() -> None:
        try:
            _confirm(auto_approve, prompt)
        except BaseException as problem:
            loop.call_soon_threadsafe(answered.set_exception, problem)
        else:
            loop.call_soon_threadsafe(answered.set_result, None)

    threading.Thread(target=ask, name="confirm", daemon=True).start()
    await answered


LockFactory = Callable[[], AbstractAsyncContextManager["Guard"]]


async def run_changes(
    providers: Sequence[Provider],
    locks: LockFactory,
    request: ChangeRequest,
    app: AppContext,
    *,
    saved: SavedPlan | None = None,
    spec_sha256: str = "",
) -> int:
    """Run the workflow (on a saved plan when ``saved``) and render its outcome."""
    from reconciler.engine.workflow import Workflow

    workflow = Workflow(providers, locks=locks, ui=ConsoleUI(app, request))
    if saved is not None:
        result = await workflow.apply_saved(saved, request.run_options(), spec_sha256=spec_sha256)
    else:
        result = await workflow.apply(request.run_options())
    return render_outcome(result, request, app)


def render_outcome(result: RunResult, request: ChangeRequest, app: AppContext) -> int:
    """The outcome on stdout (text, or one JSON document with ``-o json``); the exit code."""
    from reconciler.engine.workflow import Outcome

    code = EXIT_ERROR if result.unfinished else EXIT_OK
    if request.output == "json":
        emit_json(outcome_json(result))
        return code
    if result.outcome is Outcome.NO_CHANGES:
        echo(request.nothing_message)
    elif result.outcome is Outcome.PLANNED:
        echo("Dry run: nothing was changed.", err=True)
    elif result.unfinished:
        from reconciler.engine.plan import Plan

        echo("These resources still differ from the spec after apply:", err=True)
        echo_plan(Plan(changes=result.unfinished), "text", app)
    else:
        if result.others_differing:
            echo(
                f"Note: {result.others_differing} other resource(s) differ from the spec but "
                "were not in this plan (changed meanwhile?); run plan to see them.",
                err=True,
            )
        echo(request.done_message(result.plan) if request.done_message else complete(result.plan))
    return code


def complete(plan: Plan) -> str:
    summary = plan.summary()
    return (
        f"Apply complete! Resources: {summary['add']} added, {summary['change']} changed, "
        f"{summary['destroy']} destroyed."
    )


def outcome_json(result: RunResult) -> dict[str, Any]:
    """``-o json`` of a changing command: the plan's JSON form (docs/plan-format.md), plus
    what was done (``outcome``, ``results``) and what still differs (``unfinished``)."""
    from reconciler.rendering import redact_plan_dict

    return {
        **redact_plan_dict(result.plan.to_json_dict()),
        "outcome": result.outcome.value,
        "results": [
            {
                "address": r.address,
                "status": r.status.value,
                "message": r.message,
                "seconds": round(r.seconds, 3),
            }
            for r in result.results
        ],
        "unfinished": [c.address for c in result.unfinished],
        "others_differing": result.others_differing,
    }
