"""``python -m reconciler.sandbox``: a detached Kafka + Redis sandbox for the demo and by hand.

up      start Kafka (and bare Redis nodes) that survive this command; write
        ``.sandbox/state.json`` and print ``export ...`` lines (``eval "$(... up)"``)
down    stop everything listed in the state file and remove it
status  show what runs (exit 0 all up, 1 nothing up, 2 some processes are gone)
env     print the ``export ...`` lines of the running sandbox again
fetch   resolve the Kafka jars into the cache (and check Java) without starting anything
build-kubernetes
        build etcd, kube-apiserver and kwok from the Go module proxy into the cache (once)

``up --kubernetes`` also starts a real Kubernetes control plane (etcd + kube-apiserver +
kwok, see :mod:`reconciler.sandbox.kubernetes`) with Redis pods in a namespace (default
``llm-analytics-hub``) set up with examples/kubernetes' RBAC; ``env`` then exports KUBECONFIG
(the ServiceAccount's token) and, without bare Redis nodes, LLM_ANALYTICS_NAMESPACE.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from reconciler.sandbox import _process as proc
from reconciler.sandbox._process import SandboxError
from reconciler.sandbox.jars import default_version, ensure_kafka, java_version, select_java
from reconciler.sandbox.kafka import SHAPES, KafkaSandbox
from reconciler.sandbox.redis import RedisSandbox

STATE_FILE = "state.json"


def _state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def load_state(state_dir: Path) -> dict[str, Any] | None:
    """The state written by ``up``, or None."""
    try:
        data = json.loads(_state_path(state_dir).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _ours(pid: int, workdir: str) -> bool:
    """True when ``pid`` runs and works inside ``workdir`` (guards against reused pids)."""
    if not proc.pid_alive(pid):
        return False
    try:
        cwd = Path(f"/proc/{pid}/cwd").resolve()
    except OSError:
        return True
    return cwd == Path(workdir) or Path(workdir) in cwd.parents


def _processes(state: dict[str, Any]) -> list[tuple[str, int, str]]:
    found = [
        (f"kafka node {k}", int(p), state["kafka_workdir"])
        for k, p in state.get("kafka_pids", {}).items()
    ]
    found += [
        (f"redis {port}", int(p), state["redis_workdir"])
        for port, p in state.get("redis_pids", {}).items()
    ]
    found += [
        (name, int(p), state["kubernetes_workdir"])
        for name, p in state.get("kubernetes_pids", {}).items()
    ]
    return found


def exports(state: dict[str, Any]) -> str:
    """Shell lines exporting the sandbox's endpoints (and, on secured shapes, credentials)."""
    kafka_env: dict[str, str] = state.get("kafka_env") or {
        "LLM_ANALYTICS_BOOTSTRAP_SERVERS": state["bootstrap_servers"]
    }
    lines = [f"export {name}={shlex.quote(value)}" for name, value in kafka_env.items()]
    if state.get("redis_addresses"):
        addresses = ",".join(state["redis_addresses"])
        lines.append(f"export LLM_ANALYTICS_REDIS_ADDRESSES={shlex.quote(addresses)}")
    if state.get("kubeconfig"):
        lines.append(f"export KUBECONFIG={shlex.quote(state['kubeconfig'])}")
        if not state.get("redis_addresses"):  # -n and --addresses exclude each other
            lines.append(f"export LLM_ANALYTICS_NAMESPACE={shlex.quote(state['redis_namespace'])}")
        lines.append(
            "# Kubernetes "
            f"{state.get('kubernetes_version', '')}: {state.get('kubernetes_server', '')}; "
            f"admin kubeconfig {state.get('admin_kubeconfig', '')}; try: "
            f"llm-analytics redis init -n {state['redis_namespace']}"
        )
    shape = state.get("kafka_shape")
    if state.get("kafka_users"):
        kind = {"scram": "SASL_SSL + SCRAM-SHA-512"}.get(shape or "", "SASL_PLAINTEXT + PLAIN")
        # Names only: output is read over shoulders and kept in CI logs; the passwords stay
        # in state.json (mode 0600), the admin's in the export above, which the tool reads.
        lines.append(
            f"# {kind} users (admin is super user): "
            + ", ".join(state["kafka_users"])
            + " (passwords: kafka_users in the sandbox's state.json)"
        )
    if state.get("kafka_client_certs"):
        lines.append(
            "# mTLS client certificates (CN=admin is super user): "
            + " ".join(f"{u}={c[0]}" for u, c in state["kafka_client_certs"].items())
        )
    return "\n".join(lines)


