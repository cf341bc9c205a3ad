"""Loading the Kubernetes client configuration for a spec's Kubernetes target.

Shared by the Redis pod transport and the apply lock's Lease backend. kubernetes-asyncio is
imported inside the function: only runs that target Kubernetes pay for it.
"""

from __future__ import annotations

import os
from typing import Any

from reconciler.errors import ConnectionFailure
from reconciler.spec.models import KubernetesTarget


async def load_configuration(target: KubernetesTarget) -> Any:
    """A kubernetes-asyncio ``Configuration``: the spec's kubeconfig, else ``KUBECONFIG``, else
    ``~/.kube/config``, else the in-cluster service account."""
    from kubernetes_asyncio import client as k8s_client
    from kubernetes_asyncio import config as k8s_config

    configuration = k8s_client.Configuration()
    config_file = target.kubeconfig or os.environ.get("KUBECONFIG")
    default = os.path.expanduser("~/.kube/config")
    where = config_file or default
    try:
        if config_file or os.path.exists(default) or target.context:
            await k8s_config.load_kube_config(
                config_file=os.path.expanduser(where),
                context=target.context,
                client_configuration=configuration,
                persist_config=False,
            )
        else:
            k8s_config.load_incluster_config(client_configuration=configuration)
    except (k8s_config.ConfigException, OSError, ValueError, TypeError) as problem:
        raise ConnectionFailure(
            "kubernetes",
            f"cannot load the Kubernetes configuration ({problem})",
            hint=f"check the kubeconfig ({where}) and context, or set KUBECONFIG",
        ) from None
    return configuration
