"""The operator under test: the examples' CRDs and RBAC on the real kube-apiserver, and
``llm-analytics operator run`` as a process with a token of the examples' ServiceAccount."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.operator.manifests import crd_yaml
from reconciler.sandbox.kubernetes import KubeApiError, KubeClient, KubernetesSandbox

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "operator"
OPERATOR_ACCOUNT = "llm-analytics-operator"
CLUSTERSPECS = "/apis/llm-analytics.io/v1/namespaces/{ns}/clusterspecs"


@pytest.fixture(scope="session")
def operator_crds(kubernetes: KubernetesSandbox) -> None:
    """The ClusterSpec CRD (generated) and kopf's peering CRDs, established."""
    documents = [yaml.safe_load(crd_yaml())]
    documents += list(yaml.safe_load_all((EXAMPLES / "peering-crds.yaml").read_text()))
    for document in documents:
        try:
            kubernetes.client.create(document)
        except KubeApiError as problem:
            if problem.status != 409:
                raise
    deadline = time.monotonic() + 30
    for document in documents:
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{document['metadata']['name']}"
        while time.monotonic() < deadline:
            conditions = kubernetes.client.get(path).get("status", {}).get("conditions", [])
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                break
            time.sleep(0.2)


@dataclass
class OperatorNamespace:
    """A namespace set up like examples/operator, the admin client and the operator's kubeconfig."""

    name: str
    client: KubeClient
    kubeconfig: Path
    processes: list[OperatorProcess] = field(default_factory=list)

    def create(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": "llm-analytics.io/v1",
            "kind": "ClusterSpec",
            "metadata": {"name": name, "namespace": self.name},
            "spec": spec,
        }
        return dict(self.client.create(body))

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.client.get(CLUSTERSPECS.format(ns=self.name) + f"/{name}"))

    def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        self.client.request(
            "PATCH",
            CLUSTERSPECS.format(ns=self.name) + f"/{name}",
            {"spec": spec},
            content_type="application/merge-patch+json",
        )

    def secret(self, name: str, data: dict[str, str]) -> None:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}
        self.client.create(body, self.name)

    def events(self, name: str) -> list[dict[str, Any]]:
        items = self.client.get(f"/api/v1/namespaces/{self.name}/events")["items"]
        return [e for e in items if e["involvedObject"].get("name") == name]

    def config_map(self, name: str, operator: OperatorProcess) -> dict[str, Any]:
        try:
            return dict(self.client.get(f"/api/v1/namespaces/{self.name}/configmaps/{name}"))
        except KubeApiError as problem:
            raise AssertionError(f"{problem}\noperator log:\n{operator.log_tail()}") from None

    def wait_for(
        self, name: str, check: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        resource = self.get(name)
        while not check(resource):
            if time.monotonic() > deadline:
                logs = "\n".join(p.log_tail() for p in self.processes)
                raise AssertionError(
                    f"{name}: not as expected within {timeout}s; status: "
                    f"{resource.get('status')}\noperator logs:\n{logs}"
                )
            time.sleep(0.5)
            resource = self.get(name)
        return resource

    def start_operator(self, *args: str) -> OperatorProcess:
        process = OperatorProcess.start(self, list(args))
        self.processes.append(process)
        return process


@dataclass
class OperatorProcess:
    """``llm-analytics operator run -n NAMESPACE ...`` with the operator's ServiceAccount."""

    popen: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, namespace: OperatorNamespace, args: list[str]) -> OperatorProcess:
        log = namespace.kubeconfig.parent / f"operator-{secrets.token_hex(3)}.log"
        env = {**os.environ, "KUBECONFIG": str(namespace.kubeconfig)}
        argv = [sys.executable, "-m", "reconciler.cli.main", "operator", "run"]
        argv += ["-n", namespace.name, *args]
        with log.open("wb") as stream:
            popen = subprocess.Popen(argv, env=env, stdout=stream, stderr=subprocess.STDOUT)
        return cls(popen, log)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def kill(self) -> None:
        self.popen.kill()
        self.popen.wait()


def condition(resource: dict[str, Any], kind: str) -> str | None:
    """The status ("True"/"False") of a condition of a resource, if it has one."""
    for item in resource.get("status", {}).get("conditions", []):
        if item["type"] == kind:
            return str(item["status"])
    return None


@pytest.fixture
def operator_namespace(
    kubernetes: KubernetesSandbox, operator_crds: None, tmp_path: Path
) -> Iterator[OperatorNamespace]:
    """A fresh namespace with examples/operator's RBAC and peering object; operator processes
    started in it are stopped afterwards."""
    name = f"op-{secrets.token_hex(3)}"
    kubernetes.apply_manifests((EXAMPLES / "rbac.yaml").read_text(), name)
    kubernetes.apply_manifests((EXAMPLES / "peering.yaml").read_text(), name)
    token = kubernetes.service_account_token(name, OPERATOR_ACCOUNT)
    kubeconfig = tmp_path / "kubeconfig"
    kubernetes.write_kubeconfig(kubeconfig, token, namespace=name)
    namespace = OperatorNamespace(name, kubernetes.client, kubeconfig)
    try:
        yield namespace
    finally:
        for process in namespace.processes:
            process.stop()
