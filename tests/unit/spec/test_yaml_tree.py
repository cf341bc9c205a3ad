"""The fast reader (libyaml's composer) and the event reader agree; anything unusual goes
through the event reader, whose messages and positions are the reference."""

from __future__ import annotations

import pytest

from reconciler.spec import yaml_tree
from reconciler.spec.yaml_tree import PosNode, YamlReadError, read_yaml

pytestmark = pytest.mark.skipif(
    not yaml_tree._COMPOSER_AVAILABLE, reason="PyYAML built without libyaml >= 0.2.6"
)

CLEAN = [
    "a: 1\nb: [x, 'y', \"z\", 2.5, true, null, ~, 0x1f, 017, 1_000]\n",
    "base: &b {p: 1, q: [1, 2]}\nt:\n  - {<<: *b, p: 2}\n  - <<: [*b, {r: 3}]\n    s: 4\n",
    "a: &s text\nb: *s\nc: [*s, *s]\nd: 2024-01-01\ne: |\n  block\n  text\n",
    "!!map {a: !!str 1, b: !!int '2', c: ! 3, d: !!seq [1]}\n",
    "",
    "# only a comment\n",
    "x: &x [1, 2]\ny: &x [3]\nz: *x\n",
]


def _marks(node: PosNode) -> list[object]:
    return [
        node.mark,
        node.key_mark,
        node.style,
        node.text,
        *(m for child in node.children.values() for m in _marks(child)),
    ]


@pytest.mark.parametrize("text", CLEAN)
def test_the_fast_reader_agrees_with_the_event_reader(text: str) -> None:
    reference = yaml_tree._Builder(text, "f.yaml").build(yaml_tree._FAST_LOADER)
    try:
        fast = yaml_tree._read_composed(text, "f.yaml")
    except yaml_tree.yaml.YAMLError:  # libyaml's composer refuses a redefined anchor
        return
    assert fast.data == reference.data
    assert fast.issues == reference.issues == []
    assert _marks(fast.positions) == _marks(reference.positions)


def test_positions_are_found_on_first_use_only() -> None:
    document = read_yaml("a: {b: [1, 2]}\n", "f.yaml")
    assert not isinstance(document.lazy_positions, PosNode)
    node = document.positions.child("a")
    assert node is not None and node.mark == (1, 4)
    assert document.lazy_positions is document.positions


UNUSUAL = [
    "a: 1\na: 2\n",  # a duplicate key
    "a: !!binary YWJj\n",  # an unsupported tag
    "a: !custom {b: 1}\n",
    "&k a: 1\nb: *k\n",  # an alias of a key: the event reader has no such anchor
    "a: &loop [1, *loop]\n",  # recursive
    "a: *nowhere\n",
    "a: 1\n---\nb: 2\n",  # a second document
    "a: {<<: 1}\n",  # a merge key without a mapping
    "x: " + "[" * (yaml_tree.MAX_DEPTH + 1) + "]" * (yaml_tree.MAX_DEPTH + 1) + "\n",
    "a: " + "9" * 5000 + "\n",  # an int too long to convert
    "? [a]\n: 1\n",  # a list as a key
]


@pytest.mark.parametrize("text", UNUSUAL)
def test_anything_unusual_is_left_to_the_event_reader(text: str) -> None:
    with pytest.raises((yaml_tree._Unusual, yaml_tree.yaml.YAMLError)):
        yaml_tree._read_composed(text, "f.yaml")
    reference = yaml_tree._Builder(text, "f.yaml")
    try:
        expected = reference.build(yaml_tree._FAST_LOADER)
    except (YamlReadError, yaml_tree.yaml.YAMLError):
        with pytest.raises(YamlReadError):
            read_yaml(text, "f.yaml")
        return
    assert read_yaml(text, "f.yaml").issues == expected.issues


def test_an_alias_bomb_is_refused_by_the_fast_walk_early() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    walker_text = "\n".join(lines) + "\n"
    with pytest.raises(yaml_tree._Unusual):
        yaml_tree._read_composed(walker_text, "bomb.yaml")
    with pytest.raises(YamlReadError, match="anchor/alias bomb"):
        read_yaml(walker_text, "bomb.yaml")


def test_the_fast_walk_counts_nodes_like_the_event_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "x: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"  # 13 nodes, keys included
    monkeypatch.setattr(yaml_tree, "MAX_NODES", 13)
    assert yaml_tree._read_composed(text, "f.yaml").data == {"x": list(range(1, 11))}
    monkeypatch.setattr(yaml_tree, "MAX_NODES", 12)
    with pytest.raises(yaml_tree._Unusual):
        yaml_tree._read_composed(text, "f.yaml")


def test_a_document_above_the_compose_limit_is_read_event_by_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(text: str, filename: str) -> yaml_tree.YamlDocument:
        raise AssertionError("composed")

    monkeypatch.setattr(yaml_tree, "_read_composed", refuse)
    monkeypatch.setattr(yaml_tree, "COMPOSE_MAX_CHARS", 10)
    document = read_yaml("a: {b: [1, 2]}\n", "f.yaml")
    assert document.data == {"a": {"b": [1, 2]}}
    assert isinstance(document.lazy_positions, PosNode)
