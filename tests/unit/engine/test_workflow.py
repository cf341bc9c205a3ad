"""The one workflow: lock → read once → plan → gate → confirm → apply → verify → release."""

from __future__ import annotations

import json

import pytest

from reconciler.engine.planfile import parse_planfile, planfile_document
from reconciler.engine.risk import Consent, granted_consents
from reconciler.engine.selection import Selection
from reconciler.engine.workflow import Outcome, RunOptions, Workflow
from reconciler.errors import PlanRefused, SafetyRefusal
from tests.unit.engine.memory import MemoryStore, RecordingLock, RecordingUI


def workflow(store: MemoryStore, events: list[str], **ui: bool) -> tuple[Workflow, RecordingUI]:
    face = RecordingUI(events, **ui)
    return Workflow([store], locks=lambda: RecordingLock(events), ui=face), face


async def test_the_steps_run_in_order_under_the_lock_and_verify() -> None:
    events: list[str] = []
    store = MemoryStore({"a": 1, "b": 2}, {"b": 1})
    store.events = events
    flow, _ = workflow(store, events)
    result = await flow.apply(RunOptions())
    assert result.outcome is Outcome.APPLIED
    assert events == ["lock", "show", "confirm", "apply memory.a", "apply memory.b", "unlock"]
    assert store.live == {"a": 1, "b": 2}
    assert store.reads == 2  # the plan, then the verifying re-read
    assert not result.unfinished


async def test_nothing_to_do_takes_no_confirmation() -> None:
    events: list[str] = []
    flow, _ = workflow(MemoryStore({"a": 1}, {"a": 1}), events)
    result = await flow.apply(RunOptions())
    assert result.outcome is Outcome.NO_CHANGES
    assert "confirm" not in events


@pytest.mark.parametrize(
    ("desired", "consents", "flag"),
    [
        ({"a": None}, set(), "--allow-delete"),
        ({"a": 1}, set(), "--allow-data-loss"),
        ({"a": None}, {Consent.DATA_LOSS}, "--allow-delete"),
    ],
)
async def test_risky_changes_are_refused_before_confirmation_without_consent(
    desired: dict[str, int | None], consents: set[Consent], flag: str
) -> None:
    events: list[str] = []
    store = MemoryStore(desired, {"a": 5})
    flow, _ = workflow(store, events)
    with pytest.raises(SafetyRefusal) as refused:
        await flow.apply(RunOptions(consents=frozenset(consents)))
    assert refused.value.exit_code == 3
    assert flag in str(refused.value)
    assert "confirm" not in events and store.live == {"a": 5}
    assert events[-1] == "unlock"


async def test_allow_delete_implies_data_loss_consent() -> None:
    store = MemoryStore({"a": None, "b": 1}, {"a": 5, "b": 5})
    flow, _ = workflow(store, [])
    await flow.apply(RunOptions(consents=granted_consents(allow_delete=True)))
    assert store.live == {"b": 1}


async def test_plan_errors_exit_1_and_exclude_lets_the_rest_apply() -> None:
    store = MemoryStore({"bad": -1, "ok": 1}, {})
    flow, _ = workflow(store, [])
    with pytest.raises(PlanRefused) as refused:
        await flow.apply(RunOptions())
    assert refused.value.exit_code == 1
    assert store.live == {}
    await flow.apply(RunOptions(selection=Selection.of(excludes=["memory.bad"])))
    assert store.live == {"ok": 1}


async def test_dry_run_gates_but_changes_nothing() -> None:
    events: list[str] = []
    store = MemoryStore({"a": 1}, {})
    flow, _ = workflow(store, events)
    result = await flow.apply(RunOptions(dry_run=True))
    assert result.outcome is Outcome.PLANNED and store.live == {}
    assert "confirm" not in events


def saved_plan(store: MemoryStore, planned: object, **changes: object) -> object:
    document = planfile_document(
        plan_dict=planned.plan.to_json_dict(),  # type: ignore[attr-defined]
        spec_path="spec.yaml",
        spec_sha256="s",
        env=None,
        target=None,
        targets=["memory"],
        allow_delete=False,
        fingerprints=planned.fingerprints,  # type: ignore[attr-defined]
        tool_version="t",
        created_at="now",
    )
    document.update(changes)
    return document


async def test_a_saved_plan_is_checked_with_one_read_and_applied_as_saved() -> None:
    events: list[str] = []
    store = MemoryStore({"a": 1}, {})
    flow, ui = workflow(store, events)
    planned = await flow.plan(RunOptions())
    saved = parse_planfile(saved_plan(store, planned))
    reads = store.reads
    result = await flow.apply_saved(saved, RunOptions(), spec_sha256="s")
    assert result.outcome is Outcome.APPLIED and store.live == {"a": 1}
    assert store.reads == reads + 2  # fingerprints, then verify: the plan is not recomputed
    assert ui.shown[0].changes == saved.plan.changes


async def test_a_stale_saved_plan_is_refused_before_it_is_shown() -> None:
    events: list[str] = []
    store = MemoryStore({"a": 1}, {"a": 3})
    flow, _ = workflow(store, events)
    planned = await flow.plan(RunOptions())
    saved = parse_planfile(saved_plan(store, planned))
    store.live["a"] = 4  # changed out of band
    with pytest.raises(SafetyRefusal, match="stale"):
        await flow.apply_saved(saved, RunOptions(consents=frozenset(Consent)), spec_sha256="s")
    assert "show" not in events and store.live == {"a": 4}


async def test_a_saved_plan_against_another_cluster_is_refused() -> None:
    store = MemoryStore({"a": 1}, {})
    flow, _ = workflow(store, [])
    planned = await flow.plan(RunOptions())
    saved = parse_planfile(saved_plan(store, planned))
    store.cluster = "c2"
    with pytest.raises(SafetyRefusal, match="another Memory cluster"):
        await flow.apply_saved(saved, RunOptions(), spec_sha256="s")
    assert store.live == {}


async def test_an_edited_payload_is_refused_even_with_a_recomputed_checksum() -> None:
    from reconciler.engine.planfile import checksum

    store = MemoryStore({"a": 1}, {})
    flow, _ = workflow(store, [])
    planned = await flow.plan(RunOptions())
    document = saved_plan(store, planned)
    document["plan"]["changes"][0]["payload"]["value"] = 40  # type: ignore[index]
    document["checksum"] = checksum(document)  # type: ignore[arg-type]
    saved = parse_planfile(json.loads(json.dumps(document)))
    with pytest.raises(SafetyRefusal, match="differs from what it would execute"):
        await flow.apply_saved(saved, RunOptions(), spec_sha256="s")
    assert store.live == {}


async def test_the_stall_timeout_reaches_the_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--stall-timeout`` wins over $LLM_ANALYTICS_STALL_TIMEOUT, which wins over 180 s."""
    from reconciler.engine.providers import ApplyOptions

    monkeypatch.delenv("LLM_ANALYTICS_STALL_TIMEOUT", raising=False)
    assert ApplyOptions().stall_seconds() == 180.0
    assert ApplyOptions().stall_seconds(4.0) == 4.0
    monkeypatch.setenv("LLM_ANALYTICS_STALL_TIMEOUT", "15s")
    assert ApplyOptions().stall_seconds(4.0) == 15.0
    assert ApplyOptions(stall_timeout=30.0).stall_seconds() == 30.0
    store = MemoryStore({"a": 1}, {})
    flow, _ = workflow(store, [])
    await flow.apply(RunOptions(stall_timeout=42.0))
    assert store.stall_seconds == 42.0
