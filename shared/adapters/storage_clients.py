"""Service clients for the app's storage account, built once per process from the settings.

The only place that knows how a connection is authenticated: a connection string locally
(Azurite), a managed identity in Azure.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, QueueServiceClient

from shared.config import StorageConnection, get_settings

_lock = threading.Lock()
POOL_SIZE = 64
"""Connections kept per service: queue workers and partition writers run in parallel threads, and
with the default pool of 10 every extra thread opened (and threw away) a connection per call."""


def _environment_session(session: Any) -> None:
    """Read once what requests would otherwise look up in the environment on every call.

    With `trust_env` on, requests walks every environment variable twice per call looking for
    proxies (and stats `~/.netrc`): about a fifth of the CPU of a point read (2.3 ms). A CA bundle
    named by `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE` is set on the session once instead (what requests
    does per call); proxy variables keep requests' own handling (with their `no_proxy` rules)."""
    import os
    import urllib.request

    if urllib.request.getproxies_environment():
        return
    session.trust_env = False
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle


def _transport() -> RequestsTransport:
    import requests

    session = requests.Session()
    _environment_session(session)
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=False)


@lru_cache(maxsize=4)
def _credential(client_id: str | None) -> TokenCredential:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id) if client_id else DefaultAzureCredential()


@lru_cache(maxsize=4)
def table_service(connection: StorageConnection | None = None) -> TableServiceClient:
    conn = connection or get_settings().storage_connection()
    # Fail fast when storage does not answer (an HTTP caller gets 503 + Retry-After in about a second);
    # the SDK default retries a refused connection for ~5 s. Queue and timer work is retried anyway.
    options = {
        "retry_total": 4,
        "retry_connect": 1,
        "retry_backoff_factor": 0.2,
        "connection_timeout": 5,
        "transport": _transport(),
    }
    with _lock:
        if conn.connection_string:
            return TableServiceClient.from_connection_string(conn.connection_string, **options)
        assert conn.table_uri
        return TableServiceClient(endpoint=conn.table_uri, credential=_credential(conn.client_id), **options)


@lru_cache(maxsize=4)
def blob_service(connection: StorageConnection | None = None) -> BlobServiceClient:
    conn = connection or get_settings().storage_connection()
    # As for tables: the blob SDK's default backoff (15 s, then 3^n) makes a refused connection take ~90 s.
    from azure.storage.blob import LinearRetry

    # azure-storage-blob annotates these seconds as int; the policy computes with floats.
    seconds: Any = {"backoff": 0.3, "random_jitter_range": 0.2}
    options = {
        "retry_policy": LinearRetry(retry_total=3, **seconds),
        "connection_timeout": 5,
        "transport": _transport(),
    }
    with _lock:
        if conn.connection_string:
            return BlobServiceClient.from_connection_string(conn.connection_string, **options)
        assert conn.blob_uri
        return BlobServiceClient(account_url=conn.blob_uri, credential=_credential(conn.client_id), **options)


@lru_cache(maxsize=4)
def queue_service(connection: StorageConnection | None = None) -> QueueServiceClient:
    conn = connection or get_settings().storage_connection()
    with _lock:
        if conn.connection_string:
            return QueueServiceClient.from_connection_string(conn.connection_string, transport=_transport())
        if not conn.queue_uri:
            raise RuntimeError("storage is not configured for queues: set OMNISYNC_STORAGE__queueServiceUri")
        return QueueServiceClient(
            account_url=conn.queue_uri, credential=_credential(conn.client_id), transport=_transport()
        )


_children: dict[tuple[str, int, str], Any] = {}


def _child(kind: str, service: Any, name: str, make: Any) -> Any:
    """One client per table or queue and process, made once.

    Why: the SDKs' `get_table_client`/`get_queue_client` build a new pipeline from the service's own
    policy objects and re-link their `next` pointers into it. A request in flight on another thread
    that passes through one of those shared policies while a new pipeline is being linked reaches a
    runner with no `next` yet (`AttributeError: '_SansIOHTTPPolicyRunner' object has no attribute
    'next'`, seen with 4 stores posting at once in bench/scale.py). Made once, nothing is re-linked
    while requests are in flight."""
    key = (kind, id(service), name)
    with _lock:
        client = _children.get(key)
        if client is None:
            client = _children[key] = make(name)
    return client


def table_client(name: str) -> TableClient:
    """The process's client of the physical table `name` (see `_child`)."""
    service = table_service()
    return _child("table", service, name, service.get_table_client)


def queue_client(name: str) -> QueueClient:
    """The process's client of the queue `name` (see `_child`)."""
    service = queue_service()
    return _child("queue", service, name, service.get_queue_client)


def reset_clients() -> None:
    """Drop cached clients (tests point the app at another Azurite between sessions)."""
    table_service.cache_clear()
    blob_service.cache_clear()
    queue_service.cache_clear()
    with _lock:
        _children.clear()


def table_name(base: str) -> str:
    """Physical table name: an optional per-deployment prefix keeps environments on one account apart."""
    return f"{get_settings().storage_name_prefix}{base}"
