"""The pure parts of the Kubernetes sandbox: the kwok patch, kwok's config, kubeconfigs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.sandbox import kubebuild, kubernetes
from reconciler.sandbox._process import SandboxError

# The shape of the lines the patch changes in kwok 0.8.0's debugging_exec.go.
UPSTREAM = """package server

import (
\t"context"
\t"fmt"

\t"github.com/emicklei/go-restful/v3"
\t"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

func (s *Server) execInContainer(ctx context.Context, cmd []string) error {
\terr := utilsexec.Exec(ctx, cmd[0], cmd[1:]...)
\tif err != nil {
\t\treturn err
\t}
\treturn nil
}
"""


def test_the_kwok_patch_applies_once_and_wraps_exit_errors(tmp_path: Path) -> None:
    path = tmp_path / "debugging_exec.go"
    path.write_text(UPSTREAM)
    kubebuild._patch_kwok(path)
    patched = path.read_text()
    assert 'utilexec "k8s.io/utils/exec"' in patched
    assert 'osexec "os/exec"' in patched and '"errors"' in patched
    assert "utilexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}" in patched
    with pytest.raises(SandboxError, match="does not apply"):
        kubebuild._patch_kwok(path)  # the original lines are gone: never patched twice


def test_kwok_config_documents() -> None:
    # What kwok reads: the documents as written to its config file.
    docs = list(yaml.safe_load_all(yaml.safe_dump_all(kubernetes.KWOK_CONFIG, sort_keys=False)))
    assert [d["kind"] for d in docs] == ["Stage", "Stage", "Stage", "ClusterExec"]
    assert kubernetes.POD_IP_ANNOTATION in docs[1]["spec"]["next"]["statusTemplate"]
    assert "@POD_IP_ANNOTATION@" not in docs[1]["spec"]["next"]["statusTemplate"]
    assert {d["apiVersion"] for d in docs} == {kubernetes.KWOK_API}


def test_kubeconfig_for_a_token(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    config = yaml.safe_load(
        kubernetes.kubeconfig_text("https://127.0.0.1:1", ca, "tok", namespace="ns")
    )
    assert config["users"][0]["user"] == {"token": "tok"}
    assert config["contexts"][0]["context"]["namespace"] == "ns"
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1"


def test_collection_paths() -> None:
    assert kubernetes.collection_path("Pod", "a") == "/api/v1/namespaces/a/pods"
    assert kubernetes.collection_path("ClusterRole") == (
        "/apis/rbac.authorization.k8s.io/v1/clusterroles"
    )
    with pytest.raises(SandboxError):
        kubernetes.collection_path("Role")
    with pytest.raises(SandboxError):
        kubernetes.collection_path("Gadget", "a")
