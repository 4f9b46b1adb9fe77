"""Level sync throughput against Azurite, as a ratio to raw batched writes of the same lines in the same run.

    .venv/bin/python bench/level_sync.py [--products 1000] [--warehouses 10] [--rounds 10] [--threads 8]

100,000 level changes (default) over 10,000 product × warehouse pairs, for one target with the
outbox connector: each round changes the on-hand level of every pair, so every change is a real
one and becomes one delta line. Per round, the ERP's levels are written into the cache directly
(untimed: landing events in the cache is measured by bench/onhand.py); timed are the level visits
(`visit_many`: 100 products at a time, 8 at once, then their send markers in one go — the sweep's way) and the send
(`send_target`: files of 1,000 lines, batches moved to history, sent levels recorded).
Baseline: the same delta lines, one entity each, upserted in 100-entity batches per product
(`bench_storage.batched_upserts`, same thread count) into a table of the same Azurite.
Starts its own Azurite on free ports (or uses OMNISYNC_TEST_STORAGE). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_storage import batched_upserts, bench_storage

ENV, TARGET = "bench", "fieldservice"


def config():  # type: ignore[no-untyped-def]
    from shared.domain.inventory_config import InventoryConfig

    return InventoryConfig.model_validate(
        {
            "dataSources": [{"name": "fno", "physicalMeasures": ["onhand", "onorder", "ordered"]}],
            "targets": [{"name": TARGET, "connector": {"type": "outbox"}}],
        }
    )


def cache_rows(products: int, warehouses: int, round_number: int) -> list[dict]:
    from shared.adapters.ledger_tables import ledger_partition
    from shared.domain.adjustments import dimension_key
    from shared.domain.cache import cache_row_key

    now = datetime.now(UTC)
    rows = []
    for p in range(products):
        for w in range(warehouses):
            dims = {"locationId": f"W{w:02d}"}
            key = dimension_key(dims)
            rows.append(
                {
                    "PartitionKey": ledger_partition(ENV, "usmf", f"P{p:05d}"),
                    "RowKey": cache_row_key(key),
                    "DimKey": key,
                    "Dimensions": json.dumps(dims, sort_keys=True),
                    "Quantities": json.dumps({"fno": {"onhand": str(100 + round_number * 3 + (p + w) % 7)}}),
                    "UpdatedAt": now,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--warehouses", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=8, help="threads of the raw baseline")
    args = parser.parse_args()
    with bench_storage():
        from shared.adapters.ledger_tables import LedgerStore, ledger_partition
        from shared.adapters.level_connectors import LEVEL_OUTBOX, LevelOutbox
        from shared.adapters.level_tables import LevelStore
        from shared.adapters.storage_clients import blob_service, table_name, table_service
        from shared.services.level_sync import send_target, visit_many

        ledger, store, cfg = LedgerStore(), LevelStore(), config()
        outbox = LevelOutbox(blob_service())
        partitions = [ledger_partition(ENV, "usmf", f"P{p:05d}") for p in range(args.products)]
        visit_s = send_s = 0.0
        lines = files = 0
        for round_number in range(args.rounds):
            batched_upserts(ledger.ledger_of, cache_rows(args.products, args.warehouses, round_number), threads=8)
            start = time.perf_counter()
            for start_at in range(0, len(partitions), 100):  # as the sweep does: 100 products, then their markers
                lines += visit_many(store, lambda env: cfg, partitions[start_at : start_at + 100]).lines
            visit_s += time.perf_counter() - start
            start = time.perf_counter()
            report = send_target(store, outbox, ENV, TARGET, max_lines=1000)
            send_s += time.perf_counter() - start
            files += report.files
            assert report.lines == args.products * args.warehouses, report
            print(f"round {round_number + 1}: visits {visit_s:.1f}s, sends {send_s:.1f}s so far", flush=True)
        changes = args.products * args.warehouses * args.rounds
        assert lines == changes, (lines, changes)

        sent = blob_service().get_container_client(LEVEL_OUTBOX)
        sample = next(b.name for b in sent.list_blobs(name_starts_with=f"{ENV}/{TARGET}/") if b.name.endswith(".json"))
        doc = json.loads(sent.download_blob(sample).readall())
        raw_table = table_service().get_table_client(table_name("rawlevels"))
        raw_table.create_table()
        entities = []
        for round_number in range(args.rounds):
            for p in range(args.products):
                for w in range(args.warehouses):
                    line = dict(doc["lines"][0], productId=f"P{p:05d}", targetWarehouse=f"W{w:02d}")
                    entities.append(
                        {
                            "PartitionKey": f"{ENV}|{TARGET}|usmf|P{p:05d}",
                            "RowKey": f"{round_number:06d}|W{w:02d}|onhand",
                            "Line": json.dumps(line, sort_keys=True),
                        }
                    )
        raw_s = batched_upserts(raw_table, entities, threads=args.threads)
    ours_s = visit_s + send_s
    figures = {
        "changes": changes,
        "pairs": args.products * args.warehouses,
        "threads": args.threads,
        "files": files,
        "visit_s": round(visit_s, 1),
        "send_s": round(send_s, 1),
        "lines_per_s": round(changes / ours_s),
        "raw_lines_per_s": round(changes / raw_s),
        "ratio": round(raw_s / ours_s, 3),
    }
    print(f"level sync {ours_s:.1f}s (visits {visit_s:.1f}s, sends {send_s:.1f}s), raw batched upserts {raw_s:.1f}s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
