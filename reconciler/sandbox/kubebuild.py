"""etcd, kube-apiserver and kwok built from the Go module proxy, cached across runs.

Nothing prebuilt is downloaded: each binary is compiled from published Go modules into
``${LLM_ANALYTICS_CACHE:-~/.cache/llm-analytics}/kubernetes-<version>/bin``.

- **etcd**: a wrapper module requiring ``go.etcd.io/etcd/{server,api,client/pkg,client/v3,pkg}``
  at one version; ``go build go.etcd.io/etcd/server/v3``.
- **kube-apiserver**: ``k8s.io/kubernetes`` cannot be required as is (its go.mod points its
  staging modules at local paths), so a wrapper module requires it and replaces every staging
  module named in that go.mod by its published ``v0.<minor>.<patch>`` release.
- **kwok**: built from its own module source, extracted from the module cache, with one change
  of ours (:data:`KWOK_PATCH`): a non-zero exit of an exec'd command is returned as
  ``k8s.io/utils/exec.CodeExitError``, so the API server reports Status reason
  ``NonZeroExitCode`` with the exit code as a kubelet does (stock kwok reports an
  InternalError without the code).

A build is done once per cache (a marker file records its inputs); concurrent callers wait on a
file lock. ``python -m reconciler.sandbox build-kubernetes`` runs it; ``make deps`` calls that.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

from msgspec import Struct

from reconciler.sandbox._process import SandboxError, info
from reconciler.sandbox.jars import cache_root

KUBERNETES_VERSION = "1.36.3"
ETCD_VERSION = "3.6.16"
KWOK_VERSION = "0.8.0"
# Staging modules published later than the rest for this release.
STAGING_OVERRIDES = {"k8s.io/sample-apiserver": "v0.36.4"}
ETCD_MODULES = (
    "go.etcd.io/etcd/server/v3",
    "go.etcd.io/etcd/api/v3",
    "go.etcd.io/etcd/client/pkg/v3",
    "go.etcd.io/etcd/client/v3",
    "go.etcd.io/etcd/pkg/v3",
)
BINARIES = ("etcd", "kube-apiserver", "kwok")
_MARKER = ".complete"

# Our change to kwok's pkg/kwok/server/debugging_exec.go: (original, replacement) pairs.
KWOK_PATCH_FILE = "pkg/kwok/server/debugging_exec.go"
KWOK_PATCH = (
    (
        '\t"github.com/emicklei/go-restful/v3"\n',
        '\t"github.com/emicklei/go-restful/v3"\n\tutilexec "k8s.io/utils/exec"\n',
    ),
    (
        '\t"context"\n',
        '\t"context"\n\t"errors"\n\tosexec "os/exec"\n',
    ),
    (
        "\terr := utilsexec.Exec(ctx, cmd[0], cmd[1:]...)\n\tif err != nil {\n\t\treturn err\n",
        "\terr := utilsexec.Exec(ctx, cmd[0], cmd[1:]...)\n\tif err != nil {\n"
        "\t\t// llm-analytics: report the exit code like a kubelet (Status NonZeroExitCode).\n"
        "\t\tvar exitErr *osexec.ExitError\n"
        "\t\tif errors.As(err, &exitErr) {\n"
        "\t\t\treturn utilexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}\n"
        "\t\t}\n"
        "\t\treturn err\n",
    ),
)


class KubernetesBinaries(Struct, frozen=True):
    """Paths of the built control-plane binaries."""

    home: Path

    @property
    def etcd(self) -> Path:
        return self.home / "bin" / "etcd"

    @property
    def kube_apiserver(self) -> Path:
        return self.home / "bin" / "kube-apiserver"

    @property
    def kwok(self) -> Path:
        return self.home / "bin" / "kwok"


def _inputs() -> dict[str, object]:
    return {
        "kubernetes": KUBERNETES_VERSION,
        "etcd": ETCD_VERSION,
        "kwok": KWOK_VERSION,
        "overrides": STAGING_OVERRIDES,
        "patch": hashlib.sha256(repr(KWOK_PATCH).encode()).hexdigest(),
    }


def home() -> Path:
    """The cache folder of this control-plane build."""
    configured = os.environ.get("LLM_ANALYTICS_KUBERNETES_HOME")
    if configured:
        return Path(configured).expanduser()
    return cache_root() / f"kubernetes-{KUBERNETES_VERSION}"


def cached() -> KubernetesBinaries | None:
    """The binaries when a complete build of the current inputs is cached, else None."""
    bins = KubernetesBinaries(home())
    marker = bins.home / _MARKER
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if recorded.get("inputs") != _inputs():
        return None
    if not all(os.access(p, os.X_OK) for p in (bins.etcd, bins.kube_apiserver, bins.kwok)):
        return None
    return bins


def find_go() -> str:
    """The ``go`` command: ``$GO``, PATH, or /usr/local/go/bin/go."""
    for candidate in (os.environ.get("GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SandboxError(
        "the Kubernetes sandbox is built from Go modules and needs Go 1.26 or newer "
        "(not found on PATH nor at /usr/local/go/bin/go; set GO=/path/to/go)"
    )


def ensure_binaries() -> KubernetesBinaries:
    """Build (once, under a file lock) and return etcd, kube-apiserver and kwok."""
    found = cached()
    if found is not None:
        return found
    root = home()
    root.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{root.name}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = cached()
        if found is not None:
            return found
        return _build(root)


class _Go:
    def __init__(self, work: Path) -> None:
        self.go = find_go()
        self.work = work
        self.log = work / "build.log"
        env = dict(os.environ)
        env.update(
            GOFLAGS="-mod=mod -buildvcs=false",
            CGO_ENABLED="0",
            GOTOOLCHAIN="local",
            GOWORK="off",
        )
        env.setdefault("GOPROXY", "https://proxy.golang.org,direct")
        self.env = env

    def run(self, *args: str, cwd: Path, capture: bool = False) -> str:
        with open(self.log, "a", encoding="utf-8") as log:
            log.write(f"\n$ (cd {cwd}) go {' '.join(args)}\n")
            log.flush()
            proc = subprocess.run(
                [self.go, *args],
                cwd=cwd,
                env=self.env,
                stdout=subprocess.PIPE if capture else log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                check=False,
            )
        if proc.returncode != 0:
            lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
            raise SandboxError(
                f"go {' '.join(args[:2])} failed (exit {proc.returncode}) in {cwd}; "
                f"log {self.log}:\n" + "\n".join(lines[-40:])
            )
        return proc.stdout or ""

    def download(self, module: str) -> dict[str, str]:
        out = self.run("mod", "download", "-json", module, cwd=self.work, capture=True)
        data: dict[str, str] = json.loads(out)
        if data.get("Error"):
            raise SandboxError(f"go mod download {module}: {data['Error']}")
        return data

    def version(self) -> tuple[int, int]:
        out = subprocess.run(
            [self.go, "env", "GOVERSION"], capture_output=True, text=True, check=False
        ).stdout
        match = re.match(r"go(\d+)\.(\d+)", out.strip())
        return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _go_directive(gomod: str) -> str:
    match = re.search(r"^go (\S+)$", gomod, re.M)
    return match.group(1) if match else "1.26.0"


def _build(root: Path) -> KubernetesBinaries:
    started = time.monotonic()
    work = root / "src"
    if work.exists():
        shutil.rmtree(work, onerror=_make_writable_and_retry)
    work.mkdir(parents=True)
    (root / "bin").mkdir(exist_ok=True)
    go = _Go(work)
    if go.version() < (1, 26):
        raise SandboxError(f"{go.go} is older than Go 1.26, which Kubernetes 1.36 needs")
    jobs = os.environ.get("LLM_ANALYTICS_GO_JOBS", str(max(1, min(os.cpu_count() or 2, 4))))
    info(f"building etcd {ETCD_VERSION}, kube-apiserver {KUBERNETES_VERSION}, kwok {KWOK_VERSION}")
    info(f"from the Go module proxy into {root} (cold: 10-30 minutes; log {go.log})")
    (work / "go.mod").write_text("module llmanalytics.local/probe\n\ngo 1.26.0\n", encoding="utf-8")

    # etcd
    etcd = work / "etcd"
    etcd.mkdir()
    requires = "".join(f"\t{m} v{ETCD_VERSION}\n" for m in ETCD_MODULES)
    (etcd / "go.mod").write_text(
        f"module llmanalytics.local/etcd\n\ngo 1.26.0\n\nrequire (\n{requires})\n", encoding="utf-8"
    )
    go.run(
        "build", "-p", jobs, "-trimpath", "-ldflags=-s -w",
        "-o", str(root / "bin" / "etcd"), "go.etcd.io/etcd/server/v3",
        cwd=etcd,
    )  # fmt: skip
    info(f"etcd built ({time.monotonic() - started:.0f} s)")

    # kube-apiserver
    apiserver = work / "kube-apiserver"
    apiserver.mkdir()
    kube = go.download(f"k8s.io/kubernetes@v{KUBERNETES_VERSION}")
    kube_mod = Path(kube["GoMod"]).read_text(encoding="utf-8")
    staging = re.findall(r"^\s*(k8s\.io/\S+) => \./staging/", kube_mod, re.M)
    if not staging:
        raise SandboxError("no staging modules found in the go.mod of k8s.io/kubernetes")
    minor_patch = KUBERNETES_VERSION.split(".", 1)[1]
    replaces = "".join(
        f"\t{m} => {m} {STAGING_OVERRIDES.get(m, 'v0.' + minor_patch)}\n" for m in staging
    )
    godebug = "".join(line + "\n" for line in re.findall(r"^godebug .*$", kube_mod, re.M))
    (apiserver / "go.mod").write_text(
        "module llmanalytics.local/kube-apiserver\n\n"
        f"go {_go_directive(kube_mod)}\n\n{godebug}\n"
        f"require k8s.io/kubernetes v{KUBERNETES_VERSION}\n\nreplace (\n{replaces})\n",
        encoding="utf-8",
    )
    major, minor = KUBERNETES_VERSION.split(".")[:2]
    ldflags = " ".join(
        f"-X k8s.io/component-base/version.{name}={value}"
        for name, value in (
            ("gitVersion", f"v{KUBERNETES_VERSION}"),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
        )
    )
    go.run(
        "build", "-p", jobs, "-trimpath", f"-ldflags=-s -w {ldflags}",
        "-o", str(root / "bin" / "kube-apiserver"), "k8s.io/kubernetes/cmd/kube-apiserver",
        cwd=apiserver,
    )  # fmt: skip
    info(f"kube-apiserver built ({time.monotonic() - started:.0f} s)")

    # kwok, patched
    source = Path(go.download(f"sigs.k8s.io/kwok@v{KWOK_VERSION}")["Dir"])
    kwok = work / "kwok"
    shutil.copytree(source, kwok)
    for path in [kwok, *kwok.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    _patch_kwok(kwok / KWOK_PATCH_FILE)
    go.run(
        "build", "-p", jobs, "-trimpath", "-ldflags=-s -w",
        "-o", str(root / "bin" / "kwok"), "./cmd/kwok",
        cwd=kwok,
    )  # fmt: skip
    took = time.monotonic() - started
    info(f"kwok built; control plane ready in {took:.0f} s")
    (root / _MARKER).write_text(
        json.dumps({"inputs": _inputs(), "seconds": round(took)}, indent=2), encoding="utf-8"
    )
    shutil.rmtree(work, onerror=_make_writable_and_retry)
    found = cached()
    if found is None:  # pragma: no cover - the marker was just written
        raise SandboxError(f"the Kubernetes build in {root} is incomplete")
    return found


def _patch_kwok(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for original, replacement in KWOK_PATCH:
        if text.count(original) != 1:
            raise SandboxError(f"kwok patch does not apply to {path}: {original.strip()!r}")
        text = text.replace(original, replacement)
    path.write_text(text, encoding="utf-8")


def _make_writable_and_retry(func, path, _exc):
    os.chmod(path, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
    parent = os.path.dirname(path)
    os.chmod(parent, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
    func(path)
