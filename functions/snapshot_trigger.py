"""The snapshot blob trigger, bound to a `BlobClient` so no host ever holds a snapshot in memory.

With the default `func.InputStream` binding the Functions host downloads the whole triggering blob
and hands it to the worker (more than once in memory) before the function runs; a 1 GB ERP export
would need that much memory before a line of ours ran. The SDK-type binding
(`azurefunctions-extensions-bindings-blob`) passes a client instead; the service then lists the run's
folder and streams both snapshots to temp files itself. The local runner binds the same way.

No `from __future__ import annotations` here: the Python worker reads the parameter's annotation as
a class to recognise the SDK type.
"""

import logging

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

from shared.adapters.storage_names import SNAPSHOTS_CONTAINER
from shared.config import STORAGE_CONNECTION, get_settings

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.blob_trigger(
    arg_name="client",
    path=f"{SNAPSHOTS_CONTAINER}/{{name}}",
    connection=STORAGE_CONNECTION,
    source=func.BlobSource.EVENT_GRID,
)
def reconcile_snapshot(client: blob.BlobClient) -> None:
    from shared.adapters.storage_clients import blob_service
    from shared.services.reconcile_blobs import handle_snapshot_blob
    from shared.telemetry import stage

    name = f"{client.container_name}/{client.blob_name}"
    with stage("reconcile", blob=name) as span:
        outcome = handle_snapshot_blob(name, blob_service(), get_settings().reconcile_defaults())
        span.set_attribute("omnisync.outcome", outcome.status)
    log.info("snapshot %s: %s %s", name, outcome.status, outcome.detail)
