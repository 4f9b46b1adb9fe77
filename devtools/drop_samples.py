"""`make drop-samples [DIR=folder]`: upload a snapshot pair (default: samples/) as one run; say where reports appear.

Snapshots are not per environment: a run is `snapshots/{runId}/erp.csv` + `wms.csv` (the blob trigger in
functions/reconcile.py watches `snapshots/{name}`); the environment is chosen later, by the lookup and approval.

Uses the storage connection of local.settings.json (Azurite under `make run`), so the running app's
blob poller sees the files exactly as Event Grid would deliver them in Azure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from devtools.azurite import ROOT

SAMPLES = ROOT / "samples"
FILES = {"erp.csv": "erp_onhand.csv", "wms.csv": "wms_onhand.csv"}


def _connection(settings: Path) -> str:
    """OMNISYNC_STORAGE from the environment, else local.settings.json, else its sample (as `make run` does)."""
    if os.environ.get("OMNISYNC_STORAGE"):
        return os.environ["OMNISYNC_STORAGE"]
    for path in (settings, ROOT / "local.settings.sample.json"):
        if path.exists():
            value = json.loads(path.read_text(encoding="utf-8")).get("Values", {}).get("OMNISYNC_STORAGE")
            if value:
                return str(value)
    return "UseDevelopmentStorage=true"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drop-samples", description=__doc__)
    parser.add_argument(
        "--samples",
        type=Path,
        default=SAMPLES,
        help=f"folder with {' and '.join(FILES.values())} (default: samples/ of the repository)",
    )
    parser.add_argument("--run-id", default="sample-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S"))
    parser.add_argument("--settings", type=Path, default=ROOT / "local.settings.json")
    args = parser.parse_args(argv)

    missing = [str(args.samples / src) for src in FILES.values() if not (args.samples / src).is_file()]
    if missing:
        print(
            "drop-samples: sample file(s) not found:\n  " + "\n  ".join(missing) + "\n"
            "Put erp_onhand.csv and wms_onhand.csv there, or name another folder: make drop-samples DIR=folder",
            file=sys.stderr,
        )
        return 1

    from azure.core.exceptions import ResourceExistsError, ServiceRequestError
    from azure.storage.blob import BlobServiceClient

    from shared.adapters.storage_names import SNAPSHOTS_CONTAINER

    # Few, short retries: when Azurite is not running, say so in seconds rather than after the SDK's ~90 s.
    service = BlobServiceClient.from_connection_string(_connection(args.settings), retry_total=1, connection_timeout=5)
    try:
        with contextlib.suppress(ResourceExistsError):
            service.create_container(SNAPSHOTS_CONTAINER)
        for target, src in FILES.items():
            with open(args.samples / src, "rb") as fh:
                service.get_blob_client(SNAPSHOTS_CONTAINER, f"{args.run_id}/{target}").upload_blob(fh, overwrite=True)
            print(f"uploaded {args.samples / src} -> {SNAPSHOTS_CONTAINER}/{args.run_id}/{target}")
    except ServiceRequestError as exc:
        print(f"drop-samples: storage is not reachable ({exc}); is `make run` running?", file=sys.stderr)
        return 1

    run = args.run_id
    print(
        f"\nThe running app (`make run`) reconciles run {run} within a few seconds; reports appear in\n"
        f"  container 'reports', folder {run}/: manifest.json (written last), discrepancies.csv, summary.json,\n"
        "  report.html, proposed_journal.json\n\n"
        "Download them into ./reports-" + run + "/ with:\n"
        '  .venv/bin/python -c "import os,sys; from azure.storage.blob import ContainerClient as C; '
        "c=C.from_connection_string('UseDevelopmentStorage=true','reports'); "
        f"[open(os.path.join(os.makedirs('reports-{run}',exist_ok=True) or 'reports-{run}',"
        "b.name.split('/')[-1]),'wb').write(c.download_blob(b.name).readall()) "
        f"for b in c.list_blobs(name_starts_with='{run}/')]\"\n"
        "or look at the summary and report paths through the API:\n"
        f"  curl -H 'x-functions-key: <key>' http://127.0.0.1:7071/api/environment/local/reconciliation/{run}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
