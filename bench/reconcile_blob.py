"""Benchmark: the product path of a reconciliation, from snapshot upload to manifest, on Azurite.

    .venv/bin/python bench/reconcile_blob.py [--rows 1000000] [--differing 0.3]

Generates the same synthetic snapshots as ``bench/reconcile.py``, starts its own Azurite (or uses
OMNISYNC_TEST_STORAGE, see ``bench/bench_storage.py``), then measures two child processes, each
with wall time and its own peak RSS (``os.wait4``):

* ``through_blob``: uploads ``erp.csv`` and ``wms.csv`` into ``snapshots/{env}/{run}/`` (streamed
  from the files), fires the blob-trigger path for each upload as the local runner does
  (``shared.services.reconcile_blobs.handle_snapshot_blob``: the second one downloads both
  snapshots to temp files, compares, uploads the report set) and waits until the run's
  ``manifest.json`` is there;
* ``local_files``: the same run from the local files (``omnisync reconcile``).

The trigger is bound to a ``BlobClient`` (SDK-type binding), so the host loads no snapshot either.
The last line is one JSON object with both figures and the ratio.

``--history-days N``: before ``through_blob``, the environment gets N earlier bad days (summaries of
``--differing`` × ``--rows`` streaks, as ``bench/history_load.py`` writes them), and the run is measured
twice: with each earlier run's ``history.json`` brief (as runs write now) and without (as runs wrote
before briefs: every summary downloaded whole). Ratio ``briefs_vs_summaries_wall``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ENV = "bench"


def through_blob(erp: Path, wms: Path, snapshots: str, reports: str) -> None:
    """Child: upload both snapshots, fire the trigger path per blob, wait for the manifest."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import ContentSettings

    from shared.adapters.blob_reports import read_manifest, upload_files
    from shared.adapters.storage_clients import blob_service
    from shared.config import get_settings
    from shared.services.reconcile_blobs import Containers, handle_snapshot_blob

    service = blob_service()
    for name in (snapshots, reports):
        with contextlib.suppress(ResourceExistsError):
            service.create_container(name)
    run = "run-" + uuid.uuid4().hex[:8]
    containers = Containers(snapshots, reports)
    outcomes = []
    for path in (erp, wms):
        blob = f"{ENV}/{run}/{path.name}"
        with open(path, "rb") as fh:  # in 4 MB blocks (upload_blob would read a file under 64 MB whole)
            upload_files([(service.get_blob_client(snapshots, blob), fh, ContentSettings())])
        outcome = handle_snapshot_blob(
            f"{snapshots}/{blob}", service, get_settings().reconcile_defaults(), containers=containers
        )
        outcomes.append(outcome.status)
    manifest: dict[str, Any] = {}
    deadline = time.monotonic() + 600
    while not manifest.get("files") and time.monotonic() < deadline:
        manifest = read_manifest(service.get_container_client(reports), f"{ENV}/{run}")
        if not manifest.get("files"):
            time.sleep(0.1)
    if outcomes != ["waiting", "ok"] or not manifest.get("files"):
        raise SystemExit(f"unexpected outcomes {outcomes}, manifest files {sorted(manifest.get('files', {}))}")


def earlier_days(reports: str, days: int, keys: int, briefs: bool) -> None:
    """N earlier bad days of ``ENV`` in ``reports``, committed as runs commit them (oldest first)."""
    from azure.core.exceptions import ResourceExistsError

    from bench.history_load import summary_of
    from shared.adapters.blob_reports import BlobReportSink
    from shared.adapters.storage_clients import blob_service
    from shared.services.reconcile import _json_bytes, brief_of

    service = blob_service()
    with contextlib.suppress(ResourceExistsError):
        service.create_container(reports)
    for day in range(days):
        run = f"day-{day:02d}"
        summary = summary_of(run, day, keys)
        sink = BlobReportSink(service, f"{ENV}/{run}", reports)
        sink.write("summary.json", _json_bytes(summary), "application/json")
        if briefs:
            sink.write("history.json", _json_bytes(brief_of(summary)), "application/json")
        sink.commit()


def local_files(erp: Path, wms: Path, out: Path) -> None:
    from shared.cli import main

    code = main(["reconcile", str(erp), str(wms), "--out", str(out), "--run-id", "bench"])
    if code:
        raise SystemExit(code)


def _measure(args: list[str]) -> dict[str, Any]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        return {"wall_s": None, "peak_rss_mb": None, "error": err.strip()[-600:]}
    return {"wall_s": round(wall, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--differing", type=float, default=0.01, help="share of keys whose quantity differs (0-1)")
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--erp", help=argparse.SUPPRESS)
    ap.add_argument("--wms", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--containers", help=argparse.SUPPRESS)
    ap.add_argument("--history-days", type=int, default=0, help="earlier bad days in the environment (see above)")
    args = ap.parse_args()
    if not 0 <= args.differing <= 1:
        ap.error("--differing must be between 0 and 1")
    if args.task == "through_blob":
        snapshots, reports = args.containers.split(",")
        through_blob(Path(args.erp), Path(args.wms), snapshots, reports)
        return
    if args.task == "local_files":
        local_files(Path(args.erp), Path(args.wms), Path(args.out))
        return

    from bench.bench_storage import bench_storage

    work = Path(tempfile.mkdtemp(prefix="omnisync-bench-blob-"))
    try:
        # Generated in a child (DuckDB), so this harness stays small: a forked child inherits its peak.
        subprocess.run(
            [
                sys.executable,
                str(REPO / "bench" / "reconcile.py"),
                *("--task", "generate", "--rows", str(args.rows), "--out", str(work)),
                *("--differing", str(args.differing)),
            ],
            check=True,
        )
        erp, wms = work / "erp.csv", work / "wms.csv"
        files = ["--erp", str(erp), "--wms", str(wms)]
        suffix = uuid.uuid4().hex[:8]
        with bench_storage():
            if args.history_days:
                keys = int(args.rows * args.differing)
                figures = {}
                for briefs in (False, True):
                    containers = f"bsnap{suffix}{int(briefs)},brep{suffix}{int(briefs)}"
                    earlier_days(containers.split(",")[1], args.history_days, keys, briefs)
                    figures[briefs] = _measure(["--task", "through_blob", *files, "--containers", containers])
                    print(f"through_blob, briefs={briefs}: {figures[briefs]}", file=sys.stderr)
                old, new = figures[False], figures[True]
                wall = round(new["wall_s"] / old["wall_s"], 3) if new.get("wall_s") and old.get("wall_s") else None
                print(
                    json.dumps(
                        {
                            "history_days": args.history_days,
                            "summaries_only": old,
                            "briefs": new,
                            "briefs_vs_summaries_wall": wall,
                        }
                    )
                )
                return
            blob = _measure(["--task", "through_blob", *files, "--containers", f"bsnap{suffix},brep{suffix}"])
        print(f"through_blob {blob}", file=sys.stderr)
        local = _measure(["--task", "local_files", *files, "--out", str(work / "out")])
        print(f"local_files  {local}", file=sys.stderr)
        ratio = {
            key: round(blob[key] / local[key], 3) if blob.get(key) and local.get(key) else None
            for key in ("wall_s", "peak_rss_mb")
        }
        print(
            json.dumps(
                {
                    "rows": args.rows,
                    "differing": args.differing,
                    "cpus": os.cpu_count(),
                    "methods": {"through_blob": blob, "local_files": local},
                    "ratios": {"blob_vs_local_wall": ratio["wall_s"], "blob_vs_local_rss": ratio["peak_rss_mb"]},
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
