"""Use case: what a finished reconciliation run produced, for the HTTP lookup.

Only the committed manifest is trusted, so a run whose report set is still being
written (or crashed half way) reads as not found rather than as a mix of files.
"""

from __future__ import annotations

import json
from typing import Any

from azure.storage.blob import BlobServiceClient

from shared.adapters.blob_reports import read_manifest, read_report
from shared.adapters.storage_names import REPORTS_CONTAINER
from shared.services.reconcile import SUMMARY


def run_report(service: BlobServiceClient, run_id: str) -> dict[str, Any] | None:
    """The run's summary and the blob paths of its reports, or None without a complete set."""
    container = service.get_container_client(REPORTS_CONTAINER)
    manifest = read_manifest(container, run_id)
    if not manifest.get("files"):
        return None
    raw = read_report(container, run_id, SUMMARY)
    if raw is None:
        return None
    summary = json.loads(raw)
    files = [
        {
            "name": name,
            "path": f"{REPORTS_CONTAINER}/{run_id}/{name}",
            "contentType": meta.get("content_type"),
            "bytes": meta.get("bytes"),
            "sha256": meta.get("sha256"),
        }
        for name, meta in sorted(manifest["files"].items())
    ]
    return {"runId": run_id, "status": summary.get("status"), "summary": summary, "reports": files}
