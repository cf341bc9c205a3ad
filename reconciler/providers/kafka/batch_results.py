"""What the batched Kafka providers (client quotas, SCRAM users, broker configs) do once a
batch's one request has returned: wait until the brokers show it, then one result per change
(a change whose entity the request refused fails; the others are applied)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import TypeVar

from reconciler.engine.plan import Change
from reconciler.engine.polling import wait_for
from reconciler.engine.providers import ApplyOptions, ChangeResult, ResultStatus

K = TypeVar("K", bound=Hashable)


async def still_pending(
    pending: Callable[[], Awaitable[set[K]]], *, timeout: float, interval: float
) -> set[K]:
    """Poll ``pending`` (what the brokers do not show yet) until it is empty or ``timeout``
    passes; what is still pending then (metadata propagates to every broker eventually)."""

    async def check() -> tuple[bool, set[K]]:
        left = await pending()
        return not left, left

    return (await wait_for(check, timeout=timeout, interval=interval)).value


def batch_results(
    changes: Sequence[Change],
    entity_of: Callable[[Change], K],
    errors: Mapping[K, str | None],
    late: set[K],
    started: float,
    options: ApplyOptions,
) -> list[ChangeResult]:
    """One result per change, reported to the progress as it is made."""
    results = []
    for change in changes:
        entity = entity_of(change)
        error = errors.get(entity)
        if error:
            result = ChangeResult(change.address, ResultStatus.FAILED, error)
        else:
            message = "done; not yet visible" if entity in late else "done"
            seconds = round(time.monotonic() - started, 3)
            result = ChangeResult(change.address, ResultStatus.APPLIED, message, seconds)
        options.progress.finished(result)
        results.append(result)
    return results
