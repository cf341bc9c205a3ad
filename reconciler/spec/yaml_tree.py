"""YAML to plain Python objects, keeping the line and column of every key and value.

PyYAML's ``safe_load`` forgets positions, silently keeps the last of two duplicate keys and
expands aliases without limit. This reader builds the objects itself from PyYAML's event stream
(no recursion, so deep nesting cannot overflow the stack) and:

* records a :class:`PosNode` tree mirroring the data (1-based line and column of each value and
  of each mapping key);
* reports duplicate mapping keys, unsupported tags and a second document;
* bounds the number of nodes after alias expansion (anchor/alias "billion laughs" bombs) and the
  nesting depth.

Timestamps stay strings (the spec has no date fields, and ``2024-01-01`` as a name should not turn
into a date). YAML merge keys (``<<: *defaults``) are supported.

A clean document is read fast: libyaml composes the node graph in C (aliases stay shared nodes,
nesting is bounded by libyaml itself) and :class:`_Walker` turns it into data and positions with
the same counts and limits. Whatever that walk would have to report (a duplicate key, an
unsupported tag, a value that does not construct, an exceeded limit, a recursive alias) sends
the document through the event reader instead, whose messages and positions are the reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import yaml
from msgspec import Struct, field
from msgspec.structs import replace
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.spec.issues import PathPart, SpecIssue, SpecPath, format_path

MAX_NODES = 1_500_000
"""Nodes after alias expansion: a 50,000-topic spec has about 850,000 (17 per topic)."""
MAX_ALIAS_NODES = 100_000
"""Nodes that aliases may add beyond this, unless the file itself has more nodes than that:
a spec that reuses anchors per topic expands to a few times its own size; an anchor/alias
bomb expands a few hundred nodes into billions."""
MAX_DEPTH = 64  # a real spec nests about 8 levels deep

_YAML_TAG = "tag:yaml.org,2002:"
_INT_TAG = _YAML_TAG + "int"
_STR_TAG = _YAML_TAG + "str"
_SCALAR_TAGS_KEPT_AS_TEXT = {_YAML_TAG + "str", _YAML_TAG + "timestamp", _YAML_TAG + "merge"}
_CONTAINER_TAGS = {None, "!", _YAML_TAG + "map", _YAML_TAG + "seq"}
# libyaml's parser when PyYAML was built with it; positions are the same as the pure-Python one's.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Python refuses to convert longer digit strings (quadratic cost); no spec value comes close.
_MAX_INT_TEXT = 4_000
# First characters with which no implicit type of the safe loader (bool, null, int, float,
# timestamp, merge, value) starts: such a plain scalar is a string without asking the
# resolver (a fifth of the reading time of a large spec).
_IMPLICIT_FIRST = yaml.SafeLoader.yaml_implicit_resolvers
_ALWAYS_TEXT_START = (
    frozenset()
    if None in _IMPLICIT_FIRST
    else frozenset(chr(c) for c in range(33, 127)) - frozenset(_IMPLICIT_FIRST)
)
_TAB_IN_INDENT = re.compile(r"^[ ]*\t", re.MULTILINE)


class Mark(NamedTuple):
    """A 1-based line and column (a tuple: hundreds of thousands are made per large file)."""

    line: int
    column: int

    @classmethod
    def of(cls, yaml_mark: Any) -> Mark:
        if yaml_mark is None:
            return cls(1, 1)
        return cls(yaml_mark.line + 1, yaml_mark.column + 1)


class PosNode(Struct):
    """Where one value of the document sits; ``children`` mirror its keys or indices."""

    mark: Mark
    key_mark: Mark | None = None
    children: dict[PathPart, PosNode] = field(default_factory=dict)
    style: str | None = None  # scalar style: None (plain), "'", '"', "|", ">"
    text: str | None = None  # a scalar's source text, for positions inside it

    def child(self, part: PathPart) -> PosNode | None:
        return self.children.get(part)


class YamlDocument:
    """The document's data, its positions and the non-fatal problems met while reading it.

    ``positions`` may be given as a function that finds them: they are then found on first
    use only (a valid spec of thousands of topics rarely needs one).
    """

    def __init__(
        self, data: Any, positions: PosNode | Callable[[], PosNode], issues: list[SpecIssue]
    ) -> None:
        self.data = data
        self.issues = issues
        self._positions = positions

    @property
    def positions(self) -> PosNode:
        if not isinstance(self._positions, PosNode):
            self._positions = self._positions()
        return self._positions

    @property
    def lazy_positions(self) -> PosNode | Callable[[], PosNode]:
        """The positions, or the function that finds them (for a :class:`Locator`)."""
        return self._positions


class YamlReadError(Exception):
    """The document cannot be read at all; ``issues`` says where and why."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        super().__init__("; ".join(str(i) for i in issues))
        self.issues = issues


