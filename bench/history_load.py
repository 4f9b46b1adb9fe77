"""Benchmark: what a run reads for its history after twelve bad days in a row, from briefs against summaries.

A run reads the last twelve runs of its environment for streaks and trend. On a bad day (1M + 1M rows,
30 % of keys differing) a summary lists ~300,000 streaks, and from the third bad day in a row as many
audit flags: ~28 MB, nearly all of it those two lists, of which only the newest run's streaks are used.
Two environments on this run's Azurite hold the same twelve summaries, written as a run writes them
(``_json_bytes``); one also has each run's brief (``history.json``, ``brief_of``), as runs now write:

* ``summaries`` (the baseline; what every run read before briefs): ``load_history`` falls back to each
  whole summary, then ``without_unused_streaks`` drops eleven of the twelve lists;
* ``briefs``: ``load_history`` reads the briefs, ``without_unused_streaks`` loads the one list that counts.

Both must give the same streaks. Each runs in its own interpreter (wall, CPU, peak RSS via ``os.wait4``).

    python bench/history_load.py [--keys 300000] [--runs 12]

The last printed line is one JSON object with every figure and the ratios against ``summaries``.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.child_process import measured  # noqa: E402

METHODS = ["summaries", "briefs"]
WAREHOUSES = ["10", "11", "12", "13"]


def _entries(keys: int, day: int) -> str:
    """A streak (or audit flag) list as the run writes it: sorted by item, compact."""
    return (
        "["
        + ",".join(f'{{"item":"{n // 4:08d}","warehouse":"{WAREHOUSES[n % 4]}","runs":{day + 1}}}' for n in range(keys))
        + "]"
    )


def summary_of(run_id: str, day: int, keys: int) -> dict[str, Any]:
    from shared.domain.reconciliation.history import OutOfBalanceEntries

    streaks = OutOfBalanceEntries(_entries(keys, day), keys)
    flagged = streaks if day >= 2 else OutOfBalanceEntries("[]", 0)
    return {
        "schema": "omnisync.reconciliation.summary/1",
        "run_id": run_id,
        "status": "ok",
        "run_time": f"2026-11-{day + 1:02d}T06:00:00+00:00",
        "counts": {"keys": 1_000_000, "differences": keys, "material": keys // 3, "match": 1_000_000 - keys},
        "totals": {"abs_value_difference": str(keys * 47), "value_difference": str(keys * 3)},
        "by_warehouse": {w: {"differences": keys // 4} for w in WAREHOUSES},
        "audit": {"after_runs": 3, "basis": "material", "flagged": flagged},
        "out_of_balance": streaks,
    }


def commit(keys: int, runs: int) -> tuple[str, str]:
    from shared.adapters.blob_reports import BlobReportSink
    from shared.adapters.storage_clients import blob_service
    from shared.services.reconcile import _json_bytes, brief_of

    old_env, new_env = "bench-summaries", "bench-briefs"
    for day in range(runs):
        run = f"day-{day:02d}-{uuid.uuid4().hex[:6]}"
        summary = summary_of(run, day, keys)
        text = _json_bytes(summary)
        for env, with_brief in ((old_env, False), (new_env, True)):
            sink = BlobReportSink(blob_service(), f"{env}/{run}")
            sink.write("summary.json", text, "application/json")
            if with_brief:
                sink.write("history.json", _json_bytes(brief_of(summary)), "application/json")
            sink.commit()
        if day == 0:
            print(f"summary: {len(text) / 1e6:.1f} MB, brief: {len(_json_bytes(brief_of(summary))):,} bytes")
    return old_env, new_env


def task(environment: str) -> None:
    from shared.adapters.blob_reports import load_history, load_streaks
    from shared.adapters.storage_clients import blob_service
    from shared.domain.reconciliation.history import streaks_by_scope, without_unused_streaks

    service = blob_service()
    history = load_history(service, environment, exclude_run_id="next", limit=12)
    history = without_unused_streaks(history, "next", lambda s: load_streaks(service, environment, s["run_id"]))
    streaks = streaks_by_scope(history, "next")
    print(json.dumps({"runs_read": len(history), "streaks": len(streaks), "streak_sum": sum(streaks._runs.values())}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--task", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.task:
        task(args.task)
        return
    from bench.bench_storage import bench_storage

    with bench_storage():
        old_env, new_env = commit(args.keys, args.runs)
        figures: dict[str, Any] = {"keys": args.keys, "runs": args.runs}
        for method, env in (("summaries", old_env), ("briefs", new_env)):
            figures[method] = measured([sys.executable, __file__, "--task", env])
            print(f"{method:10s} {figures[method]}")
        base, ours = figures["summaries"], figures["briefs"]
        if "wall_s" in base and "wall_s" in ours:
            assert (base["streaks"], base["streak_sum"]) == (ours["streaks"], ours["streak_sum"]), "same streaks"
            figures["briefs_wall_ratio"] = round(ours["wall_s"] / base["wall_s"], 3)
            figures["briefs_rss_ratio"] = round(ours["peak_rss_mb"] / base["peak_rss_mb"], 3)
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
