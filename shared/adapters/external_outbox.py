"""Outbox container of the external system (WMS): approved reconciliation lines it has to book.

Layout: ``wms-outbox/{environmentId}/{runId}/{approvalId}.csv|json`` — one pair per approval,
JSON written last so an importer that waits for the ``.json`` sees a complete pair. Lines already
written by an earlier approval of the run are left out of later ones, so approving some lines and
then all books each line once in the WMS.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.adapters.storage_names import WMS_OUTBOX_CONTAINER
from shared.domain.reconciliation.naming import run_path

log = logging.getLogger(__name__)

EXTERNAL_OUTBOX = WMS_OUTBOX_CONTAINER
LOCK_SECONDS = 60
"""Lease on a run's approval lock blob: the longest an approval may take to write its pair of files
(a crashed approval frees the run after this)."""
LOCK_WAIT_SECONDS = 60.0


class ApprovalBusy(RuntimeError):
    """Another approval of the same run held the lock for longer than ``LOCK_WAIT_SECONDS``."""


CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


class BlobExternalOutbox:
    def __init__(self, service: BlobServiceClient, container: str = EXTERNAL_OUTBOX) -> None:
        self._container = service.get_container_client(container)
        self.container = container

    def written_line_ids(self, environment_id: str, run_id: str) -> set[str]:
        """Line ids in the run's earlier outbox files (only complete pairs: the .json is last)."""
        found: set[str] = set()
        for name in self._names(environment_id, run_id):
            if not name.endswith(".json"):
                continue
            try:
                doc = json.loads(self._container.download_blob(name).readall())
            except (ResourceNotFoundError, ValueError):
                continue
            found |= {str(row.get("LineId")) for row in doc.get("lines", []) if isinstance(row, dict)}
        return found

    @contextlib.contextmanager
    def approval_lock(self, environment_id: str, run_id: str) -> Iterator[None]:
        """One approval of a run at a time: a blob lease on ``{environmentId}/{runId}.approval-lock``.

        Reading which lines earlier approvals wrote and writing the new pair must not interleave
        with another approval of the run, or two approvals sent at once would both see no earlier
        files and book the lines they share twice. Outside the run's folder, so the API's outbox
        listing never shows it.
        """
        with contextlib.suppress(ResourceExistsError):
            self._container.create_container()
        blob = self._container.get_blob_client(f"{run_path(environment_id, run_id)}.approval-lock")
        with contextlib.suppress(ResourceExistsError):
            blob.upload_blob(b"", overwrite=False)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                lease = blob.acquire_lease(lease_duration=LOCK_SECONDS)
                break
            except HttpResponseError as exc:
                if getattr(exc, "error_code", None) != "LeaseAlreadyPresent":  # set by the SDK, not declared
                    raise
                if time.monotonic() > deadline:
                    raise ApprovalBusy(f"run {run_id}: another approval of this run is still writing") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            with contextlib.suppress(HttpResponseError):
                lease.release()

    def write(self, environment_id: str, run_id: str, approval: str, json_bytes: bytes, csv_bytes: bytes) -> list[str]:
        with contextlib.suppress(ResourceExistsError):
            self._container.create_container()
        base = f"{run_path(environment_id, run_id)}/{approval}"
        for ext, data in (("csv", csv_bytes), ("json", json_bytes)):
            self._container.upload_blob(
                f"{base}.{ext}", data, overwrite=True, content_settings=ContentSettings(content_type=CONTENT_TYPES[ext])
            )
        return [f"{self.container}/{base}.csv", f"{self.container}/{base}.json"]

    def list_files(self, environment_id: str, run_id: str) -> list[dict[str, Any]]:
        prefix = f"{run_path(environment_id, run_id)}/"
        try:
            blobs = list(self._container.list_blobs(name_starts_with=prefix))
        except ResourceNotFoundError:
            return []
        return [
            {
                "name": b.name.removeprefix(prefix),
                "path": f"{self.container}/{b.name}",
                "bytes": b.size,
                "lastModified": b.last_modified,
            }
            for b in sorted(blobs, key=lambda b: b.name)
        ]

    def read(self, environment_id: str, run_id: str, name: str) -> bytes | None:
        try:
            return self._container.download_blob(f"{run_path(environment_id, run_id)}/{name}").readall()
        except ResourceNotFoundError:
            return None

    def _names(self, environment_id: str, run_id: str) -> list[str]:
        try:
            return [b.name for b in self._container.list_blobs(name_starts_with=f"{run_path(environment_id, run_id)}/")]
        except ResourceNotFoundError:
            return []