class _Frame(Struct):
    value: dict[str, Any] | list[Any]
    pos: PosNode
    path: SpecPath
    anchor: str | None
    count_at_start: int
    is_mapping: bool = False
    expecting_key: bool = True
    pending_key: str | None = None
    pending_key_mark: Mark | None = None
    pending_is_merge: bool = False
    key_marks: dict[str, Mark] = field(default_factory=dict)
    merge_sources: list[tuple[dict[str, Any], PosNode]] = field(default_factory=list)


class _Anchored(Struct):
    value: Any
    pos: PosNode
    size: int


class _Builder:
    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self.issues: list[SpecIssue] = []
        self.stack: list[_Frame] = []
        self.anchors: dict[str, _Anchored] = {}
        self.node_count = 0
        self.alias_nodes = 0  # of node_count, added by aliases
        self.root: tuple[Any, PosNode] | None = None
        self.documents = 0
        self.aliases_used = False

    # ----------------------------------------------------------------- issues

    def issue(self, mark: Mark, path: SpecPath, message: str) -> SpecIssue:
        return SpecIssue(self.filename, mark.line, mark.column, format_path(path), message)

    def fatal(self, mark: Mark, path: SpecPath, message: str) -> YamlReadError:
        return YamlReadError([*self.issues, self.issue(mark, path, message)])

    # ----------------------------------------------------------------- reading

    def build(self, loader_class: Any = yaml.SafeLoader) -> YamlDocument:
        loader = loader_class(self.text)
        handlers: dict[type, Callable[[Any, Any, Mark], None]] = {
            ScalarEvent: self.scalar,
            MappingStartEvent: self.start_container,
            SequenceStartEvent: self.start_container,
            MappingEndEvent: self.end_container,
            SequenceEndEvent: self.end_container,
            AliasEvent: self.alias,
        }
        get_event, check_event = loader.get_event, loader.check_event
        try:
            while check_event():
                event = get_event()
                handler = handlers.get(type(event))
                if handler is not None:
                    start = event.start_mark
                    handler(loader, event, Mark(start.line + 1, start.column + 1))
                else:
                    self.handle(loader, event)
        finally:
            loader.dispose()
        if self.root is None:
            return YamlDocument(None, PosNode(Mark(1, 1)), self.issues)
        return YamlDocument(self.root[0], self.root[1], self.issues)

    def current_path(self) -> SpecPath:
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if frame.is_mapping:
            return (*frame.path, frame.pending_key) if frame.pending_key is not None else frame.path
        return (*frame.path, len(frame.value))

    def count(self, amount: int, mark: Mark) -> None:
        self.node_count += amount
        if self.node_count > MAX_NODES:
            how = " through aliases (an anchor/alias bomb?)" if self.aliases_used else ""
            raise self.fatal(
                mark,
                self.current_path(),
                f"the document expands to more than {MAX_NODES} nodes{how}; even a spec of "
                "50,000 topics is smaller",
            )

    def count_alias(self, amount: int, mark: Mark) -> None:
        self.alias_nodes += amount
        own_nodes = self.node_count - self.alias_nodes
        limit = max(MAX_ALIAS_NODES, own_nodes)
        if self.alias_nodes > limit:
            raise self.fatal(
                mark,
                self.current_path(),
                f"aliases expand the document to more than {limit} nodes beyond its own "
                f"{own_nodes} (an anchor/alias bomb?); a spec is far smaller",
            )
        self.count(amount, mark)

    def handle(self, loader: yaml.SafeLoader, event: Any) -> None:
        """Events other than nodes: stream and document boundaries."""
        if isinstance(event, StreamStartEvent | StreamEndEvent | DocumentEndEvent):
            return
        if isinstance(event, DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise self.fatal(
                    Mark.of(event.start_mark),
                    (),
                    "a spec file holds exactly one YAML document "
                    "(found a second '---' document here)",
                )

    def scalar(self, loader: yaml.SafeLoader, event: ScalarEvent, mark: Mark) -> None:
        self.node_count += 1
        if self.node_count > MAX_NODES:
            self.count(0, mark)
        frame = self.stack[-1] if self.stack else None
        tag = event.tag
        if tag is None or tag == "!":
            value = event.value
            if event.style or (value and value[0] in _ALWAYS_TEXT_START):
                tag = _STR_TAG  # quoted, or no implicit type starts like this
            else:
                tag = loader.resolve(ScalarNode, value, event.implicit)
        if frame is not None and frame.is_mapping and frame.expecting_key:
            self.key(frame, event, tag, mark)
            return
        value = self.construct(loader, event, tag, mark)
        pos = PosNode(mark, style=event.style or None, text=event.value)  # libyaml: plain is ""
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchored(value, pos, 1)
        self.attach(value, pos, mark)

    def key(self, frame: _Frame, event: ScalarEvent, tag: str, mark: Mark) -> None:
        frame.expecting_key = False
        frame.pending_key_mark = mark
        if tag == _YAML_TAG + "merge" and not event.style:
            frame.pending_is_merge = True
            frame.pending_key = None
            return
        key = event.value
        frame.pending_key = key
        first = frame.key_marks.get(key)
        if first is not None:
            self.issues.append(
                self.issue(
                    mark,
                    (*frame.path, key),
                    f"duplicate key '{key}' (first given at line {first.line}, column "
                    f"{first.column}); YAML would silently keep only the last one",
                )
            )
        else:
            frame.key_marks[key] = mark

    def construct(self, loader: yaml.SafeLoader, event: ScalarEvent, tag: str, mark: Mark) -> Any:
        if tag in _SCALAR_TAGS_KEPT_AS_TEXT:
            return event.value
        value = event.value
        if tag == _INT_TAG and value.isdigit() and value[0] != "0" and len(value) < 20:
            return int(value)  # plain decimal: what PyYAML would build, without its regexes
        node = ScalarNode(tag, value, style=event.style or None)
        constructors = {
            _YAML_TAG + "null": loader.construct_yaml_null,
            _YAML_TAG + "bool": loader.construct_yaml_bool,
            _INT_TAG: loader.construct_yaml_int,
            _YAML_TAG + "float": loader.construct_yaml_float,
        }
        construct = constructors.get(tag)
        if construct is None:
            self.issues.append(
                self.issue(
                    mark,
                    self.current_path(),
                    f"unsupported YAML tag '{_short_tag(event.tag)}' (plain strings, numbers, booleans, "
                    "mappings and lists only)",
                )
            )
            return event.value
        try:
            return construct(node)
        except (ValueError, TypeError, yaml.YAMLError):
            kind = tag.rsplit(":", 1)[-1]
            shown = (
                f"{event.value!r}"
                if len(event.value) <= 40
                else f"{event.value[:20]!r}... ({len(event.value)} characters)"
            )
            why = (
                ": far more digits than any number a spec takes"
                if kind == "int" and len(event.value) > _MAX_INT_TEXT
                else ""
            )
            self.issues.append(
                self.issue(mark, self.current_path(), f"{shown} is not a valid {kind}{why}")
            )
            return event.value

    def start_container(
        self, loader: Any, event: MappingStartEvent | SequenceStartEvent, mark: Mark
    ) -> None:
        parent = self.stack[-1] if self.stack else None
        if parent is not None and parent.is_mapping and parent.expecting_key:
            raise self.fatal(
                mark, parent.path, "a mapping key must be a plain string, not a mapping or a list"
            )
        if len(self.stack) >= MAX_DEPTH:
            raise self.fatal(
                mark, self.current_path(), f"the document nests deeper than {MAX_DEPTH} levels"
            )
        if event.tag not in _CONTAINER_TAGS:
            self.issues.append(
                self.issue(
                    mark, self.current_path(), f"unsupported YAML tag '{_short_tag(event.tag)}'"
                )
            )
        self.count(1, mark)
        container: dict[str, Any] | list[Any] = {} if isinstance(event, MappingStartEvent) else []
        self.stack.append(
            _Frame(
                value=container,
                pos=PosNode(mark, style=None),
                path=self.current_path(),
                anchor=event.anchor,
                count_at_start=self.node_count,
                is_mapping=isinstance(container, dict),
            )
        )

    def end_container(self, loader: Any = None, event: Any = None, mark: Any = None) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, dict):
            self.apply_merge_keys(frame, frame.value)
        size = self.node_count - frame.count_at_start + 1
        if frame.anchor is not None:
            self.anchors[frame.anchor] = _Anchored(frame.value, frame.pos, size)
        self.attach(frame.value, frame.pos, frame.pos.mark)

    @staticmethod
    def apply_merge_keys(frame: _Frame, mapping: dict[str, Any]) -> None:
        # Explicit keys win over merged ones; among merge sources the first one wins.
        for source, source_pos in frame.merge_sources:
            for key, value in source.items():
                if key not in mapping:
                    mapping[key] = value
                    child = source_pos.child(key)
                    if child is not None:
                        frame.pos.children[key] = child

    def alias(self, loader: Any, event: AliasEvent, mark: Mark) -> None:
        name = event.anchor or ""
        anchored = self.anchors.get(name)
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame.is_mapping and frame.expecting_key:
            raise self.fatal(mark, frame.path, "an alias cannot be used as a mapping key")
        if anchored is None:
            if any(open_frame.anchor == name for open_frame in self.stack):
                raise self.fatal(
                    mark,
                    self.current_path(),
                    f"alias '*{name}' refers to a node that contains it (recursive)",
                )
            raise self.fatal(
                mark, self.current_path(), f"alias '*{name}' has no anchor '&{name}' before it"
            )
        self.aliases_used = True
        self.count_alias(anchored.size, mark)
        # Positions of the aliased content stay those of its anchor; only the key moves.
        self.attach(anchored.value, replace(anchored.pos), mark)

    def attach(self, value: Any, pos: PosNode, mark: Mark) -> None:
        if not self.stack:
            self.root = (value, pos)
            return
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            frame.pos.children[len(frame.value)] = pos
            frame.value.append(value)
            return
        if frame.pending_is_merge:
            self.add_merge_source(frame, value, pos, mark)
        else:
            assert frame.pending_key is not None
            pos.key_mark = frame.pending_key_mark
            frame.value[frame.pending_key] = value
            frame.pos.children[frame.pending_key] = pos
        frame.expecting_key = True
        frame.pending_key = None
        frame.pending_is_merge = False

    def add_merge_source(self, frame: _Frame, value: Any, pos: PosNode, mark: Mark) -> None:
        sources: list[tuple[Any, PosNode]] = (
            [(item, pos.children.get(i, pos)) for i, item in enumerate(value)]
            if isinstance(value, list)
            else [(value, pos)]
        )
        for source, source_pos in sources:
            if isinstance(source, dict):
                frame.merge_sources.append((source, source_pos))
            else:
                self.issues.append(
                    self.issue(
                        source_pos.mark if source_pos is not pos else mark,
                        frame.path,
                        "a merge key '<<' takes a mapping or a list of mappings",
                    )
                )


