"""A real Kubernetes control plane on loopback: etcd + kube-apiserver + kwok, and Redis pods.

The binaries come from :mod:`reconciler.sandbox.kubebuild` (built once from the Go module
proxy, cached). :class:`KubernetesSandbox` starts

- **etcd** on a free client port (data in the sandbox's temporary directory);
- **kube-apiserver** with RBAC authorization (``Node,RBAC``), TLS from a per-sandbox CA
  (openssl), an admin bearer token (``--token-auth-file``, group ``system:masters``) for the
  fixtures, and a service-account signing key, so that the TokenRequest API hands out real
  ServiceAccount tokens for the tool under test;
- **kwok**, which plays the kubelet of every node: our own Stage documents mark nodes Ready
  (InternalIP 127.0.0.1 and kwok's port as the kubelet endpoint) and pods Running/Ready with
  the pod IP the sandbox chose, and a ClusterExec runs ``exec`` commands on this host.

:class:`RedisPods` creates pods (``nodeName`` set: there is no scheduler) whose IPs are free
loopback addresses 127.0.X.Y; a ``redis-server`` bound to each pod IP plays the container, so
``redis-cli -h <pod IP>`` run through ``kubectl exec`` reaches that node exactly as inside a
real pod. A restart deletes and recreates the pod (same name, new IP, same data directory),
as a StatefulSet does when a pod is rescheduled with its volume.

There is no kube-controller-manager: namespaces are created with their ``default``
ServiceAccount by the sandbox, and no StatefulSet or Deployment controller runs.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from msgspec import Struct

from reconciler.sandbox import _process as proc
from reconciler.sandbox._process import HOST, SandboxError
from reconciler.sandbox.kubebuild import KUBERNETES_VERSION, KubernetesBinaries, ensure_binaries
from reconciler.sandbox.redis import (
    AclUser,
    auth_config,
    find_binary,
    resolve_users,
    tls_config,
)
from reconciler.sandbox.redis_tls import RedisTlsFiles

REDIS_PORT = 6379
POD_IP_ANNOTATION = "sandbox.llm-analytics.dev/pod-ip"
REDIS_LABELS = {
    "app.kubernetes.io/name": "redis-cluster",
    "app.kubernetes.io/instance": "redis",
    "app.kubernetes.io/component": "redis",
    "app": "redis-cluster",
}
ZONE_LABEL = "topology.kubernetes.io/zone"

KWOK_API = "kwok.x-k8s.io/v1alpha1"


def manifest(kind: str, name: str, api: str = "v1", **fields: Any) -> dict[str, Any]:
    """A Kubernetes object: ``apiVersion``, ``kind``, ``metadata.name`` and ``fields``
    (``metadata`` in ``fields`` is merged with the name)."""
    metadata = {"name": name, **fields.pop("metadata", {})}
    return {"apiVersion": api, "kind": kind, "metadata": metadata, **fields}


def _stage(name: str, kind: str, match: list[dict[str, Any]], then: dict[str, Any]) -> dict:
    """A kwok Stage: what kwok does to the ``kind`` objects that ``match``."""
    spec = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": match},
        "next": then,
    }
    return manifest("Stage", name, KWOK_API, spec=spec)


_NODE_STATUS = """\
{{ $now := Now }}
conditions:
- type: Ready
  status: "True"
  reason: KubeletReady
  message: kwok plays the kubelet
  lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
addresses:
- {type: InternalIP, address: {{ NodeIP | Quote }}}
- {type: Hostname, address: {{ .metadata.name | Quote }}}
daemonEndpoints:
  kubeletEndpoint:
    Port: {{ NodePort }}
allocatable: {cpu: "64", memory: 256Gi, pods: "250"}
capacity: {cpu: "64", memory: 256Gi, pods: "250"}
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  kubeProxyVersion: ""
phase: Running
"""
_POD_STATUS = """\
{{ $now := Now }}
{{ $ip := index .metadata.annotations "@POD_IP_ANNOTATION@" }}
conditions:
- {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  started: true
  state:
    running: {startedAt: {{ $now | Quote }}}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ $ip | Quote }}