def _stop(state: dict[str, Any], state_dir: Path) -> None:
    pids = [pid for _, pid, workdir in _processes(state) if _ours(pid, workdir)]
    proc.terminate_pids(pids, grace=15)
    for key in ("kafka_workdir", "redis_workdir", "kubernetes_workdir"):
        if state.get(key):
            shutil.rmtree(state[key], ignore_errors=True)
    _state_path(state_dir).unlink(missing_ok=True)


def cmd_up(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    state = load_state(state_dir)
    if state is not None:
        alive = [name for name, pid, wd in _processes(state) if _ours(pid, wd)]
        if alive and len(alive) == len(_processes(state)):
            proc.info(
                f"sandbox already up (state in {_state_path(state_dir)}); "
                "'python -m reconciler.sandbox down' stops it"
            )
            print(exports(state))
            return 0
        proc.info("removing the remains of a previous sandbox")
        _stop(state, state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    for leftover in ("kafka", "redis", "kubernetes"):
        shutil.rmtree(state_dir / leftover, ignore_errors=True)

    began = time.monotonic()
    kafka = KafkaSandbox(args.shape, version=args.version, workdir=state_dir / "kafka")
    kafka.detach()
    redis: RedisSandbox | None = None
    k8s: Any = None
    k8s_state: dict[str, Any] = {}
    try:
        proc.info(f"starting Kafka {kafka.version} ({args.shape}) ...")
        kafka.start(timeout=args.timeout)
        if args.redis_nodes:
            redis = RedisSandbox(
                args.redis_nodes,
                formed=args.redis_formed,
                password=args.redis_password,
                workdir=state_dir / "redis",
            )
            redis.detach()
            proc.info(
                f"starting {args.redis_nodes} Redis nodes"
                f"{' (formed cluster)' if args.redis_formed else ' (bare)'} ..."
            )
            redis.start()
        if args.kubernetes:
            k8s, k8s_state = _start_kubernetes(args, state_dir)
    except BaseException:
        kafka.stop()
        if redis is not None:
            redis.stop()
        if k8s is not None:
            k8s.stop()
        raise
    state = {
        "kafka_shape": kafka.shape,
        "kafka_version": kafka.version,
        "bootstrap_servers": kafka.bootstrap_servers,
        "kafka_node_ids": kafka.node_ids,
        "kafka_pids": {str(k): v for k, v in kafka.pids.items()},
        "kafka_workdir": str(kafka.workdir),
        "kafka_users": kafka.users,
        "kafka_client_config": {
            k: v for k, v in kafka.client_config().items() if isinstance(v, str | int)
        },
        "kafka_env": kafka.connection_env(),
        "kafka_ca_file": str(kafka.ca_file) if kafka.ca_file else None,
        "kafka_client_certs": {u: [str(c), str(k)] for u, (c, k) in kafka.client_certs.items()},
        "redis_addresses": redis.addresses if redis else [],
        "redis_pids": {str(k): v for k, v in redis.pids.items()} if redis else {},
        "redis_workdir": str(redis.workdir) if redis else "",
        "redis_password": redis.password if redis else None,
        "redis_formed": bool(redis and redis.formed),
        **k8s_state,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "startup_seconds": round(time.monotonic() - began, 1),
    }
    path = _state_path(state_dir)
    path.touch(mode=0o600)
    path.chmod(0o600)  # it holds the sandbox users' passwords
    path.write_text(json.dumps(state, indent=2) + "\n")
    proc.info(
        f"up in {state['startup_seconds']}s; state in {_state_path(state_dir)}; "
        "stop with 'python -m reconciler.sandbox down' (or 'make sandbox-down')"
    )
    print(exports(state))
    return 0


def _start_kubernetes(args: argparse.Namespace, state_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The control plane, the examples' RBAC in the namespace, and Redis pods (bare nodes)."""
    from reconciler.sandbox.kubernetes import KUBERNETES_VERSION, KubernetesSandbox

    example = Path(__file__).resolve().parents[2] / "examples" / "kubernetes" / "drift-cronjob.yaml"
    k8s = KubernetesSandbox(nodes=3, workdir=state_dir / "kubernetes")
    k8s.detach()
    began = time.monotonic()
    proc.info(f"starting Kubernetes {KUBERNETES_VERSION} (etcd + kube-apiserver + kwok) ...")
    k8s.start(timeout=args.timeout)
    namespace = args.namespace
    if example.exists():
        k8s.apply_manifests(example.read_text(encoding="utf-8"), namespace)
        token = k8s.service_account_token(namespace, "llm-analytics", seconds=7 * 24 * 3600)
    else:  # an installed package without the examples: admin credentials
        k8s.ensure_namespace(namespace)
        token = k8s.admin_token
    kubeconfig = k8s.write_kubeconfig(state_dir / "kubeconfig", token, namespace=namespace)
    pods = k8s.redis_pods(namespace)
    pods.add(args.pods)
    proc.info(
        f"Kubernetes up in {time.monotonic() - began:.1f}s: {k8s.server}, "
        f"{args.pods} Redis pods in namespace {namespace}"
    )
    return k8s, {
        "kubernetes_version": KUBERNETES_VERSION,
        "kubernetes_server": k8s.server,
        "kubernetes_workdir": str(k8s.workdir),
        "kubernetes_pids": k8s.pids,
        "kubeconfig": str(kubeconfig),
        "admin_kubeconfig": str(k8s.kubeconfig),
        "redis_namespace": namespace,
        "redis_pods": {name: pod.ip for name, pod in pods.pods.items()},
        "kubernetes_startup_seconds": round(time.monotonic() - began, 1),
    }


def cmd_down(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    state = load_state(state_dir)
    if state is None:
        proc.info(f"nothing to stop (no {_state_path(state_dir)})")
        return 0
    _stop(state, state_dir)
    proc.info("sandbox stopped and removed")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state = load_state(args.state_dir.resolve())
    if state is None:
        print("sandbox: not up")
        return 1
    print(f"kafka {state['kafka_version']} ({state['kafka_shape']}): {state['bootstrap_servers']}")
    if state.get("redis_addresses"):
        formed = "formed" if state.get("redis_formed") else "bare"
        print(f"redis ({formed}): {','.join(state['redis_addresses'])}")
    if state.get("kubernetes_server"):
        print(
            f"kubernetes {state['kubernetes_version']}: {state['kubernetes_server']}, "
            f"pods in {state['redis_namespace']}: "
            + ", ".join(f"{n}={ip}" for n, ip in state.get("redis_pods", {}).items())
        )
    down = 0
    for name, pid, workdir in _processes(state):
        alive = _ours(pid, workdir)
        down += not alive
        print(f"  {name:<14} pid {pid:<8} {'running' if alive else 'GONE'}")
    return 2 if down else 0


def cmd_env(args: argparse.Namespace) -> int:
    state = load_state(args.state_dir.resolve())
    if state is None:
        proc.info("sandbox not up; start it with 'python -m reconciler.sandbox up'")
        return 1
    print(exports(state))
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    dist = ensure_kafka(args.version)
    java = select_java(dist)
    print(
        f"Kafka {dist.version}: {len(list(dist.lib.glob('*.jar')))} jars in {dist.lib}; "
        f"Java {java_version(java)} at {java}"
    )
    return 0


def cmd_build_kubernetes(args: argparse.Namespace) -> int:
    from reconciler.sandbox.kubebuild import ensure_binaries

    started = time.monotonic()
    bins = ensure_binaries()
    print(
        f"etcd, kube-apiserver, kwok in {bins.home / 'bin'} "
        f"(ready in {time.monotonic() - started:.0f}s)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reconciler.sandbox",
        description="Real Kafka (KRaft) and Redis Cluster nodes on 127.0.0.1 for the demo, "
        "tests and benchmarks.",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".sandbox"),
        help="where state.json and the node directories live (default .sandbox)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start a detached sandbox and print export lines")
    up.add_argument("--shape", choices=SHAPES, default="single")
    up.add_argument(
        "--version",
        default=None,
        help=f"Kafka version (default $KAFKA_VERSION or {default_version()})",
    )
    up.add_argument("--redis-nodes", type=int, default=6, help="0 for no Redis (default 6)")
    up.add_argument(
        "--redis-formed",
        action="store_true",
        help="form a cluster (3 masters x 1 replica for 6 nodes)",
    )
    up.add_argument("--redis-password", default=None)
    up.add_argument(
        "--kubernetes",
        action="store_true",
        help="also start etcd + kube-apiserver + kwok with Redis pods (built once from Go "
        "modules: the first run takes 10-30 minutes)",
    )
    up.add_argument("--namespace", default="llm-analytics-hub", help="of the Redis pods")
    up.add_argument("--pods", type=int, default=6, help="Redis pods (default 6)")
    up.add_argument("--timeout", type=float, default=180)
    up.set_defaults(func=cmd_up)

    sub.add_parser("down", help="stop the sandbox and remove its files").set_defaults(func=cmd_down)
    sub.add_parser("status", help="show the running sandbox").set_defaults(func=cmd_status)
    sub.add_parser("env", help="print the export lines again").set_defaults(func=cmd_env)
    fetch = sub.add_parser("fetch", help="resolve the Kafka jars into the cache")
    fetch.add_argument("--version", default=None)
    fetch.set_defaults(func=cmd_fetch)
    sub.add_parser(
        "build-kubernetes", help="build etcd, kube-apiserver and kwok into the cache"
    ).set_defaults(func=cmd_build_kubernetes)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
