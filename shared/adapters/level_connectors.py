"""Where a target's delta journals go: blob files (JSON + CSV) or an HTTPS endpoint.

Both are idempotent per file id: the outbox writes fixed names (a resend overwrites the same
content), the HTTPS connector sends the file id as `Idempotency-Key`, so a target that honours it
books a resent file once. A resend after a crash always carries the same lines under the same id.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Protocol

import httpx
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.adapters.storage_names import LEVEL_OUTBOX_CONTAINER
from shared.domain.level_deltas import LevelFile
from shared.domain.level_targets import HttpsConnector, LevelTarget

LEVEL_OUTBOX = LEVEL_OUTBOX_CONTAINER
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)


class LevelSendFailed(RuntimeError):
    """The target did not take the file; the message says why (never a secret)."""


class LevelConnector(Protocol):
    def send(self, file: LevelFile) -> None: ...


class LevelOutbox:
    """`level-outbox/{environmentId}/{target}/{fileId}.csv`, then `.json` (an importer waits for the JSON)."""

    def __init__(self, service: BlobServiceClient) -> None:
        self._container = service.get_container_client(LEVEL_OUTBOX)
        with contextlib.suppress(ResourceExistsError):
            self._container.create_container()

    def send(self, file: LevelFile) -> None:
        base = f"{file.environment_id}/{file.target}/{file.file_id}"
        self._container.upload_blob(
            f"{base}.csv",
            file.as_csv(),
            overwrite=True,
            content_settings=ContentSettings(content_type="text/csv; charset=utf-8"),
        )
        self._container.upload_blob(
            f"{base}.json",
            file.as_json(),
            overwrite=True,
            content_settings=ContentSettings(content_type="application/json"),
        )


class LevelHttps:
    """POST the file's JSON; retried with exponential backoff on timeouts, 429 and 5xx."""

    def __init__(self, settings: HttpsConnector, sleep: Callable[[float], None] = time.sleep) -> None:
        self._settings = settings
        self._sleep = sleep

    def send(self, file: LevelFile) -> None:
        s = self._settings
        reason = ""
        for attempt in range(1, s.maxAttempts + 1):
            try:
                response = httpx.post(
                    s.url,
                    content=file.as_json(),
                    headers={"content-type": "application/json", "Idempotency-Key": file.file_id},
                    timeout=s.timeoutSeconds,
                )
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__} calling the target"
            else:
                if response.status_code < 300:
                    return
                reason = f"the target answered {response.status_code}"
                if response.status_code not in RETRY_STATUSES:
                    raise LevelSendFailed(reason)
            if attempt < s.maxAttempts:
                self._sleep(s.backoffSeconds * 2 ** (attempt - 1))
        raise LevelSendFailed(f"{reason} ({s.maxAttempts} attempts)")


def connector_for(target: LevelTarget, blobs: Callable[[], BlobServiceClient]) -> LevelConnector:
    if isinstance(target.connector, HttpsConnector):
        return LevelHttps(target.connector)
    return LevelOutbox(blobs())
