"""Helpers shared by every test. Nothing here starts a service or imports a client library."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

INTEGRATION_DIR = Path(__file__).parent / "integration"

try:  # Hypothesis' per-example deadline measures the machine's load, not our code: off.
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.load_profile("shared-machine")
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass

# Kafka topic names allow [a-zA-Z0-9._-] and 249 characters; stay well below.
_NAME_LIMIT = 80


def make_unique_name(prefix: str, test_name: str) -> str:
    """``<prefix>-<test name>-<6 random hex>``, safe as a Kafka topic or principal name."""
    slug = re.sub(r"[^a-z0-9-]+", "-", test_name.lower().removeprefix("test_")).strip("-")
    suffix = secrets.token_hex(3)
    room = _NAME_LIMIT - len(prefix) - len(suffix) - 2
    slug = slug[:room].rstrip("-") or "x"
    return f"{prefix}-{slug}-{suffix}"


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[..., str]:
    """A factory of unique resource names for this test: ``unique_name("t")`` -> ``t-<test>-a1b2c3``."""

    def factory(prefix: str = "t") -> str:
        return make_unique_name(prefix, request.node.name)

    return factory


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration/ ``integration`` (before ``-m`` selects)."""
    for item in items:
        if INTEGRATION_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)
