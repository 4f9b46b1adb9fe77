"""Reconciliation triggers: the snapshot blob trigger and the report lookup (issue 5).

Thin on purpose: the blob trigger passes only the blob's *name* to the service,
which lists the run's folder and streams both snapshots itself. The host still
loads the triggering blob for the ``InputStream`` binding (that cannot be turned
off for a blob trigger), but nothing here reads it.
"""

from __future__ import annotations

import logging

import azure.functions as func

from functions.http_responses import error_response, json_response
from shared.config import STORAGE_CONNECTION, get_settings
from shared.domain.identifiers import InvalidIdentifier, check_environment_id

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.blob_trigger(
    arg_name="blob",
    path="snapshots/{name}",
    connection=STORAGE_CONNECTION,
    source=func.BlobSource.EVENT_GRID,
)
def reconcile_snapshot(blob: func.InputStream) -> None:
    from shared.adapters.storage_clients import blob_service
    from shared.services.reconcile_blobs import handle_snapshot_blob

    outcome = handle_snapshot_blob(blob.name or "", blob_service(), get_settings().reconcile_defaults())
    log.info("snapshot %s: %s %s", blob.name, outcome.status, outcome.detail)


@bp.route(route="environment/{environmentId}/reconciliation/{runId}", methods=["GET"])
def get_reconciliation(req: func.HttpRequest) -> func.HttpResponse:
    from shared.adapters.storage_clients import blob_service
    from shared.services.reconcile_blobs import valid_run_id
    from shared.services.reconcile_reports import run_report

    try:
        environment_id = check_environment_id(req.route_params.get("environmentId", ""))
    except InvalidIdentifier as exc:
        return error_response(400, "invalid_environment_id", str(exc))
    run_id = req.route_params.get("runId", "")
    if not valid_run_id(run_id):
        return error_response(400, "invalid_run_id", "runId must be 1-64 letters, digits or -_. (alphanumeric first)")
    report = run_report(blob_service(), run_id)
    if report is None:
        return error_response(404, "run_not_found", f"no complete report set for run {run_id}")
    return json_response({"environmentId": environment_id, **report})
