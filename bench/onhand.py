"""On-hand event throughput against Azurite, as a ratio to raw batched upserts in the same run.

    .venv/bin/python bench/onhand.py [--events 10240] [--products 100] [--batch 512]

Events go through the HTTP handler in bulk requests of `--batch` (Inventory Visibility's own
limit is 512). Baseline: the same number of entities (one per event) upserted in 100-entity
batches per partition into a fresh table of the same Azurite — the bare storage work of writing
each event once — and, second, the same upserts cut into the same 512-event requests (one
transaction per partition and request: what any per-request writer must at least do).
Starts its own Azurite on free ports (or uses OMNISYNC_TEST_STORAGE).
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import azure.functions as func

from bench.bench_storage import AUTH_HEADERS, bench_storage
from bench.ingest import raw_upserts


def make_events(count: int, products: int) -> list[dict]:
    return [
        {
            "id": f"ev-{i}",
            "organizationId": "usmf",
            "productId": f"P{i % products:04d}",
            "dimensions": {"siteId": "1", "locationId": str(i % 5), "colorId": ("Red", "Blue")[i % 2]},
            "quantities": {"fno": {"availphysical": str((i % 9) - 4)}},
        }
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_240)
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()
    os.environ["ONHAND_MAX_EVENTS"] = str(args.batch)
    os.environ["ALLOWED_DATA_SOURCES"] = "fno"
    os.environ["ALLOWED_PHYSICAL_MEASURES"] = "availphysical"
    with bench_storage():
        from functions.onhand import post_onhand_bulk
        from shared.adapters.config_store import ConfigStore
        from shared.adapters.ledger_tables import LedgerStore, ledger_partition

        LedgerStore(), ConfigStore()  # tables exist before the timed part, as in a deployed app
        events = make_events(args.events, args.products)
        start = time.perf_counter()
        for i in range(0, len(events), args.batch):
            request = func.HttpRequest(
                "POST",
                "http://localhost/api/environment/bench/onhand/bulk",
                headers={"content-type": "application/json", **AUTH_HEADERS},
                route_params={"environmentId": "bench"},
                body=json.dumps(events[i : i + args.batch]).encode(),
            )
            response = post_onhand_bulk(request)
            assert response.status_code == 200, response.get_body()[:500]
        events_s = time.perf_counter() - start

        entities = [
            {
                "PartitionKey": ledger_partition("bench", e["organizationId"], e["productId"]),
                "RowKey": "E|" + e["id"],
                "Payload": json.dumps(e, sort_keys=True),
            }
            for e in events
        ]
        raw_s = raw_upserts(entities)
        per_request_s = sum(raw_upserts(entities[i : i + args.batch]) for i in range(0, len(entities), args.batch))
    figures = {
        "events": args.events,
        "products": args.products,
        "batch": args.batch,
        "events_per_s": round(args.events / events_s),
        "raw_per_s": round(args.events / raw_s),
        "raw_per_request_per_s": round(args.events / per_request_s),
        "ratio": round(raw_s / events_s, 3),
        "ratio_per_request": round(per_request_s / events_s, 3),
    }
    print(
        f"on-hand events {events_s:.2f}s, raw batched upserts {raw_s:.2f}s, "
        f"raw upserts per request {per_request_s:.2f}s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
