"""Humane units for Kafka config values (placeholder: full version owned by the spec work)."""

from __future__ import annotations


def normalize_topic_config(key: str, value: object) -> str:
    """Return Kafka's own string form of a topic config value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
