"""Service clients for the app's storage account, built once per process from the settings.

The only place that knows how a connection is authenticated: a connection string locally
(Azurite), a managed identity in Azure.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from shared.config import StorageConnection, get_settings

_lock = threading.Lock()


@lru_cache(maxsize=4)
def _credential(client_id: str | None):  # type: ignore[no-untyped-def]
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id) if client_id else DefaultAzureCredential()


@lru_cache(maxsize=4)
def table_service(connection: StorageConnection | None = None) -> TableServiceClient:
    conn = connection or get_settings().storage_connection()
    with _lock:
        if conn.connection_string:
            return TableServiceClient.from_connection_string(conn.connection_string)
        assert conn.table_uri
        return TableServiceClient(endpoint=conn.table_uri, credential=_credential(conn.client_id))


@lru_cache(maxsize=4)
def blob_service(connection: StorageConnection | None = None) -> BlobServiceClient:
    conn = connection or get_settings().storage_connection()
    with _lock:
        if conn.connection_string:
            return BlobServiceClient.from_connection_string(conn.connection_string)
        assert conn.blob_uri
        return BlobServiceClient(account_url=conn.blob_uri, credential=_credential(conn.client_id))


def reset_clients() -> None:
    """Drop cached clients (tests point the app at another Azurite between sessions)."""
    table_service.cache_clear()
    blob_service.cache_clear()


def table_name(base: str) -> str:
    """Physical table name: an optional per-deployment prefix keeps environments on one account apart."""
    return f"{get_settings().storage_name_prefix}{base}"

