"""Benchmark: downloading a bad day's biggest report file, answered inline against through its read link.

A bad day's ``proposed_journal.json`` is ~132 MB (303,000 lines). Before read links the route read it
whole and answered it from the worker. Each method runs in its own interpreter against the same
committed run on this run's Azurite and prints wall time, CPU time and that process's peak RSS
(``os.wait4``):

* ``inline`` (the baseline; what ``GET …/report/{name}`` did for any size): ``read_report`` (downloaded,
  sha256-checked) and the ``HttpResponse`` built from it, as the route did;
* ``link``: ``GET …/report/{name}/link`` through its handler: the manifest read and a SAS signed;
* ``client_via_link``: what the finance user's side does next: the link streamed to a discarded body;
* ``pages``: ``GET …/proposed`` twice in one process (first page, then the next): the first downloads the
  journal, the second reads the copy the worker kept (``blob_reports.KEEP_MIN_BYTES``).

    python bench/report_download.py [--lines 303000]

The last printed line is one JSON object with every figure and the ratios against ``inline``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.approval import generate  # noqa: E402 - the same proposal the approval benchmark walks
from bench.child_process import measured  # noqa: E402

NAME = "proposed_journal.json"
METHODS = ["inline", "link", "client_via_link", "pages"]


def task(method: str, environment: str, run: str, url: str | None) -> None:
    if method == "client_via_link":
        import httpx

        assert url
        with httpx.stream("GET", url, timeout=120) as response:
            response.raise_for_status()
            size = sum(len(chunk) for chunk in response.iter_bytes(1 << 20))
        print(json.dumps({"bytes": size}))
        return
    import azure.functions as func

    from shared.adapters.blob_reports import read_report
    from shared.adapters.storage_clients import blob_service
    from shared.adapters.storage_names import REPORTS_CONTAINER

    if method == "inline":
        container = blob_service().get_container_client(REPORTS_CONTAINER)
        data = read_report(container, f"{environment}/{run}", NAME)
        assert data is not None
        response = func.HttpResponse(data, status_code=200, headers={"Content-Type": "application/json"})
        print(json.dumps({"bytes": len(response.get_body())}))
        return
    if method == "pages":
        import time

        from functions.reconcile import list_proposed_lines

        took = []
        token = None
        for _ in range(2):
            params = {"pageSize": "100", **({"continuationToken": token} if token else {})}
            request = func.HttpRequest(
                "GET",
                "http://localhost/api/x",
                body=b"",
                params=params,
                route_params={"environmentId": environment, "runId": run},
            )
            start = time.perf_counter()
            answer = list_proposed_lines(request)
            took.append(round(time.perf_counter() - start, 2))
            assert answer.status_code == 200, answer.get_body()[:300]
            token = json.loads(answer.get_body())["continuationToken"]
        print(json.dumps({"first_page_s": took[0], "next_page_s": took[1]}))
        return
    from functions.reconcile import get_reconciliation_report_link

    request = func.HttpRequest(
        "GET",
        "http://localhost/api/x",
        body=b"",
        route_params={"environmentId": environment, "runId": run, "name": NAME},
    )
    answer = get_reconciliation_report_link(request)
    assert answer.status_code == 200, answer.get_body()
    print(json.dumps({"url": json.loads(answer.get_body())["url"]}))


def _measured(method: str, environment: str, run: str, url: str | None = None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--task", method, "--environment", environment, "--run", run]
    return measured(cmd + (["--url", url] if url else []))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=303_000)
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--environment", help=argparse.SUPPRESS)
    ap.add_argument("--run", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.task:
        task(args.task, args.environment, args.run, args.url)
        return
    from bench.bench_storage import bench_storage

    with bench_storage(), tempfile.TemporaryDirectory() as tmp:
        from shared.adapters.blob_reports import BlobReportSink
        from shared.adapters.storage_clients import blob_service

        environment, run = "bench", "bad-day-" + uuid.uuid4().hex[:8]
        path = Path(tmp) / NAME
        generate(path, args.lines)
        with path.open("rb") as file:
            sink = BlobReportSink(blob_service(), f"{environment}/{run}")
            sink.write(NAME, file, "application/json")
            sink.commit()
        size_mb = round(path.stat().st_size / 1e6, 1)
        print(f"{NAME}: {args.lines:,} lines, {size_mb} MB, committed to Azurite")
        figures: dict[str, Any] = {"lines": args.lines, "file_mb": size_mb}
        figures["inline"] = _measured("inline", environment, run)
        figures["link"] = _measured("link", environment, run)
        url = figures["link"].pop("url", None)
        figures["client_via_link"] = _measured("client_via_link", environment, run, url)
        figures["pages"] = _measured("pages", environment, run)
        for method in METHODS:
            print(f"{method:16s} {figures[method]}")
        base, link = figures["inline"], figures["link"]
        if "peak_rss_mb" in base and "peak_rss_mb" in link:
            figures["link_rss_ratio"] = round(link["peak_rss_mb"] / base["peak_rss_mb"], 3)
            figures["link_wall_ratio"] = round(link["wall_s"] / base["wall_s"], 3)
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
