"""JSON Schema of ``cluster-spec.yaml``, generated from the models.

``python -m reconciler.spec.schema`` writes ``schemas/cluster-spec.schema.json`` (or the path
given as its argument); ``--check`` exits 1 when the committed file differs from the models.
Editors use it through the ``# yaml-language-server: $schema=...`` comment of a spec file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from reconciler.spec.models import ClusterSpec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_SCHEMA_PATH = Path("schemas/cluster-spec.schema.json")


def cluster_spec_schema() -> dict[str, Any]:
    """The JSON Schema of the spec file (YAML keys, i.e. by alias)."""
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


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [arg for arg in args if arg != "--check"]
    target = Path(paths[0]) if paths else DEFAULT_SCHEMA_PATH
    text = render_schema()
    if check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is stale: run python -m reconciler.spec.schema", file=sys.stderr)
            return 1
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
