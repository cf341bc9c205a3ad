"""The built-in topic catalog and the example spec describe the same 14 topics."""

from __future__ import annotations

from pathlib import Path

from reconciler.catalog import LLM_TOPIC_NAMES, LLM_TOPICS
from reconciler.spec.loading import load_spec
from reconciler.spec.resolving import resolve_topics

EXAMPLE = Path(__file__).parents[2] / "cluster-spec.example.yaml"


def test_catalog_matches_the_example_spec() -> None:
    spec = load_spec(EXAMPLE).spec
    assert spec.kafka is not None
    assert resolve_topics(spec.kafka) == list(LLM_TOPICS)


def test_catalog_has_the_design_documents_partition_counts() -> None:
    assert len(LLM_TOPIC_NAMES) == 14
    partitions = {t.name: t.partitions for t in LLM_TOPICS}
    assert partitions == {
        "llm-events": 32,
        "llm-metrics": 32,
        "llm-analytics": 16,
        "llm-traces": 32,
        "llm-errors": 16,
        "llm-audit": 8,
        "llm-aggregated-metrics": 16,
        "llm-alerts": 8,
        "llm-usage-stats": 16,
        "llm-model-performance": 16,
        "llm-cost-tracking": 8,
        "llm-session-events": 16,
        "llm-user-feedback": 8,
        "llm-system-health": 8,
    }
    assert all(
        t.replication_factor == 3
        and t.config["compression.type"] == "lz4"
        and t.config["min.insync.replicas"] == "2"
        for t in LLM_TOPICS
    )
    assert (
        next(t for t in LLM_TOPICS if t.name == "llm-audit").config["cleanup.policy"] == "compact"
    )
