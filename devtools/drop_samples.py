"""`make drop-samples [DIR=folder] [ENVIRONMENT=local]`: upload a snapshot pair as one run; say where reports appear.

A run belongs to an environment: `snapshots/{environmentId}/{runId}/erp.csv` + `wms.csv` (the blob trigger in
functions/reconcile.py watches `snapshots/{name}`); its reports appear in `reports/{environmentId}/{runId}/` and
only that environment's API routes read or approve it.

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
    parser.add_argument("--environment", default="local", help="environment the run belongs to (default: local)")
    parser.add_argument("--settings", type=Path, default=ROOT / "local.settings.json")
    args = parser.parse_args(argv)

    from shared.domain.identifiers import InvalidIdentifier, check_environment_id
    from shared.services.reconcile_blobs import valid_run_id

    try:
        env = check_environment_id(args.environment)
    except InvalidIdentifier as exc:
        print(f"drop-samples: {exc}", file=sys.stderr)
        return 1
    if not valid_run_id(args.run_id):
        print("drop-samples: run id must be 1-64 letters, digits or -_. (alphanumeric first)", file=sys.stderr)
        return 1
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
                service.get_blob_client(SNAPSHOTS_CONTAINER, f"{env}/{args.run_id}/{target}").upload_blob(
                    fh, overwrite=True
                )
            print(f"uploaded {args.samples / src} -> {SNAPSHOTS_CONTAINER}/{env}/{args.run_id}/{target}")
    except ServiceRequestError as exc:
        print(f"drop-samples: storage is not reachable ({exc}); is `make run` running?", file=sys.stderr)
        return 1

    run = args.run_id
    api = f"http://127.0.0.1:7071/api/environment/{env}/reconciliation"
    print(
        f"\nThe running app (`make run`) reconciles run {run} of environment {env} within a few seconds; reports\n"
        f"appear in container 'reports', folder {env}/{run}/ (manifest.json written last). Through the API:\n"
        f"  curl -H 'x-functions-key: <key>' {api}                      # the environment's runs\n"
        f"  curl -H 'x-functions-key: <key>' {api}/{run}                # summary and report list\n"
        f"  curl -H 'x-functions-key: <key>' -o {run}-report.html {api}/{run}/report/report.html\n"
        f"  curl -H 'x-functions-key: <key>' -o {run}-differences.csv {api}/{run}/report/differences.csv"
        "     # for Excel\n"
        f"  curl -H 'x-functions-key: <key>' -o {run}-report.xlsx {api}/{run}/report/report.xlsx\n"
        f"  curl -H 'x-functions-key: <key>' '{api}/{run}/proposed?pageSize=100'          # lines to approve\n"
        f"  curl -H 'x-functions-key: <key>' {api}/{run}/report/proposed_journal.json/link"
        "   # a read link from storage (files over 32 MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
