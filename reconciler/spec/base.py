"""The base of every spec model, shared by :mod:`reconciler.spec.models` and the per-kind
model modules (``kafka_identities``): strict frozen models, secret references, enums read
case-insensitively, the deletion policy."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

_ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _enum_by_value(enum_type: type[StrEnum]) -> BeforeValidator:
    """Accept an enum's value case-insensitively (``allow``, ``Allow``, ``ALLOW``; ``-``/``_``)."""

    by_key = {member.value.lower().replace("-", "_"): member for member in enum_type}

    def convert(value: Any) -> Any:
        if isinstance(value, enum_type):
            return value
        if isinstance(value, str):
            member = by_key.get(value.strip().lower().replace("-", "_"))
            if member is not None:
                return member
        allowed = ", ".join(m.value for m in enum_type)
        raise ValueError(f"{value!r} is not one of: {allowed}")

    return BeforeValidator(convert)


# Strict models reject plain strings for enums: each ``...Field`` converts them first,
# case-insensitively.


class SpecModel(BaseModel):
    # Attribute docstrings document the fields in the JSON Schema only: reading them means
    # parsing the modules' source, so :mod:`reconciler.spec.schema` adds them when it
    # generates the schema instead of every command paying for it at import time.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        defer_build=True,
    )


# --------------------------------------------------------------------------- secrets


class SecretRef(SpecModel):
    """A secret given by reference: an environment variable or a file, never inline."""

    from_env: str | None = None
    """Name of the environment variable holding the secret."""
    from_file: str | None = None
    """Path of a file holding the secret."""

    @model_validator(mode="before")
    @classmethod
    def _never_inline(cls, value: Any) -> Any:
        if isinstance(value, str | int | float):
            raise ValueError(
                "a secret is never written inline: use {fromEnv: VARIABLE} or {fromFile: path}"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.from_env is None) == (self.from_file is None):
            raise ValueError("give exactly one of fromEnv or fromFile")
        if self.from_env is not None and not _ENV_VAR_NAME.match(self.from_env):
            raise ValueError(f"{self.from_env!r} is not an environment variable name")
        return self


class DeletionPolicy(StrEnum):
    NEVER = "never"
    ALLOW = "allow"  # still needs --allow-delete on the command line


DeletionPolicyField = Annotated[DeletionPolicy, _enum_by_value(DeletionPolicy)]


class ConfigOwnership(StrEnum):
    ADDITIVE = "additive"  # keys set on a resource but absent from the spec are reported, kept
    EXCLUSIVE = "exclusive"  # such keys are removed (reset to the broker default)


ConfigOwnershipField = Annotated[ConfigOwnership, _enum_by_value(ConfigOwnership)]
