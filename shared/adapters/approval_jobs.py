"""Background approvals' progress: one JSON document per approval, ``approvals/{env}/{runId}/{approvalId}.json``.

Written when the approval is queued (only if it does not exist yet: the same approval asked twice is
one job), then by the queue worker after every part it moves, so a worker that stops half way is
resumed from the last part it recorded and a person sees how far it got.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.adapters.storage_names import APPROVALS_CONTAINER
from shared.domain.reconciliation.naming import run_path

_JSON = ContentSettings(content_type="application/json")
MAX_LISTED = 100
"""Jobs listed per run at most: each is a distinct request (organization, source, journals…)."""


class BlobApprovalJobs:
    def __init__(self, service: BlobServiceClient, container: str = APPROVALS_CONTAINER) -> None:
        self._container = service.get_container_client(container)

    def _name(self, environment_id: str, run_id: str, approval_id: str) -> str:
        return f"{run_path(environment_id, run_id)}/{approval_id}.json"

    def create(self, environment_id: str, run_id: str, approval_id: str, doc: dict[str, Any]) -> bool:
        """Store a new job; False when the approval already has one (nothing is overwritten)."""
        blob = self._container.get_blob_client(self._name(environment_id, run_id, approval_id))
        data = json.dumps(doc).encode()
        try:
            blob.upload_blob(data, overwrite=False, content_settings=_JSON)
        except ResourceNotFoundError:  # Bicep creates the container in Azure; Azurite starts empty
            with contextlib.suppress(ResourceExistsError):
                self._container.create_container()
            return self.create(environment_id, run_id, approval_id, doc)
        except ResourceExistsError:
            return False
        return True

    def save(self, environment_id: str, run_id: str, approval_id: str, doc: dict[str, Any]) -> None:
        blob = self._container.get_blob_client(self._name(environment_id, run_id, approval_id))
        blob.upload_blob(json.dumps(doc).encode(), overwrite=True, content_settings=_JSON)

    def replace(self, environment_id: str, run_id: str, approval_id: str, doc: dict[str, Any], etag: str) -> bool:
        """Save only over the version read with ``etag``: of two callers re-queuing a job, one wins."""
        blob = self._container.get_blob_client(self._name(environment_id, run_id, approval_id))
        try:
            blob.upload_blob(
                json.dumps(doc).encode(),
                overwrite=True,
                content_settings=_JSON,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    def delete(self, environment_id: str, run_id: str, approval_id: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._container.delete_blob(self._name(environment_id, run_id, approval_id))

    def load(self, environment_id: str, run_id: str, approval_id: str) -> dict[str, Any] | None:
        return self.load_versioned(environment_id, run_id, approval_id)[0]

    def of_run(self, environment_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every background approval of one run (a handful: one per distinct request), newest first."""
        found: list[dict[str, Any]] = []
        try:
            prefix = f"{run_path(environment_id, run_id)}/"
            names = [b.name for b in self._container.list_blobs(name_starts_with=prefix)]
        except ResourceNotFoundError:  # no approval was ever queued here
            return []
        for name in names[:MAX_LISTED]:
            approval_id = name.rsplit("/", 1)[-1].removesuffix(".json")
            doc = self.load(environment_id, run_id, approval_id)
            if doc is not None:
                found.append(doc)
        return sorted(found, key=lambda d: str(d.get("createdOn", "")), reverse=True)

    def load_versioned(self, environment_id: str, run_id: str, approval_id: str) -> tuple[dict[str, Any] | None, str]:
        """The job and its ETag (for ``replace``); ``(None, "")`` when there is none."""
        try:
            downloader = self._container.download_blob(self._name(environment_id, run_id, approval_id))
            raw = downloader.readall()
        except ResourceNotFoundError:
            return None, ""
        try:
            doc = json.loads(raw)
        except ValueError:
            return None, ""
        return (doc if isinstance(doc, dict) else None), str(downloader.properties.etag or "")
