"""Turn a path in the document into a located :class:`SpecIssue`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic.alias_generators import to_camel, to_snake

from reconciler.spec.issues import SpecIssue, SpecPath, format_path
from reconciler.spec.yaml_tree import Mark, PosNode


class Locator:
    """Finds the line and column of a path (``('kafka', 'topics', 3, 'name')``) in one file.

    Paths use the YAML (camelCase) keys; a file that spelled a key in snake_case is found too.
    A path that does not exist in the file resolves to its deepest existing part.
    ``root`` may be a function that finds the positions: it is called on first use.
    """

    def __init__(self, filename: str, root: PosNode | Callable[[], PosNode] | None) -> None:
        self.filename = filename
        self._root = root

    @property
    def root(self) -> PosNode | None:
        if self._root is not None and not isinstance(self._root, PosNode):
            self._root = self._root()
        return self._root

    def node(self, path: SpecPath) -> tuple[PosNode | None, bool]:
        """The deepest node on ``path`` and whether the whole path was found."""
        node = self.root
        if node is None:
            return None, False
        for part in path:
            child = node.child(part)
            if child is None and isinstance(part, str) and part.isidentifier():
                child = node.child(to_snake(part)) or node.child(to_camel(part))
            if child is None:
                return node, False
            node = child
        return node, True

    def mark(self, path: SpecPath, *, at_key: bool = False) -> Mark:
        node, _ = self.node(path)
        if node is None:
            return Mark(1, 1)
        if at_key and node.key_mark is not None:
            return node.key_mark
        return node.mark

    def issue(
        self,
        path: SpecPath,
        message: str,
        *,
        level: Literal["error", "warning"] = "error",
        at_key: bool = False,
        mark: Mark | None = None,
    ) -> SpecIssue:
        where = mark or self.mark(path, at_key=at_key)
        return SpecIssue(self.filename, where.line, where.column, format_path(path), message, level)
