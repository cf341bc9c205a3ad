"""Redis nodes as Kubernetes pods: discovery by label selector, commands through ``exec``.

Imported only when a Kubernetes target is used (kubernetes-asyncio is heavy). Pods are
found with ``list_namespaced_pod``; discovery waits (with progress output) until every
selected pod is Running and Ready. Commands run as ``redis-cli`` inside the pod through the
exec websocket (channel 1 stdout, 2 stderr, 3 the Status document that carries the exit
code: a failed command never looks like success). Replies are read from ``--no-raw`` text
(see :mod:`reconciler.providers.redis.clitext`).

Pipelines run in one exec of ``sh -c 'printf ... | redis-cli'`` so that they share one
connection (ASKING applies to the next command) and cost one round trip; a container
without ``sh`` falls back to one exec per command.

Secrets never travel in the exec URL (which API-server audit logs record) nor in a process
list inside the pod:

- with ``connection.password`` the password is written to the exec's **stdin**: the
  command is ``sh -c 'IFS= read -r REDISCLI_AUTH; export REDISCLI_AUTH; ...'`` and the
  pipeline script (which may hold ``MIGRATE ... AUTH2 user pass``) follows on stdin too,
  read with ``head -c LENGTH`` (the exec protocol cannot close stdin, so lengths, not EOF,
  end the input);
- with ``kubernetes.podPasswordEnv`` the pod's own environment variable supplies it
  (``REDISCLI_AUTH="$REDIS_PASSWORD"``) and this process never knows it; ``MIGRATE``'s
  ``AUTH`` argument is a placeholder that the shell in the pod replaces line by line.

TLS: ``--tls`` with ``--cacert``/``--cert``/``--key`` from ``tls.inPod`` (paths inside the
pod, not the local ones).

A node's address is the pod IP (``status.podIP``), which is what the other nodes use and
what CLUSTER MEET needs; its placement identity is ``spec.nodeName`` and the node's
``topology.kubernetes.io/zone`` label when the node object is readable.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.stream import WsApiClient

from reconciler.engine.polling import retries
from reconciler.errors import ConnectionFailure
from reconciler.providers.kubernetes_config import load_configuration
from reconciler.providers.redis.clitext import (
    command_line,
    forced_raw,
    parse_replies,
    parse_reply,
    quote_arg,
)
from reconciler.providers.redis.transports import (
    Arg,
    Command,
    CommandError,
    NodeEndpoint,
    NodeUnreachable,
    Reply,
    carries_credentials,
    command_name,
    migrate_auth_args,
)
from reconciler.spec.models import KubernetesTarget, RedisTlsPodFiles

ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
# Linux limits one argv string to 128 KiB; stay well below it per pipeline exec.
MAX_PIPELINE_BYTES = 96 * 1024
# Stands for the pod's password in a command (podPasswordEnv); quoted by command_line as
# "\x00llm-analytics:pod-password\x00", which no real argument of ours contains.
POD_PASSWORD = b"\x00llm-analytics:pod-password\x00"

# stdin: the password line, the script's length, the script. `read` takes one byte at a
# time from a pipe, so `head -c` gets exactly the script; no EOF is needed.
_STDIN_AUTH = "IFS= read -r REDISCLI_AUTH; export REDISCLI_AUTH; "
_STDIN_SCRIPT = 'IFS= read -r n; head -c "$n" | '
# podPasswordEnv: the script comes on stdin; every placeholder token ($1, quoted as redis-cli
# reads it) is replaced by the pod's password, escaped the same way, before redis-cli reads it.
_SUBSTITUTE = (
    r"""esc=$(printf '%s' "$REDISCLI_AUTH" | sed 's/[\\"]/\\&/g'); tok=$1; """
    r"""IFS= read -r n; head -c "$n" | { while IFS= read -r line || [ -n "$line" ]; do """
    r"""while case $line in *"$tok"*) true;; *) false;; esac; do """
    r"""line="${line%%"$tok"*}\"$esc\"${line#*"$tok"}"; done; """
    r"""printf '%s\n' "$line"; done; } | """
)


class ExecResult:
    def __init__(self, stdout: bytes, stderr: bytes, exit_code: int, status: dict[str, Any]):
        self.stdout = stdout
        self.stderr = stderr
        self.exit_code = exit_code
        self.status = status


def exit_code_of(status: dict[str, Any]) -> int:
    """The exit code in an exec Status document (channel 3)."""
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", "1"))
            except ValueError:
                return 1
    return 126 if "executable file not found" in str(status.get("message", "")) else 1


class KubernetesTransport:
    """Runs redis-cli in the pods selected by namespace + label selector."""

    kind = "kubernetes"

    def __init__(
        self,
        target: KubernetesTarget,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        tls_files: RedisTlsPodFiles | None = None,
        progress: Callable[[str], None] | None = None,
        exec_concurrency: int = 16,
        require_all_ready: bool = True,
    ) -> None:
        """``require_all_ready``: discovery fails unless every selected pod gets Ready within
        the target's timeout; when False, pods still not Ready then are reported as
        unreachable nodes (for ``verify``, which should judge, not wait)."""
        self.target = target
        self._username = username
        self._password = password
        self._tls = tls
        self._tls_files = tls_files
        self._pod_password_env = target.pod_password_env if not password else None
        if password is not None and ("\n" in password or "\r" in password):
            raise ConnectionFailure(
                f"kubernetes namespace {target.namespace}",
                "the Redis password contains a line break and cannot be sent to redis-cli",
            )
        self._progress = progress
        self._api_client: k8s_client.ApiClient | None = None
        self._ws_client: WsApiClient | None = None
        self._endpoints: list[NodeEndpoint] | None = None
        self._pods: dict[str, str] = {}  # endpoint id -> pod name
        self._counts: Counter[str] = Counter()
        self._gate = asyncio.Semaphore(exec_concurrency)
        self._no_shell = False
        self.require_all_ready = require_all_ready
        self._not_ready: set[str] = set()

    # ------------------------------------------------------------------ API clients

    async def _configuration(self) -> k8s_client.Configuration:
        return await load_configuration(self.target)

    async def _apis(self) -> tuple[k8s_client.CoreV1Api, k8s_client.CoreV1Api]:
        if self._api_client is None or self._ws_client is None:
            configuration = await self._configuration()
            self._api_client = k8s_client.ApiClient(configuration)
            self._ws_client = WsApiClient(configuration)
        return k8s_client.CoreV1Api(self._api_client), k8s_client.CoreV1Api(self._ws_client)

    def _api_failure(self, problem: Exception) -> ConnectionFailure:
        if isinstance(problem, ApiException):
            reason = f"HTTP {problem.status} {problem.reason}"
            hint = (
                "check the credentials in the kubeconfig and RBAC (get/list pods, get and create "
                "pods/exec)"
                if problem.status in (401, 403)
                else "check the namespace and the API server address"
            )
        else:
            reason = str(problem) or type(problem).__name__
            hint = "check that the API server in the kubeconfig is reachable"
        return ConnectionFailure(f"kubernetes namespace {self.target.namespace}", reason, hint=hint)

    # ------------------------------------------------------------------ discovery

    async def discover(self) -> list[NodeEndpoint]:
        if self._endpoints is None:
            self._endpoints = await self._discover()
        return list(self._endpoints)

    def refresh(self) -> None:
        """Forget discovered pods (their IPs may have changed)."""
        self._endpoints = None

    async def _ready_pods(self, core: Any) -> list[Any]:
        """The selector's pods once all are Ready, waiting up to the target's timeout;
        after it, with ``require_all_ready`` off, whatever pods exist if some are Ready
        (the others are then reported as unreachable nodes)."""
        timeout = self.target.ready_timeout_seconds
        interval = min(2.0, max(0.2, timeout / 100))
        announced = ""
        items: list[Any] = []
        waiting: list[str] = []
        async for turn in retries(timeout=timeout, interval=interval):
            try:
                pods = await core.list_namespaced_pod(
                    self.target.namespace, label_selector=self.target.selector
                )
            except Exception as problem:
                raise self._api_failure(problem) from None
            items = sorted(pods.items, key=lambda p: p.metadata.name)
            waiting = [p.metadata.name for p in items if not _ready(p)]
            if items and not waiting:
                return items
            message = (
                f"waiting for pods ({len(items) - len(waiting)}/{len(items)} ready): "
                + ", ".join(waiting[:5])
                if items
                else f"waiting for pods matching {self.target.selector}"
            )
            if self._progress and message != announced and turn.remaining > 0:
                self._progress(message)
                announced = message
        if not self.require_all_ready and len(waiting) < len(items):
            return items
        raise ConnectionFailure(
            f"namespace {self.target.namespace}",
            f"no pods matching {self.target.selector}"
            if not items
            else f"pods not ready after {timeout}s: " + ", ".join(waiting),
            hint="check `kubectl get pods -n NS -l SELECTOR` and the pod events",
        )

    async def _discover(self) -> list[NodeEndpoint]:
        core, _ = await self._apis()
        items = await self._ready_pods(core)
        zones: dict[str, str | None] = {}
        for pod in items:
            node_name = pod.spec.node_name or ""
            if node_name and node_name not in zones:
                zones[node_name] = await self._zone(core, node_name)
        endpoints = []
        self._pods = {}
        self._not_ready = {p.metadata.name for p in items if not _ready(p)}
        for pod in items:
            name = pod.metadata.name
            node_name = pod.spec.node_name or name
            self._pods[name] = name
            endpoints.append(
                NodeEndpoint(
                    id=name,
                    address=f"{pod.status.pod_ip}:{self.target.port}",
                    host=node_name,
                    zone=zones.get(node_name),
                )
            )
        return endpoints

    async def _zone(self, core: k8s_client.CoreV1Api, node_name: str) -> str | None:
        try:
            node = await core.read_node(node_name)
        except Exception:
            return None
        labels = node.metadata.labels or {}
        for label in ZONE_LABELS:
            if labels.get(label):
                return str(labels[label])
        return None

    # ------------------------------------------------------------------ exec

    @property
    def _secret(self) -> bool:
        """Whether redis-cli must log in (the password from stdin or from the pod)."""
        return bool(self._password or self._pod_password_env)

    def _cli(self, endpoint: NodeEndpoint) -> list[str]:
        """redis-cli's argv: never a password (it comes in REDISCLI_AUTH)."""
        argv = ["redis-cli", "-h", endpoint.ip, "-p", str(endpoint.port)]
        if self._username:
            argv += ["--user", self._username]
        if self._secret:
            argv += ["--no-auth-warning"]
        if self._tls:
            argv += ["--tls"]
            files = self._tls_files
            if files is not None:
                for flag, path in (
                    ("--cacert", files.ca_file),
                    ("--cert", files.cert_file),
                    ("--key", files.key_file),
                ):
                    if path:
                        argv += [flag, path]
        return argv

    def _auth_prefix(self) -> str:
        """Shell that sets REDISCLI_AUTH: from stdin's first line, or the pod's variable."""
        if self._password:
            return _STDIN_AUTH
        if self._pod_password_env:
            return f'REDISCLI_AUTH="${{{self._pod_password_env}}}"; export REDISCLI_AUTH; '
        return ""

    def _auth_stdin(self) -> bytes:
        return (self._password + "\n").encode() if self._password else b""

    def _no_shell_refusal(self, endpoint: NodeEndpoint) -> ConnectionFailure:
        return ConnectionFailure(
            endpoint.id,
            "the Redis container has no sh, so the password cannot be handed to redis-cli "
            "without putting it on its command line (the exec URL)",
            hint="use an image with a shell (every common Redis image has one)",
        )

    async def exec(
        self, pod: str, command: Sequence[str], stdin: bytes | None = None
    ) -> ExecResult:
        """Run ``command`` in ``pod`` (writing ``stdin`` to it); returns stdout, stderr and
        the exit code."""
        if pod in self._not_ready:
            raise NodeUnreachable(
                pod,
                "pod is not Running and Ready",
                hint="check `kubectl describe pod` and its events",
            )
        try:
            return await self._exec(pod, command, stdin)
        except NodeUnreachable:
            self._endpoints = None  # its IP may have changed: list the pods again next time
            raise

    async def _exec(
        self, pod: str, command: Sequence[str], stdin: bytes | None = None
    ) -> ExecResult:
        _, ws_core = await self._apis()
        kwargs: dict[str, Any] = {}
        if self.target.container:
            kwargs["container"] = self.target.container
        stdout, stderr = bytearray(), bytearray()
        status: dict[str, Any] = {}
        async with self._gate:
            try:
                # With _preload_content=False the call returns aiohttp's websocket context
                # (the generated stubs declare str).
                request: Any = ws_core.connect_get_namespaced_pod_exec(
                    pod,
                    self.target.namespace,
                    command=list(command),  # type: ignore[arg-type]
                    stderr=True,
                    stdin=stdin is not None,
                    stdout=True,
                    tty=False,
                    _preload_content=False,
                    **kwargs,
                )
                async with await request as ws:
                    if stdin is not None:
                        # channel 0; in frames well below the API server's limits
                        for start in range(0, len(stdin), 32 * 1024):
                            await ws.send_bytes(b"\x00" + stdin[start : start + 32 * 1024])
                    async for message in ws:
                        data = message.data
                        if isinstance(data, str):
                            data = data.encode()
                        if not isinstance(data, bytes | bytearray) or not data:
                            continue
                        channel, payload = data[0], bytes(data[1:])
                        if channel == 1:
                            stdout += payload
                        elif channel == 2:
                            stderr += payload
                        elif channel == 3 and payload:
                            status = json.loads(payload)
            except ApiException as problem:
                raise NodeUnreachable(
                    pod,
                    f"exec failed: HTTP {problem.status} {problem.reason}",
                    hint="check RBAC (get and create on pods/exec) and that the pod is running",
                ) from None
            except (TimeoutError, OSError) as problem:
                raise NodeUnreachable(pod, f"exec failed: {problem}") from None
            except Exception as problem:
                raise NodeUnreachable(
                    pod, f"exec failed: {type(problem).__name__}: {problem}"
                ) from None
        if not status:
            # The error channel always ends an exec; without it the stream was cut.
            raise NodeUnreachable(pod, "exec stream ended without an exit status")
        return ExecResult(bytes(stdout), bytes(stderr), exit_code_of(status), status)

    def _check(self, endpoint: NodeEndpoint, result: ExecResult) -> str:
        """Turn transport-level failures (connect, TLS, auth, exit status) into errors."""
        err = result.stderr.decode(errors="replace").strip()
        out = result.stdout.decode("latin-1")
        if "certificate verify failed" in err:
            raise ConnectionFailure(
                endpoint.id,
                f"TLS certificate not trusted ({_first_line(err)})",
                hint="check connection.tls.inPod.caFile: the CA, as a path inside the pod, "
                "that signed the nodes' certificates",
            )
        if "Could not connect" in err or "Could not connect" in out:
            raise NodeUnreachable(endpoint.id, _first_line(err or out))
        if self._tls and result.exit_code != 0 and not out and _closed_at_once(err):
            # TLS 1.3: a node that wants a client certificate closes the connection after
            # the handshake; redis-cli then only says "I/O error".
            raise NodeUnreachable(
                endpoint.id,
                f"TLS: the node closed the connection ({_first_line(err, last=True)})",
                hint="with tls-auth-clients yes redis-cli needs a client certificate: "
                "connection.tls.inPod certFile/keyFile (paths inside the pod)",
            )
        if "AUTH failed" in err or "NOAUTH" in out[:200] or "WRONGPASS" in out[:200]:
            raise ConnectionFailure(
                endpoint.id,
                f"authentication failed ({err or out.strip()})",
                hint="check the Redis username/password",
            )
        if result.exit_code != 0:
            # What redis-cli said first: the Status message repeats the whole command line.
            message = (
                _first_line(err, last=True)
                or out.strip()
                or result.status.get("message")
                or f"exit code {result.exit_code}"
            )
            raise NodeUnreachable(
                endpoint.id, f"redis-cli failed (exit {result.exit_code}): {message}"
            )
        return out

    async def execute(self, endpoint: NodeEndpoint, *args: Arg) -> Reply:
        if self._no_shell and (self._secret or carries_credentials(args)):
            raise self._no_shell_refusal(endpoint)
        if (
            self._secret
            and not forced_raw(args)
            and any(self._holds_secret(a) or _unsafe(a) for a in args)
        ):
            # A secret (MIGRATE ... AUTH) never goes into argv: the stdin pipeline form.
            reply = (await self.pipeline(endpoint, [args]))[0]
            if isinstance(reply, CommandError):
                raise reply
            return reply
        if not self._no_shell and (
            carries_credentials(args) or (not forced_raw(args) and any(_unsafe(a) for a in args))
        ):
            # argv travels as UTF-8 text in the exec URL; binary arguments go through the
            # escaped stdin form instead.
            reply = (await self.pipeline(endpoint, [args]))[0]
            if isinstance(reply, CommandError):
                raise reply
            return reply
        self._counts[command_name(args)] += 1
        words = [a.decode("latin-1") if isinstance(a, bytes) else str(a) for a in args]
        stdin: bytes | None = None
        if self._secret:
            cli = " ".join(shlex.quote(a) for a in self._cli(endpoint))
            argv = ["sh", "-c", f'{self._auth_prefix()}exec {cli} --no-raw "$@"', "sh", *words]
            stdin = self._auth_stdin() or None
        else:
            argv = [*self._cli(endpoint), "--no-raw", *words]
        result = await self.exec(self._pods.get(endpoint.id, endpoint.id), argv, stdin)
        out = self._check(endpoint, result)
        if forced_raw(args):
            text = out[:-1] if out.endswith("\n") else out
            if _looks_like_error(text):
                raise CommandError(text.strip(), endpoint.id)
            return text.encode("latin-1")
        reply = parse_reply(out)
        if isinstance(reply, CommandError):
            reply.endpoint = endpoint.id
            raise reply
        return reply

    async def pipeline(
        self, endpoint: NodeEndpoint, commands: Sequence[Command]
    ) -> list[Reply | CommandError]:
        if any(forced_raw(c) for c in commands):
            raise ValueError("commands printed raw by redis-cli cannot be pipelined")
        for args in commands:
            self._counts[command_name(args)] += 1
        if self._no_shell:
            if self._secret:
                raise self._no_shell_refusal(endpoint)
            return await self._sequential(endpoint, commands)
        out: list[Reply | CommandError] = []
        chunk: list[Command] = []
        size = 0
        for args in commands:
            line = command_line(args)
            if chunk and size + len(line) > MAX_PIPELINE_BYTES:
                out += await self._pipeline_chunk(endpoint, chunk)
                chunk, size = [], 0
            chunk.append(args)
            size += len(line) + 1
        if chunk:
            out += await self._pipeline_chunk(endpoint, chunk)
        return out

    async def _pipeline_chunk(
        self, endpoint: NodeEndpoint, commands: Sequence[Command]
    ) -> list[Reply | CommandError]:
        script = "\n".join(command_line(c) for c in commands) + "\n"
        cli = " ".join(shlex.quote(a) for a in self._cli(endpoint))
        stdin: bytes | None = None
        if self._password:
            # The password and the script (which may hold MIGRATE ... AUTH) go on stdin.
            data = script.encode("latin-1")
            stdin = self._auth_stdin() + f"{len(data)}\n".encode() + data
            argv = ["sh", "-c", f"{_STDIN_AUTH}{_STDIN_SCRIPT}exec {cli} --no-raw"]
        elif self._pod_password_env:
            token = quote_arg(POD_PASSWORD)
            data = script.encode("latin-1")
            stdin = f"{len(data)}\n".encode() + data
            argv = [
                "sh",
                "-c",
                f"{self._auth_prefix()}{_SUBSTITUTE}exec {cli} --no-raw",
                "sh",
                token,
            ]
        elif any(carries_credentials(c) for c in commands):
            # ACL SETUSER ... #<sha256>: never in the exec URL either; the script on stdin.
            data = script.encode("latin-1")
            stdin = f"{len(data)}\n".encode() + data
            argv = ["sh", "-c", f"{_STDIN_SCRIPT}exec {cli} --no-raw"]
        else:
            argv = ["sh", "-c", f'printf "%s" "$1" | exec {cli} --no-raw', "sh", script]
        result = await self.exec(self._pods.get(endpoint.id, endpoint.id), argv, stdin)
        if result.exit_code in (126, 127) and not result.stdout:
            self._no_shell = True  # no shell in this image: one exec per command
            return await self._sequential(endpoint, commands)
        out = self._check(endpoint, result)
        replies = parse_replies(out, len(commands))
        if len(replies) != len(commands):
            raise NodeUnreachable(
                endpoint.id,
                f"redis-cli answered {len(replies)} of {len(commands)} pipelined commands",
            )
        for reply in replies:
            if isinstance(reply, CommandError):
                reply.endpoint = endpoint.id
        return replies

    async def _sequential(
        self, endpoint: NodeEndpoint, commands: Sequence[Command]
    ) -> list[Reply | CommandError]:
        out: list[Reply | CommandError] = []
        for args in commands:
            try:
                out.append(await self.execute(endpoint, *args))
            except CommandError as problem:
                out.append(problem)
        return out

    def request_counts(self) -> dict[str, int]:
        return dict(self._counts)

    def migrate_auth(self) -> tuple[Arg, ...]:
        if self._password:
            return migrate_auth_args(self._username, self._password)
        if self._pod_password_env:
            # The shell in the pod puts the pod's password in place of the placeholder.
            return migrate_auth_args(self._username, POD_PASSWORD.decode("latin-1"))
        return ()

    def _holds_secret(self, arg: Arg) -> bool:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        if self._password and data == self._password.encode():
            return True
        return data == POD_PASSWORD

    async def close(self) -> None:
        for api in (self._api_client, self._ws_client):
            if api is not None:
                await api.close()
        self._api_client = self._ws_client = None


def _ready(pod: Any) -> bool:
    status = pod.status
    if status is None or status.phase != "Running" or not status.pod_ip:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in (status.conditions or []))


def _first_line(text: str, *, last: bool = False) -> str:
    """The first (or last) non-empty line of ``text``."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if last else lines[0]


def _closed_at_once(stderr: str) -> bool:
    """redis-cli's words for a connection the server closed before any reply."""
    return "I/O error" in stderr or "Server closed the connection" in stderr


def _looks_like_error(text: str) -> bool:
    """Raw-printed replies carry errors bare: ``NOAUTH ...``, ``ERR ...``, ``LOADING ...``."""
    first = text.split(" ", 1)[0]
    return bool(first) and first.isupper() and first.isalpha() and ":" not in first


def _unsafe(arg: Arg) -> bool:
    """An argument that would not survive the trip as a UTF-8 URL parameter unchanged."""
    data = arg if isinstance(arg, bytes) else str(arg).encode()
    return any(b < 0x20 or b > 0x7E for b in data)