podIPs:
- ip: {{ $ip | Quote }}
phase: Running
startTime: {{ $now | Quote }}
""".replace("@POD_IP_ANNOTATION@", POD_IP_ANNOTATION)
_NOT_DELETED = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}

# kwok's behaviour, written for this sandbox: node Ready, pod Running+Ready on the chosen IP,
# deleted pods removed, exec runs locally.
KWOK_CONFIG: list[dict[str, Any]] = [
    _stage(
        "sandbox-node-ready",
        "Node",
        [
            {
                "key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
                "operator": "NotIn",
                "values": ["True"],
            }
        ],
        {"statusTemplate": _NODE_STATUS},
    ),
    _stage(
        "sandbox-pod-ready",
        "Pod",
        [_NOT_DELETED, {"key": ".status.podIP", "operator": "DoesNotExist"}],
        {"statusTemplate": _POD_STATUS},
    ),
    _stage(
        "sandbox-pod-delete",
        "Pod",
        [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}],
        {"finalizers": {"empty": True}, "delete": True},
    ),
    manifest("ClusterExec", "sandbox-local-exec", KWOK_API, spec={"execs": [{"local": {}}]}),
]


def is_ready(status: dict[str, Any] | None) -> bool:
    """Whether an object's status has the condition ``Ready`` at ``True``."""
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (status or {}).get("conditions") or []
    )


