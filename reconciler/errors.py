"""Errors a user can cause, each mapped to a documented, stable exit code.

Exit codes (the CLI contract):
  0  success / no changes / healthy
  1  error: bad spec, unreachable cluster, failed action
  2  the command ran and found something: changes (plan --detailed-exitcode), drift, unhealthy
  3  refused for safety: stale plan, lock held, destructive change without its flag
  130  interrupted by SIGINT (Ctrl-C): stopped after the current request, locks released
  143  interrupted by SIGTERM: the same
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_FOUND = 2
EXIT_REFUSED = 3
EXIT_SIGINT = 130  # 128 + SIGINT, as a shell reports a process ended by Ctrl-C
EXIT_SIGTERM = 143  # 128 + SIGTERM


class ReconcilerError(Exception):
    """Base of every error reported to the user as one clear message (no traceback)."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class SpecError(ReconcilerError):
    """The spec file is invalid; ``issues`` holds every located problem."""

    def __init__(self, message: str, issues: list | None = None) -> None:  # type: ignore[type-arg]
        super().__init__(message)
        self.issues = issues or []


class ConnectionFailure(ReconcilerError):
    """A cluster could not be reached or refused our credentials."""

    def __init__(self, endpoint: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"cannot reach {endpoint}: {reason}", hint=hint)
        self.endpoint = endpoint


class PlanRefused(ReconcilerError):
    """A plan cannot be built as asked (e.g. a partition decrease)."""


class ApplyFailed(ReconcilerError):
    """One or more actions of an apply failed."""


class SafetyRefusal(ReconcilerError):
    """Refused for safety: stale plan, lock held, destructive change without its flag."""

    exit_code = EXIT_REFUSED
