"""Small helpers for Table Storage batches shared by the ledger and the pending index."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

BATCH = 100
"""Table Storage's limit of operations in one entity group transaction (the SDK does not check it)."""
WRITERS = 8
"""Threads for independent storage calls: each waits mostly on the network."""


def chunks(items: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def in_parallel(function: Callable[..., Any], work: list[tuple[Any, ...]]) -> Iterator[Any]:
    """Independent partition transactions in flight together: each waits mostly on the network."""
    if len(work) <= 1:
        yield from (function(*args) for args in work)
        return
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        yield from pool.map(lambda args: function(*args), work)


def etag(entity: Any) -> str:
    return entity.metadata["etag"]


def resilient(function: Callable[..., Any], *args: Any, attempts: int = 3, **kwargs: Any) -> Any:
    """Call `function`, again after a dropped connection (up to `attempts` times, short jittered waits).

    The SDK does not retry a POST whose connection dropped (it might have been applied), and
    Azurite and Azure both close idle pooled connections. Every write omnisync makes may be
    repeated: creates report the entity exists, ETag-guarded updates report a conflict and the
    caller re-reads, upserts and queue messages (at least once) are idempotent.
    """
    import random
    import time

    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    for attempt in range(1, attempts + 1):
        try:
            return function(*args, **kwargs)
        except (ServiceRequestError, ServiceResponseError):
            if attempt == attempts:
                raise
            time.sleep(0.05 * 2**attempt + random.random() * 0.05)  # noqa: S311 - jitter, not security
    raise AssertionError("unreachable")
