"""Several drift checks' metrics in one Prometheus exposition."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from reconciler.engine.drifts import merged_metrics_text, metrics_text


def test_each_metric_once_with_every_checks_samples() -> None:
    texts = [
        metrics_text(
            None, success=True, timestamp=1.0, duration=0.5, labels={"spec": "a.yaml", "env": ""}
        ),
        metrics_text(
            None, success=False, timestamp=2.0, duration=0.1, labels={"spec": "b.yaml", "env": ""}
        ),
    ]
    merged = merged_metrics_text(texts)
    assert merged.count("# TYPE llm_analytics_drift_last_check_success gauge") == 1
    families = {f.name: f for f in text_string_to_metric_families(merged)}
    success = {
        s.labels["spec"]: s.value
        for s in families["llm_analytics_drift_last_check_success"].samples
    }
    assert success == {"a.yaml": 1.0, "b.yaml": 0.0}
