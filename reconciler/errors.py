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

# The one deadline for connecting to a cluster and authenticating, for every command and
# client of the tool: TCP connect, TLS handshake, the first request and SASL together (a
# healthy cluster needs well under a second, SCRAM over TLS included). Kept well below 10 s
# so that the whole command fails within 10 s on a peer that accepts connections and never
# answers, even when the interpreter's start-up takes a few seconds on a loaded machine.
CONNECT_TIMEOUT_SECONDS = 5.0


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

    def __init__(self, message: str, issues: list | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []


class ConnectionFailure(ReconcilerError):
    """A cluster could not be reached or refused our credentials.

    ``reached``: the peer was connected to (TCP) and the failure came later (TLS,
    authentication, protocol): the message then reads ``<endpoint>: <reason>`` rather than
    ``cannot reach <endpoint>: <reason>``. ``kind`` is a short stable name of the cause
    (e.g. ``authentication``, ``tls-verify``, ``no-answer``) for tests and machine output.
    """

    def __init__(
        self,
        endpoint: str,
        reason: str,
        *,
        hint: str | None = None,
        reached: bool = False,
        kind: str | None = None,
    ) -> None:
        message = f"{endpoint}: {reason}" if reached else f"cannot reach {endpoint}: {reason}"
        super().__init__(message, hint=hint)
        self.endpoint = endpoint
        self.reason = reason
        self.reached = reached
        self.kind = kind


class RequestFailed(ReconcilerError):
    """A cluster answered a request with an error the tool cannot work around."""


class PlanRefused(ReconcilerError):
    """A plan cannot be built as asked (e.g. a partition decrease)."""


class ApplyFailed(ReconcilerError):
    """One or more actions of an apply failed."""


class SafetyRefusal(ReconcilerError):
    """Refused for safety: stale plan, lock held, destructive change without its flag."""

    exit_code = EXIT_REFUSED
