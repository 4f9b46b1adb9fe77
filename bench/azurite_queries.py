"""Why the ledger benchmarks degrade on Azurite: a partition query there scans the whole table.

    .venv/bin/python bench/azurite_queries.py [--sizes 1000,20000,100000]

One hot partition holds 5 rows; other partitions of the same table are filled up to each size, and the
hot partition's range query (the one a sync visit makes: `C|`..`D}`) and a single upsert are timed. On
Azure Table Storage a partition query is served from the (PartitionKey, RowKey) index, so its cost does
not depend on the rest of the table; on Azurite (an in-memory emulator) it grows with the table. The
last line is one JSON object: milliseconds per call at each size and the slowdown against the smallest.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_storage import batched_upserts, bench_storage

CALLS = 200


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,20000,100000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    figures: dict[str, dict[str, float]] = {"query_ms": {}, "point_read_ms": {}, "upsert_ms": {}}
    with bench_storage():
        from shared.adapters.storage_clients import table_service

        table = table_service().create_table("queryprobe")
        hot = [{"PartitionKey": "hot", "RowKey": f"D|{i}", "Stage": "Created"} for i in range(5)]
        batched_upserts(table, hot)
        filled = len(hot)
        query = "PartitionKey eq @p and RowKey ge @a and RowKey lt @b"
        for size in sizes:
            others = [
                {"PartitionKey": f"p{i % 5000}", "RowKey": f"L|{i}", "Payload": "x" * 200} for i in range(filled, size)
            ]
            batched_upserts(table, others, threads=2)
            filled = size
            start = time.perf_counter()
            for _ in range(CALLS):
                list(table.query_entities(query, parameters={"p": "hot", "a": "C|", "b": "D}"}))
            figures["query_ms"][str(size)] = round((time.perf_counter() - start) / CALLS * 1000, 1)
            start = time.perf_counter()
            for i in range(CALLS):
                table.get_entity("hot", f"D|{i % 5}")
            figures["point_read_ms"][str(size)] = round((time.perf_counter() - start) / CALLS * 1000, 1)
            start = time.perf_counter()
            for i in range(CALLS):
                table.upsert_entity({"PartitionKey": "hot", "RowKey": f"W|{i}", "V": i})
            figures["upsert_ms"][str(size)] = round((time.perf_counter() - start) / CALLS * 1000, 1)
            print(
                f"{size} entities: {figures['query_ms'][str(size)]} ms a query, "
                f"{figures['upsert_ms'][str(size)]} ms an upsert",
                flush=True,
            )
    first, last = str(sizes[0]), str(sizes[-1])
    figures["query_slowdown"] = {"x": round(figures["query_ms"][last] / figures["query_ms"][first], 1)}
    figures["point_read_slowdown"] = {"x": round(figures["point_read_ms"][last] / figures["point_read_ms"][first], 1)}
    figures["upsert_slowdown"] = {"x": round(figures["upsert_ms"][last] / figures["upsert_ms"][first], 1)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