class _Unusual(Exception):
    """The fast walk met something that only the event reader reports exactly."""


_MAP_TAG = _YAML_TAG + "map"
_SEQ_TAG = _YAML_TAG + "seq"
_MERGE_TAG = _YAML_TAG + "merge"
_SCALAR_CONSTRUCTORS = {
    _YAML_TAG + "null": yaml.SafeLoader.construct_yaml_null,
    _YAML_TAG + "bool": yaml.SafeLoader.construct_yaml_bool,
    _INT_TAG: yaml.SafeLoader.construct_yaml_int,
    _YAML_TAG + "float": yaml.SafeLoader.construct_yaml_float,
}
_libyaml_version: tuple[int, ...] = ()
try:
    from yaml import _yaml as _libyaml

    _libyaml_version = tuple(_libyaml.get_version())
except (ImportError, AttributeError):  # PyYAML without libyaml
    pass
# libyaml refuses to nest deeper than 1,000 levels from 0.2.6 on (its C composer recurses).
_COMPOSER_AVAILABLE = _FAST_LOADER is not yaml.SafeLoader and _libyaml_version >= (0, 2, 6)
COMPOSE_MAX_CHARS = 4_000_000
"""Larger documents go through the event reader: a composed node graph (a node and two marks
per value) holds about twice the memory of the data it gives, all at once (a 12 MB spec of
50,000 topics peaked at 465 MiB composed, 319 MiB read event by event)."""


