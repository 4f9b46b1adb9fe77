"""Benchmark: the run list and one run's answer when the runs are bad days, on Azurite.

A bad day's summary.json is ~15 MB: its ``out_of_balance`` list names every item + warehouse out of
balance (300,000 at 1M + 1M rows, 30 % differing) for the next run's history. Commits ``--runs`` such
runs twice, into two environments:

* ``listing``: as runs are committed now, the list figures in the manifest's metadata;
* ``baseline``: as before, without them, so the list reads every run's summary.json (what the list
  route did for every run);

then times ``GET …/reconciliation`` (one page of all runs) in each, and ``GET …/reconciliation/{runId}``
(its answer's size against the summary file's). The last line is one JSON object with the figures.

    python bench/run_list.py [--runs 20] [--keys 300000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def bad_day_summary(run: str, keys: int) -> dict:
    return {
        "schema": "omnisync.reconciliation.summary/1",
        "run_id": run,
        "status": "ok",
        "counts": {"keys": 1_000_000, "differences": keys, "material": keys - 1000, "match": 1_000_000 - keys},
        "trend": {"direction": "rising"},
        "out_of_balance": [{"item": f"{i // 4:08d}", "warehouse": str(10 + i % 4), "runs": 1} for i in range(keys)],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--keys", type=int, default=300_000)
    args = ap.parse_args()
    from bench_storage import AUTH_HEADERS, bench_storage

    with bench_storage():
        import azure.functions as func

        from functions.reconcile import get_reconciliation, list_reconciliations
        from shared.adapters.blob_reports import BlobReportSink
        from shared.adapters.storage_clients import blob_service
        from shared.services.reconcile import listing_of

        service = blob_service()
        size = 0
        for env, with_listing in (("listing", True), ("baseline", False)):
            for n in range(args.runs):
                run = f"day-{n:03d}"
                summary = bad_day_summary(run, args.keys)
                body = json.dumps(summary).encode()
                size = len(body)
                sink = BlobReportSink(service, f"{env}/{run}")
                sink.write("summary.json", body, "application/json")
                sink.commit(listing_of(summary) if with_listing else None)

        def call(function, route: dict, params: dict) -> tuple[float, int]:
            request = func.HttpRequest(
                "GET", "http://x/api/x", body=b"", headers=AUTH_HEADERS, route_params=route, params=params
            )
            start = time.perf_counter()
            response = function(request)
            assert response.status_code == 200, response.get_body()[:300]
            return time.perf_counter() - start, len(response.get_body())

        page = {"pageSize": str(min(args.runs, 100))}
        figures = {"runs": args.runs, "out_of_balance_entries": args.keys, "summary_mb": round(size / 1e6, 1)}
        for env in ("listing", "baseline"):
            seconds, _ = call(list_reconciliations, {"environmentId": env}, page)
            figures[f"list_{env}_s"] = round(seconds, 3)
        figures["list_ratio"] = round(figures["list_listing_s"] / figures["list_baseline_s"], 3)
        seconds, answer = call(get_reconciliation, {"environmentId": "listing", "runId": "day-000"}, {})
        figures.update(run_answer_s=round(seconds, 3), run_answer_kb=round(answer / 1e3, 1))
        figures["run_answer_ratio"] = round(answer / size, 5)
        for key, value in figures.items():
            print(f"{key:24s} {value}")
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
