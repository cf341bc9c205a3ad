"""Typed payloads of topic changes: what apply executes, and the single source of what the
plan shows for it (:mod:`reconciler.engine.payloads`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from reconciler.engine.payloads import Payload
from reconciler.engine.plan import Action
from reconciler.model_defaults import new_dict

INT32_MAX = 2**31 - 1


class TopicCreate(Payload):
    partitions: int = Field(ge=1, le=INT32_MAX)
    replication_factor: int = Field(ge=1, le=32767)
    config: dict[str, str] = Field(default_factory=new_dict)

    def displayed(self) -> dict[str, Any]:
        return {
            "partitions": self.partitions,
            "replication_factor": self.replication_factor,
            **{f"config.{key}": value for key, value in sorted(self.config.items())},
        }


class TopicUpdate(Payload):
    """Any of: more partitions, a reassignment (partition -> replicas), configs set or
    removed (``None``: back to the broker default)."""

    partitions: int | None = Field(default=None, ge=1, le=INT32_MAX)
    reassignment: dict[int, list[int]] = Field(default_factory=new_dict)
    config: dict[str, str | None] = Field(default_factory=new_dict)
    # The replication throttle (bytes/s) the reassignment runs at; None: unthrottled.
    throttle: int | None = Field(default=None, gt=0)

    @property
    def replication_factor(self) -> int | None:
        sizes = {len(replicas) for replicas in self.reassignment.values()}
        return sizes.pop() if len(sizes) == 1 else None

    @property
    def config_set(self) -> dict[str, str]:
        return {k: v for k, v in self.config.items() if v is not None}

    @property
    def config_delete(self) -> list[str]:
        return [k for k, v in self.config.items() if v is None]

    def displayed(self) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        if self.partitions is not None:
            shown["partitions"] = self.partitions
        if self.reassignment:
            shown["replication_factor"] = self.replication_factor
            for partition, replicas in sorted(self.reassignment.items()):
                shown[f"replicas.{partition}"] = list(replicas)
        for key, value in sorted(self.config.items()):
            shown[f"config.{key}"] = value
        return shown

    def phases(self) -> set[str]:
        """The apply phases this update needs."""
        needed = set()
        if self.config:
            needed.add("alter configs")
        if self.partitions is not None:
            needed.add("add partitions")
        if self.reassignment:
            needed.add("reassign")
        return needed


class TopicDelete(Payload):
    def displayed(self) -> dict[str, Any]:
        return {"partitions": None, "replication_factor": None}


TopicPayload = TopicCreate | TopicUpdate | TopicDelete
PAYLOAD_BY_ACTION: dict[Action, type[TopicPayload]] = {
    Action.CREATE: TopicCreate,
    Action.UPDATE: TopicUpdate,
    Action.DELETE: TopicDelete,
}
