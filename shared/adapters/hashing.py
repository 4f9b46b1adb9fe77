"""SHA-256 of report files on a second core.

A bad day's report set is ~200 MB, and hashing it took about as long as writing it. ``hashlib``
and file I/O both let go of the GIL on chunks this large, so a worker thread hashes what the caller
has just read while the caller goes on reading or writing.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

CHUNK = 1024 * 1024


def copy_hashing(data: IO[bytes], out: IO[bytes], digest: hashlib._Hash) -> int:
    """Copy ``data`` into ``out``, ``digest`` taking each chunk in a worker while the next is copied.
    Returns the bytes copied."""
    size = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-hash") as hasher:
        pending: Future[None] | None = None
        while chunk := data.read(CHUNK):
            out.write(chunk)
            if pending is not None:
                pending.result()  # the digest takes chunks in order
            pending = hasher.submit(digest.update, chunk)
            size += len(chunk)
        if pending is not None:
            pending.result()
    return size


def range_digests(file: IO[bytes], ranges: Sequence[tuple[int, int]]) -> list[str]:
    """The hex SHA-256 of each (offset, length) range of ``file``, hashed by two workers while the
    caller reads on (the ranges are independent, so both cores hash). At most four ranges are read
    ahead of their hash: a journal is ~0.5 MB, the whole file can be hundreds."""
    digests: list[str] = []
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="range-hash") as hasher:
        pending: deque[Future[str]] = deque()
        for offset, length in ranges:
            if len(pending) == 4:
                digests.append(pending.popleft().result())
            file.seek(offset)
            pending.append(hasher.submit(_hexdigest, file.read(length)))
        digests.extend(f.result() for f in pending)
    return digests


def _hexdigest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


__all__ = ["CHUNK", "copy_hashing", "range_digests"]
