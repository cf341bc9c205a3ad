"""Saved plans without a cluster: the file format, staleness, secrets, and the Markdown bound
of a 5,000-topic plan through the CLI path."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler import __version__
from reconciler.engine.plan import Action, AttributeChange, Change, Plan
from reconciler.engine.planfile import (
    PlanFileError,
    checksum,
    parse_planfile,
    planfile_document,
    read_planfile,
    redacted_changes,
    restore_redacted,
    stale_refusal,
    staleness,
    write_planfile,
)
from reconciler.errors import EXIT_REFUSED, SafetyRefusal
from reconciler.rendering import SENSITIVE_VALUE, redact_plan_dict, render
from reconciler.rendering.markdown import DEFAULT_MAX_CHARS

SECRET = "jaas-secret-value-123"


def topic_change(name: str, action: Action = Action.CREATE, **payload: Any) -> Change:
    return Change(
        address=f"kafka_topic.{name}",
        provider="kafka_topic",
        resource_type="kafka_topic",
        name=name,
        action=action,
        attributes=(AttributeChange(path="partitions", after=3),),
        payload={"partitions": 3, "replication_factor": 1, "config": {}, **payload},
    )


def document_for(plan: Plan, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "plan_dict": redact_plan_dict(plan.to_json_dict()),
        "spec_path": "cluster-spec.yaml",
        "spec_sha256": "a" * 64,
        "env": "prod",
        "target": "kafka",
        "targets": ["kafka"],
        "allow_delete": False,
        "fingerprints": {c.address: "f-" + c.name for c in plan.actionable},
        "tool_version": __version__,
        "created_at": "2024-05-01T12:00:00Z",
    }
    fields.update(overrides)
    return planfile_document(**fields)


def test_a_saved_plan_reads_back_whole(tmp_path: Path) -> None:
    plan = Plan(changes=(topic_change("a"), topic_change("b")))
    path = tmp_path / "plan.json"
    write_planfile(path, document_for(plan))
    saved = read_planfile(path)
    assert saved.plan == plan
    assert (saved.spec_path, saved.env, saved.target, saved.targets) == (
        "cluster-spec.yaml",
        "prod",
        "kafka",
        ("kafka",),
    )
    assert saved.fingerprints == {"kafka_topic.a": "f-a", "kafka_topic.b": "f-b"}
    assert saved.tool_version == __version__ and saved.format_version == "1.0"
    body = json.loads(path.read_text())
    assert list(body)[:2] == ["planfile_format_version", "tool_version"]
    assert not list(tmp_path.glob(".plan.json.*"))  # no temporary file left behind


def test_a_modified_plan_file_is_refused(tmp_path: Path) -> None:
    document = document_for(Plan(changes=(topic_change("a"),)))
    document["plan"]["changes"][0]["payload"]["partitions"] = 300
    with pytest.raises(SafetyRefusal, match="checksum") as caught:
        parse_planfile(document)
    assert caught.value.exit_code == EXIT_REFUSED


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "invalid JSON"),
        ('{"changes": []}', "not a plan file"),
        ('{"planfile_format_version": "2.0"}', "not supported"),
    ],
)
def test_unreadable_plan_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(PlanFileError, match=message):
        read_planfile(path)


def test_missing_plan_file() -> None:
    with pytest.raises(PlanFileError, match="cannot read"):
        read_planfile("/nonexistent/plan.json")


def test_staleness_names_the_spec_and_every_changed_address() -> None:
    plan = Plan(changes=(topic_change("a"), topic_change("b"), topic_change("c")))
    saved = parse_planfile(document_for(plan))
    assert staleness(saved, spec_sha256="a" * 64, fingerprints_now=dict(saved.fingerprints)) == []
    reasons = staleness(
        saved,
        spec_sha256="b" * 64,
        fingerprints_now={"kafka_topic.a": "f-a", "kafka_topic.b": "CHANGED"},
    )
    assert len(reasons) == 3
    assert "spec changed" in reasons[0]
    assert reasons[1].startswith("kafka_topic.b: changed in the cluster")
    assert reasons[2].startswith("kafka_topic.c: its live state cannot be read")
    refusal = stale_refusal("plan.json", reasons)
    assert refusal.exit_code == EXIT_REFUSED and "plan again" in str(refusal)


def test_no_op_changes_need_no_fingerprint() -> None:
    plan = Plan(changes=(topic_change("a", Action.NOOP),))
    saved = parse_planfile(document_for(plan, fingerprints={}))
    assert staleness(saved, spec_sha256="a" * 64, fingerprints_now={}) == []


def test_a_saved_plan_holds_no_secret_and_apply_restores_it_from_the_spec() -> None:
    plan = Plan(
        changes=(
            topic_change("secure", config={"sasl.jaas.config": SECRET, "retention.ms": "1000"}),
            topic_change("plain"),
        )
    )
    document = document_for(plan)
    text = json.dumps(document)
    assert SECRET not in text
    saved = parse_planfile(document)
    assert redacted_changes(saved.plan, SENSITIVE_VALUE) == {
        "kafka_topic.secure": [("config", "sasl.jaas.config")]
    }
    restored = restore_redacted(saved.plan, plan, SENSITIVE_VALUE)
    assert restored.changes[0].payload["config"] == {
        "sasl.jaas.config": SECRET,
        "retention.ms": "1000",
    }
    assert restored.changes[1] == plan.changes[1]


def test_restoring_a_secret_the_spec_no_longer_yields_is_refused() -> None:
    plan = Plan(changes=(topic_change("secure", config={"sasl.jaas.config": SECRET}),))
    saved = parse_planfile(document_for(plan))
    with pytest.raises(SafetyRefusal, match="plan again"):
        restore_redacted(saved.plan, Plan(), SENSITIVE_VALUE)


# --------------------------------------------------------------------------- 5,000 topics


@functools.cache
def big_plan(count: int = 5000) -> Plan:
    changes = [topic_change(f"llm-tenant-{i:05d}-events") for i in range(count - 10)]
    changes += [topic_change(f"llm-legacy-{i:02d}", Action.DELETE) for i in range(10)]
    return Plan(changes=tuple(changes))


def test_markdown_of_5000_topics_stays_within_the_comment_bound() -> None:
    text = render(big_plan(), "markdown")
    assert len(text) <= DEFAULT_MAX_CHARS
    assert "5000 to add" not in text  # the summary counts what the plan holds
    assert "4990 to add, 0 to change, 10 to destroy" in text
    assert "more resources not shown" in text
    # Destructive changes come first, in the caution block, where no reviewer misses them.
    assert text.index("[!CAUTION]") < text.index("llm-tenant-00000-events")
    assert "llm-legacy-09" in text[: text.index("| Action |")]


def test_show_markdown_of_a_saved_5000_topic_plan_is_bounded(tmp_path: Path) -> None:
    from reconciler.cli.main import cli

    path = tmp_path / "big.plan.json"
    write_planfile(path, document_for(big_plan()))
    result = CliRunner().invoke(cli, ["show", str(path), "-o", "markdown"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout) <= DEFAULT_MAX_CHARS
    assert "more resources not shown" in result.stdout


def test_plan_markdown_goes_through_the_bounded_renderer() -> None:
    from reconciler.cli.common import AppContext
    from reconciler.cli.planning import echo_plan

    runner = CliRunner()

    import click

    @click.command()
    def probe() -> None:
        echo_plan(big_plan(), "markdown", AppContext())

    result = runner.invoke(probe)
    assert result.exit_code == 0
    assert result.stdout == render(big_plan(), "markdown")


# --------------------------------------------------------------------------- show / apply


def test_show_text_names_where_the_plan_came_from(tmp_path: Path) -> None:
    from reconciler.cli.main import cli

    path = tmp_path / "plan.json"
    write_planfile(path, document_for(Plan(changes=(topic_change("a"),))))
    result = CliRunner().invoke(cli, ["show", str(path)])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert "cluster-spec.yaml" in first and "env prod" in first and "2024-05-01" in first
    assert "kafka_topic.a will be created" in result.stdout
    as_json = CliRunner().invoke(cli, ["show", str(path), "--json"])
    assert json.loads(as_json.stdout)["changes"][0]["address"] == "kafka_topic.a"


def test_show_still_reads_a_plan_saved_with_plan_json(tmp_path: Path) -> None:
    from reconciler.cli.main import cli

    path = tmp_path / "plan.json"
    path.write_text(json.dumps(Plan(changes=(topic_change("a"),)).to_json_dict()))
    result = CliRunner().invoke(cli, ["show", str(path)])
    assert result.exit_code == 0 and "kafka_topic.a" in result.stdout


def test_apply_refuses_a_plan_file_of_another_version(tmp_path: Path) -> None:
    from reconciler.cli.main import main

    path = tmp_path / "plan.json"
    write_planfile(path, document_for(Plan(changes=(topic_change("a"),)), tool_version="0.0.1"))
    with pytest.raises(SystemExit) as stopped:
        main(["apply", str(path)])
    assert stopped.value.code == EXIT_REFUSED


def test_apply_refuses_a_tampered_plan_file(tmp_path: Path, capsys: Any) -> None:
    from reconciler.cli.main import main

    path = tmp_path / "plan.json"
    document = document_for(Plan(changes=(topic_change("a"),)))
    document["allow_delete"] = True
    path.write_text(json.dumps(document))
    with pytest.raises(SystemExit) as stopped:
        main(["apply", str(path)])
    assert stopped.value.code == EXIT_REFUSED
    assert "checksum" in capsys.readouterr().err


def test_apply_needs_a_spec_or_a_plan_file(capsys: Any) -> None:
    from reconciler.cli.main import main

    with pytest.raises(SystemExit) as stopped:
        main(["apply"])
    assert stopped.value.code == 1
    assert "PLANFILE" in capsys.readouterr().err


def test_a_truncated_plan_file_is_refused_for_safety(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    write_planfile(path, document_for(Plan(changes=(topic_change("a"),))))
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(SafetyRefusal, match="truncated") as caught:
        read_planfile(path)
    assert caught.value.exit_code == EXIT_REFUSED


def test_signed_plans(tmp_path: Path) -> None:
    key = b"ci-signing-key"
    plan = Plan(changes=(topic_change("a"),))
    path = tmp_path / "plan.json"
    write_planfile(path, document_for(plan, signing_key=key))
    assert read_planfile(path, signing_key=key).signed
    # One byte altered (and the public checksum recomputed): the signature no longer matches.
    document = json.loads(path.read_text())
    document["created_at"] = document["created_at"].replace("2024", "2025")
    document["checksum"] = checksum(document)
    with pytest.raises(SafetyRefusal, match="signature does not match"):
        parse_planfile(document, signing_key=key)
    with pytest.raises(SafetyRefusal, match="another key"):
        read_planfile(path, signing_key=b"other")
    unsigned = document_for(plan)
    with pytest.raises(SafetyRefusal, match="not signed"):
        parse_planfile(unsigned, signing_key=key)
    assert not parse_planfile(unsigned).signed