class _Composer(_FAST_LOADER):
    """libyaml's composer, resolving plain scalars that no implicit type starts like at once."""

    _resolve_scalar = yaml.SafeLoader.resolve

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            if not implicit[0] or (value and value[0] in _ALWAYS_TEXT_START):
                return _STR_TAG
            return self._resolve_scalar(kind, value, implicit)
        return _MAP_TAG if kind is MappingNode else _SEQ_TAG


_KEY = object()  # in _Walker.built: a mapping key (no alias may name it)
_BUILDING = object()  # in _Walker.built: a container still being built


class _Walker:
    """The data of a composed node graph, with :class:`_Builder`'s counts and limits; raises
    :class:`_Unusual` for anything the event reader would report."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.node_count = 0
        self.alias_nodes = 0
        self.depth = 0
        self.built: dict[int, Any] = {}  # id(node) -> (value, expanded size), _KEY, _BUILDING

    def node(self, node: Node) -> Any:
        seen = self.built.get(id(node))
        if seen is not None:
            return self.alias(seen)
        value: Any
        if type(node) is ScalarNode:
            self.node_count += 1
            value = self.scalar(node)
            self.built[id(node)] = (value, 1)
            return value
        if node.tag not in (_MAP_TAG, _SEQ_TAG) or self.depth >= MAX_DEPTH:
            raise _Unusual
        self.node_count += 1
        if self.node_count > MAX_NODES:
            raise _Unusual
        start = self.node_count
        self.built[id(node)] = _BUILDING
        self.depth += 1
        if isinstance(node, MappingNode):
            value = self.mapping(node)
        else:
            assert isinstance(node, SequenceNode)
            value = self.sequence(node)
        self.depth -= 1
        self.built[id(node)] = (value, self.node_count - start + 1)
        return value

    def alias(self, seen: Any) -> Any:
        """A node met again: an alias of it (the value is shared, as the event reader does)."""
        if seen is _KEY or seen is _BUILDING:
            raise _Unusual  # an alias of a mapping key, or a recursive alias
        value, size = seen
        self.alias_nodes += size
        if self.alias_nodes > max(MAX_ALIAS_NODES, self.node_count - self.alias_nodes):
            raise _Unusual
        self.node_count += size
        if self.node_count > MAX_NODES:
            raise _Unusual
        return value

    def scalar(self, node: ScalarNode) -> Any:
        if self.node_count > MAX_NODES:
            raise _Unusual
        tag, text = node.tag, node.value
        if tag in _SCALAR_TAGS_KEPT_AS_TEXT:
            return text
        if tag == _INT_TAG and text.isdigit() and text[0] != "0" and len(text) < 20:
            return int(text)
        construct = _SCALAR_CONSTRUCTORS.get(tag)
        if construct is None:
            raise _Unusual  # an unsupported tag
        try:
            return construct(self.loader, node)
        except (ValueError, TypeError, yaml.YAMLError):
            raise _Unusual from None

    def value(self, node: Node) -> Any:
        """:meth:`node`, with the common case (a plain string met once) inline."""
        if type(node) is ScalarNode and node.tag in _SCALAR_TAGS_KEPT_AS_TEXT:
            key = id(node)
            if key not in self.built:
                self.node_count += 1
                self.built[key] = (node.value, 1)
                return node.value
        return self.node(node)

    def sequence(self, node: SequenceNode) -> list[Any]:
        value = self.value
        return [value(item) for item in node.value]

    def mapping(self, node: MappingNode) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        merges: list[Any] = []
        built, value_of = self.built, self.value
        for key_node, value_node in node.value:
            if type(key_node) is not ScalarNode or id(key_node) in built:
                raise _Unusual  # a mapping or list as a key, or an alias as a key
            built[id(key_node)] = _KEY
            self.node_count += 1
            value = value_of(value_node)
            if key_node.tag == _MERGE_TAG and not key_node.style:
                merges.append(value)
            elif key_node.value in mapping:
                raise _Unusual  # a duplicate key
            else:
                mapping[key_node.value] = value
        if self.node_count > MAX_NODES:
            raise _Unusual
        if merges:
            _merge(mapping, merges)
        return mapping


def _merge(mapping: dict[str, Any], merges: list[Any]) -> None:
    # As _Builder: explicit keys win over merged ones; among merge sources the first wins.
    sources = [item for value in merges for item in (value if isinstance(value, list) else [value])]
    for source in sources:
        if not isinstance(source, dict):
            raise _Unusual
        for key, value in source.items():
            if key not in mapping:
                mapping[key] = value


def _read_composed(text: str, filename: str) -> YamlDocument:
    """The fast path: data from libyaml's composer, positions from the event reader when
    something asks for them. Raises :class:`_Unusual` or a YAML error when it cannot vouch
    for the result."""
    loader = _Composer(text)
    try:
        root = loader.get_single_node()
        data = None if root is None else _Walker(loader).node(root)
    finally:
        loader.dispose()
    if root is None:
        return YamlDocument(None, PosNode(Mark(1, 1)), [])

    def positions() -> PosNode:
        return _Builder(text, filename).build(_FAST_LOADER).positions

    return YamlDocument(data, positions, [])


def _short_tag(tag: str | None) -> str:
    return "!!" + tag.removeprefix(_YAML_TAG) if tag and tag.startswith(_YAML_TAG) else str(tag)


def position_of_offset(text: str, offset: int) -> Mark:
    """The 1-based line and column of a character offset."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Mark(line, column)


