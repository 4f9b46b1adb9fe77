"""Cheap round trips that prove Table and Blob storage answer.

No retries: a health check must answer quickly, and a retrying SDK waits for minutes.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.adapters.storage_clients import blob_service, table_service

PROBE_TIMEOUT_S = 5


def probe_tables() -> None:
    pages = table_service().list_tables(results_per_page=1, timeout=PROBE_TIMEOUT_S, retry_total=0).by_page()
    next(iter(pages), None)


def probe_blobs() -> None:
    pages = blob_service().list_containers(results_per_page=1, timeout=PROBE_TIMEOUT_S, retry_total=0).by_page()
    next(iter(pages), None)


def storage_probes() -> dict[str, Callable[[], None]]:
    return {"table": probe_tables, "blob": probe_blobs}
