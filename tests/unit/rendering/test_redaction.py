from __future__ import annotations

import copy
import json

import pytest

from reconciler.rendering import render
from reconciler.rendering.redaction import (
    SENSITIVE_KEY_PATTERNS,
    SENSITIVE_VALUE,
    is_sensitive_key,
    redact_plan_dict,
)
from tests.unit.rendering.plans import SECRETS, sample_plan


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "ssl.truststore.password",
        "SASL.JAAS.CONFIG",
        "sasl_jaas_config",
        "saslJaasConfig",
        "ssl.key.password",
        "ssl.keystore.key",
        "sslKey",
        "client_secret",
        "auth.token",
        "bearerToken",
        "credentials",
        "aws-Credentials.file",
        "REDIS_PASSWORD",
    ],
)
def test_sensitive_keys(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "partitions",
        "config.retention.ms",
        "replication_factor",
        "cleanup.policy",
        "principal",
        "sasl.mechanism",
        "ssl.endpoint.identification.algorithm",
        "",
        None,
        42,
    ],
)
def test_not_sensitive_keys(key: object) -> None:
    assert not is_sensitive_key(key)


def test_patterns_are_the_documented_list() -> None:
    assert SENSITIVE_KEY_PATTERNS == (
        "password",
        "secret",
        "sasl.jaas.config",
        "ssl.key",
        "token",
        "credentials",
    )


def test_redact_marks_and_hides_without_touching_the_input() -> None:
    original = sample_plan().to_json_dict()
    snapshot = copy.deepcopy(original)
    redacted = redact_plan_dict(original)
    assert original == snapshot
    user = next(c for c in redacted["changes"] if c["address"] == "kafka_user.llm-writer")
    by_path = {a["path"]: a for a in user["attributes"]}
    assert by_path["scram.sha-512"] == {
        "path": "scram.sha-512",
        "before": SENSITIVE_VALUE,
        "after": SENSITIVE_VALUE,
        "sensitive": True,
    }
    # matched by its key, marked sensitive; an absent value stays null
    assert by_path["sasl.jaas.config"] == {
        "path": "sasl.jaas.config",
        "before": None,
        "after": SENSITIVE_VALUE,
        "sensitive": True,
    }
    assert by_path["quotas"]["sensitive"] is False
    assert user["payload"] == {"mechanism": "SCRAM-SHA-512", "password": SENSITIVE_VALUE}
    assert redact_plan_dict(redacted) == redacted  # idempotent


def test_nested_keys_inside_values_are_redacted() -> None:
    plan = {
        "changes": [
            {
                "address": "x.y",
                "action": "update",
                "attributes": [
                    {
                        "path": "connection",
                        "before": None,
                        "after": {
                            "host": "h",
                            "auth": {"password": "pw", "user": "u"},
                            "tokens": [{"token": "t"}],
                        },
                        "sensitive": False,
                    },
                ],
            }
        ]
    }
    after = redact_plan_dict(plan)["changes"][0]["attributes"][0]["after"]
    assert after == {
        "host": "h",
        "auth": {"password": SENSITIVE_VALUE, "user": "u"},
        "tokens": SENSITIVE_VALUE,
    }


def test_saved_plan_wrapper_is_redacted_inside() -> None:
    wrapper = {"planfile_version": 1, "plan": sample_plan().to_json_dict()}
    text = json.dumps(redact_plan_dict(wrapper))
    assert not any(secret in text for secret in SECRETS)
    assert redact_plan_dict(wrapper)["planfile_version"] == 1


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
@pytest.mark.parametrize("color", [False, True])
def test_no_format_shows_a_secret(fmt: str, color: bool) -> None:
    output = render(sample_plan(), fmt, color=color)  # type: ignore[arg-type]
    assert not any(secret in output for secret in SECRETS)
    assert SENSITIVE_VALUE in output
