"""--target / --exclude selectors."""

from __future__ import annotations

from reconciler.engine.selection import Selection


def test_selectors() -> None:
    addresses = [
        "kafka_topic.llm-events",
        "kafka_topic.tmp-1",
        "kafka_acl.User:a/TOPIC:LITERAL:x/READ/ALLOW@*",
        "redis_cluster.main",
    ]
    pick = lambda s: [a for a in addresses if s.selects(a)]  # noqa: E731
    assert pick(Selection()) == addresses
    assert pick(Selection.of(["kafka"])) == addresses[:3]
    assert pick(Selection.of(["kafka_acl"])) == addresses[2:3]
    assert pick(Selection.of(["kafka_acl.*"])) == addresses[2:3]
    assert pick(Selection.of(["kafka_topic.llm-events"])) == addresses[:1]
    assert pick(Selection.of([], ["kafka_topic.tmp-*"])) == [addresses[0], *addresses[2:]]
    assert pick(Selection.of(["kafka_topic.llm-events,redis"])) == [addresses[0], addresses[3]]


def test_families_to_open() -> None:
    assert Selection.of(["kafka_topic.x"]).families(["kafka", "redis"]) == ["kafka"]
    assert Selection.of(["redis"]).families(["kafka", "redis"]) == ["redis"]
    assert Selection.of(["*"]).families(["kafka", "redis"]) == ["kafka", "redis"]
    assert Selection.of([], ["kafka"]).families(["kafka", "redis"]) == ["kafka", "redis"]
