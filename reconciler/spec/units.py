"""Humane units for Kafka topic config values, turned into Kafka's own string form.

``retention.ms: 7d`` becomes ``"604800000"``, ``segment.bytes: 1GiB`` becomes ``"1073741824"``.
Which keys take durations and which take sizes comes from :mod:`reconciler.spec.topic_configs`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Literal

from msgspec import Struct

from reconciler.spec.topic_configs import (
    KAFKA_TYPE_OF_MAXIMUM,
    TOPIC_CONFIGS,
    ConfigKind,
    TopicConfigDef,
)

DURATION_UNITS_MS: dict[str, int] = {
    "ms": 1,
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}
SIZE_UNITS_BYTES: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "pb": 1000**5,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "pib": 1024**5,
}
INFINITE_WORDS = ("-1", "infinite", "unlimited")

_NUMBER = r"\d+(?:\.\d+)?"
_DURATION_PART = re.compile(rf"({_NUMBER})\s*(ms|s|m|h|d|w)")
_DURATION = re.compile(rf"^(?:{_NUMBER}\s*(?:ms|s|m|h|d|w)\s*)+$")
_SIZE = re.compile(rf"^({_NUMBER})\s*([kmgtp]i?b|b)$", re.IGNORECASE)
_INTEGER = re.compile(r"^[+-]?\d+$")
_REPLICA_LIST = re.compile(r"^\d+:\d+(?:,\d+:\d+)*$")

_DURATION_HELP = "a whole number of milliseconds or a duration such as 500ms, 45s, 30m, 12h, 7d, 1w"
_SIZE_HELP = "a whole number of bytes or a size such as 100B, 10KiB, 512MiB, 1GiB, 1GB"


def parse_duration_ms(text: str) -> int:
    """``"7d"`` → 604800000; ``"1h30m"`` → 5400000. Raises ValueError on anything else."""
    compact = text.strip()
    if not _DURATION.match(compact):
        raise ValueError(f"cannot read {text!r} as a duration (expected {_DURATION_HELP})")
    total = Decimal(0)
    for number, unit in _DURATION_PART.findall(compact):
        total += Decimal(number) * DURATION_UNITS_MS[unit]
    if total != total.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of milliseconds")
    return int(total)


def parse_size_bytes(text: str) -> int:
    """``"1GiB"`` → 1073741824; ``"1GB"`` → 1000000000. Raises ValueError on anything else."""
    match = _SIZE.match(text.strip())
    if match is None:
        raise ValueError(f"cannot read {text!r} as a size (expected {_SIZE_HELP})")
    number, unit = match.groups()
    total = Decimal(number) * SIZE_UNITS_BYTES[unit.lower()]
    if total != total.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return int(total)


def _whole_number(value: object, parse_unit: Callable[[str], int], help_text: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected {help_text}, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError(f"expected {help_text}, got {value!r}")
    text = str(value).strip()
    if _INTEGER.match(text):
        return int(text)
    return parse_unit(text)


def _check_range(definition: TopicConfigDef, number: int | float, written: object) -> None:
    if number in definition.also_allowed:
        return
    text = str(number) if len(str(number)) <= 40 else f"a {len(str(number))}-digit number"
    shown = f"{written!r} = {text}" if str(written) != str(number) else text
    if definition.minimum is not None and number < definition.minimum:
        raise ValueError(f"{shown} is below the minimum {definition.minimum}")
    if definition.maximum is not None and number > definition.maximum:
        kafka_type = KAFKA_TYPE_OF_MAXIMUM.get(int(definition.maximum))
        why = f" ({definition.key} is a Kafka {kafka_type})" if kafka_type else ""
        raise ValueError(f"{shown} is above the maximum {definition.maximum}{why}")


def _normalize_number(definition: TopicConfigDef, value: object) -> str:
    if definition.infinite and isinstance(value, str) and value.strip().lower() in INFINITE_WORDS:
        return "-1"
    if definition.kind is ConfigKind.MS:
        number = _whole_number(value, parse_duration_ms, _DURATION_HELP)
    elif definition.kind is ConfigKind.BYTES:
        number = _whole_number(value, parse_size_bytes, _SIZE_HELP)
    else:
        number = _whole_number(value, _reject_text, "a whole number")
    _check_range(definition, number, value)
    return str(number)


def _reject_text(text: str) -> int:
    raise ValueError(f"expected a whole number, got {text!r}")


def _normalize_ratio(definition: TopicConfigDef, value: object) -> str:
    if isinstance(value, bool):
        raise ValueError("expected a number between 0 and 1, got a boolean")
    try:
        number = float(Decimal(str(value).strip()))
    except (InvalidOperation, ValueError):
        raise ValueError(f"expected a number between 0 and 1, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a number between 0 and 1, got {value!r}")
    _check_range(definition, number, value)
    return repr(number)


def _normalize_bool(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower()
    raise ValueError(f"expected true or false, got {value!r}")


def _normalize_choice(definition: TopicConfigDef, value: object) -> str:
    by_lower = {choice.lower(): choice for choice in definition.choices}
    if isinstance(value, str) and value.strip().lower() in by_lower:
        return by_lower[value.strip().lower()]
    raise ValueError(f"{value!r} is not one of: {', '.join(definition.choices)}")


def _normalize_list(definition: TopicConfigDef, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a comma-separated list of {', '.join(definition.choices)}")
    items = [item.strip().lower() for item in value.split(",")]
    unknown = [item for item in items if item not in definition.choices]
    if not value.strip() or unknown:
        raise ValueError(
            f"{value!r} is not a comma-separated list of: {', '.join(definition.choices)}"
        )
    if len(set(items)) != len(items):
        raise ValueError(f"{value!r} repeats a value")
    return ",".join(items)


def _normalize_replica_list(value: object) -> str:
    text = str(value).replace(" ", "")
    if text in ("", "*") or _REPLICA_LIST.match(text):
        return text
    raise ValueError(f"expected '*' or 'partition:broker,...' (e.g. 0:101,1:102), got {value!r}")


def normalize_topic_config(key: str, value: object) -> str:
    """Return Kafka's own string form of a topic config value.

    Durations (``ms`` keys) and sizes (``bytes`` keys) accept units; ``-1``, ``infinite`` and
    ``unlimited`` mean no limit where Kafka allows it; booleans become ``true``/``false``.
    Raises ValueError with a message fit for the user when the value does not fit the key.
    Keys Kafka does not know are passed through unchecked (the semantic checks report them).
    """
    definition = TOPIC_CONFIGS.get(key)
    if definition is None:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    kind = definition.kind
    if kind in (ConfigKind.MS, ConfigKind.BYTES, ConfigKind.INT):
        return _normalize_number(definition, value)
    if kind is ConfigKind.RATIO:
        return _normalize_ratio(definition, value)
    if kind is ConfigKind.BOOL:
        return _normalize_bool(value)
    if kind is ConfigKind.ENUM:
        return _normalize_choice(definition, value)
    if kind is ConfigKind.LIST:
        return _normalize_list(definition, value)
    if kind is ConfigKind.REPLICA_LIST:
        return _normalize_replica_list(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_rate(text: str) -> int:
    """``50MiB/s`` (or ``50MiB``, or a number of bytes per second) → bytes per second."""
    compact = text.strip()
    compact = compact[:-2] if compact.lower().endswith("/s") else compact
    if compact.isdigit():
        rate = int(compact)
    else:
        try:
            rate = parse_size_bytes(compact)
        except ValueError:
            raise ValueError(
                f"cannot read {text!r} as a rate (expected bytes per second, e.g. 50MiB/s)"
            ) from None
    if rate <= 0:
        raise ValueError(f"{text!r}: a throttle must be above 0 bytes per second")
    return rate


class MoveRate(Struct, frozen=True):
    """A limit on how fast Redis slot moves carry data: keys or bytes per second."""

    per_second: float
    unit: Literal["keys", "bytes"]

    def spelled(self) -> str:
        """The exact form :func:`parse_move_rate` reads back (``2000keys/s``, ``20971520/s``)."""
        if self.unit == "keys":
            return f"{self.per_second:g}keys/s"
        return f"{round(self.per_second)}/s"

    def __str__(self) -> str:
        if self.unit == "keys":
            return f"{self.per_second:,.0f} keys/s"
        return f"{approximate_size(self.per_second)}/s"


def parse_move_rate(text: str) -> MoveRate:
    """``2000keys/s`` (keys per second) or ``20MiB/s`` (bytes per second) → a :class:`MoveRate`."""
    compact = text.strip().replace(" ", "")
    lowered = compact.lower()
    for suffix in ("keys/s", "key/s"):
        if lowered.endswith(suffix):
            number = compact[: -len(suffix)].replace(",", "").replace("_", "")
            try:
                keys = float(number)
            except ValueError:
                break
            if not math.isfinite(keys) or keys <= 0:
                raise ValueError(f"{text!r}: a move rate must be above 0 keys per second")
            return MoveRate(keys, "keys")
    try:
        return MoveRate(float(parse_rate(compact)), "bytes")
    except ValueError:
        raise ValueError(
            f"cannot read {text!r} as a move rate (expected keys or bytes per second, e.g. "
            "2000keys/s or 20MiB/s)"
        ) from None


# --------------------------------------------------------------------------- humane display

# Largest first; weeks are left out on purpose: "14d" reads better than "2w".
_DISPLAY_DURATIONS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000))
_DISPLAY_SIZES = (
    ("PiB", 1024**5),
    ("TiB", 1024**4),
    ("GiB", 1024**3),
    ("MiB", 1024**2),
    ("KiB", 1024),
    ("PB", 1000**5),
    ("TB", 1000**4),
    ("GB", 1000**3),
    ("MB", 1000**2),
    ("KB", 1000),
)


def format_duration_ms(ms: int) -> str:
    """604800000 → ``"7d"``, 5400000 → ``"90m"``, 1500 → ``"1500ms"``: the largest unit that
    divides ``ms`` exactly, so that :func:`parse_duration_ms` reads back the same number."""
    if ms == 0:
        return "0ms"
    for unit, size in _DISPLAY_DURATIONS:
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def format_size_bytes(count: int) -> str:
    """1073741824 → ``"1GiB"``, 1000000 → ``"1MB"``, 1000 → ``"1KB"``, 1234 → ``"1234B"``:
    exact only (binary units first), so that :func:`parse_size_bytes` reads back the same."""
    if count == 0:
        return "0B"
    for unit, size in _DISPLAY_SIZES:
        if count % size == 0:
            return f"{count // size}{unit}"
    return f"{count}B"


def approximate_size(count: int | float) -> str:
    """A size for reading, not for reading back: ``1.5 GiB``, ``820 KiB``, ``12 B``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - the loop returns


def humane_config_value(key: str, value: object) -> str | None:
    """The spec's humane form of a Kafka topic config value (``retention.ms`` "2592000000"
    → ``"30d"``, ``segment.bytes`` "1073741824" → ``"1GiB"``), or ``None`` when the key takes
    no unit, the value is not a whole number (``-1`` stays as it is) or no unit divides it
    (``1048588`` stays as it is: a humane form must read back exactly)."""
    definition = TOPIC_CONFIGS.get(key)
    if definition is None or definition.kind not in (ConfigKind.MS, ConfigKind.BYTES):
        return None
    text = str(value).strip() if isinstance(value, str | int) else ""
    if isinstance(value, bool) or not text.isdigit():
        return None
    number = int(text)
    if definition.kind is ConfigKind.MS:
        shown = format_duration_ms(number)
        return None if shown.endswith("ms") else shown
    shown = format_size_bytes(number)
    return None if shown[-2].isdigit() else shown  # "1234B": no unit divides it
