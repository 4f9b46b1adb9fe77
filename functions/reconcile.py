"""Reconciliation triggers: the snapshot blob trigger and the report lookup.

Thin on purpose: the blob trigger passes only the blob's *name* to the service,
which lists the run's folder and streams both snapshots itself. The host still
loads the triggering blob for the ``InputStream`` binding (that cannot be turned
off for a blob trigger), but nothing here reads it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import azure.functions as func

from functions.http_responses import error_response, model_response
from shared.adapters.storage_names import SNAPSHOTS_CONTAINER
from shared.config import STORAGE_CONNECTION, get_settings
from shared.domain.api_models import ApprovalResult, ReconciliationRun
from shared.domain.identifiers import InvalidIdentifier, check_environment_id

if TYPE_CHECKING:
    from shared.services.approve import ApprovalRequest

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.blob_trigger(
    arg_name="blob",
    path=f"{SNAPSHOTS_CONTAINER}/{{name}}",
    connection=STORAGE_CONNECTION,
    source=func.BlobSource.EVENT_GRID,
)
def reconcile_snapshot(blob: func.InputStream) -> None:
    from shared.adapters.storage_clients import blob_service
    from shared.services.reconcile_blobs import handle_snapshot_blob
    from shared.telemetry import stage

    with stage("reconcile", blob=blob.name or "") as span:
        outcome = handle_snapshot_blob(blob.name or "", blob_service(), get_settings().reconcile_defaults())
        span.set_attribute("omnisync.outcome", outcome.status)
    log.info("snapshot %s: %s %s", blob.name, outcome.status, outcome.detail)


@bp.route(route="environment/{environmentId}/reconciliation/{runId}", methods=["GET"])
def get_reconciliation(req: func.HttpRequest) -> func.HttpResponse:
    from shared.adapters.storage_clients import blob_service
    from shared.services.reconcile_blobs import valid_run_id
    from shared.services.reconcile_reports import run_report

    try:
        environment_id = check_environment_id(req.route_params.get("environmentId", ""))
    except InvalidIdentifier as exc:
        return error_response(400, "InvalidEnvironmentId", str(exc))
    run_id = req.route_params.get("runId", "")
    if not valid_run_id(run_id):
        return error_response(400, "InvalidRunId", "runId must be 1-64 letters, digits or -_. (alphanumeric first)")
    report = run_report(blob_service(), run_id)
    if report is None:
        return error_response(404, "NotFound", f"no complete report set for run {run_id}")
    return model_response(ReconciliationRun, {"environmentId": environment_id, **report})


@bp.route(route="environment/{environmentId}/reconciliation/{runId}/approve", methods=["POST"])
def approve_reconciliation(req: func.HttpRequest) -> func.HttpResponse:
    """Post approved proposed lines through ingest; body `{organizationId, lineIds?, dataSource?, ...}`."""
    from functions.http_input import BadRequest, environment_id, read_json
    from shared.adapters.blob_reports import read_report
    from shared.adapters.ledger_tables import LedgerStore
    from shared.adapters.storage_clients import blob_service
    from shared.adapters.storage_names import REPORTS_CONTAINER
    from shared.domain.reconciliation.journal import UnknownLineError
    from shared.services.approve import ApprovalRefused, NothingToApprove, approve
    from shared.services.reconcile import JOURNAL
    from shared.services.reconcile_blobs import valid_run_id

    try:
        env = environment_id(req)
        run_id = req.route_params.get("runId", "")
        if not valid_run_id(run_id):
            raise BadRequest(400, "InvalidRunId", "runId must be 1-64 letters, digits or -_. (alphanumeric first)")
        request = _approval_request(read_json(req, 1024 * 1024))
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)
    from functions.environment_config import config_of

    container = blob_service().get_container_client(REPORTS_CONTAINER)
    config = config_of(env)  # the environment's own configuration, exactly as ingest checks lines against it
    try:
        outcomes = approve(
            LedgerStore(),
            env,
            read_report(container, run_id, JOURNAL),
            request,
            allowed_sources=config.data_source_names(),
            allowed_measures=config.measure_names(),
        )
    except NothingToApprove as exc:
        return error_response(404, "NotFound", f"run {run_id}: {exc}")
    except UnknownLineError as exc:
        return error_response(400, "UnknownLineIds", str(exc.args[0]))
    except ApprovalRefused as exc:
        return error_response(400, "InvalidLines", str(exc), [p.model_dump() for p in exc.problems])
    posted = sum(1 for o in outcomes if o.outcome == "created")
    return model_response(ApprovalResult, {"runId": run_id, "posted": posted, "lines": [o.as_dict() for o in outcomes]})


def _approval_request(body: object) -> ApprovalRequest:
    from functions.http_input import BadRequest
    from shared.domain.identifiers import KEY_TEXT
    from shared.services.approve import ApprovalRequest

    if not isinstance(body, dict):
        raise BadRequest(400, "InvalidBody", "the body must be a JSON object")
    unknown = set(body) - {"organizationId", "lineIds", "dataSource", "physicalMeasure", "journalNameId"}
    if unknown:
        raise BadRequest(400, "InvalidBody", f"unknown fields: {sorted(unknown)}")
    texts = {k: body.get(k) for k in ("organizationId", "dataSource", "physicalMeasure", "journalNameId")}
    for name, value in texts.items():
        if value is not None and (not isinstance(value, str) or not KEY_TEXT.fullmatch(value)):
            raise BadRequest(400, "InvalidBody", f"{name} has characters that are not allowed")
    if not texts["organizationId"]:
        raise BadRequest(400, "InvalidBody", "organizationId is required (the ERP company, e.g. usmf)")
    line_ids = body.get("lineIds")
    if line_ids is not None and (
        not isinstance(line_ids, list) or not all(isinstance(i, str) for i in line_ids) or len(line_ids) > 100_000
    ):
        raise BadRequest(400, "InvalidBody", "lineIds must be a list of proposed line ids")
    return ApprovalRequest(
        organization_id=texts["organizationId"],
        data_source=texts["dataSource"] or "@iv",
        physical_measure=texts["physicalMeasure"] or "adjustment",
        journal_name_id=texts["journalNameId"],
        line_ids=None if line_ids is None else tuple(line_ids),
    )
