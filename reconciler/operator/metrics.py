"""Prometheus metrics of the operator (prometheus_client): the drift metrics of ``drift``
per cluster, plus check durations and failures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.engine.drifts import (
    METRIC_RESOURCES,
    METRIC_SUCCESS,
    METRIC_TIMESTAMP,
    drift_report,
)
from reconciler.operator.resources import resource_name
from reconciler.operator.statuses import CheckOutcome, CheckReport

METRIC_CHECK_SECONDS = "llm_analytics_operator_check_duration_seconds"
METRIC_CHECKS = "llm_analytics_operator_checks_total"


class FleetMetrics:
    """Gauges and counters labelled by ``cluster`` (``NAMESPACE/NAME``)."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.registry = registry
        self._resources = Gauge(
            METRIC_RESOURCES,
            "Resources that differ from the spec, by resource type (kind) and drift kind.",
            ["cluster", "kind", "drift"],
            registry=registry,
        )
        self._timestamp = Gauge(
            METRIC_TIMESTAMP, "Unix time of the last check.", ["cluster"], registry=registry
        )
        self._success = Gauge(
            METRIC_SUCCESS, "1 if the last check completed, else 0.", ["cluster"], registry=registry
        )
        self._seconds = Histogram(
            METRIC_CHECK_SECONDS,
            "Duration of one check (plan, or plan and apply) of one cluster.",
            ["cluster"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
            registry=registry,
        )
        self._series: dict[str, set[tuple[str, str]]] = {}  # cluster → (kind, drift) set
        self._checks = Counter(
            METRIC_CHECKS, "Checks by outcome.", ["cluster", "outcome"], registry=registry
        )

    @classmethod
    def start(cls, port: int | None) -> FleetMetrics:
        """Metrics on their own registry, served on ``port`` when one is given."""
        from prometheus_client import CollectorRegistry, start_http_server

        metrics = cls(CollectorRegistry())
        if port is not None:
            start_http_server(port, registry=metrics.registry)
        return metrics

    def observe(self, resource: Mapping[str, Any], report: CheckReport) -> None:
        """Record one check of one resource."""
        import time

        cluster = resource_name(resource)
        self._checks.labels(cluster, report.outcome.value).inc()
        self._seconds.labels(cluster).observe(report.duration_seconds)
        self._timestamp.labels(cluster).set(time.time())
        self._success.labels(cluster).set(0 if report.outcome is CheckOutcome.FAILED else 1)
        if report.plan is None:
            return
        counts = drift_report(report.plan, checked_at=report.checked_at).counts()
        for kind, drift in self._series.get(cluster, set()) - set(counts):
            self._resources.remove(cluster, kind, drift)  # no longer drifted: no series
        for (kind, drift), count in counts.items():
            self._resources.labels(cluster, kind, drift).set(count)
        self._series[cluster] = set(counts)
