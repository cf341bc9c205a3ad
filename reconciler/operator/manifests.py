"""The operator's CRD file, generated from the spec models like ``schemas/``.

``python -m reconciler.operator.manifests`` writes ``examples/operator/crd.yaml`` (or the path
given); ``--check`` exits 1 when the committed file differs from the models (``make schema``
runs both generators; a test checks both files).
"""

from __future__ import annotations

import sys
from pathlib import Path

from reconciler.operator.resources import crd_manifest

DEFAULT_CRD_PATH = Path("examples/operator/crd.yaml")
HEADER = (
    "# Generated from the spec models by `python -m reconciler.operator.manifests`\n"
    "# (make schema): do not edit. docs/operator.md describes the resource.\n"
)


def crd_yaml() -> str:
    """The CRD's exact text (stable key order)."""
    import yaml

    return HEADER + yaml.safe_dump(crd_manifest(), sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    from reconciler.spec.schema import generator_main

    return generator_main(argv, DEFAULT_CRD_PATH, crd_yaml, "reconciler.operator.manifests")


if __name__ == "__main__":
    sys.exit(main())
