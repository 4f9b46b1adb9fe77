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
        yield items[start:start + size]


def in_parallel(function: Callable[..., Any], work: list[tuple[Any, ...]]) -> Iterator[Any]:
    """Independent partition transactions in flight together: each waits mostly on the network."""
    if len(work) <= 1:
        yield from (function(*args) for args in work)
        return
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        yield from pool.map(lambda args: function(*args), work)


def etag(entity: Any) -> str:
    return entity.metadata["etag"]


