"""Cheap round trips that prove Table and Blob storage answer.

No retries: a health check must answer quickly, and a retrying SDK waits for minutes.
"""

from __future__ import annotations

from shared.adapters.storage_clients import blob_service, table_service

PROBE_OPTIONS = {"timeout": 5, "retry_total": 0}


def probe_tables() -> None:
    next(iter(table_service().list_tables(results_per_page=1, **PROBE_OPTIONS).by_page()), None)


def probe_blobs() -> None:
    next(iter(blob_service().list_containers(results_per_page=1, **PROBE_OPTIONS).by_page()), None)


def storage_probes() -> dict[str, object]:
    return {"table": probe_tables, "blob": probe_blobs}
