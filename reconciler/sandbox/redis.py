"""Real Redis Cluster nodes on loopback for tests, the demo and benchmarks.

Each node is a ``redis-server --cluster-enabled yes`` process with its own directory (holding
its ``nodes-PORT.conf``) under the sandbox's working directory. A sandbox starts *bare* nodes
(each alone, ``cluster_state:fail``) or, with ``formed=True``, joins them into a cluster with
``redis-cli --cluster create``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from reconciler.sandbox import _process as proc
from reconciler.sandbox._process import HOST, SandboxError

CLUSTER_BUS_OFFSET = 10000
NODE_TIMEOUT_MS = 2000
INSTALL_HINT = "install it with: apt-get install -y redis-server (it provides redis-cli too)"


def find_binary(name: str) -> str:
    """Locate ``redis-server`` / ``redis-cli`` on PATH (or /usr/bin, /usr/local/bin)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/local/bin:/usr/bin")
    if found is None:
        raise SandboxError(f"{name} not found on PATH; {INSTALL_HINT}")
    return found


def parse_info(text: str) -> dict[str, str]:
    """``CLUSTER INFO`` / ``INFO`` text -> dict."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    return fields


class RedisSandbox:
    """Redis Cluster nodes on 127.0.0.1, in a temporary directory, on free ports."""

    def __init__(
        self,
        nodes: int = 6,
        *,
        formed: bool = False,
        replicas: int = 1,
        password: str | None = None,
        workdir: Path | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("a Redis sandbox needs at least one node")
        if formed and nodes < 3 * (replicas + 1):
            raise ValueError(
                f"forming a cluster with {replicas} replica(s) per master needs at least "
                f"{3 * (replicas + 1)} nodes, got {nodes}"
            )
        self.formed = formed
        self.replicas = replicas
        self.password: str | None = password
        self.workdir, remove = proc.make_workdir(f"{proc.TEMP_PREFIX}redis-", workdir)
        self._resources = proc.Resources(self.workdir, remove_workdir=remove)
        self._finalizer = proc.register(self, self._resources)
        self.ports: list[int] = proc.free_ports(nodes, bus_offset=CLUSTER_BUS_OFFSET)
        self.addresses: list[str] = [f"{HOST}:{port}" for port in self.ports]
        self._started = False

    # ------------------------------------------------------------------ public API

    def start(self, timeout: float = 30) -> None:
        """Start every node; when ``formed``, create the cluster and wait for cluster_state:ok."""
        if self._started:
            return
        deadline = time.monotonic() + timeout
        try:
            find_binary("redis-server")
            for port in self.ports:
                self._spawn(port)
            for port in self.ports:
                self._wait_ping(port, max(1.0, deadline - time.monotonic()))
            if self.formed:
                self._create_cluster(max(5.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        self._started = True

    def stop(self) -> None:
        """Stop every node and remove the temporary directory."""
        self._started = False
        self._resources.release()
        proc.unregister(self)

    def __enter__(self) -> RedisSandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def kill_node(self, port: int) -> None:
        """SIGKILL one node, as a crash would."""
        self._check_port(port)
        process = self._resources.procs.pop(str(port), None)
        if process is not None and process.poll() is None:
            proc.signal_group(process.pid, signal.SIGKILL)
            process.wait()

    def restart_node(self, port: int, timeout: float = 30) -> None:
        """Start a killed node again with the same directory and ``nodes-PORT.conf``."""
        self._check_port(port)
        process = self._resources.procs.get(str(port))
        if process is not None and process.poll() is None:
            return
        self._spawn(port)
        self._wait_ping(port, timeout)

    def add_nodes(self, count: int, timeout: float = 30) -> list[str]:
        """Start ``count`` extra bare nodes (for scale-out) and return their addresses."""
        ports = proc.free_ports(count, bus_offset=CLUSTER_BUS_OFFSET)
        for port in ports:
            self.ports.append(port)
            self.addresses.append(f"{HOST}:{port}")
            self._spawn(port)
        for port in ports:
            self._wait_ping(port, timeout)
        return [f"{HOST}:{port}" for port in ports]

    def log_tail(self, lines: int = 50) -> str:
        """The last lines of every node's log file."""
        return "\n".join(
            f"==> {self._log_file(port)} <==\n{proc.tail(self._log_file(port), lines)}"
            for port in self.ports
        )

    # ------------------------------------------------------------------ extras

    @property
    def pids(self) -> dict[int, int]:
        """Process id of every running node, by port."""
        return {
            port: process.pid
            for port in self.ports
            if (process := self._resources.procs.get(str(port))) and process.poll() is None
        }

    def command(self, port: int, *args: str) -> str:
        """Run one command on a node with redis-cli and return its output."""
        argv = [find_binary("redis-cli"), "-h", HOST, "-p", str(port), *args]
        done = subprocess.run(argv, capture_output=True, text=True, env=self._cli_env(), timeout=30)
        if done.returncode != 0:
            raise SandboxError(f"redis-cli {' '.join(args)} on port {port} failed: {done.stderr}")
        return done.stdout

    def cluster_info(self, port: int) -> dict[str, str]:
        """``CLUSTER INFO`` of one node as a dict."""
        return parse_info(self.command(port, "CLUSTER", "INFO"))

    def detach(self) -> None:
        """Let the processes outlive this object and interpreter (CLI ``up``); call before start.

        Only an explicit :meth:`stop` (or ``python -m reconciler.sandbox down``) ends them.
        """
        self._resources.detached = True
        self._finalizer.detach()
        proc.unregister(self)

    def __repr__(self) -> str:
        return f"RedisSandbox(addresses={self.addresses!r}, formed={self.formed})"

    # ------------------------------------------------------------------ internals

    def _check_port(self, port: int) -> None:
        if port not in self.ports:
            raise ValueError(f"port {port} is not a node of this sandbox; ports: {self.ports}")

    def _log_file(self, port: int) -> Path:
        return self.workdir / str(port) / "redis.log"

    def _cli_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        return env

    def _spawn(self, port: int) -> None:
        node_dir = self.workdir / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            find_binary("redis-server"),
            "--port",
            str(port),
            "--bind",
            HOST,
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            f"nodes-{port}.conf",
            "--cluster-node-timeout",
            str(NODE_TIMEOUT_MS),
            "--dir",
            str(node_dir),
            "--appendonly",
            "no",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            "",
        ]
        if self.password:
            argv += ["--requirepass", self.password, "--masterauth", self.password]
        self._resources.procs[str(port)] = proc.spawn(
            argv,
            log_file=self._log_file(port),
            cwd=node_dir,
            detached=self._resources.detached,
        )

    def _ping(self, port: int) -> bool:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis(
            host=HOST,
            port=port,
            password=self.password,
            socket_timeout=1,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )  # the sandbox polls by itself
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _wait_ping(self, port: int, timeout: float) -> None:
        def check() -> bool:
            process = self._resources.procs.get(str(port))
            if process is not None and process.poll() is not None:
                raise SandboxError(
                    f"redis-server on port {port} exited with code {process.returncode}\n"
                    f"{proc.tail(self._log_file(port), 30)}"
                )
            return self._ping(port)

        proc.wait_for(
            check,
            timeout=timeout,
            what=f"redis-server on port {port} to answer PING",
            on_timeout=lambda: proc.tail(self._log_file(port), 30),
        )

    def _create_cluster(self, timeout: float) -> None:
        argv = [
            find_binary("redis-cli"),
            "--cluster",
            "create",
            *self.addresses,
            "--cluster-replicas",
            str(self.replicas),
            "--cluster-yes",
        ]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=self._cli_env(),
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise SandboxError(
                f"redis-cli --cluster create timed out\n{self.log_tail(20)}"
            ) from None
        if done.returncode != 0 or "[ERR]" in done.stdout:
            raise SandboxError(
                f"redis-cli --cluster create failed (exit {done.returncode}):\n"
                f"{done.stdout[-3000:]}{done.stderr[-2000:]}"
            )
        total = len(self.ports)
        masters = total // (self.replicas + 1)

        def formed() -> bool:
            # Every node sees cluster_state:ok, every other node, and the final roles.
            for port in self.ports:
                info = self.cluster_info(port)
                if info.get("cluster_state") != "ok" or info.get("cluster_known_nodes") != str(
                    total
                ):
                    return False
                flags = [
                    line.split()[2]
                    for line in self.command(port, "CLUSTER", "NODES").splitlines()
                    if line.strip()
                ]
                roles = [f for f in flags if "handshake" not in f and "noaddr" not in f]
                if (
                    sum("master" in f for f in roles) != masters
                    or sum("slave" in f for f in roles) != total - masters
                ):
                    return False
            return True

        proc.wait_for(
            formed,
            timeout=timeout,
            interval=0.2,
            what="cluster_state:ok and final roles on every Redis node",
            on_timeout=lambda: self.log_tail(20),
        )
