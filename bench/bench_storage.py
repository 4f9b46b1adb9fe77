"""Storage for a benchmark run: its own Azurite on free ports (or OMNISYNC_TEST_STORAGE), own table prefix."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devtools.azurite import Azurite

BENCH_KEY = "bench-" + uuid.uuid4().hex
AUTH_HEADERS = {"x-functions-key": BENCH_KEY}
"""What a benchmark's requests through the HTTP handlers carry: the routes accept no anonymous call."""


@contextmanager
def bench_storage() -> Iterator[str]:
    azurite = None
    connection = os.environ.get("OMNISYNC_TEST_STORAGE")
    if not connection:
        # In memory: Azurite's disk persistence rewrites its whole table store every 5 s (devtools/azurite.py),
        # which measured the emulator's autosave, growing with every row stored, not the code under test.
        azurite = Azurite(Path(tempfile.mkdtemp(prefix="bench-azurite-")), in_memory=True).start()
        connection = azurite.connection_string
    os.environ["OMNISYNC_STORAGE"] = connection
    os.environ["OMNISYNC_STORAGE_NAME_PREFIX"] = "b" + uuid.uuid4().hex[:8]
    os.environ["LOCAL_FUNCTION_KEY"] = BENCH_KEY
    try:
        yield connection
    finally:
        if azurite:
            azurite.stop()


def batched_upserts(
    table: object, entities: list[dict], threads: int = 1, merge: bool = False, *, ours: bool = False
) -> float:
    """The raw baseline: upserts grouped per partition in transactions of 100, on `threads`; seconds taken.

    `ours`: through omnisync's transaction writer (shared/adapters/table_transactions.py) instead of the
    SDK's `submit_transaction`, so a ratio can be read with the same client on both sides. `table` is
    one table client, or a function from a partition to the client of the table that holds it (the
    ledger's shards), so a baseline writes into the same layout as the code it is compared with."""
    import time
    from collections import defaultdict
    from concurrent.futures import ThreadPoolExecutor

    from azure.data.tables import UpdateMode

    mode = UpdateMode.MERGE if merge else UpdateMode.REPLACE
    by_partition: dict[str, list[dict]] = defaultdict(list)
    for entity in entities:
        by_partition[entity["PartitionKey"]].append(entity)
    chunks = [group[i : i + 100] for group in by_partition.values() for i in range(0, len(group), 100)]
    from azure.core.exceptions import ServiceResponseError

    from shared.adapters.table_transactions import submit_transaction

    def submit(chunk: list[dict]) -> object:
        ops = [("upsert", e, {"mode": mode}) for e in chunk]
        target = table(chunk[0]["PartitionKey"]) if callable(table) else table
        for attempt in range(3):  # upserts repeat safely: an emulator dropping a connection is no result
            try:
                return submit_transaction(target, ops) if ours else target.submit_transaction(ops)  # type: ignore[arg-type,attr-defined]
            except ServiceResponseError:
                if attempt == 2:
                    raise
        return None

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(submit, chunks))
    return time.perf_counter() - start
