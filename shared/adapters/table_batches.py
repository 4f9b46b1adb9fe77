"""Small helpers for Table Storage batches shared by the ledger and the pending index."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

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
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=0.1, max=1.0, jitter=0.05),
        retry=retry_if_exception_type((ServiceRequestError, ServiceResponseError)),
        reraise=True,
    )
    return retrying(function, *args, **kwargs)
