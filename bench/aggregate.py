"""Aggregate + send (file outbox) throughput against raw table reads + writes of the same volume.

    .venv/bin/python bench/aggregate.py [--lines 100000] [--products 1000]

Setup (not timed): synced (IVPosted) lines written directly. Timed: the `aggregate` and `send_journals` timers.
Baseline (same run, same Azurite): read every synced line of the same partitions and write the same
number of entities back in batches — the bare storage work an aggregation cannot avoid.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_storage import bench_storage


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=1000)
    args = parser.parse_args()
    with bench_storage():
        from azure.data.tables import UpdateMode

        from shared.adapters.erp_outbox import BlobOutboxConnector
        from shared.adapters.journal_records import JournalRecords
        from shared.adapters.ledger_keys import LEDGER_WORK
        from shared.adapters.ledger_tables import LedgerStore, _open_entry
        from shared.adapters.storage_clients import blob_service, table_service
        from shared.domain.adjustments import parse_lines
        from shared.domain.aggregation import JournalMapping
        from shared.services.aggregate import aggregate_pending
        from shared.services.ingest import line_entity
        from shared.services.send_journals import send_pending

        raw = [
            {
                "id": f"agg-{i}",
                "organizationId": "usmf",
                "productId": f"P{i % args.products:05d}",
                "quantityDataSource": "pos",
                "physicalMeasure": "sold",
                "dimensions": {"siteId": "1", "locationId": str(i % 4), "posTill": f"T{i % 7}"},
                "quantity": str((i % 9) - 3),
                "externalReferenceId": f"R{i}",
            }
            for i in range(args.lines)
        ]
        lines, _ = parse_lines(raw, allowed_sources=("pos",), allowed_measures=("sold",))
        store = LedgerStore()
        setup = time.perf_counter()
        # Setup (not timed): the state sync leaves behind — IVPosted lines and aggregation markers —
        # written directly, because pushing 100,000 lines through ingest + sync on Azurite takes too long here.
        now = datetime.now(UTC)
        entities = [
            line_entity("bench", line, line.fingerprint(), now) | {"Status": "IVPosted", "IVPostedAt": now}
            for line in lines
        ]
        store.create_lines(entities)
        by_partition: dict[str, list[dict]] = {}
        for entity in entities:  # the open entries as sync leaves them: stage IVPosted
            by_partition.setdefault(entity["PartitionKey"], []).append(_open_entry(entity) | {"Stage": "IVPosted"})
        for partition, group in by_partition.items():
            for i in range(0, len(group), 100):
                ops = [("upsert", e, {"mode": UpdateMode.MERGE}) for e in group[i : i + 100]]
                store.ledger_of(partition).submit_transaction(ops)
        store.mark_pending(by_partition, now, LEDGER_WORK)
        print(f"setup (synced lines written directly) {time.perf_counter() - setup:.1f}s", flush=True)

        mapping = JournalMapping(targets={"pos/sold": {"journal_type": "adjustment", "target_status": "Posted"}})
        start = time.perf_counter()
        report = aggregate_pending(store, mapping)
        aggregate_s = time.perf_counter() - start
        start = time.perf_counter()
        sent = send_pending(
            store, JournalRecords(), BlobOutboxConnector(blob_service()), max_lines=1000, max_attempts=5
        )
        send_s = time.perf_counter() - start
        assert report.lines == args.lines, report

        # Baseline: read the same lines, write the same count of entities, in 100-entity batches.
        partitions = sorted({f"bench|usmf|{line.productId}" for line in lines})
        target = table_service().create_table(f"raw{uuid.uuid4().hex[:10]}")
        start = time.perf_counter()
        for partition in partitions:
            entities = list(
                store.ledger_of(partition).query_entities(
                    "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                    parameters={"pk": partition, "lo": "L|", "hi": "L}"},
                )
            )
            ops = [
                (
                    "upsert",
                    {"PartitionKey": e["PartitionKey"], "RowKey": e["RowKey"], "Status": "Aggregated"},
                    {"mode": UpdateMode.MERGE},
                )
                for e in entities
            ]
            for i in range(0, len(ops), 100):
                target.submit_transaction(ops[i : i + 100])
        raw_s = time.perf_counter() - start
    ours = aggregate_s + send_s
    figures = {
        "lines": args.lines,
        "products": args.products,
        "aggregated_lines": report.aggregated,
        "journals": sent.journals,
        "aggregate_s": round(aggregate_s, 2),
        "send_s": round(send_s, 2),
        "lines_per_s": round(args.lines / ours),
        "raw_lines_per_s": round(args.lines / raw_s),
        "ratio": round(raw_s / ours, 3),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
