"""Shared helpers of the spec tests."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import pytest

from reconciler.errors import SpecError
from reconciler.spec.issues import SpecIssue
from reconciler.spec.loading import LoadedSpec, load_spec_text

HEADER = """\
apiVersion: llm-analytics/v1
kind: ClusterSpec
metadata: {name: test}
"""
"""Three lines every test document starts with; the body starts on line 4."""


def doc(*parts: str) -> str:
    """A spec document: the 3-line header, then ``parts`` (each dedented) from line 4."""
    return HEADER + "".join(textwrap.dedent(part) for part in parts)


def kafka_body(text: str) -> str:
    """Keys under ``kafka:`` written flush left in a test, indented by two spaces."""
    return textwrap.indent(textwrap.dedent(text).lstrip("\n"), "  ")


def load(text: str, env: str | None = None, environ: Mapping[str, str] | None = None) -> LoadedSpec:
    return load_spec_text(text, "spec.yaml", env=env, environ=environ or {})


def errors_of(
    text: str, env: str | None = None, environ: Mapping[str, str] | None = None
) -> list[SpecIssue]:
    with pytest.raises(SpecError) as raised:
        load(text, env, environ)
    issues = raised.value.issues
    assert issues, "a SpecError must carry located issues"
    return issues


def single_error(
    text: str, env: str | None = None, environ: Mapping[str, str] | None = None
) -> SpecIssue:
    issues = errors_of(text, env, environ)
    assert len(issues) == 1, "\n".join(str(i) for i in issues)
    return issues[0]


def assert_at(issue: SpecIssue, line: int, column: int, *fragments: str) -> None:
    assert (issue.line, issue.column) == (line, column), str(issue)
    for fragment in fragments:
        assert fragment in issue.message or fragment in issue.path, str(issue)
