"""Spec models of Kafka client quotas (``kafka.quotas``) and SCRAM users (``kafka.users``).

Quota keys are checked per entity type the way Kafka's controller checks them: user and
client-id entities (and their combination) take the byte-rate, request and mutation
quotas; an ip entity takes only ``connection_creation_rate``. ``<default>`` names the
default entity of a type. Byte rates accept units (``10MiB/s``); see :func:`quota_value`.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from reconciler.model_defaults import new_dict, new_list
from reconciler.spec.base import (
    DeletionPolicy,
    DeletionPolicyField,
    SecretRef,
    SpecModel,
    _enum_by_value,
)
from reconciler.spec.units import SIZE_UNITS_BYTES

DEFAULT_ENTITY = "<default>"
BYTE_RATE_KEYS = frozenset({"producer_byte_rate", "consumer_byte_rate"})
CLIENT_KEYS = BYTE_RATE_KEYS | {"request_percentage", "controller_mutation_rate"}
IP_KEYS = frozenset({"connection_creation_rate"})
# Kafka's ConfigDef types: LONG and INT values must be whole numbers.
WHOLE_NUMBER_KEYS = BYTE_RATE_KEYS | IP_KEYS
# Kafka's ScramMechanism bounds of the iteration count.
SCRAM_MIN_ITERATIONS, SCRAM_MAX_ITERATIONS = 4096, 16384
SCRAM_DEFAULT_ITERATIONS = 8192

_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]i?b|b)?\s*(?:/\s*s)?$", re.IGNORECASE)


def quota_value(key: str, value: Any) -> float:
    """Kafka's number for a quota value: ``10MiB/s`` → 10485760.0 for byte rates, a plain
    number for the others. Raises ValueError with a message fit for the user."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    if isinstance(value, str):
        match = _RATE.match(value.strip())
        if match is None or (match.group(2) and key not in BYTE_RATE_KEYS):
            expected = (
                "a byte rate such as 1048576, 512KiB/s, 10MiB/s"
                if key in BYTE_RATE_KEYS
                else "a number"
            )
            raise ValueError(f"{key}: cannot read {value!r} (expected {expected})")
        try:
            number = Decimal(match.group(1)) * SIZE_UNITS_BYTES[(match.group(2) or "b").lower()]
        except InvalidOperation:
            raise ValueError(f"{key}: cannot read {value!r}") from None
    else:
        number = Decimal(str(value))
    result = float(number)
    if not math.isfinite(result) or result <= 0:
        raise ValueError(f"{key}: {value!r} must be a positive number")
    if key in WHOLE_NUMBER_KEYS and number != number.to_integral_value():
        raise ValueError(f"{key}: {value!r} is not a whole number (Kafka stores it as an integer)")
    return result


def _scalar(value: Any) -> Any:
    if isinstance(value, dict | list) or value is None:
        raise ValueError("expected a single number or a rate such as 10MiB/s")
    return value


QuotaScalar = Annotated[str | int | float, BeforeValidator(_scalar)]


class QuotaSpec(SpecModel):
    """The quotas of one entity: a user, a client id, both, or an ip (``<default>``: the
    default entity of that type). Keys are Kafka's own (``producer_byte_rate``, ...)."""

    user: str | None = None
    client_id: str | None = None
    ip: str | None = None
    config: dict[str, QuotaScalar] = Field(default_factory=new_dict)
    """Quota key -> value; byte rates accept units (10MiB/s)."""

    @model_validator(mode="after")
    def _check(self) -> QuotaSpec:
        if self.ip is not None and (self.user is not None or self.client_id is not None):
            raise ValueError("an ip quota names only the ip (not a user or client id)")
        if self.ip is None and self.user is None and self.client_id is None:
            raise ValueError("name the entity: user, clientId, both, or ip")
        allowed = IP_KEYS if self.ip is not None else CLIENT_KEYS
        for key, value in self.config.items():
            if key not in allowed:
                kind = "an ip entity" if self.ip is not None else "a user/client-id entity"
                raise ValueError(
                    f"{key!r} is not a quota of {kind} (allowed: {', '.join(sorted(allowed))})"
                )
            quota_value(key, value)
        if not self.config:
            raise ValueError("config is empty: give at least one quota")
        return self

    def entity(self) -> tuple[tuple[str, str], ...]:
        """(entity type, name) pairs in Kafka's order: user, client-id / ip."""
        parts = [("user", self.user), ("client-id", self.client_id), ("ip", self.ip)]
        return tuple((kind, name) for kind, name in parts if name is not None)

    def values(self) -> dict[str, float]:
        return {key: quota_value(key, value) for key, value in self.config.items()}


class QuotaOwnership(SpecModel):
    """Quota entities this file manages even when it does not list them: those naming one
    of these users, client ids or ips (``<default>`` included)."""

    users: list[str] = Field(default_factory=new_list)
    client_ids: list[str] = Field(default_factory=new_list)
    ips: list[str] = Field(default_factory=new_list)
    deletion: DeletionPolicyField = DeletionPolicy.NEVER


class ScramMechanism(StrEnum):
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


ScramMechanismField = Annotated[ScramMechanism, _enum_by_value(ScramMechanism)]


class ScramCredentialSpec(SpecModel):
    """One SCRAM mechanism of a user, with its PBKDF2 iteration count."""

    mechanism: ScramMechanismField
    iterations: int = Field(
        default=SCRAM_DEFAULT_ITERATIONS, ge=SCRAM_MIN_ITERATIONS, le=SCRAM_MAX_ITERATIONS
    )


def _default_credentials() -> list[ScramCredentialSpec]:
    return [ScramCredentialSpec(mechanism=ScramMechanism.SCRAM_SHA_512)]


class UserSpec(SpecModel):
    """A SCRAM user. The password only by reference: the plan never reads or shows it (a
    changed password is applied with ``--rotate-credentials``; docs/spec.md)."""

    name: str = Field(min_length=1)
    password: SecretRef
    credentials: list[ScramCredentialSpec] = Field(default_factory=_default_credentials)

    @model_validator(mode="after")
    def _one_per_mechanism(self) -> UserSpec:
        mechanisms = [c.mechanism for c in self.credentials]
        if len(set(mechanisms)) != len(mechanisms):
            raise ValueError("a mechanism is listed twice")
        if not mechanisms:
            raise ValueError("credentials is empty: give at least one mechanism")
        return self


class UserOwnership(SpecModel):
    """SCRAM users this file manages even when it does not list them."""

    names: list[str] = Field(default_factory=new_list)
    prefixes: list[str] = Field(default_factory=new_list)
    deletion: DeletionPolicyField = DeletionPolicy.NEVER
    protected: list[str] = Field(default_factory=new_list)
    """Users never changed or removed (besides the tool's own and the brokers' super
    users), e.g. an inter-broker user that is not a super user."""
