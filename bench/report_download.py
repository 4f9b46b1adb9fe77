"""Benchmark: downloading a bad day's biggest report file, answered inline against through its read link.

A bad day's ``proposed_journal.json`` is ~132 MB (303,000 lines). Before read links the route read it
whole and answered it from the worker. Each method runs in its own interpreter against the same
committed run on this run's Azurite and prints wall time, CPU time and that process's peak RSS
(``os.wait4``):

* ``inline`` (the baseline; what ``GET …/report/{name}`` did for any size): ``read_report`` (downloaded,
  sha256-checked) and the ``HttpResponse`` built from it, as the route did;
* ``link``: ``GET …/report/{name}/link`` through its handler: the manifest read and a SAS signed;
* ``client_via_link``: what the finance user's side does next: the link streamed to a discarded body;
* ``pages``: ``GET …/proposed`` three times in one process (the first page, the next, the last) on a run
  without a journal index (runs before it): the first downloads the journal, the others read the copy the
  worker kept (``blob_reports.KEEP_MIN_BYTES``) and walk it to the page;
* ``pages_indexed``: the same three pages of the same file with its ``journal_index.json``: each reads the
  byte ranges of the journals holding the page;
* ``journal_walk`` / ``journal_range``: what ``POST …/approve`` with ``journalIds`` reads before it moves
  anything: the last journal's lines, walked from the whole file against read by range;
* ``lines_walk`` / ``lines_range``: the same for ``lineIds`` alone (three lines in two journals): the whole
  file walked, against the journals the run's ``line_index.json`` points at, read by range.

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
METHODS = [
    "inline",
    "link",
    "client_via_link",
    "pages",
    "pages_indexed",
    "journal_walk",
    "journal_range",
    "lines_walk",
    "lines_range",
]


def task(method: str, environment: str, run: str, url: str | None, lines: int) -> None:
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
    if method in ("pages", "pages_indexed"):
        print(json.dumps(_pages(environment, run)))
        return
    if method in ("journal_walk", "journal_range"):
        print(json.dumps(_last_journal(environment, run, lines)))
        return
    if method in ("lines_walk", "lines_range"):
        print(json.dumps(_named_lines(environment, run, lines)))
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


def _pages(environment: str, run: str) -> dict[str, Any]:
    """The first page, the next and the last through the route, each timed."""
    import base64
    import time

    import azure.functions as func

    from functions.reconcile import list_proposed_lines

    took, token, count = [], None, 0
    for page in ("first", "next", "last"):
        if page == "last":
            token = base64.urlsafe_b64encode(json.dumps({"offset": count - 100}).encode()).decode()
        params = {"pageSize": "100", **({"continuationToken": token} if token else {})}
        route = {"environmentId": environment, "runId": run}
        request = func.HttpRequest("GET", "http://localhost/api/x", body=b"", params=params, route_params=route)
        start = time.perf_counter()
        answer = list_proposed_lines(request)
        took.append(round(time.perf_counter() - start, 3))
        assert answer.status_code == 200, answer.get_body()[:300]
        body = json.loads(answer.get_body())
        token, count = body["continuationToken"], body["lineCount"]
        assert len(body["items"]) == 100
    return {"first_page_s": took[0], "next_page_s": took[1], "last_page_s": took[2]}


def _last_journal(environment: str, run: str, count: int) -> dict[str, Any]:
    """The last journal's lines selected for an approval, as the approve route reads them."""
    from shared.adapters.journal_ranges import proposal_reader
    from shared.adapters.storage_clients import blob_service
    from shared.adapters.storage_names import REPORTS_CONTAINER
    from shared.domain.reconciliation.journal import select_proposed

    container = blob_service().get_container_client(REPORTS_CONTAINER)
    last = f"bench-{(count + 999) // 1000:03d}"
    with proposal_reader(container, f"{environment}/{run}", [last]) as proposed:
        assert proposed is not None
        lines = select_proposed(proposed.journals(), journal_ids=[last], max_lines=10_000)
    return {"lines": len(lines)}


