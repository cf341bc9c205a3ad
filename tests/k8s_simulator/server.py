"""A small Kubernetes API server for tests: pods, nodes, leases and the exec websocket.

It speaks the real paths and wire formats that kubernetes-asyncio uses, so product code
goes through its ordinary configuration loading (a kubeconfig with a bearer token) and API
client. ``exec`` really runs the requested command as a local subprocess and streams it
back with the ``v4.channel.k8s.io`` framing: binary frames prefixed by the channel byte
(1 stdout, 2 stderr, 3 a Status JSON document carrying the exit code).

The server runs its own event loop in a daemon thread, so it serves synchronous tests,
CLI runs (which start their own loops) and async tests alike.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

EXEC_PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")


@dataclass
class SimPod:
    name: str
    namespace: str
    labels: dict[str, str]
    pod_ip: str
    node_name: str
    phase: str = "Running"
    ready: bool = True
    containers: list[str] = field(default_factory=lambda: ["redis"])
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    restarts: int = 0

    def to_json(self) -> dict[str, Any]:
        ready = "True" if self.ready and self.phase == "Running" else "False"
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                "labels": dict(self.labels),
                "resourceVersion": "1",
            },
            "spec": {
                "nodeName": self.node_name,
                "containers": [{"name": c, "image": "redis:7"} for c in self.containers],
            },
            "status": {
                "phase": self.phase,
                "podIP": self.pod_ip or None,
                "podIPs": [{"ip": self.pod_ip}] if self.pod_ip else [],
                "hostIP": "10.0.0.1",
                "conditions": [
                    {"type": "Ready", "status": ready},
                    {"type": "ContainersReady", "status": ready},
                ],
                "containerStatuses": [
                    {
                        "name": c,
                        "ready": ready == "True",
                        "restartCount": self.restarts,
                        "image": "redis:7",
                        "imageID": "",
                        "started": True,
                    }
                    for c in self.containers
                ],
            },
        }


def _match(labels: dict[str, str], selector: str) -> bool:
    """Equality-based label selectors (``a=b,c!=d,e``) and ``key in (x,y)``."""
    if not selector:
        return True
    depth, term, terms = 0, "", []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(term)
            term = ""
        else:
            term += char
    terms.append(term)
    for raw in terms:
        term = raw.strip()
        if not term:
            continue
        if " in " in term or " notin " in term:
            key, op, values = (
                term.replace(" notin ", " notin| ").replace(" in ", " in| ").partition("|")
            )
            key = key.rsplit(" ", 1)[0].strip()
            allowed = {v.strip() for v in values.strip().strip("()").split(",")}
            present = labels.get(key) in allowed
            if ("notin" in op) == present:
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return web.json_response(body, status=code)


class KubeSimulator:
    """The API server. Add pods/nodes, then point a kubeconfig at :attr:`url`."""

    def __init__(self, token: str = "test-token") -> None:
        self.token = token
        self.pods: dict[tuple[str, str], SimPod] = {}
        self.nodes: dict[str, dict[str, str]] = {}
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[str] = []
        self.exec_hook: Callable[[SimPod, list[str]], list[str]] | None = None
        self.exec_urls: list[str] = []  # path and query of every exec request, as received
        self._lease_version = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.port = 0

    # ------------------------------------------------------------------ state

    def add_node(self, name: str, labels: dict[str, str] | None = None) -> None:
        with self._lock:
            self.nodes[name] = dict(labels or {})

    def add_pod(self, pod: SimPod) -> None:
        with self._lock:
            self.pods[(pod.namespace, pod.name)] = pod

    def pod(self, namespace: str, name: str) -> SimPod:
        return self.pods[(namespace, name)]

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> KubeSimulator:
        ready = threading.Event()
        problem: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except BaseException as error:
                problem.append(error)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop())
            loop.close()

        self._thread = threading.Thread(target=serve, name="k8s-simulator", daemon=True)
        self._thread.start()
        ready.wait(10)
        if problem:
            raise problem[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = None

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._auth])
        routes = [
            web.get("/api/v1/namespaces/{ns}/pods", self._list_pods),
            web.get("/api/v1/namespaces/{ns}/pods/{name}", self._get_pod),
            web.get("/api/v1/namespaces/{ns}/pods/{name}/exec", self._exec),
            web.post("/api/v1/namespaces/{ns}/pods/{name}/exec", self._exec),
            web.get("/api/v1/nodes/{name}", self._get_node),
            web.get("/api/v1/nodes", self._list_nodes),
            web.get("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", self._list_leases),
            web.post("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", self._create_lease),
            web.get("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}", self._get_lease),
            web.put(
                "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}", self._replace_lease
            ),
            web.delete(
                "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}", self._delete_lease
            ),
        ]
        app.add_routes(routes)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port or 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def write_kubeconfig(
        self, path: Path, namespace: str = "default", context: str = "simulator"
    ) -> Path:
        """A kubeconfig with token auth pointing at this server (plain http)."""
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sim", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": "sim", "user": "tester", "namespace": namespace},
                }
            ],
            "current-context": context,
        }
        path.write_text(json.dumps(document, indent=2))
        return path

    # ------------------------------------------------------------------ handlers

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path}")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        response: web.StreamResponse = await handler(request)
        return response

    async def _list_pods(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        selector = request.query.get("labelSelector", "")
        with self._lock:
            items = [
                p.to_json()
                for (pns, _), p in sorted(self.pods.items())
                if pns == ns and _match(p.labels, selector)
            ]
        return web.json_response(
            {
                "apiVersion": "v1",
                "kind": "PodList",
                "metadata": {"resourceVersion": "1"},
                "items": items,
            }
        )

    async def _get_pod(self, request: web.Request) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        pod = self.pods.get(key)
        if pod is None:
            return _status(404, "NotFound", f'pods "{key[1]}" not found')
        return web.json_response(pod.to_json())

    async def _get_node(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.nodes:
            return _status(404, "NotFound", f'nodes "{name}" not found')
        return web.json_response(self._node_json(name))

    async def _list_nodes(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "apiVersion": "v1",
                "kind": "NodeList",
                "metadata": {},
                "items": [self._node_json(n) for n in sorted(self.nodes)],
            }
        )

    def _node_json(self, name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": dict(self.nodes[name])},
        }

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        key = (request.match_info["ns"], request.match_info["name"])
        pod = self.pods.get(key)
        if pod is None:
            return _status(404, "NotFound", f'pods "{key[1]}" not found')
        if pod.phase != "Running":
            return _status(400, "BadRequest", f"pod {key[1]} is not running")
        self.exec_urls.append(request.path_qs)
        command = request.query.getall("command", [])
        with_stdin = request.query.get("stdin", "").lower() in ("true", "1")
        container = request.query.get("container")
        if container and container not in pod.containers:
            return _status(
                400, "BadRequest", f"container {container} is not valid for pod {pod.name}"
            )
        ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS)
        await ws.prepare(request)
        if self.exec_hook is not None:
            command = self.exec_hook(pod, list(command))
        status = await self._run(ws, command, with_stdin)
        await ws.send_bytes(b"\x03" + json.dumps(status).encode())
        await ws.close()
        return ws

    async def _run(
        self, ws: web.WebSocketResponse, command: list[str], with_stdin: bool = False
    ) -> dict[str, Any]:
        if not command:
            return {
                "metadata": {},
                "status": "Failure",
                "message": "you must specify a command",
                "reason": "BadRequest",
                "code": 400,
            }
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE if with_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except (FileNotFoundError, PermissionError):
            return {
                "metadata": {},
                "status": "Failure",
                "message": (
                    f'failed to exec in container: exec: "{command[0]}": '
                    "executable file not found in $PATH"
                ),
                "reason": "InternalError",
                "code": 500,
            }

        async def pump(stream: asyncio.StreamReader | None, channel: int) -> None:
            assert stream is not None
            while True:
                chunk = await stream.read(32 * 1024)
                if not chunk:
                    return
                await ws.send_bytes(bytes([channel]) + chunk)

        async def feed() -> None:
            # channel 0 frames go to the process's stdin (kept open, as the v4 protocol
            # cannot close it)
            assert process.stdin is not None
            async for message in ws:
                data = message.data
                if isinstance(data, str):
                    data = data.encode()
                if isinstance(data, bytes) and data[:1] == b"\x00":
                    try:
                        process.stdin.write(data[1:])
                        await process.stdin.drain()
                    except (BrokenPipeError, ConnectionResetError):
                        return

        feeding = asyncio.ensure_future(feed()) if with_stdin else None
        await asyncio.gather(pump(process.stdout, 1), pump(process.stderr, 2))
        code = await process.wait()
        if feeding is not None:
            feeding.cancel()
        if code == 0:
            return {"metadata": {}, "status": "Success"}
        return {
            "metadata": {},
            "status": "Failure",
            "message": (
                f"command terminated with non-zero exit code: error executing command "
                f"[{' '.join(command[:3])} ...], exit code {code}"
            ),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }

    # ------------------------------------------------------------------ leases

    def _lease_json(self, ns: str, body: dict[str, Any]) -> dict[str, Any]:
        self._lease_version += 1
        lease = copy.deepcopy(body)
        lease.setdefault("apiVersion", "coordination.k8s.io/v1")
        lease.setdefault("kind", "Lease")
        meta = lease.setdefault("metadata", {})
        meta["namespace"] = ns
        meta["resourceVersion"] = str(self._lease_version)
        meta.setdefault("uid", str(uuid.uuid4()))
        lease.setdefault("spec", {})
        return lease

    async def _list_leases(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        items = [v for (lns, _), v in sorted(self.leases.items()) if lns == ns]
        return web.json_response(
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "LeaseList",
                "metadata": {},
                "items": items,
            }
        )

    async def _create_lease(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        body = await request.json()
        name = body.get("metadata", {}).get("name")
        if not name:
            return _status(422, "Invalid", "metadata.name is required")
        with self._lock:
            if (ns, name) in self.leases:
                return _status(
                    409, "AlreadyExists", f'leases.coordination.k8s.io "{name}" already exists'
                )
            self.leases[(ns, name)] = self._lease_json(ns, body)
            return web.json_response(self.leases[(ns, name)], status=201)

    async def _get_lease(self, request: web.Request) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        if key not in self.leases:
            return _status(404, "NotFound", f'leases.coordination.k8s.io "{key[1]}" not found')
        return web.json_response(self.leases[key])

    async def _replace_lease(self, request: web.Request) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        body = await request.json()
        with self._lock:
            current = self.leases.get(key)
            if current is None:
                return _status(404, "NotFound", f'leases.coordination.k8s.io "{key[1]}" not found')
            wanted = body.get("metadata", {}).get("resourceVersion")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                return _status(
                    409,
                    "Conflict",
                    "the object has been modified; please apply "
                    "your changes to the latest version and try again",
                )
            self.leases[key] = self._lease_json(key[0], body)
            return web.json_response(self.leases[key])

    async def _delete_lease(self, request: web.Request) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        with self._lock:
            if self.leases.pop(key, None) is None:
                return _status(404, "NotFound", f'leases.coordination.k8s.io "{key[1]}" not found')
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Success"})


# Keep a reference so that `WSMsgType` stays importable for callers extending the server.
__all__ = ["EXEC_PROTOCOLS", "KubeSimulator", "SimPod", "WSMsgType"]
