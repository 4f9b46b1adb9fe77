"""Benchmark: approving a whole big proposal in the background against approving it journal by journal.

Before background approval the only way through a proposal bigger than one approval (``INGEST_MAX_LINES``,
10,000) was a synchronous call per part; the console offers whole journals, so a person approved journal
by journal, each call downloading and walking the proposal to its journal. Each method runs in its own
interpreter against its own environment on this run's Azurite, on the same committed proposal (the
approval benchmark's generator), and prints wall time, CPU time and peak RSS (``os.wait4``):

* ``journal_by_journal`` (the baseline): ``POST …/approve`` with ``journalIds: [one]`` per journal;
* ``background``: ``POST …/approve`` with ``background: true``, then the queue worker's steps until done
  (each step as the host would run it, in this one process).

Both must store every line once. ``python bench/background_approval.py [--lines 30000]``; the last
printed line is one JSON object with every figure and the ratios against ``journal_by_journal``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.approval import PER_JOURNAL, generate  # noqa: E402
from bench.child_process import measured  # noqa: E402

METHODS = ["journal_by_journal", "background"]


def _request(env: str, run: str, body: dict[str, Any]) -> Any:
    import azure.functions as func

    return func.HttpRequest(
        "POST",
        "http://localhost/api/x",
        body=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        route_params={"environmentId": env, "runId": run},
    )


def task(method: str, source_env: str, env: str, run: str, lines: int) -> None:
    from functions.reconcile import approve_reconciliation

    _copy_run(source_env, env, run)
    posted = 0
    if method == "journal_by_journal":
        for j in range(1, (lines + PER_JOURNAL - 1) // PER_JOURNAL + 1):
            body = {"organizationId": "usmf", "journalIds": [f"bench-{j:03d}"]}
            answer = approve_reconciliation(_request(env, run, body))
            assert answer.status_code == 200, answer.get_body()[:300]
            posted += json.loads(answer.get_body())["posted"]
    else:
        from functions.partition_work import reconciliation_approve
        from shared.adapters.approval_jobs import BlobApprovalJobs
        from shared.adapters.storage_clients import blob_service
        from shared.adapters.work_queues import WorkQueues, encode

        answer = approve_reconciliation(_request(env, run, {"organizationId": "usmf", "background": True}))
        assert answer.status_code == 202, answer.get_body()[:300]
        job = json.loads(answer.get_body())
        client = WorkQueues().client("approve")
        import azure.functions as func

        while True:
            got = list(client.receive_messages(max_messages=1))
            if not got:
                break
            for message in got:
                reconciliation_approve(func.QueueMessage(id=message.id, body=encode(_body(message.content))))
                client.delete_message(message)
        done = BlobApprovalJobs(blob_service()).load(env, run, job["approvalId"])
        assert done is not None and done["state"] == "done", done
        posted = done["posted"]
    assert posted == lines, (posted, lines)
    print(json.dumps({"posted": posted}))


def _body(content: Any) -> dict[str, Any]:
    from shared.adapters.work_queues import decode

    return decode(content)


def _copy_run(source_env: str, env: str, run: str) -> None:
    """The committed proposal into this method's own environment (an approval reads only its own)."""
    from shared.adapters.blob_reports import BlobReportSink, open_report
    from shared.adapters.storage_clients import blob_service

    service = blob_service()
    source = open_report(service.get_container_client("reports"), f"{source_env}/{run}", "proposed_journal.json")
    assert source is not None
    with source:
        sink = BlobReportSink(service, f"{env}/{run}")
        sink.write("proposed_journal.json", source, "application/json")
        sink.commit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=30_000)
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    ap.add_argument("--env", help=argparse.SUPPRESS)
    ap.add_argument("--run", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.task:
        task(args.task, args.source, args.env, args.run, args.lines)
        return
    from bench.bench_storage import bench_storage

    with bench_storage(), tempfile.TemporaryDirectory() as tmp:
        from shared.adapters.blob_reports import BlobReportSink
        from shared.adapters.storage_clients import blob_service

        path = Path(tmp) / "proposed_journal.json"
        generate(path, args.lines)
        source, run = "bench-source", "bench"
        with path.open("rb") as file:
            sink = BlobReportSink(blob_service(), f"{source}/{run}")
            sink.write("proposed_journal.json", file, "application/json")
            sink.commit()
        size_mb = path.stat().st_size / 1e6
        print(f"proposal: {args.lines:,} lines in {args.lines // PER_JOURNAL} journals, {size_mb:.1f} MB")
        figures: dict[str, Any] = {"lines": args.lines}
        for method in METHODS:
            env = f"bench-{method.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
            cmd = [sys.executable, __file__, "--task", method, "--source", source, "--env", env, "--run", run]
            started = time.perf_counter()
            figures[method] = measured([*cmd, "--lines", str(args.lines)])
            figures[method]["lines_per_s"] = round(args.lines / (time.perf_counter() - started))
            print(f"{method:20s} {figures[method]}")
        base, ours = figures["journal_by_journal"], figures["background"]
        if "wall_s" in base and "wall_s" in ours:
            figures["background_wall_ratio"] = round(ours["wall_s"] / base["wall_s"], 3)
            figures["background_rss_ratio"] = round(ours["peak_rss_mb"] / base["peak_rss_mb"], 3)
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