def _named_lines(environment: str, run: str, count: int) -> dict[str, Any]:
    """Three lines named by id alone (the last journal's first, one in the middle, the very last), as the
    approve route reads them: the whole file walked, or the journals the line index points at."""
    import hashlib

    from shared.adapters.journal_ranges import proposal_reader
    from shared.adapters.storage_clients import blob_service
    from shared.adapters.storage_names import REPORTS_CONTAINER
    from shared.domain.reconciliation.journal import select_proposed

    container = blob_service().get_container_client(REPORTS_CONTAINER)
    wanted = [hashlib.sha256(str(n).encode()).hexdigest()[:24] for n in (count // 2, count - 1, count)]
    with proposal_reader(container, f"{environment}/{run}", None, wanted) as proposed:
        assert proposed is not None
        lines = select_proposed(proposed.journals(), line_ids=wanted, max_lines=10_000)
    return {"lines": len(lines)}


def _measured(method: str, environment: str, run: str, url: str | None = None, lines: int = 0) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--task", method, "--environment", environment, "--run", run]
    cmd += ["--lines", str(lines)] if lines else []
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
        task(args.task, args.environment, args.run, args.url, args.lines)
        return
    from bench.bench_storage import bench_storage

    with bench_storage(), tempfile.TemporaryDirectory() as tmp:
        from shared.adapters.blob_reports import BlobReportSink
        from shared.adapters.storage_clients import blob_service
        from shared.services.journal_indexing import index_of

        environment, run = "bench", "bad-day-" + uuid.uuid4().hex[:8]
        indexed = run + "-indexed"
        path = Path(tmp) / NAME
        generate(path, args.lines)
        for folder in (run, indexed):
            with path.open("rb") as file:
                sink = BlobReportSink(blob_service(), f"{environment}/{folder}")
                sink.write(NAME, file, "application/json")
                if folder == indexed:
                    index = index_of(file)
                    assert index is not None, "the generated proposal is not in the run's layout"
                    sink.write("journal_index.json", json.dumps(index).encode(), "application/json")
                    sink.write("line_index.json", json.dumps(_line_index(path, index)).encode(), "application/json")
                sink.commit()
        size_mb = round(path.stat().st_size / 1e6, 1)
        print(f"{NAME}: {args.lines:,} lines, {size_mb} MB, committed to Azurite")
        figures: dict[str, Any] = {"lines": args.lines, "file_mb": size_mb}
        figures["inline"] = _measured("inline", environment, run)
        figures["link"] = _measured("link", environment, run)
        url = figures["link"].pop("url", None)
        figures["client_via_link"] = _measured("client_via_link", environment, run, url)
        figures["pages"] = _measured("pages", environment, run)
        figures["pages_indexed"] = _measured("pages_indexed", environment, indexed)
        figures["journal_walk"] = _measured("journal_walk", environment, run, lines=args.lines)
        figures["journal_range"] = _measured("journal_range", environment, indexed, lines=args.lines)
        figures["lines_walk"] = _measured("lines_walk", environment, run, lines=args.lines)
        figures["lines_range"] = _measured("lines_range", environment, indexed, lines=args.lines)
        for method in METHODS:
            print(f"{method:16s} {figures[method]}")
        base, link = figures["inline"], figures["link"]
        if "peak_rss_mb" in base and "peak_rss_mb" in link:
            figures["link_rss_ratio"] = round(link["peak_rss_mb"] / base["peak_rss_mb"], 3)
            figures["link_wall_ratio"] = round(link["wall_s"] / base["wall_s"], 3)
        walk, ranged = figures["journal_walk"], figures["journal_range"]
        if "wall_s" in walk and "wall_s" in ranged:
            figures["journal_range_wall_ratio"] = round(ranged["wall_s"] / walk["wall_s"], 3)
            figures["journal_range_rss_ratio"] = round(ranged["peak_rss_mb"] / walk["peak_rss_mb"], 3)
        walk, ranged = figures["lines_walk"], figures["lines_range"]
        if "wall_s" in walk and "wall_s" in ranged:
            figures["lines_range_wall_ratio"] = round(ranged["wall_s"] / walk["wall_s"], 3)
            figures["lines_range_rss_ratio"] = round(ranged["peak_rss_mb"] / walk["peak_rss_mb"], 3)
        print(json.dumps(figures))


def _line_index(path: Path, index: dict[str, Any]) -> dict[str, Any]:
    """The line index a run writes beside this proposal (the run keeps the prefixes as it writes). Read a
    journal's range at a time: the children inherit this process's peak RSS, so it must stay small."""
    import re

    from shared.domain.reconciliation.line_index import PREFIX_BYTES, line_index_document

    ids = re.compile(rb'\{"line_id":"([0-9a-f]{%d})' % (2 * PREFIX_BYTES))
    journals = []
    with path.open("rb") as file:
        for span in index["journals"]:
            file.seek(span["offset"])
            found = ids.findall(file.read(span["length"]))
            assert len(found) == span["lines"]
            journals.append((span["journal_id"], bytes.fromhex(b"".join(found).decode())))
    return line_index_document(index["bytes"], journals)


if __name__ == "__main__":
    main()
