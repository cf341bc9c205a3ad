"""JSON Schema of ``cluster-spec.yaml``, generated from the models.

``python -m reconciler.spec.schema`` writes ``schemas/cluster-spec.schema.json`` (or the path
given as its argument); ``--check`` exits 1 when the committed file differs from the models.
Editors use it through the ``# yaml-language-server: $schema=...`` comment of a spec file.
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reconciler.spec import models
from reconciler.spec.models import ClusterSpec, SpecModel

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_SCHEMA_PATH = Path("schemas/cluster-spec.schema.json")


def attribute_docstrings(source: str) -> dict[str, dict[str, str]]:
    """class name -> {attribute: the string literal right after its assignment}."""
    found: dict[str, dict[str, str]] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        docs: dict[str, str] = {}
        for statement, following in zip(node.body, node.body[1:], strict=False):
            target = statement.target if isinstance(statement, ast.AnnAssign) else None
            if (
                isinstance(target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[target.id] = inspect.cleandoc(following.value.value)
        found[node.name] = docs
    return found


def _spec_models(base: type[SpecModel] = SpecModel) -> Iterator[type[SpecModel]]:
    for model in base.__subclasses__():
        yield model
        yield from _spec_models(model)


_documented = False


def _spec_modules() -> list[Any]:
    """Every module defining spec models (their source holds the attribute docstrings)."""
    return sorted(
        {sys.modules[m.__module__] for m in _spec_models()} | {models},
        key=lambda module: module.__name__,
    )


def document_fields() -> None:
    """Give the spec models' fields their attribute docstrings as descriptions (what
    pydantic's ``use_attribute_docstrings`` does, done once, only for the schema)."""
    global _documented
    if _documented:
        return
    docs: dict[str, dict[str, str]] = {}
    for module in _spec_modules():
        for model_name, fields in attribute_docstrings(inspect.getsource(module)).items():
            docs.setdefault(model_name, {}).update(fields)
    ordered = list(dict.fromkeys(_spec_models()))
    for model in ordered:
        for name, field in model.model_fields.items():
            doc = next(
                (docs[c.__name__][name] for c in model.__mro__ if name in docs.get(c.__name__, {})),
                None,
            )
            if doc and field.description is None:
                field.description = doc
    for _ in range(2):  # a model embeds its field types' schemas: rebuild them first
        for model in ordered:
            model.model_rebuild(force=True)
    _documented = True


def cluster_spec_schema() -> dict[str, Any]:
    """The JSON Schema of the spec file (YAML keys, i.e. by alias)."""
    document_fields()
    generated = ClusterSpec.model_json_schema(by_alias=True, mode="validation")
    schema: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "title": "llm-analytics cluster spec",
        "description": (
            "Desired state of the Kafka topics and ACLs and the Redis Cluster layout of the LLM "
            "analytics platform, applied by `llm-analytics plan` / `apply`. String values may use "
            "${VAR} and ${VAR:-default}; Kafka ms and bytes configs accept units (7d, 1GiB)."
        ),
    }
    schema.update(
        {key: value for key, value in generated.items() if key not in ("title", "description")}
    )
    return schema


def render_schema() -> str:
    """The schema file's exact text (stable key order, trailing newline)."""
    return json.dumps(cluster_spec_schema(), indent=2, ensure_ascii=False) + "\n"


def generator_main(
    argv: list[str] | None, default_path: Path, render: Callable[[], str], module: str
) -> int:
    """The command line of a generated file: write it (to the path given, or
    ``default_path``), or with ``--check`` exit 1 when the file on disk differs."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [arg for arg in args if arg != "--check"]
    target = Path(paths[0]) if paths else default_path
    text = render()
    if check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is stale: run python -m {module}", file=sys.stderr)
            return 1
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return generator_main(argv, DEFAULT_SCHEMA_PATH, render_schema, "reconciler.spec.schema")


if __name__ == "__main__":
    sys.exit(main())
