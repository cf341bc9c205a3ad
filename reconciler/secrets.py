"""Resolving secret references (``{fromEnv: VAR}`` / ``{fromFile: path}``) at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.logging_redaction import register_secret
from reconciler.spec.models import SecretRef


def resolve_secret(
    ref: SecretRef | str | None, *, what: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """Return the secret's value; a clear error names what is missing."""
    if ref is None or isinstance(ref, str):
        return ref
    env = os.environ if environ is None else environ
    if ref.from_env is not None:
        value = env.get(ref.from_env)
        if value is None:
            raise ReconcilerError(
                f"{what}: environment variable {ref.from_env} is not set",
                hint=f"export {ref.from_env}=... or use fromFile",
            )
        register_secret(value)
        return value
    assert ref.from_file is not None
    path = Path(ref.from_file).expanduser()
    try:
        secret = path.read_text(encoding="utf-8").rstrip("\n")
    except OSError as problem:
        raise ReconcilerError(
            f"{what}: cannot read secret file {path}: {problem.strerror}"
        ) from None
    register_secret(secret)  # masked in every output and log line from now on
    return secret
