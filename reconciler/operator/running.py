"""Starting the operator: kopf with our handlers, a Kubernetes client for Secrets and status,
peering so that one replica is active per scope, and an optional Prometheus endpoint."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping, Sequence
from typing import Any, cast

from msgspec import Struct, field

from reconciler.errors import ConnectionFailure, ReconcilerError
from reconciler.operator.handlers import CheckSettings, Fleet, register
from reconciler.operator.metrics import FleetMetrics
from reconciler.operator.resources import GROUP, PLURAL, VERSION, SecretKeyRef
from reconciler.operator.statuses import CheckReport, plan_config_map, status_patch

log = logging.getLogger(__name__)

DEFAULT_PEERING = "llm-analytics"


class OperatorOptions(Struct, frozen=True):
    """``llm-analytics operator``'s options."""

    namespaces: Sequence[str] = ()  # none: every namespace (cluster-wide)
    checks: CheckSettings = field(default_factory=CheckSettings)
    peering: str | None = DEFAULT_PEERING  # None: standalone, no peering
    priority: int = 0
    peering_lifetime: int = 60  # seconds a silent active replica keeps its place
    metrics_port: int | None = None
    liveness_endpoint: str | None = None


class KubernetesAccess:
    """The operator's own API calls (kopf watches; this reads Secrets, writes status)."""

    def __init__(self, api: Any) -> None:
        self._api = api

    @classmethod
    async def connect(cls) -> KubernetesAccess:
        from kubernetes_asyncio import client

        from reconciler.providers.kubernetes_config import load_configuration
        from reconciler.spec.models import KubernetesTarget

        configuration = await load_configuration(KubernetesTarget(namespace="default"))
        return cls(client.ApiClient(configuration))

    async def read_secret(self, namespace: str, ref: SecretKeyRef) -> str:
        from kubernetes_asyncio import client
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            secret = await client.CoreV1Api(self._api).read_namespaced_secret(ref.name, namespace)
        except ApiException as problem:
            raise ConnectionFailure(
                "kubernetes",
                f"cannot read Secret {namespace}/{ref.name}: {problem.status} {problem.reason}",
                reached=True,
            ) from None
        data = secret.data or {}
        if ref.key not in data:
            raise ReconcilerError(f"Secret {namespace}/{ref.name} has no key {ref.key!r}")
        return base64.b64decode(data[ref.key]).decode("utf-8")

    async def write_status(self, resource: Mapping[str, Any], report: CheckReport) -> None:
        from kubernetes_asyncio import client
        from kubernetes_asyncio.client.exceptions import ApiException

        metadata = resource.get("metadata", {})
        status = status_patch(report, resource)
        try:
            await client.CustomObjectsApi(self._api).patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                metadata.get("namespace"),
                PLURAL,
                metadata.get("name"),
                {"status": status},
                # Custom resources take no strategic merge patch, the client's default.
                _content_type="application/merge-patch+json",  # type: ignore[call-arg]
            )
        except ApiException as problem:
            if problem.status != 404:  # deleted meanwhile: nothing to tell
                log.warning(
                    "cannot write the status of %s/%s: %s %s",
                    metadata.get("namespace"),
                    metadata.get("name"),
                    problem.status,
                    problem.reason,
                )

    async def write_plan(self, resource: Mapping[str, Any], report: CheckReport) -> None:
        """The whole plan in the ConfigMap ``plan_config_map(...)`` (owned by the resource,
        so it goes with it); the status holds only its summary."""
        from kubernetes_asyncio import client
        from kubernetes_asyncio.client.exceptions import ApiException

        if report.plan is None:
            return
        metadata = resource.get("metadata", {})
        namespace = metadata.get("namespace")
        body = plan_config_map(resource, report.plan)
        api = client.CoreV1Api(self._api)
        name = body["metadata"]["name"]
        try:
            try:
                await api.replace_namespaced_config_map(name, namespace, cast(Any, body))
            except ApiException as problem:
                if problem.status != 404:
                    raise
                await api.create_namespaced_config_map(namespace, cast(Any, body))
        except ApiException as problem:
            log.warning(
                "cannot write the plan ConfigMap %s/%s: %s %s",
                namespace,
                name,
                problem.status,
                problem.reason,
            )

    async def close(self) -> None:
        await self._api.close()


async def run_operator(options: OperatorOptions, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM, which kopf handles)."""
    import kopf

    access = await KubernetesAccess.connect()
    metrics = FleetMetrics.start(options.metrics_port)
    fleet = Fleet(
        options.checks,
        access.read_secret,
        access.write_status,
        observe=metrics.observe,
        write_plan=access.write_plan,
    )
    registry = kopf.OperatorRegistry()
    register(registry, fleet)
    settings = kopf.OperatorSettings()
    settings.posting.level = logging.INFO
    settings.peering.mandatory = options.peering is not None
    settings.peering.lifetime = options.peering_lifetime
    # Watching CRDs cluster-wide would need a ClusterRole for nothing: ClusterSpec is known.
    settings.scanning.disabled = True
    try:
        await kopf.operator(
            registry=registry,
            settings=settings,
            standalone=options.peering is None,
            peering_name=options.peering,
            priority=options.priority,
            clusterwide=not options.namespaces,
            namespaces=list(options.namespaces),
            liveness_endpoint=options.liveness_endpoint,
            stop_flag=stop,
        )
    finally:
        await access.close()
