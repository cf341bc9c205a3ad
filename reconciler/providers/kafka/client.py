"""The Kafka admin client: aiokafka's connection layer plus the requests the tool needs.

Every request goes through :meth:`KafkaAdmin.send`, which counts requests by API name so
that ``--debug`` can show that a plan's request count does not grow with the topic count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    KafkaError,
    NodeNotReadyError,
    NotControllerError,
    UnknownTopicOrPartitionError,
    for_code,
)
from aiokafka.protocol.admin import (
    AlterPartitionReassignmentsRequest,
    CreatePartitionsRequest,
    CreateTopicsRequest,
    DeleteTopicsRequest,
    ListPartitionReassignmentsRequest,
)
from aiokafka.protocol.api import Request, Response
from msgspec import Struct
from msgspec.structs import replace

from reconciler.engine.polling import retries
from reconciler.errors import (
    CONNECT_TIMEOUT_SECONDS,
    ConnectionFailure,
    ReconcilerError,
    RequestFailed,
)
from reconciler.providers.kafka.diagnosis import (
    IDEMPOTENT_APIS,
    TRANSIENT_ERRORS,
    describe_kafka_error,
    explain_connect_failure,
    probe_bootstrap,
)
from reconciler.providers.kafka.protocol import (
    AlterConfigOp,
    ConfigResourceKind,
    DescribeConfigsRequest,
    DescribeLogDirsRequest,
    IncrementalAlterConfigsRequest,
    MetadataRequest,
    replica_sizes,
)
from reconciler.providers.kafka.state import (
    Broker,
    ConfigSource,
    KafkaClusterState,
    LiveConfig,
    LiveTopic,
    PartitionState,
)
from reconciler.secrets import resolve_secret
from reconciler.spec.models import KafkaConnection, SecurityProtocol

log = logging.getLogger(__name__)

T = TypeVar("T")

# Topics per CreateTopics / DeleteTopics / CreatePartitions request: large enough to keep the
# request count flat, small enough to stay far below the broker's request size limit.
WRITE_BATCH = 1000
TopicPartition = tuple[str, int]


class NewTopicRequest(Struct, frozen=True):
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]


class TlsContext(ssl.SSLContext):
    """An SSL context that remembers which files it was built from (for error messages)."""

    ca_file: str | None = None
    cert_file: str | None = None


def tls_context(
    *,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    key_password: str | None = None,
    check_hostname: bool = True,
    what: str = "kafka TLS",
) -> TlsContext:
    """A client SSL context: verify the server against ``ca_file`` (default: the system
    store), present ``cert_file``/``key_file`` for mutual TLS. File problems are named."""
    context = TlsContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names
    try:
        if ca_file:
            context.load_verify_locations(cafile=ca_file)
        else:
            context.load_default_certs()
    except FileNotFoundError:
        raise ReconcilerError(f"{what} CA file {ca_file}: no such file") from None
    except (OSError, ssl.SSLError) as problem:
        raise ReconcilerError(
            f"{what} CA file {ca_file}: not a readable PEM certificate bundle "
            f"({getattr(problem, 'reason', None) or problem})"
        ) from None
    if key_file and not cert_file:
        raise ReconcilerError(f"{what}: keyFile {key_file} is given without certFile")
    if cert_file:
        try:
            context.load_cert_chain(cert_file, key_file or None, password=key_password)
        except FileNotFoundError:
            missing = cert_file if not key_file else f"{cert_file} or {key_file}"
            raise ReconcilerError(f"{what} client certificate: no such file ({missing})") from None
        except (OSError, ssl.SSLError) as problem:
            reason = getattr(problem, "reason", None) or str(problem)
            if "KEY_VALUES_MISMATCH" in str(problem).upper():
                hint = "the key does not belong to the certificate"
            elif key_password:
                hint = "is keyPassword the key's password? (PEM certificate and key expected)"
            else:
                hint = "PEM certificate and PEM key expected (an encrypted key needs keyPassword)"
            raise ReconcilerError(
                f"{what} client certificate {cert_file}: cannot load it with its key ({reason})",
                hint=hint,
            ) from None
    context.check_hostname = check_hostname
    context.ca_file = ca_file
    context.cert_file = cert_file
    return context


def connection_settings(
    connection: KafkaConnection | None, bootstrap_override: str | None = None
) -> dict[str, Any]:
    """aiokafka keyword arguments for a spec connection (secrets resolved here, at the edge)."""
    if connection is None and not bootstrap_override:
        raise ConnectionFailure(
            "Kafka",
            "no bootstrap servers",
            hint="give --bootstrap-servers or kafka.connection in the spec",
        )
    servers = bootstrap_override or ",".join(connection.bootstrap_list)  # type: ignore[union-attr]
    settings: dict[str, Any] = {"bootstrap_servers": servers}
    if connection is None:
        return settings
    security = connection.security
    settings["request_timeout_ms"] = connection.request_timeout_ms
    settings["security_protocol"] = security.protocol.value
    if security.protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
        tls = security.tls
        settings["ssl_context"] = tls_context(
            ca_file=tls.ca_file if tls else None,
            cert_file=tls.cert_file if tls else None,
            key_file=tls.key_file if tls else None,
            key_password=(
                resolve_secret(tls.key_password, what="kafka TLS key password") if tls else None
            ),
            check_hostname=tls.check_hostname if tls else True,
        )
    elif security.tls is not None and (security.tls.cert_file or security.tls.ca_file):
        log.warning(
            "kafka.connection.security.tls is ignored: the security protocol %s has no TLS",
            security.protocol.value,
        )
    if security.protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL):
        if security.sasl is None:
            raise ConnectionFailure(
                servers, f"{security.protocol.value} needs kafka.connection.security.sasl"
            )
        settings["sasl_mechanism"] = security.sasl.mechanism.value
        settings["sasl_plain_username"] = security.sasl.username
        settings["sasl_plain_password"] = resolve_secret(
            security.sasl.password, what="kafka SASL password"
        )
    return settings


def _error(code: int, message: str | None = None) -> str | None:
    """A readable broker error, or None for success."""
    if not code:
        return None
    name = for_code(code).__name__
    return f"{name}: {message}" if message else name


class KafkaAdmin:
    """One admin connection to a cluster. Use as ``async with KafkaAdmin(settings) as admin``."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)
        servers = self.settings["bootstrap_servers"]
        if not isinstance(servers, str):  # aiokafka also takes a list
            servers = ",".join(str(s) for s in servers)
            self.settings["bootstrap_servers"] = servers
        self.endpoint = str(servers)
        self.requests: Counter[str] = Counter()
        self._admin: AIOKafkaAdminClient | None = None

    async def __aenter__(self) -> KafkaAdmin:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect and authenticate within :data:`CONNECT_TIMEOUT_SECONDS`, or say why not.

        Every bootstrap address is probed at once (:func:`probe_bootstrap`); the admin client
        then bootstraps from the first that answered, so a dead or silent address costs
        nothing and a failure names its cause.
        """
        deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
        servers = [s.strip() for s in self.endpoint.split(",") if s.strip()]
        if not servers:
            raise ConnectionFailure("Kafka", "no bootstrap servers")
        working = await probe_bootstrap(servers, self.settings, timeout=CONNECT_TIMEOUT_SECONDS)
        settings = {**self.settings, "bootstrap_servers": working}
        self._admin = AIOKafkaAdminClient(client_id="llm-analytics", **settings)
        timeout = max(1.0, deadline - time.monotonic())
        try:
            async with asyncio.timeout(timeout):
                await self._admin.start()
        except (KafkaError, OSError, TimeoutError) as problem:
            await self._close_quietly()
            explained = explain_connect_failure(problem, self.settings, timeout=timeout)
            raise ConnectionFailure(
                working,
                explained.reason,
                hint=explained.hint,
                reached=explained.reached,
                kind=explained.kind,
            ) from None

    async def _close_quietly(self) -> None:
        try:
            if self._admin is not None:
                await self._admin.close()
        except Exception:
            pass
        self._admin = None

    async def close(self) -> None:
        await self._close_quietly()

    # ------------------------------------------------------------------ sending

    @property
    def _client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            raise RuntimeError("KafkaAdmin used before start()")
        return self._admin

    async def send(
        self, request: Request[Any], *, controller: bool = False, node_id: int | None = None
    ) -> Response:
        """Send one request (to the controller, a node, or any broker) and count it.

        A broker whose connection cannot be made within the connect deadline has not been
        sent anything, so any request moves on to the next broker. A request that was sent
        and then failed (timed out, connection dropped) is sent again to another broker only
        when it is idempotent (:data:`IDEMPOTENT_APIS`); a write is never repeated, and its
        error says that it may or may not have been carried out. Every failure leaves as a
        :class:`ReconcilerError` that names the brokers tried and the causes.
        """
        api = type(request).__name__.removesuffix("Request")
        idempotent = api in IDEMPOTENT_APIS
        if controller:
            return await self._send_to_controller(request, api, idempotent)
        if node_id is not None:
            return await self._attempt(node_id, request, api)
        return (await self._send_to_any(request, api, idempotent))[1]

    async def _send_to_any(
        self, request: Request[Any], api: str, idempotent: bool, *, first: int | None = None
    ) -> tuple[int, Response]:
        """To a random broker (``first``: that one first), moving on as :meth:`send`
        describes; the broker that answered, and its answer."""
        candidates = self._broker_ids()
        if first in candidates:
            candidates.remove(first)
            candidates.insert(0, first)
        if not candidates:
            raise ConnectionFailure(
                self.endpoint, f"{api}: the cluster metadata lists no broker", reached=True
            )
        tried: list[tuple[int | None, BaseException]] = []
        for index, target in enumerate(candidates):
            last = index == len(candidates) - 1
            try:
                return target, await self._attempt(target, request, api, raw=True)
            except TRANSIENT_ERRORS as problem:
                tried.append((target, problem))
                sent = not isinstance(problem, NodeNotReadyError)
                if last or (sent and not idempotent):
                    raise self._request_failure(api, tried, idempotent) from None
                log.warning(
                    "%s to broker %s failed (%s); %s on broker %s",
                    api,
                    target,
                    describe_kafka_error(problem),
                    "retrying" if sent else "sending it",
                    candidates[index + 1],
                )
        raise AssertionError("unreachable")

    def _broker_ids(self) -> list[int]:
        """Known broker ids, a random one first (spreads the load like aiokafka does)."""
        ids = sorted(b.nodeId for b in self._client._client.cluster.brokers())
        if ids:
            start = random.randrange(len(ids))
            ids = ids[start:] + ids[:start]
        return ids

    def _address(self, node_id: int | None) -> str:
        if node_id is None:
            return self.endpoint
        broker = self._client._client.cluster.broker_metadata(node_id)
        return f"{broker.host}:{broker.port}" if broker is not None else self.endpoint

    async def _attempt(
        self, node_id: int, request: Request[Any], api: str, *, raw: bool = False
    ) -> Response:
        """One request to one node: its connection within the connect deadline, then the
        request (counted once sent). ``raw``: let transient errors through (the caller
        decides about another broker); otherwise they become a ConnectionFailure."""
        client = self._client._client
        try:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                    async for _ in retries(interval=client._retry_backoff):
                        if await client.ready(node_id):
                            break
            except TimeoutError:
                raise NodeNotReadyError(
                    f"no connection to broker {node_id} within {CONNECT_TIMEOUT_SECONDS:g}s"
                ) from None
            self.requests[api] += 1
            return await client.send(node_id, request)
        except TRANSIENT_ERRORS as problem:
            if raw:
                raise
            raise self._request_failure(api, [(node_id, problem)], False) from None
        except KafkaError as problem:
            if raw and isinstance(problem, NotControllerError):
                raise
            raise RequestFailed(
                f"{api} request to {self._address(node_id)}: {describe_kafka_error(problem)}"
            ) from None

    async def _refresh_metadata(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                await self._client._client.force_metadata_update()

    async def _send_to_controller(
        self, request: Request[Any], api: str, idempotent: bool
    ) -> Response:
        """To the controller the metadata names (KRaft: a broker that forwards to it). Once
        more after a metadata refresh when it is not the controller, when the request was
        not sent, or (idempotent requests) when it failed."""
        cluster = self._client._client.cluster
        tried: list[tuple[int | None, BaseException]] = []
        for attempt in (1, 2):
            if cluster.controller is None:
                await self._refresh_metadata()
            controller = cluster.controller
            if controller is None:
                raise ConnectionFailure(
                    self.endpoint, f"{api}: the cluster metadata names no controller", reached=True
                )
            try:
                return await self._attempt(controller.nodeId, request, api, raw=True)
            except NotControllerError as problem:
                tried.append((controller.nodeId, problem))
                retry = True
            except TRANSIENT_ERRORS as problem:
                tried.append((controller.nodeId, problem))
                retry = idempotent or isinstance(problem, NodeNotReadyError)
            if attempt == 2 or not retry:
                raise self._request_failure(api, tried, idempotent)
            log.warning(
                "%s to the controller (broker %s) failed (%s); refreshing metadata and retrying",
                api,
                controller.nodeId,
                describe_kafka_error(tried[-1][1]),
            )
            await self._refresh_metadata()
        raise AssertionError("unreachable")

    def _request_failure(
        self, api: str, tried: Sequence[tuple[int | None, BaseException]], idempotent: bool
    ) -> ConnectionFailure:
        """Which brokers failed a request, and how; whether it may have been applied."""
        parts = []
        for node_id, problem in tried:
            who = (
                f"broker {node_id} ({self._address(node_id)})"
                if node_id is not None
                else ("the cluster")
            )
            parts.append(f"{who}: {describe_kafka_error(problem)}")
        reason = f"{api} request failed on " + "; ".join(parts)
        sent = any(not isinstance(p, NodeNotReadyError) for _, p in tried)
        if idempotent or not sent:
            hint = "no broker tried could answer; check broker health"
        else:
            hint = (
                "the request changes the cluster and is not repeated automatically: it may "
                "or may not have been carried out; run plan again to see the live state"
            )
        return ConnectionFailure(self.endpoint, reason, hint=hint, reached=True, kind="request")

    # ------------------------------------------------------------------ reading

    async def cluster_state(
        self,
        *,
        with_configs: bool = True,
        topics: Sequence[str] | None = None,
        config_keys: frozenset[str] | None = None,
        configs_of: Callable[[str], bool] | None = None,
        node_id: int | None = None,
    ) -> KafkaClusterState:
        """Brokers, topics, partitions and (optionally) the topics' configs, as one broker
        (``node_id``, or any) sees them.

        One Metadata request plus one DescribeConfigs request. With ``config_keys``, only
        those keys and the topics' own overrides are kept; with ``configs_of``, only the
        topics it selects are described (the others have no configs), so that a plan's cost
        follows its spec rather than the cluster.
        """
        request = MetadataRequest(
            list(topics) if topics is not None else None, allow_auto_topic_creation=False
        )
        pinned = node_id is not None
        if node_id is None:
            node_id, metadata = await self._send_to_any(request, "Metadata", True)
        else:
            metadata = await self.send(request, node_id=node_id)
        brokers = tuple(
            Broker(node_id=b[0], host=b[1], port=b[2], rack=b[3]) for b in metadata.brokers
        )
        live: dict[str, LiveTopic] = {}
        for error_code, name, internal, partitions in metadata.topics:
            if error_code and not partitions:
                continue  # e.g. UnknownTopicOrPartition for a named lookup
            live[name] = LiveTopic(
                name=name,
                internal=internal or name.startswith("__"),
                partitions=tuple(
                    PartitionState(p[1], p[2], p[3], p[4], p[5], p[0])
                    for p in sorted(partitions, key=lambda p: p[1])
                ),
            )
        described = [
            n for n, t in live.items() if not t.internal and (configs_of is None or configs_of(n))
        ]
        if with_configs and described:
            # From the broker that answered Metadata: its topics and configs are one
            # metadata image, while another broker may not have applied a new topic yet.
            configs = await self.topic_configs(
                described, config_keys, node_id=node_id, pinned=pinned
            )
            for name in described:
                if name in configs:
                    live[name] = replace(live[name], configs=configs[name])
                else:  # deleted between the two requests: the newer answer wins
                    del live[name]
        return KafkaClusterState(
            cluster_id=metadata.cluster_id,
            controller_id=metadata.controller_id,
            brokers=brokers,
            topics=live,
        )

    async def cluster_state_on_each(
        self,
        *,
        with_configs: bool = True,
        topics: Sequence[str],
        config_keys: frozenset[str] | None = None,
    ) -> list[KafkaClusterState]:
        """The named topics as each reachable broker sees them (:meth:`on_each_broker`)."""
        return await self.on_each_broker(
            lambda node: self.cluster_state(
                with_configs=with_configs, topics=topics, config_keys=config_keys, node_id=node
            )
        )

    async def on_each_broker(self, read: Callable[[int], Awaitable[T]]) -> list[T]:
        """``read(node_id)`` on every known broker at once: after a change, the next read
        may go to any broker, and each applies the controller's records in its own time. A
        broker that cannot be reached is left out (it answers no later read either); when
        none can be, the first failure is raised, and so is any other failure."""
        answers = await asyncio.gather(
            *(read(b) for b in sorted(self._broker_ids())), return_exceptions=True
        )
        failures = [a for a in answers if isinstance(a, BaseException)]
        found = [a for a in answers if not isinstance(a, BaseException)]
        if not found:
            if not failures:
                raise ConnectionFailure(self.endpoint, "the cluster metadata lists no broker")
            raise failures[0]
        for failure in failures:
            if not isinstance(failure, ConnectionFailure):
                raise failure
        return found

    async def topic_configs(
        self,
        names: Iterable[str],
        keep: frozenset[str] | None = None,
        *,
        node_id: int | None = None,
        pinned: bool = False,
    ) -> dict[str, dict[str, LiveConfig]]:
        """Configs of the named topics, with their source, in one DescribeConfigs request
        (to ``node_id`` first when given, else any broker; ``pinned``: to ``node_id`` only,
        for that broker's own view or an error). A topic the broker does not know is left
        out; any other error is raised: a plan must not take configs it could not read for
        configs that are not set.

        ``keep``: the config names needed whatever their source; values set on the topic
        itself are always returned. ``None`` returns every config.
        """
        resources: list[tuple[int, str, list[str] | None]] = [
            (int(ConfigResourceKind.TOPIC), name, None) for name in names
        ]
        if not resources:
            return {}
        request = DescribeConfigsRequest(resources, include_synonyms=False)
        if pinned and node_id is not None:
            response = await self._attempt(node_id, request, "DescribeConfigs")
        else:
            _, response = await self._send_to_any(request, "DescribeConfigs", True, first=node_id)
        result: dict[str, dict[str, LiveConfig]] = {}
        failed: list[str] = []
        for error_code, error_message, _kind, name, entries in response.resources(keep):
            if error_code == UnknownTopicOrPartitionError.errno:
                continue
            if error_code or name is None:
                failed.append(f"{name}: {_error(error_code, error_message)}")
                continue
            result[name] = {
                key: LiveConfig(value, ConfigSource.of(source), sensitive, read_only)
                for key, value, read_only, source, sensitive in entries
            }
        if failed:
            raise RequestFailed(
                f"DescribeConfigs: {len(failed)} topic(s) could not be described: "
                + "; ".join(sorted(failed)[:5])
                + (" …" if len(failed) > 5 else "")
            )
        return result

    async def replica_sizes(
        self, wanted: Mapping[int, dict[str, list[int]]]
    ) -> dict[tuple[str, int], int]:
        """(topic, partition) -> bytes of the replica on the broker ``wanted`` names for it
        (broker -> topic -> partitions): one DescribeLogDirs request per broker, together."""

        async def ask(broker: int, topics: dict[str, list[int]]) -> dict[tuple[str, int], int]:
            response = await self.send(DescribeLogDirsRequest(topics), node_id=broker)
            found = replica_sizes(response)
            return {k: v for k, v in found.items() if k[1] in topics.get(k[0], ())}

        answers = await asyncio.gather(*(ask(b, t) for b, t in sorted(wanted.items())))
        return {key: size for answer in answers for key, size in answer.items()}

    async def list_reassignments(
        self,
    ) -> dict[TopicPartition, tuple[list[int], list[int], list[int]]]:
        """Ongoing reassignments: (topic, partition) -> (replicas, adding, removing)."""
        response = await self.send(
            ListPartitionReassignmentsRequest(30_000, None, {}),
            controller=True,
        )
        if response.error_code:
            raise RequestFailed(
                f"ListPartitionReassignments: {_error(response.error_code, response.error_message)}"
            )
        ongoing: dict[TopicPartition, tuple[list[int], list[int], list[int]]] = {}
        for topic in response.topics:
            name, partitions = topic[0], topic[1]
            for p in partitions:
                ongoing[(name, p[0])] = (list(p[1]), list(p[2]), list(p[3]))
        return ongoing

    # ------------------------------------------------------------------ writing

    async def create_topics(
        self,
        topics: Sequence[NewTopicRequest],
        *,
        validate_only: bool = False,
        timeout_ms: int = 30_000,
    ) -> dict[str, str | None]:
        """Create (or with validate_only, check) topics in batches the controller accepts
        (at most 1,000 topics, 10,000 partitions and 10,000 records a request); name ->
        error or None."""
        from reconciler.spec.limits import create_topics_batches

        results: dict[str, str | None] = {}
        sizes = [(t.partitions, len(t.config)) for t in topics]
        for indices in create_topics_batches(sizes, max_topics=WRITE_BATCH):
            batch = [topics[i] for i in indices]
            payload: list[Any] = [
                (t.name, t.partitions, t.replication_factor, [], list(t.config.items()))
                for t in batch
            ]
            response = await self.send(
                CreateTopicsRequest(payload, timeout_ms, validate_only), controller=True
            )
            for entry in response.topic_errors:
                name, code = entry[0], entry[1]
                results[name] = _error(code, entry[2] if len(entry) > 2 else None)
        return results

    async def create_partitions(
        self, counts: Mapping[str, int], *, validate_only: bool = False, timeout_ms: int = 30_000
    ) -> dict[str, str | None]:
        results: dict[str, str | None] = {}
        items = list(counts.items())
        for start in range(0, len(items), WRITE_BATCH):
            payload = [(name, (count, None)) for name, count in items[start : start + WRITE_BATCH]]
            response = await self.send(
                CreatePartitionsRequest(payload, timeout_ms, validate_only), controller=True
            )
            for name, code, message in response.topic_errors:
                results[name] = _error(code, message)
        return results

    async def alter_topic_configs(
        self, changes: Mapping[str, Mapping[str, str | None]], *, validate_only: bool = False
    ) -> dict[str, str | None]:
        """Set (value) or delete (None) individual keys per topic: IncrementalAlterConfigs only."""
        resources = [
            (
                int(ConfigResourceKind.TOPIC),
                topic,
                [
                    (
                        key,
                        int(AlterConfigOp.SET if value is not None else AlterConfigOp.DELETE),
                        value,
                    )
                    for key, value in keys.items()
                ],
            )
            for topic, keys in changes.items()
            if keys
        ]
        results: dict[str, str | None] = {}
        for start in range(0, len(resources), WRITE_BATCH):
            response = await self.send(
                IncrementalAlterConfigsRequest(
                    resources[start : start + WRITE_BATCH], validate_only
                )
            )
            for entry in response.responses:
                results[entry[3]] = _error(entry[0], entry[1])
        return results

    async def alter_broker_configs(
        self, changes: Mapping[int, Mapping[str, str | None]]
    ) -> dict[int, str | None]:
        """Set (value) or delete (None) dynamic configs of individual brokers, each sent to
        the broker itself: IncrementalAlterConfigs only."""
        results: dict[int, str | None] = {}
        for broker, keys in sorted(changes.items()):
            entries = [
                (key, int(AlterConfigOp.SET if value is not None else AlterConfigOp.DELETE), value)
                for key, value in keys.items()
            ]
            response = await self.send(
                IncrementalAlterConfigsRequest(
                    [(int(ConfigResourceKind.BROKER), str(broker), entries)]
                ),
                node_id=broker,
            )
            for entry in response.responses:
                results[broker] = _error(entry[0], entry[1])
        return results

    async def delete_topics(
        self, names: Sequence[str], *, timeout_ms: int = 30_000
    ) -> dict[str, str | None]:
        results: dict[str, str | None] = {}
        for start in range(0, len(names), WRITE_BATCH):
            response = await self.send(
                DeleteTopicsRequest(list(names[start : start + WRITE_BATCH]), timeout_ms),
                controller=True,
            )
            for entry in response.topic_error_codes:
                results[entry[0]] = _error(entry[1], entry[2] if len(entry) > 2 else None)
        return results

    async def alter_reassignments(
        self, assignments: Mapping[TopicPartition, Sequence[int]], *, timeout_ms: int = 30_000
    ) -> dict[TopicPartition, str | None]:
        by_topic: dict[str, list[tuple[int, list[int], dict[int, bytes]]]] = {}
        for (topic, partition), replicas in sorted(assignments.items()):
            by_topic.setdefault(topic, []).append((partition, list(replicas), {}))
        payload: list[Any] = [(topic, parts, {}) for topic, parts in by_topic.items()]
        response = await self.send(
            AlterPartitionReassignmentsRequest(timeout_ms, payload, {}), controller=True
        )
        if response.error_code:
            message = _error(response.error_code, response.error_message)
            return {key: message for key in assignments}
        results: dict[TopicPartition, str | None] = {}
        for topic in response.responses:
            for p in topic[1]:
                results[(topic[0], p[0])] = _error(p[1], p[2])
        return results
