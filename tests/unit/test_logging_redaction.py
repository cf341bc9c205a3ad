"""Secret references are found wherever the spec models can hold one, and only there."""

from __future__ import annotations

from reconciler.logging_redaction import _secret_refs, register_spec_secrets
from reconciler.spec.loading import load_spec_text

SPEC = """\
apiVersion: llm-analytics/v1
kind: ClusterSpec
metadata: {name: secrets}
kafka:
  connection:
    bootstrapServers: k:9092
    security:
      protocol: SASL_PLAINTEXT
      sasl: {mechanism: PLAIN, username: admin, password: {fromEnv: KAFKA_PASSWORD}}
  topics: [{name: a, partitions: 1, replicationFactor: 1}]
  acls:
    - {principal: "User:a", operation: READ, resourceType: TOPIC, resourceName: a}
  users:
    - {name: ingest, password: {fromEnv: INGEST_PASSWORD}}
redis:
  connection: {addresses: ["r:6379"], password: {fromEnv: REDIS_PASSWORD}}
  users:
    - {name: app, passwords: [{fromEnv: APP_ONE}, {fromEnv: APP_TWO}], keys: ["app:*"]}
"""


def test_every_secret_reference_is_found() -> None:
    spec = load_spec_text(SPEC, "s.yaml", environ={}).spec
    assert sorted(path for path, _ in _secret_refs(spec)) == [
        "kafka.connection.security.sasl.password",
        "kafka.users[0].password",
        "redis.connection.password",
        "redis.users[0].passwords[0]",
        "redis.users[0].passwords[1]",
    ]
    environ = {name: f"value-of-{name}" for name in ("KAFKA_PASSWORD", "APP_TWO")}
    assert register_spec_secrets(spec, environ) == 2
