"""export writes live quotas and SCRAM users as spec sections that load and plan back."""

from __future__ import annotations

from reconciler.cli.export import live_identities_to_spec
from reconciler.providers.kafka.quota_diffs import diff_quotas, normalise_entity
from reconciler.providers.kafka.user_diffs import diff_users
from reconciler.spec.kafka_identities import QuotaOwnership, QuotaSpec, UserOwnership, UserSpec


def test_exported_quotas_and_users_plan_to_nothing() -> None:
    quotas = {
        normalise_entity([("user", "alice"), ("client-id", None)]): {
            "producer_byte_rate": 1048576.0
        },
        normalise_entity([("ip", None)]): {"connection_creation_rate": 10.0},
        normalise_entity([("client-id", "c")]): {"request_percentage": 12.5},
    }
    users = {"app.one": {"SCRAM-SHA-512": 8192}}
    exported = live_identities_to_spec(quotas, users)
    assert exported["quotas"][0] == {"clientId": "c", "config": {"request_percentage": 12.5}}
    assert {
        "user": "alice",
        "clientId": "<default>",
        "config": {"producer_byte_rate": 1048576},
    } in exported["quotas"]
    assert exported["users"][0]["password"] == {"fromEnv": "LLM_ANALYTICS_USER_APP_ONE_PASSWORD"}
    specs = [QuotaSpec.model_validate(q) for q in exported["quotas"]]
    assert not diff_quotas(specs, quotas, QuotaOwnership(), allow_delete=False).changes
    user_specs = [UserSpec.model_validate(u) for u in exported["users"]]
    assert not diff_users(user_specs, users, UserOwnership(), allow_delete=False).changes
