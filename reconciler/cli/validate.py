"""``llm-analytics validate``: check a spec file without touching any cluster."""

from __future__ import annotations

import click

from reconciler.cli.common import emit_json, output_option, resolve_output, spec_options
from reconciler.errors import EXIT_ERROR, EXIT_OK, SpecError
from reconciler.spec.issues import SpecIssue
from reconciler.spec.loading import LoadedSpec, load_spec

JSON_FORMAT_VERSION = "1.0"


def _summary(loaded: LoadedSpec) -> str:
    spec = loaded.spec
    topics = len(spec.kafka.topics) if spec.kafka else 0
    acl_rules = len(spec.kafka.acls) if spec.kafka else 0
    if spec.redis is not None:
        layout = spec.redis.cluster
        redis = f"redis {layout.masters}×{layout.replicas_per_master}"
    else:
        redis = "no redis"
    env = f", env {loaded.env}" if loaded.env else ""
    return f"{topics} topics, {acl_rules} ACL rules, {redis}{env}"


def _report(
    spec_path: str,
    env: str | None,
    errors: list[SpecIssue],
    warnings: tuple[SpecIssue, ...] | list[SpecIssue],
) -> dict[str, object]:
    return {
        "format_version": JSON_FORMAT_VERSION,
        "valid": not errors,
        "file": spec_path,
        "env": env,
        "errors": [issue.as_dict() for issue in errors],
        "warnings": [issue.as_dict() for issue in warnings],
    }


@click.command("validate")
@spec_options
@output_option(("text", "json"))
def validate(spec_path: str, env: str | None, output: str, json_alias: bool) -> int:
    """Check a spec file without touching any cluster.

    Exit 0 when valid (warnings go to stderr), 1 with every error located as
    FILE:LINE:COL: path: message.
    """
    fmt = resolve_output(output, json_alias)
    try:
        loaded = load_spec(spec_path, env=env)
    except SpecError as problem:
        errors: list[SpecIssue] = list(problem.issues)
        warnings: tuple[SpecIssue, ...] = getattr(problem, "warnings", ())
        if fmt == "json":
            emit_json(_report(spec_path, env, errors, warnings))
        else:
            for issue in [*errors, *warnings]:
                click.echo(str(issue), err=True)
            count = f"{len(errors)} error" + ("s" if len(errors) != 1 else "")
            click.echo(f"✗ {spec_path} is invalid ({count})", err=True)
        return EXIT_ERROR
    if fmt == "json":
        emit_json(_report(spec_path, env, [], loaded.warnings))
    else:
        for warning in loaded.warnings:
            click.echo(str(warning), err=True)
        click.echo(f"✓ {spec_path} is valid ({_summary(loaded)})")
    return EXIT_OK
