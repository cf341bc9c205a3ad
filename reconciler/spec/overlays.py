"""Environment overlays: ``environments.NAME`` deep-merged over the base document.

Merge rules (documented in docs/spec.md): mappings merge key by key, recursively; any other value,
lists included, replaces the base value; a ``null`` value deletes the key from the base. Positions
follow the values, so an error in a merged value points into the overlay.
"""

from __future__ import annotations

from typing import Any

from reconciler.spec.yaml_tree import PosNode

# Keys an overlay cannot change: they identify the document and its overlays.
FIXED_TOP_LEVEL_KEYS = frozenset({"apiVersion", "kind", "environments"})


def merge(base: Any, base_pos: PosNode, overlay: Any, overlay_pos: PosNode) -> tuple[Any, PosNode]:
    """Deep-merge ``overlay`` over ``base`` without changing either (aliases share objects)."""
    if not (isinstance(base, dict) and isinstance(overlay, dict)):
        if isinstance(overlay, dict):
            # A new mapping still drops its null keys: "delete" of nothing is nothing.
            return merge({}, PosNode(overlay_pos.mark, overlay_pos.key_mark), overlay, overlay_pos)
        return overlay, overlay_pos
    merged = dict(base)
    merged_pos = PosNode(
        base_pos.mark, base_pos.key_mark, dict(base_pos.children), base_pos.style, base_pos.text
    )
    for key, value in overlay.items():
        value_pos = overlay_pos.child(key) or overlay_pos
        if value is None:
            merged.pop(key, None)
            merged_pos.children.pop(key, None)
            continue
        if key in merged:
            merged[key], merged_pos.children[key] = merge(
                merged[key], base_pos.child(key) or base_pos, value, value_pos
            )
        else:
            merged[key], merged_pos.children[key] = merge(None, value_pos, value, value_pos)
    return merged, merged_pos
