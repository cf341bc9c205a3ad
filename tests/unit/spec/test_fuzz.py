"""Whatever the input, the loader returns a spec or raises SpecError with located issues."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import SpecError
from reconciler.spec.loading import LoadedSpec, load_spec_text

EXAMPLE_TEXT = (Path(__file__).resolve().parents[3] / "cluster-spec.example.yaml").read_text()
EXAMPLE_DATA = yaml.safe_load(EXAMPLE_TEXT)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_EXAMPLE = settings(FUZZ, max_examples=80)  # each one loads the whole example

YAML_SPECIALS = list("abcxyz019 -_.:,[]{}&*!|>'\"%@#?$\\\n\t\r~=<")
YAML_ALPHABET = st.sampled_from(
    [*YAML_SPECIALS, "${", "$${", "<<", "- ", ": ", "\n  ", "é", "\x00", "\ufeff", "\ud800", "𝄞"]
)


def assert_loads_or_fails_cleanly(text: str, env: str | None = None) -> None:
    try:
        result = load_spec_text(text, "fuzz.yaml", env=env, environ={"SET": "value"})
    except SpecError as problem:
        assert problem.issues, "SpecError without issues"
        for issue in problem.issues:
            assert issue.line >= 1 and issue.column >= 1, str(issue)
            assert issue.level == "error"
        assert "Traceback" not in str(problem)
        return
    assert isinstance(result, LoadedSpec)


@FUZZ
@given(st.lists(YAML_ALPHABET, max_size=80).map("".join))
def test_random_yaml_like_text(text: str) -> None:
    assert_loads_or_fails_cleanly(text)


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    text = EXAMPLE_TEXT
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate-line"]))
        if kind == "insert":
            text = (
                text[:position]
                + draw(st.lists(YAML_ALPHABET, max_size=6).map("".join))
                + text[position:]
            )
        elif kind == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 20)) :]
        elif kind == "replace":
            text = text[:position] + draw(YAML_ALPHABET) + text[position + 1 :]
        elif kind == "truncate":
            text = text[:position]
        elif text:
            lines = text.splitlines(keepends=True)
            index = draw(st.integers(0, len(lines) - 1))
            lines.insert(index, lines[index])
            text = "".join(lines)
    return text


@FUZZ_EXAMPLE
@given(mutated_example(), st.sampled_from([None, "local", "nope"]))
def test_text_mutations_of_the_example(text: str, env: str | None) -> None:
    assert_loads_or_fails_cleanly(text, env)


LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**65), 2**65),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "7d",
            "1GiB",
            "User:*",
            "${SET}",
            "${UNSET}",
            "a:1",
            "compact",
            "LZ4",
            "TOPIC",
            "producer",
            "-1",
            "infinite",
        ]
    ),
)
VALUES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


EXAMPLE_PATHS = _paths(EXAMPLE_DATA)[1:]


@FUZZ_EXAMPLE
@given(
    st.lists(st.tuples(st.sampled_from(EXAMPLE_PATHS), VALUES), min_size=1, max_size=3),
    st.sampled_from([None, "local"]),
)
def test_structural_mutations_of_the_example(
    changes: list[tuple[tuple[Any, ...], Any]], env: str | None
) -> None:
    data = yaml.safe_load(EXAMPLE_TEXT)
    for path, value in changes:
        parent = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    assert_loads_or_fails_cleanly(yaml.safe_dump(data, allow_unicode=True), env)