def first_tab_in_indentation(text: str, up_to_line: int | None = None) -> Mark | None:
    """Where the first tab used for indentation is, if any (on or before ``up_to_line``)."""
    match = _TAB_IN_INDENT.search(text)
    if match is None:
        return None
    mark = position_of_offset(text, match.end() - 1)
    if up_to_line is not None and mark.line > up_to_line:
        return None
    return mark


def _syntax_issue(text: str, filename: str, problem: yaml.YAMLError) -> SpecIssue:
    if isinstance(problem, yaml.reader.ReaderError):
        mark = position_of_offset(text, problem.position)
        return SpecIssue(
            filename,
            mark.line,
            mark.column,
            "",
            f"character {problem.character:#x} is not allowed in YAML "
            "(control characters and binary data are not text)",
        )
    if isinstance(problem, yaml.MarkedYAMLError):
        error_mark = Mark.of(problem.problem_mark or problem.context_mark)
        tab = first_tab_in_indentation(text, up_to_line=error_mark.line)
        if tab is not None:
            return SpecIssue(
                filename,
                tab.line,
                tab.column,
                "",
                "tab character used for indentation (YAML indents with spaces only)",
            )
        message = (
            f"YAML syntax error: {problem.problem}" if problem.problem else "YAML syntax error"
        )
        if problem.context and problem.context_mark is not None:
            context_mark = Mark.of(problem.context_mark)
            message += (
                f" ({problem.context} at line {context_mark.line}, column {context_mark.column})"
            )
        elif problem.context:
            message += f" ({problem.context})"
        return SpecIssue(filename, error_mark.line, error_mark.column, "", message)
    return SpecIssue(filename, 1, 1, "", f"YAML error: {problem}")


def read_yaml(text: str, filename: str = "<string>") -> YamlDocument:
    """Parse one YAML document, keeping positions.

    Raises :class:`YamlReadError` when nothing usable can be built (syntax error, bomb, ...);
    otherwise returns the document with its non-fatal issues (duplicate keys, unsupported tags).
    """
    if _COMPOSER_AVAILABLE and len(text) <= COMPOSE_MAX_CHARS:
        try:
            return _read_composed(text, filename)
        except (_Unusual, yaml.YAMLError, UnicodeEncodeError, RecursionError):
            pass  # the event reader below says exactly what and where
    if _FAST_LOADER is not yaml.SafeLoader:
        try:
            return _Builder(text, filename).build(_FAST_LOADER)
        except (yaml.YAMLError, UnicodeEncodeError):
            # PyYAML's own parser words its errors better (and reads lone surrogates, which
            # libyaml cannot be given): let it read the document again.
            pass
    builder = _Builder(text, filename)
    try:
        return builder.build(yaml.SafeLoader)
    except yaml.YAMLError as problem:
        raise YamlReadError([*builder.issues, _syntax_issue(text, filename, problem)]) from None
