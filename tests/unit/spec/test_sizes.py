"""The loader takes the sizes we promise (50,000 topics) and still refuses hostile files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reconciler.errors import SpecError
from reconciler.spec import yaml_tree
from reconciler.spec.loading import MAX_SPEC_BYTES, load_spec, load_spec_text


def big_spec(topics: int) -> str:
    """A realistic large spec: name, partitions, description and three configs per topic."""
    lines = [
        "apiVersion: llm-analytics/v1",
        "kind: ClusterSpec",
        "metadata: {name: big}",
        "kafka:",
        '  connection: {bootstrapServers: "kafka:9092"}',
        "  defaults: {replicationFactor: 3, config: {min.insync.replicas: 2}}",
        "  ownership: {topics: {prefixes: [llm-]}}",
        "  topics:",
    ]
    for i in range(topics):
        lines += [
            f"    - name: llm-analytics-events-tenant-{i:06d}",
            f"      partitions: {1 + i % 12}",
            f"      description: Events of tenant {i:06d} for the LLM analytics pipeline.",
            "      config:",
            "        retention.ms: 7d",
            "        cleanup.policy: delete",
            "        compression.type: lz4",
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_a_50000_topic_spec_loads(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(big_spec(50_000))
    size = path.stat().st_size
    assert 11_000_000 < size < MAX_SPEC_BYTES  # about 12 MB
    started = time.process_time()
    loaded = load_spec(path)
    cpu = time.process_time() - started
    assert loaded.spec.kafka is not None and len(loaded.spec.kafka.topics) == 50_000
    assert loaded.spec.kafka.topics[-1].name == "llm-analytics-events-tenant-049999"
    # About 6 s of CPU on an idle 2-core machine of this project, 13 s with a load of 8; the
    # bound only catches a regression to something quadratic.
    assert cpu < 60, f"{cpu:.1f}s of CPU"


def test_the_20000_topic_spec_of_the_issue_is_within_the_size_limit() -> None:
    text = big_spec(20_000)
    assert 4_500_000 < len(text) < 5_200_000  # the 4.9 MB refused before (100,000 nodes)
    assert len(text) < MAX_SPEC_BYTES  # it loads: the 50,000-topic test covers it


def test_errors_in_a_large_spec_keep_their_positions() -> None:
    text = big_spec(5_000).replace("partitions: 4\n", "partitions: four\n", 1)
    with pytest.raises(SpecError) as raised:
        load_spec_text(text, "big.yaml")
    (issue,) = raised.value.issues
    line = text.splitlines().index("      partitions: four") + 1
    assert (issue.line, issue.column, issue.path) == (line, 19, "kafka.topics[3].partitions")


def test_an_alias_bomb_inside_a_large_file_is_still_refused() -> None:
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        bomb.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    text = big_spec(2_000) + "\n".join(bomb) + "\n"  # 34,000 nodes of its own
    started = time.perf_counter()
    with pytest.raises(SpecError) as raised:
        load_spec_text(text, "bomb.yaml")
    assert time.perf_counter() - started < 20
    message = raised.value.issues[0].message
    assert "aliases expand the document to more than 100000 nodes beyond its own" in message
    assert "(an anchor/alias bomb?)" in message


def test_aliases_may_add_as_many_nodes_as_the_file_has() -> None:
    # Each topic merges an anchored mapping: aliases add about as many nodes as the file has.
    head = big_spec(0).replace(
        "  topics:\n",
        "  profiles:\n    base: &base {partitions: 2, replicationFactor: 3}\n  topics:\n",
    )
    topics = "".join(
        f"    - {{<<: *base, name: t{i}, config: {{retention.ms: 1d}}}}\n" for i in range(10_000)
    )
    loaded = load_spec_text(head + topics, "merge.yaml")
    assert loaded.spec.kafka is not None and len(loaded.spec.kafka.topics) == 10_000
    assert loaded.spec.kafka.topics[0].partitions == 2


def test_a_file_of_tiny_nodes_is_refused_at_the_node_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # A hostile file within the size limit: one flow list of millions of one-byte items.
    # (Checked with a lower limit to keep the test fast; the real one is MAX_NODES.)
    monkeypatch.setattr(yaml_tree, "MAX_NODES", 50_000)
    text = "apiVersion: llm-analytics/v1\nx: [" + "1," * 200_000 + "1]\n"
    with pytest.raises(SpecError) as raised:
        load_spec_text(text, "tiny.yaml")
    assert "more than 50000 nodes" in raised.value.issues[0].message


def test_the_limits_are_what_the_docs_say() -> None:
    assert MAX_SPEC_BYTES == 16 * 1024 * 1024
    assert yaml_tree.MAX_NODES == 1_500_000
    assert yaml_tree.MAX_ALIAS_NODES == 100_000
