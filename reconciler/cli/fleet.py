"""``plan -f DIRECTORY`` and ``drift -f DIRECTORY``: every spec file of a directory, planned
concurrently, in one document and one exit code (for a pull request touching several
clusters, or one scheduled job watching a fleet).

The spec files are the directory's ``*.yaml`` and ``*.yml`` (not its subdirectories), in
name order. A spec that cannot be planned (invalid, unreachable) is reported in its section
and makes the exit code 1; the others are planned all the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from msgspec import structs

from reconciler.cli.planning import RunRequest
from reconciler.errors import ReconcilerError, SpecError

T = TypeVar("T")
#: Specs planned at the same time (each holds one connection per cluster).
FLEET_CONCURRENCY = 4


def spec_files(directory: str) -> list[Path]:
    """The spec files of ``directory``, in name order."""
    root = Path(directory)
    found = sorted(
        p
        for p in root.iterdir()
        if p.is_file() and p.suffix in (".yaml", ".yml") and not p.name.startswith(".")
    )
    if not found:
        raise ReconcilerError(f"{directory} holds no spec file (*.yaml, *.yml)")
    return found


async def for_each_spec(
    request: RunRequest,
    work: Callable[[RunRequest], Awaitable[T]],
    *,
    concurrency: int = FLEET_CONCURRENCY,
) -> list[tuple[str, T | None, str | None]]:
    """``work`` for every spec file of ``request.spec_path`` (a directory), at most
    ``concurrency`` at once: ``(file name, result, None)`` or ``(file name, None, error)``."""
    files = spec_files(request.spec_path)
    request = _approvals_checked(request, files)
    bound = asyncio.Semaphore(concurrency)

    async def one(path: Path) -> tuple[str, T | None, str | None]:
        async with bound:
            try:
                return (
                    path.name,
                    await work(structs.replace(request, spec_path=str(path))),
                    None,
                )
            except SpecError as problem:
                issues = getattr(problem, "issues", None) or [problem]
                return path.name, None, "; ".join(str(i) for i in issues)
            except ReconcilerError as problem:
                hint = getattr(problem, "hint", None)
                return path.name, None, f"{problem} ({hint})" if hint else str(problem)

    return list(await asyncio.gather(*(one(p) for p in files)))


def _approvals_checked(request: RunRequest, files: Sequence[Path]) -> RunRequest:
    """Approvals must name a rule of some spec of the fleet (exit 1 otherwise), not of each."""
    from reconciler.cli.planning import load_protected, policy_rules
    from reconciler.engine.policies import approvals_from, check_approvals

    approvals = approvals_from(request.approvals)
    if approvals:
        names: set[str] = set()
        for path in files:
            one = structs.replace(request, spec_path=str(path))
            try:
                names |= {r.name for r in policy_rules(one, load_protected(str(path), one.env))}
            except ReconcilerError:
                continue  # its own run reports it
        check_approvals(names, approvals)
    return structs.replace(request, check_approvals=False)


def fleet_exit_code(
    results: Sequence[tuple[str, object, str | None]], *, found: Callable[[object], bool]
) -> int:
    """1 if any spec failed, else 2 if ``found`` holds for any result, else 0."""
    from reconciler.errors import EXIT_ERROR, EXIT_FOUND, EXIT_OK

    if any(error is not None for _, _, error in results):
        return EXIT_ERROR
    return EXIT_FOUND if any(found(r) for _, r, _ in results if r is not None) else EXIT_OK
