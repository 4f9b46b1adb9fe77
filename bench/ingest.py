"""Ingest and sync throughput against Azurite, each as a ratio to raw batched upserts in the same run.

    .venv/bin/python bench/ingest.py [--lines 10000] [--products 100]

Starts its own Azurite on free ports (or uses OMNISYNC_TEST_STORAGE). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import azure.functions as func

from bench.bench_storage import AUTH_HEADERS, batched_upserts, bench_storage


def make_body(lines: int, products: int) -> list[dict]:
    return [
        {
            "id": f"bench-{i}",
            "organizationId": "usmf",
            "productId": f"P{i % products:04d}",
            "quantityDataSource": "pos",
            "physicalMeasure": "sold",
            "dimensions": {"siteId": "1", "locationId": str(i % 5), "colorId": ("Red", "Blue")[i % 2]},
            "quantity": str((i % 9) - 4),
            "externalReferenceId": f"RCPT-{i}",
        }
        for i in range(lines)
    ]


def raw_upserts(entities: list[dict], threads: int = 1, *, ours: bool = False) -> float:
    """Plain batched upserts into fresh tables laid out as the ledger's shards (same number of tables,
    each partition where `ledger_shard` puts it)."""
    from shared.adapters.ledger_keys import LEDGER_SHARDS, ledger_shard
    from shared.adapters.storage_clients import table_service

    run = uuid.uuid4().hex[:10]
    tables = [table_service().create_table(f"raw{run}s{shard}") for shard in range(LEDGER_SHARDS)]
    return batched_upserts(lambda partition: tables[ledger_shard(partition)], entities, threads, ours=ours)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=100)
    args = parser.parse_args()
    os.environ["INGEST_MAX_LINES"] = str(max(args.lines, 10_000))
    os.environ["INGEST_MAX_BODY_BYTES"] = str(100 * 1024 * 1024)
    os.environ["ALLOWED_DATA_SOURCES"] = "pos"
    os.environ["ALLOWED_PHYSICAL_MEASURES"] = "sold"
    with bench_storage():
        from functions.adjustments import post_adjustments
        from shared.adapters.ledger_keys import id_partition
        from shared.adapters.ledger_tables import LedgerStore
        from shared.adapters.table_batches import WRITERS
        from shared.domain.adjustments import parse_lines
        from shared.services.ingest import line_entity
        from shared.services.partition_work import on_sync_message

        body = make_body(args.lines, args.products)
        LedgerStore()  # create tables and the queue outside the timed part, as a deployed app has them
        from shared.adapters.work_queues import WorkQueues, decode

        WorkQueues().client("sync")
        request = func.HttpRequest(
            "POST",
            "http://localhost/api/environment/bench/transaction/adjustment/bulk",
            headers={"content-type": "application/json", **AUTH_HEADERS},
            route_params={"environmentId": "bench"},
            body=json.dumps(body).encode(),
        )
        start = time.perf_counter()
        response = post_adjustments(request)
        ingest_s = time.perf_counter() - start
        assert response.status_code == 200, response.get_body()[:500]

        # Sync as the app does: the request's `sync` message(s), taken from the queue and handled by
        # the queue function's service (the batch's partitions are visited side by side).
        start = time.perf_counter()
        queue, synced = WorkQueues().client("sync"), 0
        while messages := list(queue.receive_messages(max_messages=32)):
            for message in messages:
                synced += on_sync_message(LedgerStore(), WorkQueues(), decode(message.content)).lines
                queue.delete_message(message)
        sync_s = time.perf_counter() - start
        assert synced == args.lines, synced

        lines, _ = parse_lines(body, allowed_sources=("pos",), allowed_measures=("sold",))
        now = datetime.now(UTC)
        entities = [line_entity("bench", line, line.fingerprint(), now) for line in lines]
        raw_s = raw_upserts(entities)
        # What ingest must write at least: each line and its id record (the idempotency authority).
        id_records = [
            {
                "PartitionKey": id_partition("bench", line.id),
                "RowKey": line.id,
                "LedgerPartition": e["PartitionKey"],
                "Fingerprint": e["Fingerprint"],
            }
            for line, e in zip(lines, entities, strict=True)
        ]
        raw_same_s = raw_upserts(entities + id_records, threads=WRITERS)
        # The same through omnisync's own transaction writer: the ratios with one client on both sides.
        raw_ours_s = raw_upserts(entities, ours=True)
        raw_same_ours_s = raw_upserts(entities + id_records, threads=WRITERS, ours=True)
    figures = {
        "lines": args.lines,
        "products": args.products,
        "ingest_lines_per_s": round(args.lines / ingest_s),
        "sync_lines_per_s": round(args.lines / sync_s),
        "raw_lines_per_s": round(args.lines / raw_s),
        "ingest_ratio": round(raw_s / ingest_s, 3),
        "ingest_ratio_same_entities": round(raw_same_s / ingest_s, 3),
        "sync_ratio": round(raw_s / sync_s, 3),
        "ingest_ratio_same_entities_same_client": round(raw_same_ours_s / ingest_s, 3),
        "sync_ratio_same_client": round(raw_ours_s / sync_s, 3),
    }
    print(
        f"ingest {ingest_s:.2f}s, sync {sync_s:.2f}s, raw batched upserts {raw_s:.2f}s, "
        f"raw line + id record on {WRITERS} threads {raw_same_s:.2f}s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
