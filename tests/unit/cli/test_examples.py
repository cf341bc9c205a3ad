"""The files in examples/ use only commands and options the CLI has.

Every ``llm-analytics`` invocation is found (workflow ``run:`` scripts, the CronJob's
container arguments, the Dockerfile's shell lines) and walked down the click command tree,
resolving the lazily loaded groups, so a renamed option breaks this test, not a pipeline.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from reconciler.cli.main import cli

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
WORKFLOW = EXAMPLES / "github-actions" / "cluster-gitops.yml"
CRONJOB = EXAMPLES / "kubernetes" / "drift-cronjob.yaml"
DOCKERFILE = EXAMPLES / "docker" / "Dockerfile"
PROGRAM = "llm-analytics"
HELP = {"-h", "--help"}


# --------------------------------------------------------------------------- finding commands


def _is_operator(token: str) -> bool:
    return bool(token) and all(ch in "();<>|&" for ch in token)


def invocations_in_shell(script: str) -> list[list[str]]:
    """The argument lists of every ``llm-analytics`` call in a shell script."""
    script = re.sub(r"\$\{\{.*?\}\}", "EXPR", script)  # GitHub expressions
    script = script.replace("\\\n", " ")
    found: list[list[str]] = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        for index, token in enumerate(tokens):
            if token != PROGRAM:
                continue
            args: list[str] = []
            for arg in tokens[index + 1 :]:
                if _is_operator(arg):
                    break
                args.append(arg)
            found.append(args)
    return found


def workflow_invocations(document: dict[str, Any]) -> list[tuple[str, list[str]]]:
    found = []
    for job_name, job in document["jobs"].items():
        for step in job.get("steps", []):
            for args in invocations_in_shell(step.get("run", "")):
                found.append((f"{job_name}: {step.get('name', '?')}", args))
    return found


def k8s_documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(CRONJOB.read_text()) if d]


def cronjob_containers() -> list[dict[str, Any]]:
    (cronjob,) = [d for d in k8s_documents() if d["kind"] == "CronJob"]
    return list(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"])


def container_invocation(container: dict[str, Any]) -> list[str]:
    """The image's ENTRYPOINT is llm-analytics: ``args`` are its arguments unless
    ``command`` names the program itself."""
    command = container.get("command") or []
    args = [str(a) for a in container.get("args") or []]
    if command:
        assert command[0] == PROGRAM, f"unexpected command {command}"
        return [str(a) for a in command[1:]] + args
    return args


def dockerfile_lines() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


# --------------------------------------------------------------------------- checking them


def check_invocation(args: list[str]) -> click.Command:
    """Walk ``args`` down the command tree; fail on an unknown command or option.

    Returns the leaf command reached."""
    command: click.Command = cli
    context = click.Context(cli, info_name=PROGRAM)
    tokens = list(args)
    positionals: list[str] = []
    asked_help = False
    while tokens:
        token = tokens.pop(0)
        if token.startswith("-") and token != "-":
            name = token.split("=", 1)[0]
            options = _options(command, context)
            if name in HELP:
                asked_help = True
                continue
            assert name in options, (
                f"`{' '.join(args)}`: {context.command_path} has no option {name}"
            )
            option = options[name]
            if not (option.is_flag or option.count) and "=" not in token:
                assert tokens, f"`{' '.join(args)}`: {name} needs a value"
                value = tokens.pop(0)
                if isinstance(option.type, click.Choice) and not value.startswith("$"):
                    assert value in option.type.choices, f"{name} {value}: not a choice"
            continue
        if isinstance(command, click.Group) and not positionals:
            sub = command.get_command(context, token)
            assert sub is not None, (
                f"`{' '.join(args)}`: no command {token!r} in {context.command_path}"
            )
            command = sub
            context = click.Context(sub, info_name=token, parent=context)
            continue
        positionals.append(token)
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    capacity = sum(a.nargs if a.nargs > 0 else 10**6 for a in arguments)
    assert len(positionals) <= capacity, f"`{' '.join(args)}`: too many arguments {positionals}"
    assert asked_help or not isinstance(command, click.Group), (
        f"`{' '.join(args)}` stops at a group"
    )
    return command


def _options(command: click.Command, context: click.Context) -> dict[str, click.Option]:
    return {
        name: param
        for param in command.get_params(context)
        if isinstance(param, click.Option)
        for name in (*param.opts, *param.secondary_opts)
    }


def test_the_checker_catches_mistakes() -> None:
    assert check_invocation(["plan", "-f", "s.yaml", "-o", "markdown"]).name == "plan"
    assert check_invocation(["--no-color", "drift", "--metrics-file=x.prom"]).name == "drift"
    assert check_invocation(["kafka", "topics", "list", "--llm-only"]).name == "list"
    for wrong in (
        ["plan", "--bogus"],
        ["plna"],
        ["plan", "-o", "html"],
        ["kafka"],
        ["show", "a.json", "b.json"],
        ["apply", "--lock-timeout"],
    ):
        with pytest.raises(AssertionError):
            check_invocation(wrong)


def test_shell_parsing() -> None:
    script = (
        'set +e\nllm-analytics plan -f "$SPEC" -o markdown \\\n  --out "$P" > plan.md\n'
        "x=$(llm-analytics show p.json | head) # llm-analytics --nope\n"
        "echo llm-analytics-is-not-it"
    )
    assert invocations_in_shell(script) == [
        ["plan", "-f", "$SPEC", "-o", "markdown", "--out", "$P"],
        ["show", "p.json"],
    ]


# --------------------------------------------------------------------------- the examples


def test_workflow_commands_exist_and_cover_the_gitops_flow() -> None:
    document = yaml.safe_load(WORKFLOW.read_text())
    found = workflow_invocations(document)
    assert found, "the workflow runs no llm-analytics command"
    leaves = {where: check_invocation(args) for where, args in found}
    plans = [args for _, args in found if args[0] == "plan"]
    assert any({"-o", "markdown"} <= set(a) or "--output=markdown" in a for a in plans)
    assert any("--out" in a for a in plans)
    applies = [args for _, args in found if args[0] == "apply"]
    assert applies and all("--lock-timeout" in a for a in applies)
    assert all(not a[1].startswith("-") for a in applies), "apply the saved plan file"
    assert {"plan", "apply"} <= {c.name for c in leaves.values()}
    # The plan is posted on the PR and the plan file travels as an artifact.
    uses = [
        step.get("uses", "") for job in document["jobs"].values() for step in job.get("steps", [])
    ]
    runs = " ".join(
        step.get("run", "") for job in document["jobs"].values() for step in job.get("steps", [])
    )
    assert any(u.startswith("actions/github-script") for u in uses) or "gh pr comment" in runs
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    # `on:` is read by YAML 1.1 as the boolean true.
    triggers = document.get("on", document.get(True))
    assert "pull_request" in triggers


def test_cronjob_runs_drift_with_a_metrics_file_in_the_textfile_volume() -> None:
    (container,) = cronjob_containers()
    args = container_invocation(container)
    assert check_invocation(args).name == "drift"
    metrics = args[args.index("--metrics-file") + 1]
    assert metrics.endswith(".prom")
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert str(Path(metrics).parent) in mounts
    (cronjob,) = [d for d in k8s_documents() if d["kind"] == "CronJob"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[str(Path(metrics).parent)])
    assert "textfile" in volume["hostPath"]["path"]
    assert pod["serviceAccountName"] == "llm-analytics"
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_rbac_is_minimal() -> None:
    documents = {d["kind"]: d for d in k8s_documents()}
    rules = {
        (group, resource): set(rule["verbs"])
        for rule in documents["Role"]["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert rules == {
        ("", "pods"): {"get", "list"},
        ("", "pods/exec"): {"get", "create"},  # WebSocket exec needs both (1.31+)
        ("coordination.k8s.io", "leases"): {"get", "create", "update"},
    }
    binding = documents["RoleBinding"]
    assert binding["roleRef"]["name"] == documents["Role"]["metadata"]["name"]
    assert binding["subjects"][0]["name"] == documents["ServiceAccount"]["metadata"]["name"]
    # Cluster-wide: only reading nodes (their zone label, for placement).
    assert documents["ClusterRole"]["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}
    ]
    cluster_binding = documents["ClusterRoleBinding"]
    assert cluster_binding["roleRef"]["name"] == documents["ClusterRole"]["metadata"]["name"]
    assert cluster_binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": documents["ServiceAccount"]["metadata"]["name"],
            "namespace": documents["ServiceAccount"]["metadata"]["namespace"],
        }
    ]


def test_dockerfile_is_slim_non_root_with_the_cli_as_entrypoint() -> None:
    lines = dockerfile_lines()
    bases = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    assert bases and all(base == "python:3.11-slim" for base in bases)
    assert any(re.search(r"\bpip install\b", line) for line in lines if line.startswith("RUN"))
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    (entrypoint,) = [line for line in lines if line.startswith("ENTRYPOINT")]
    assert entrypoint == 'ENTRYPOINT ["llm-analytics"]'
    for line in lines:
        if line.startswith(("RUN", "CMD")) and PROGRAM + " " in line:
            for args in invocations_in_shell(line.split(None, 1)[1]):
                check_invocation(args)
    cmd = [line for line in lines if line.startswith("CMD")]
    if cmd:
        import json

        check_invocation(json.loads(cmd[-1].split(None, 1)[1]))
