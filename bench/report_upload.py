"""Benchmark: a bad day's report set going up to Blob Storage, one request at a time against four.

A bad day writes ~200 MB of reports (the 132 MB journal, two 28 MB CSVs, a 14 MB summary and small
files). ``BlobReportSink.commit`` used to send them one 4 MB block after another, each waiting for the
previous round trip; it now keeps ``UPLOAD_CONCURRENCY`` requests in flight. Both ways run in this
process against this run's Azurite, on the same files, in interleaved rounds (the baseline is the same
code with ``UPLOAD_CONCURRENCY = 1``, which is exactly the old order of requests):

* ``--latency-ms 0``: Azurite on this machine, where a request costs only the emulator's own work;
* ``--latency-ms 20``: each request first waits 20 ms (an azure-core ``raw_request_hook``), a
  stand-in for the round trip to a storage account: a WAN-free emulator cannot show what concurrency
  saves on a real network, and this is the part of it that does not depend on bandwidth.

    python bench/report_upload.py [--scale 1.0] [--latency-ms 0,20] [--repeat 3]

Each figure is the median over the rounds of ``write`` (hashing) + ``commit`` (uploads and manifest).
The last printed line is one JSON object with every figure and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_storage import bench_storage  # noqa: E402

BAD_DAY = {  # bytes of each file of the bench's 1M + 1M, 30 % bad day (bench/reconcile.py)
    "proposed_journal.json": 132_127_651,
    "differences.csv": 27_840_071,
    "discrepancies.csv": 27_536_327,
    "summary.json": 13_626_542,
    "report.xlsx": 172_883,
    "journal_index.json": 45_797,
    "report.html": 35_911,
    "history.json": 3_658,
}


def _files(scale: float, stack: contextlib.ExitStack) -> dict[str, IO[bytes]]:
    out = {}
    for name, size in BAD_DAY.items():
        f = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - the stack closes it
        left = max(1, int(size * scale))
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
        out[name] = f
    return out


def _publish(service: Any, container: str, files: dict[str, IO[bytes]]) -> float:
    from shared.adapters.blob_reports import BlobReportSink

    folder = f"bench/run-{uuid.uuid4().hex[:8]}"
    sink = BlobReportSink(service, folder, container)
    start = time.perf_counter()
    for name, f in files.items():
        f.seek(0)
        sink.write(name, f, "application/octet-stream")
    sink.commit()
    took = time.perf_counter() - start
    blobs = service.get_container_client(container)
    for blob in blobs.list_blob_names(name_starts_with=folder + "/"):  # Azurite keeps them in memory
        blobs.delete_blob(blob)
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0, help="file sizes as a share of the bad day's")
    ap.add_argument("--latency-ms", default="0,20", help="comma-separated waits before each request")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not 0 < args.scale <= 10 or args.repeat < 1:
        ap.error("--scale must be in (0, 10] and --repeat at least 1")
    latencies = [int(x) for x in args.latency_ms.split(",")]

    with bench_storage() as connection, contextlib.ExitStack() as stack:
        from azure.storage.blob import BlobServiceClient

        import shared.adapters.blob_reports as blob_reports
        from shared.adapters.storage_clients import _transport

        concurrent = blob_reports.UPLOAD_CONCURRENCY
        files = _files(args.scale, stack)
        container = "bench-upload-" + uuid.uuid4().hex[:8]
        figures: dict[str, Any] = {}
        for latency in latencies:

            def wait(_request: Any, seconds: float = latency / 1000) -> None:
                time.sleep(seconds)

            service = BlobServiceClient.from_connection_string(
                connection, transport=_transport(), **({"raw_request_hook": wait} if latency else {})
            )
            if latency == latencies[0]:
                service.create_container(container)
            times: dict[str, list[float]] = {"one_at_a_time": [], "concurrent": []}
            for _ in range(args.repeat):
                for label, n in (("one_at_a_time", 1), ("concurrent", concurrent)):
                    blob_reports.UPLOAD_CONCURRENCY = n
                    try:
                        times[label].append(_publish(service, container, files))
                    finally:
                        blob_reports.UPLOAD_CONCURRENCY = concurrent
                    print(f"latency {latency} ms, {label:14s} {times[label][-1]:.2f} s", file=sys.stderr)
            one, many = (statistics.median(times[k]) for k in ("one_at_a_time", "concurrent"))
            figures[f"latency_{latency}ms"] = {
                "one_at_a_time_s": round(one, 2),
                "concurrent_s": round(many, 2),
                "concurrent_vs_one_at_a_time": round(many / one, 3),
                "rounds": {k: [round(t, 2) for t in v] for k, v in times.items()},
            }
        total = sum(int(size * args.scale) for size in BAD_DAY.values())
        print(
            json.dumps(
                {"megabytes": round(total / 1e6, 1), "concurrency": concurrent, "repeat": args.repeat, **figures}
            )
        )


if __name__ == "__main__":
    main()