class KubeApiError(SandboxError):
    """The API server answered with an error status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.status = status
        self.body = body
        try:
            self.reason = str(json.loads(body).get("reason", ""))
        except ValueError:
            self.reason = ""
        super().__init__(f"{method} {path}: HTTP {status}: {body[:500]}")


_RESOURCES = {
    # kind -> (api prefix, plural, namespaced)
    "Namespace": ("/api/v1", "namespaces", False),
    "Node": ("/api/v1", "nodes", False),
    "Pod": ("/api/v1", "pods", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Secret": ("/api/v1", "secrets", True),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "CronJob": ("/apis/batch/v1", "cronjobs", True),
    "Job": ("/apis/batch/v1", "jobs", True),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases", True),
    "CustomResourceDefinition": (
        "/apis/apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        False,
    ),
    "ClusterSpec": ("/apis/llm-analytics.io/v1", "clusterspecs", True),
    "KopfPeering": ("/apis/kopf.dev/v1", "kopfpeerings", True),
    "Event": ("/api/v1", "events", True),
}


def collection_path(kind: str, namespace: str | None = None) -> str:
    """The REST collection path of ``kind`` (in ``namespace`` when namespaced)."""
    try:
        prefix, plural, namespaced = _RESOURCES[kind]
    except KeyError:
        raise SandboxError(f"the sandbox does not know the resource kind {kind!r}") from None
    if namespaced:
        if not namespace:
            raise SandboxError(f"{kind} is namespaced: a namespace is needed")
        return f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{prefix}/{plural}"


class KubeClient:
    """A small synchronous client of the API server (urllib), for fixtures and set-up."""

    def __init__(self, server: str, ca_file: Path, token: str) -> None:
        self.server = server
        self.token = token
        self._context = ssl.create_default_context(cafile=str(ca_file))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        timeout: float = 30,
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=timeout) as reply:
                text = reply.read().decode()
        except urllib.error.HTTPError as problem:
            raise KubeApiError(method, path, problem.code, problem.read().decode()) from None
        return json.loads(text) if text.strip().startswith(("{", "[")) else text

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def create(self, obj: dict[str, Any], namespace: str | None = None) -> Any:
        ns = namespace or obj.get("metadata", {}).get("namespace")
        return self.request("POST", collection_path(obj["kind"], ns), obj)

    def delete(self, kind: str, name: str, namespace: str | None = None, grace: int = 0) -> None:
        path = f"{collection_path(kind, namespace)}/{name}"
        try:
            self.request("DELETE", path, {"gracePeriodSeconds": grace})
        except KubeApiError as problem:
            if problem.status != 404:
                raise

    def create_if_absent(self, obj: dict[str, Any], namespace: str | None = None) -> Any:
        """Create ``obj`` unless an object of its kind and name exists already (then
        ``None``)."""
        try:
            return self.create(obj, namespace)
        except KubeApiError as problem:
            if problem.status != 409:
                raise
            return None

    def exists(self, kind: str, name: str, namespace: str | None = None) -> bool:
        try:
            self.get(f"{collection_path(kind, namespace)}/{name}")
            return True
        except KubeApiError as problem:
            if problem.status == 404:
                return False
            raise


def kubeconfig_text(server: str, ca_file: Path, token: str, namespace: str | None = None) -> str:
    """A kubeconfig with one cluster, one bearer-token user and one current context."""
    context: dict[str, Any] = {"cluster": "sandbox", "user": "sandbox"}
    if namespace:
        context["namespace"] = namespace
    ca = base64.b64encode(ca_file.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "sandbox", "cluster": {"server": server, "certificate-authority-data": ca}}
        ],
        "users": [{"name": "sandbox", "user": {"token": token}}],
        "contexts": [{"name": "sandbox", "context": context}],
        "current-context": "sandbox",
    }
    return yaml.safe_dump(config, sort_keys=False)


class KubernetesSandbox(proc.Sandbox):
    """etcd + kube-apiserver + kwok on 127.0.0.1, with ``nodes`` kwok nodes across zones."""

    def __init__(self, *, nodes: int = 3, workdir: Path | None = None) -> None:
        if nodes < 1:
            raise ValueError("a Kubernetes sandbox needs at least one node")
        self.node_names = [f"node-{i}" for i in range(nodes)]
        self._own(f"{proc.TEMP_PREFIX}k8s-", workdir)
        self.etcd_port, self.etcd_peer_port, self.apiserver_port, self.kwok_port = proc.free_ports(
            4
        )
        self.server = f"https://{HOST}:{self.apiserver_port}"
        self.admin_token = secrets.token_hex(24)
        self.pki = self.workdir / "pki"
        self.kubeconfig = self.workdir / "admin.kubeconfig"
        self.binaries: KubernetesBinaries | None = None
        self.startup_seconds = 0.0
        self._client: KubeClient | None = None
        self._pods: list[RedisPods] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 120) -> None:
        """Build (once, cached) and start the control plane; wait until the nodes are Ready."""
        if self._started:
            return
        self.binaries = ensure_binaries()
        began = time.monotonic()
        deadline = began + timeout
        try:
            self._write_pki()
            self._spawn_etcd()
            self._wait(self._etcd_healthy, f"etcd on port {self.etcd_port}", "etcd", deadline)
            self._spawn_apiserver()
            self._wait(
                self._apiserver_ready,
                f"kube-apiserver /readyz on port {self.apiserver_port}",
                "kube-apiserver",
                deadline,
                interval=0.3,
            )
            self.write_kubeconfig(self.kubeconfig)
            self._spawn_kwok()
            self._wait(
                lambda: proc.port_open(self.kwok_port),
                f"kwok on port {self.kwok_port}",
                "kwok",
                deadline,
            )
            self._create_nodes()
            self._wait(self._nodes_ready, "the kwok nodes to become Ready", "kwok", deadline)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        self._started = True

    def stop(self) -> None:
        """Stop the Redis pods' servers, kwok, the API server and etcd; remove the directory."""
        self._started = False
        for pods in self._pods:
            pods.stop()
        self._pods.clear()
        # kwok and the API server first, etcd last (so the API server shuts down cleanly).
        procs = self._resources.procs
        for name in ("kwok", "kube-apiserver"):
            process = procs.pop(name, None)
            if process is not None:
                proc.terminate([process], grace=10)
        super().stop()

    @property
    def pids(self) -> dict[str, int]:
        """Process id of every running process, by name."""
        return {
            name: process.pid
            for name, process in self._resources.procs.items()
            if process.poll() is None
        }

    def log_tail(self, lines: int = 40) -> str:
        return proc.log_tails(
            (self._log(name) for name in ("etcd", "kube-apiserver", "kwok")), lines
        )

    def __repr__(self) -> str:
        return f"KubernetesSandbox(server={self.server!r}, nodes={self.node_names!r})"

    # ------------------------------------------------------------------ API

    @property
    def ca_file(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def client(self) -> KubeClient:
        """An admin client (group system:masters)."""
        if self._client is None:
            self._client = KubeClient(self.server, self.ca_file, self.admin_token)
        return self._client

    def client_for(self, token: str) -> KubeClient:
        return KubeClient(self.server, self.ca_file, token)

    def write_kubeconfig(
        self, path: Path, token: str | None = None, namespace: str | None = None
    ) -> Path:
        """A kubeconfig for ``token`` (default: the admin token)."""
        path.write_text(
            kubeconfig_text(self.server, self.ca_file, token or self.admin_token, namespace),
            encoding="utf-8",
        )
        path.chmod(0o600)
        return path

    def ensure_namespace(self, name: str) -> None:
        """Create the namespace and its ``default`` ServiceAccount (no controller does it)."""
        self.client.create_if_absent(manifest("Namespace", name))
        self.client.create_if_absent(manifest("ServiceAccount", "default"), name)

    def apply_manifests(self, text: str, namespace: str) -> list[dict[str, Any]]:
        """Create every document of a YAML manifest, moved into ``namespace``.

        Namespaced objects get ``namespace``; ServiceAccount subjects of bindings that named
        the manifest's namespace follow it. A cluster-scoped binding of such a subject is
        renamed ``NAME-NAMESPACE`` (one per namespace); a cluster-scoped object that exists
        already is left as it is. Returns the created objects.
        """
        self.ensure_namespace(namespace)
        created = []
        docs = [doc for doc in yaml.safe_load_all(text) if doc]
        originals = {d.get("metadata", {}).get("namespace") for d in docs} | {None}
        for doc in docs:
            meta = doc.setdefault("metadata", {})
            namespaced = _RESOURCES.get(doc["kind"], ("", "", True))[2]
            if namespaced:
                meta["namespace"] = namespace
            moved = False
            for subject in doc.get("subjects") or []:
                if (
                    subject.get("kind") == "ServiceAccount"
                    and subject.get("namespace") in originals
                ):
                    subject["namespace"] = namespace
                    moved = True
            if moved and not namespaced:
                meta["name"] = f"{meta['name']}-{namespace}"
            made = (
                self.client.create(doc, namespace)
                if namespaced
                else self.client.create_if_absent(doc)
            )
            if made is not None:
                created.append(made)
        return created

    def service_account_token(
        self, namespace: str, name: str, seconds: int = 3600, audiences: list[str] | None = None
    ) -> str:
        """A token of ServiceAccount ``namespace/name`` from the TokenRequest API."""
        body: dict[str, Any] = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": seconds},
        }
        if audiences:
            body["spec"]["audiences"] = audiences
        reply = self.client.request(
            "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", body
        )
        return str(reply["status"]["token"])

    def redis_pods(
        self,
        namespace: str,
        *,
        labels: dict[str, str] | None = None,
        password: str | None = None,
        acl_users: Sequence[AclUser] | None = None,
        tls: bool = False,
        tls_auth_clients: Literal["no", "yes", "optional"] = "no",
        node_timeout_ms: int = 1000,
    ) -> RedisPods:
        """A :class:`RedisPods` set in ``namespace`` (created when missing); stopped with us."""
        self.ensure_namespace(namespace)
        pods = RedisPods(
            self,
            namespace,
            labels=labels,
            password=password,
            acl_users=acl_users,
            tls=tls,
            tls_auth_clients=tls_auth_clients,
            node_timeout_ms=node_timeout_ms,
        )
        self._pods.append(pods)
        return pods

    # ------------------------------------------------------------------ internals

    def _log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def _wait(
        self,
        check: Callable[[], bool],
        what: str,
        log: str,
        deadline: float,
        *,
        interval: float = 0.2,
    ) -> None:
        """Wait for ``check`` until ``deadline`` (5 s at least); then show the ``log``."""
        proc.wait_for(
            check,
            timeout=max(5.0, deadline - time.monotonic()),
            interval=interval,
            what=what,
            on_timeout=lambda: self._tail(log),
        )

    def _tail(self, name: str, lines: int = 40) -> str:
        return proc.log_tails([self._log(name)], lines)

    def _spawn(self, name: str, argv: list[str]) -> None:
        self._resources.procs[name] = proc.spawn(
            argv, log_file=self._log(name), cwd=self.workdir, detached=self._resources.detached
        )

    def _openssl(self, *args: str) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise SandboxError(
                "openssl is needed for the Kubernetes sandbox's certificates "
                "(apt-get install openssl)"
            )
        done = subprocess.run(
            [openssl, *args], cwd=self.pki, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SandboxError(f"openssl {args[0]} failed: {done.stderr.strip()}")

    def _write_pki(self) -> None:
        """A CA, the API server's serving certificate, the service-account key, the tokens."""
        self.pki.mkdir(parents=True, exist_ok=True)
        (self.pki / "san.cnf").write_text(
            "[req]\ndistinguished_name = dn\n[dn]\n"
            "[ext]\nsubjectAltName = IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\n"
            "basicConstraints = CA:FALSE\nkeyUsage = digitalSignature,keyEncipherment\n"
            "extendedKeyUsage = serverAuth\n",
            encoding="utf-8",
        )
        self._openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
        self._openssl(
            "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=llm-analytics-sandbox-ca",
            "-days", "30", "-out", "ca.crt",
        )  # fmt: skip
        self._openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key")
        self._openssl(
            "req", "-new", "-key", "server.key", "-subj", "/CN=kube-apiserver",
            "-out", "server.csr", "-config", "san.cnf",
        )  # fmt: skip
        self._openssl(
            "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "30", "-out", "server.crt",
            "-extfile", "san.cnf", "-extensions", "ext",
        )  # fmt: skip
        self._openssl("genrsa", "-out", "sa.key", "2048")
        self._openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")
        (self.pki / "tokens.csv").write_text(
            f'{self.admin_token},sandbox-admin,sandbox-admin,"system:masters"\n', encoding="utf-8"
        )
        for path in self.pki.iterdir():
            path.chmod(0o600)

    def _spawn_etcd(self) -> None:
        assert self.binaries is not None
        peer = f"http://{HOST}:{self.etcd_peer_port}"
        client = f"http://{HOST}:{self.etcd_port}"
        self._spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=sandbox",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=sandbox={peer}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",
                "--log-level=warn",
                "--listen-metrics-urls=",
            ],
        )

    def _etcd_healthy(self) -> bool:
        try:
            url = f"http://{HOST}:{self.etcd_port}/health"
            with urllib.request.urlopen(url, timeout=1) as reply:
                return bool(json.loads(reply.read()).get("health") == "true")
        except (OSError, ValueError):
            return False

    def _spawn_apiserver(self) -> None:
        assert self.binaries is not None
        pki = self.pki
        self._spawn(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers=http://{HOST}:{self.etcd_port}",
                f"--bind-address={HOST}",
                f"--advertise-address={HOST}",
                f"--secure-port={self.apiserver_port}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={pki / 'server.crt'}",
                f"--tls-private-key-file={pki / 'server.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--token-auth-file={pki / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC",
                "--anonymous-auth=false",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--kubelet-preferred-address-types=InternalIP",
                "--allow-privileged=true",
                "--profiling=false",
                "--endpoint-reconciler-type=none",
                "--v=1",
            ],
        )

    def _apiserver_ready(self) -> bool:
        process = self._resources.procs.get("kube-apiserver")
        if process is not None and process.poll() is not None:
            raise SandboxError(
                f"kube-apiserver exited with {process.returncode}\n{self._tail('kube-apiserver')}"
            )
        if not proc.port_open(self.apiserver_port):
            return False
        try:
            return bool(self.client.request("GET", "/readyz", timeout=3) == "ok")
        except (OSError, SandboxError):
            return False

    def _spawn_kwok(self) -> None:
        assert self.binaries is not None
        config = self.workdir / "kwok.yaml"
        config.write_text(yaml.safe_dump_all(KWOK_CONFIG, sort_keys=False), encoding="utf-8")
        self._spawn(
            "kwok",
            [
                str(self.binaries.kwok),
                f"--config={config}",
                f"--kubeconfig={self.kubeconfig}",
                "--manage-all-nodes=true",
                f"--node-ip={HOST}",
                f"--node-port={self.kwok_port}",
                f"--server-address={HOST}:{self.kwok_port}",
                "--node-lease-duration-seconds=0",
            ],
        )

    def _create_nodes(self) -> None:
        for index, name in enumerate(self.node_names):
            labels = {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "type": "kwok",
                ZONE_LABEL: f"zone-{chr(ord('a') + index % 26)}",
            }
            metadata = {"labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}}
            self.client.create_if_absent(manifest("Node", name, metadata=metadata))

    def _nodes_ready(self) -> bool:
        nodes = self.client.get("/api/v1/nodes")["items"]
        ready = {n["metadata"]["name"] for n in nodes if is_ready(n.get("status"))}
        return set(self.node_names) <= ready


# ----------------------------------------------------------------------------- Redis pods


class RedisPod(Struct):
    name: str
    ip: str
    node_name: str
    zone: str
    workdir: Path


_used_ips: set[str] = set()


def _port_free(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


def free_pod_ip() -> str:
    """A loopback address 127.0.X.Y (X >= 10) whose Redis and bus ports are free."""
    rng = random.Random()
    for _ in range(5000):
        ip = f"127.0.{rng.randint(10, 254)}.{rng.randint(2, 254)}"
        if ip in _used_ips:
            continue
        if _port_free(ip, REDIS_PORT) and _port_free(ip, REDIS_PORT + 10000):
            _used_ips.add(ip)
            return ip
    raise SandboxError("no free loopback address for a pod")


class RedisPods:
    """Redis pods of one namespace: a real Pod object each, and a redis-server on its IP.

    Pods are spread round-robin over the sandbox's nodes (so replicas can be placed on other
    hosts and zones). ``kill`` ends a pod's server and marks the pod not Ready (as a kubelet
    would after the container died); ``restart`` recreates the pod on a new IP.

    Security shapes as in :class:`~reconciler.sandbox.redis.RedisSandbox`: ``password``
    (requirepass + masterauth), ``acl_users`` (the ``default`` user off without a password;
    replicas log in as ``replication`` when there is one) and ``tls`` (port 6379 is the
    tls-port, ``tls-cluster``/``tls-replication`` on, ``tls_auth_clients``). Each pod's
    server certificate names its pod IP (reissued when a restart moves it); the CA and the
    client certificate are shared (:attr:`tls`). Since exec runs on this host, their paths
    are also the paths "inside the pods" (``tls.inPod``). Secrets live in each pod's
    ``redis.conf`` (mode 0600), never on a command line.
    """

    def __init__(
        self,
        sandbox: KubernetesSandbox,
        namespace: str,
        *,
        labels: dict[str, str] | None = None,
        password: str | None = None,
        acl_users: Sequence[AclUser] | None = None,
        tls: bool = False,
        tls_auth_clients: Literal["no", "yes", "optional"] = "no",
        node_timeout_ms: int = 1000,
    ) -> None:
        self.sandbox = sandbox
        self.namespace = namespace
        self.labels = dict(labels or REDIS_LABELS)
        self.password = password
        self.acl_users: list[AclUser] = list(acl_users or [])
        self.admin_user, self.replication_user = resolve_users(self.acl_users, password)
        self.tls_enabled = tls
        self.tls_auth_clients = tls_auth_clients
        self.tls: RedisTlsFiles | None = None
        self.node_timeout_ms = node_timeout_ms
        self.root = sandbox.workdir / "pods" / namespace
        self.pods: dict[str, RedisPod] = {}
        #: where the tool under test finds its credentials (set by whoever made the namespace)
        self.kubeconfig: Path | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def client(self) -> KubeClient:
        return self.sandbox.client

    def add(self, count: int, timeout: float = 30) -> list[str]:
        """Start ``count`` more pods (named redis-cluster-N, round-robin over the nodes)."""
        nodes = self.sandbox.node_names
        names = []
        for _ in range(count):
            index = len(self.pods)
            host = index % len(nodes)
            pod = RedisPod(
                name=f"redis-cluster-{index}",
                ip=free_pod_ip(),
                node_name=nodes[host],
                zone=f"zone-{chr(ord('a') + host % 26)}",
                workdir=self.root / f"redis-cluster-{index}",
            )
            pod.workdir.mkdir(parents=True, exist_ok=True)
            self.pods[pod.name] = pod
            self._launch(pod)
            names.append(pod.name)
        for name in names:
            self._wait_server(self.pods[name], timeout)
            self._create_pod(self.pods[name])
        for name in names:
            self._wait_pod_ready(self.pods[name], timeout)
        return names

    def addresses(self) -> list[str]:
        return [f"{p.ip}:{REDIS_PORT}" for p in self.pods.values()]

    @property
    def admin_password(self) -> str | None:
        """The password of the admin user (or ``password``)."""
        if self.admin_user is not None:
            return next(u.password for u in self.acl_users if u.name == self.admin_user)
        return self.password

    def cli_args(self) -> list[str]:
        """redis-cli options for these pods (``--user``, ``--tls --cacert ...``); the
        password belongs in ``REDISCLI_AUTH``."""
        args = ["--user", self.admin_user] if self.admin_user else []
        if self.tls is not None:
            args += ["--tls", "--cacert", str(self.tls.ca_file)]
            args += ["--cert", str(self.tls.client_cert), "--key", str(self.tls.client_key)]
        return args

    def client_kwargs(self) -> dict[str, Any]:
        """redis-py connection options (username, password, ssl_*) as the admin user."""
        kwargs: dict[str, Any] = {"username": self.admin_user, "password": self.admin_password}
        if self.tls is not None:
            kwargs.update(
                ssl=True,
                ssl_ca_certs=str(self.tls.ca_file),
                ssl_certfile=str(self.tls.client_cert),
                ssl_keyfile=str(self.tls.client_key),
            )
        return kwargs

    def kill(self, name: str) -> None:
        """The pod's server dies (SIGKILL); the pod stays, not Ready."""
        pod = self.pods[name]
        self._terminate(name, sig=signal.SIGKILL)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        patch = {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                     "lastTransitionTime": now},
                    {"type": "ContainersReady", "status": "False",
                     "reason": "ContainersNotReady", "lastTransitionTime": now},
                ],
                "containerStatuses": [
                    {"name": "redis", "ready": False, "started": False,
                     "state": {"terminated": {"exitCode": 137, "reason": "Error",
                                              "finishedAt": now}}}
                ],
            }
        }  # fmt: skip
        self.client.request(
            "PATCH",
            f"/api/v1/namespaces/{self.namespace}/pods/{pod.name}/status",
            patch,
            content_type="application/strategic-merge-patch+json",
        )

    def restart(self, name: str, new_ip: bool = True, timeout: float = 30) -> str:
        """Reschedule the pod: delete it, start its server again (on a new IP by default, with
        the same data directory and so the same nodes.conf), recreate the pod; its new IP."""
        pod = self.pods[name]
        self._terminate(name)
        self.client.delete("Pod", name, self.namespace, grace=0)
        proc.wait_for(
            lambda: not self.client.exists("Pod", name, self.namespace),
            timeout=timeout,
            what=f"pod {self.namespace}/{name} to be deleted",
        )
        if new_ip:
            old_ip, pod.ip = pod.ip, free_pod_ip()  # never the same address again
            _used_ips.discard(old_ip)
        self._launch(pod)
        self._wait_server(pod, timeout)
        self._create_pod(pod)
        self._wait_pod_ready(pod, timeout)
        return pod.ip

    def stop(self) -> None:
        """Stop every pod's server (the pod objects stay in the API server)."""
        proc.terminate(list(self._procs.values()), grace=5)
        self._procs.clear()
        for pod in self.pods.values():
            _used_ips.discard(pod.ip)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        return proc.log_tails((p.workdir / "redis.log" for p in self.pods.values()), lines)

    # ------------------------------------------------------------------ internals

    def _launch(self, pod: RedisPod) -> None:
        config = pod.workdir / "redis.conf"
        config.touch(mode=0o600)
        config.chmod(0o600)
        config.write_text(self._config_text(pod), encoding="utf-8")
        argv = [find_binary("redis-server"), str(config)]
        process = proc.spawn(
            argv,
            log_file=pod.workdir / "redis.log",
            cwd=pod.workdir,
            detached=self.sandbox._resources.detached,
        )
        self._procs[pod.name] = process
        self.sandbox._resources.procs[f"redis {self.namespace}/{pod.name}"] = process

    def _config_text(self, pod: RedisPod) -> str:
        """The pod's ``redis.conf``: it holds the secrets (mode 0600, not argv)."""
        # bind-source-addr: cluster-bus connections leave from the pod IP, as in a pod network.
        lines = [
            f"bind {pod.ip}",
            f"bind-source-addr {pod.ip}",
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            f"cluster-node-timeout {self.node_timeout_ms}",
            'save ""',
            "appendonly no",
            f'dir "{pod.workdir}"',
            'logfile ""',
            "daemonize no",
            "protected-mode no",
        ]
        if self.tls_enabled:
            from reconciler.sandbox import redis_tls

            if self.tls is None:
                self.tls = redis_tls.generate(
                    self.root / "tls", client_name=self.admin_user or "ops"
                )
            cert, key = redis_tls.issue_server_certificate(self.tls.directory, pod.name, (pod.ip,))
            lines += tls_config(
                self.tls,
                tls_port=REDIS_PORT,
                auth_clients=self.tls_auth_clients,
                server_cert=cert,
                server_key=key,
            )
        else:
            lines.append(f"port {REDIS_PORT}")
        lines += auth_config(
            password=self.password,
            acl_users=self.acl_users,
            replication_user=self.replication_user,
        )
        return "\n".join(lines) + "\n"

    def _terminate(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self._procs.pop(name, None)
        self.sandbox._resources.procs.pop(f"redis {self.namespace}/{name}", None)
        if process is None or process.poll() is not None:
            return
        if sig == signal.SIGKILL:
            proc.signal_group(process.pid, signal.SIGKILL)
            process.wait(10)
        else:
            proc.terminate([process], grace=10)

    def _wait_server(self, pod: RedisPod, timeout: float) -> None:
        proc.wait_for(
            lambda: proc.port_open(REDIS_PORT, pod.ip),
            timeout=timeout,
            interval=0.05,
            what=f"redis-server of pod {pod.name} on {pod.ip}:{REDIS_PORT}",
            on_timeout=lambda: proc.tail(pod.workdir / "redis.log", 20),
        )

    def _create_pod(self, pod: RedisPod) -> None:
        metadata = {
            "labels": {**self.labels, "statefulset.kubernetes.io/pod-name": pod.name},
            "annotations": {POD_IP_ANNOTATION: pod.ip},
        }
        body = manifest(
            "Pod",
            pod.name,
            metadata=metadata,
            spec={
                "nodeName": pod.node_name,
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "redis",
                        "image": "redis:7.0",
                        "ports": [
                            {"name": "tcp-redis", "containerPort": REDIS_PORT},
                            {"name": "tcp-redis-bus", "containerPort": REDIS_PORT + 10000},
                        ],
                    }
                ],
            },
        )
        self.client.create(body, self.namespace)

    def _wait_pod_ready(self, pod: RedisPod, timeout: float) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/pods/{pod.name}"

        def ready() -> bool:
            status = self.client.get(path).get("status") or {}
            return status.get("podIP") == pod.ip and is_ready(status)

        proc.wait_for(
            ready,
            timeout=timeout,
            interval=0.1,
            what=f"pod {self.namespace}/{pod.name} to become Ready on {pod.ip}",
            on_timeout=lambda: self.sandbox._tail("kwok"),
        )


def environment(sandbox: KubernetesSandbox) -> dict[str, str]:
    """Variables that point kubectl-style tools at the sandbox."""
    return {"KUBECONFIG": str(sandbox.kubeconfig)}


__all__ = [
    "KUBERNETES_VERSION",
    "KubeApiError",
    "KubeClient",
    "KubernetesSandbox",
    "RedisPods",
    "environment",
]
