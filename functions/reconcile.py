"""Reconciliation routes: runs, reports, approval and the outbox.

The snapshot blob trigger itself is in ``functions/snapshot_trigger.py`` (bound to a
``BlobClient``, so the host never loads a snapshot).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import azure.functions as func

from functions.http_responses import error_response, model_response
from shared.config import get_settings
from shared.domain.api_models import (
    ApprovalJob,
    ApprovalJobs,
    ApprovalResult,
    OutboxFiles,
    ProposedPage,
    ProposedPageQuery,
    ReconciliationRun,
    ReportLink,
    RunList,
    RunListQuery,
)
from shared.domain.identifiers import InvalidIdentifier, check_environment_id

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

    from shared.domain.journals import ErpConnector
    from shared.services.approve import ApprovalRequest, Destination

bp = func.Blueprint()
log = logging.getLogger(__name__)


RUN_ID_RULE = "runId must be 1-64 letters, digits or -_. (alphanumeric first)"


def _env_and_run(req: func.HttpRequest) -> tuple[str, str]:
    from functions.http_input import BadRequest
    from shared.services.reconcile_blobs import valid_run_id

    try:
        environment_id = check_environment_id(req.route_params.get("environmentId", ""))
    except InvalidIdentifier as exc:
        raise BadRequest(400, "InvalidEnvironmentId", str(exc)) from None
    run_id = req.route_params.get("runId", "")
    if not valid_run_id(run_id):
        raise BadRequest(400, "InvalidRunId", RUN_ID_RULE)
    return environment_id, run_id


def _report_params(req: func.HttpRequest) -> tuple[str, str, str]:
    """Environment, run and an allow-listed report name (404 for any other name: nothing else is served)."""
    from functions.http_input import BadRequest
    from shared.services.reconcile_reports import REPORT_FILES

    environment_id, run_id = _env_and_run(req)
    name = req.route_params.get("name", "")
    if name not in REPORT_FILES:
        raise BadRequest(404, "NotFound", f"report name must be one of {sorted(REPORT_FILES)}")
    return environment_id, run_id, name


@bp.route(route="environment/{environmentId}/reconciliation", methods=["GET"])
def list_reconciliations(req: func.HttpRequest) -> func.HttpResponse:
    """The environment's runs, newest run time first; `?pageSize=1..100&continuationToken=...`."""
    from pydantic import ValidationError

    from functions.http_input import query_filters
    from functions.http_responses import validation_error
    from shared.adapters.storage_clients import blob_service
    from shared.services.reconcile_reports import InvalidPageToken
    from shared.services.reconcile_reports import list_reconciliations as list_runs

    try:
        environment_id = check_environment_id(req.route_params.get("environmentId", ""))
    except InvalidIdentifier as exc:
        return error_response(400, "InvalidEnvironmentId", str(exc))
    try:
        query = RunListQuery.model_validate(query_filters(req))
    except ValidationError as exc:
        return validation_error(exc, "invalid query parameters")
    try:
        page = list_runs(blob_service(), environment_id, query.pageSize, query.continuationToken or None)
    except InvalidPageToken as exc:
        return error_response(400, "InvalidQuery", str(exc))
    return model_response(RunList, {"environmentId": environment_id, **page})


@bp.route(route="environment/{environmentId}/reconciliation/{runId}", methods=["GET"])
def get_reconciliation(req: func.HttpRequest) -> func.HttpResponse:
    from functions.http_input import BadRequest
    from shared.adapters.storage_clients import blob_service
    from shared.services.reconcile_reports import run_report

    try:
        environment_id, run_id = _env_and_run(req)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    report = run_report(blob_service(), environment_id, run_id)
    if report is None:
        return error_response(404, "NotFound", f"no complete report set for run {run_id} in {environment_id}")
    return model_response(ReconciliationRun, {"environmentId": environment_id, **report})


@bp.route(route="environment/{environmentId}/reconciliation/{runId}/report/{name}", methods=["GET"])
def get_reconciliation_report(req: func.HttpRequest) -> func.HttpResponse:
    """One report file of the run through the API, so a finance user never needs a blob URL."""
    from functions.http_input import BadRequest
    from shared.adapters.storage_clients import blob_service
    from shared.services.reconcile_reports import TooBigToAnswer, report_file

    try:
        environment_id, run_id, name = _report_params(req)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    try:
        found = report_file(blob_service(), environment_id, run_id, name, get_settings().report_inline_max_bytes)
    except TooBigToAnswer as exc:
        link = f"environment/{environment_id}/reconciliation/{run_id}/report/{name}/link"
        return error_response(413, "UseDownloadLink", f"{exc}; GET {link} for a read link to it")
    if found is None:
        return error_response(404, "NotFound", f"run {run_id} in {environment_id} has no {name}")
    headers = {
        "Content-Disposition": f'{found.disposition}; filename="{run_id}-{name}"',
        "X-Content-Type-Options": "nosniff",
        # The HTML report is self-contained (inline CSS/SVG, no scripts): forbid everything else.
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    }
    return func.HttpResponse(found.data, status_code=200, headers={"Content-Type": found.content_type, **headers})


@bp.route(route="environment/{environmentId}/reconciliation/{runId}/report/{name}/link", methods=["GET"])
def get_reconciliation_report_link(req: func.HttpRequest) -> func.HttpResponse:
    """A read link to one report file straight from storage, valid `REPORT_LINK_MINUTES`: how files bigger
    than `REPORT_INLINE_MAX_BYTES` are downloaded, without the app holding them."""
    from datetime import UTC, datetime, timedelta

    from functions.http_input import BadRequest
    from shared.adapters.storage_clients import blob_service
    from shared.services.reconcile_reports import report_link

    try:
        environment_id, run_id, name = _report_params(req)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    lifetime = timedelta(minutes=get_settings().report_link_minutes)
    link = report_link(blob_service(), environment_id, run_id, name, lifetime, datetime.now(UTC))
    if link is None:
        return error_response(404, "NotFound", f"run {run_id} in {environment_id} has no {name}")
    # the link is a credential: no cache or proxy keeps it
    body = {"environmentId": environment_id, "runId": run_id, **link}
    return model_response(ReportLink, body, headers={"Cache-Control": "no-store"})


@bp.route(route="environment/{environmentId}/reconciliation/{runId}/proposed", methods=["GET"])
def list_proposed_lines(req: func.HttpRequest) -> func.HttpResponse:
    """The run's proposed lines a page at a time (`?pageSize=1..1000&continuationToken=...`; `journalId=...` starts
    at a journal), for choosing what to approve without downloading a journal of hundreds of thousands of lines."""
    from pydantic import ValidationError

    from functions.http_input import BadRequest, query_filters
    from functions.http_responses import validation_error
    from shared.adapters.proposed_journal_file import UnreadableJournal
    from shared.adapters.storage_clients import blob_service
    from shared.services.reconcile_reports import InvalidPageToken, UnknownJournal, proposed_page

    try:
        environment_id, run_id = _env_and_run(req)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    try:
        query = ProposedPageQuery.model_validate(query_filters(req))
    except ValidationError as exc:
        return validation_error(exc, "invalid query parameters")
    token = query.continuationToken or None
    if token is not None and query.journalId is not None:
        return error_response(400, "InvalidQuery", "give continuationToken or journalId, not both")
    try:
        page = proposed_page(blob_service(), environment_id, run_id, query.pageSize, token, query.journalId)
    except InvalidPageToken as exc:
        return error_response(400, "InvalidContinuationToken", str(exc))
    except (UnreadableJournal, UnknownJournal) as exc:
        page, reason = None, str(exc)
    else:
        reason = "the run has no proposed journal"
    if page is None:
        return error_response(404, "NotFound", f"run {run_id} in {environment_id}: {reason}")
    limit = get_settings().max_lines_per_request
    return model_response(ProposedPage, {"environmentId": environment_id, "maxLinesPerApproval": limit, **page})


@bp.route(route="environment/{environmentId}/reconciliation/{runId}/outbox", methods=["GET"])
def list_reconciliation_outbox(req: func.HttpRequest) -> func.HttpResponse:
    """Files an ERP-master approval wrote for the external system (WMS) to import."""
    from functions.http_input import BadRequest
    from shared.adapters.external_outbox import BlobExternalOutbox
    from shared.adapters.storage_clients import blob_service

    try:
        environment_id, run_id = _env_and_run(req)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    files = BlobExternalOutbox(blob_service()).list_files(environment_id, run_id)
    for f in files:
        f["url"] = f"environment/{environment_id}/reconciliation/{run_id}/outbox/{f['name']}"
    return model_response(OutboxFiles, {"environmentId": environment_id, "runId": run_id, "files": files})


_OUTBOX_NAME = re.compile(r"^[0-9a-f]{16}\.(csv|json)$")


@bp.route(route="environment/{environmentId}/reconciliation/{runId}/outbox/{name}", methods=["GET"])
def get_reconciliation_outbox_file(req: func.HttpRequest) -> func.HttpResponse:
    from functions.http_input import BadRequest
    from shared.adapters.external_outbox import CONTENT_TYPES, BlobExternalOutbox
    from shared.adapters.storage_clients import blob_service

    try:
        environment_id, run_id = _env_and_run(req)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    name = req.route_params.get("name", "")
    match = _OUTBOX_NAME.fullmatch(name)
    data = BlobExternalOutbox(blob_service()).read(environment_id, run_id, name) if match else None
    if match is None or data is None:
        return error_response(404, "NotFound", f"run {run_id} in {environment_id} has no outbox file {name!r}")
    headers = {
        "Content-Type": CONTENT_TYPES[match.group(1)],
        "Content-Disposition": f'attachment; filename="{run_id}-{name}"',
        "X-Content-Type-Options": "nosniff",
    }
    return func.HttpResponse(data, status_code=200, headers=headers)


@bp.route(route="environment/{environmentId}/reconciliation/{runId}/approve", methods=["POST"])
def approve_reconciliation(req: func.HttpRequest) -> func.HttpResponse:
    """Move the non-master side by approved lines; body `{organizationId, lineIds?, dataSource?, ...}`."""
    from functions.http_input import BadRequest, read_json
    from shared.adapters.external_outbox import ApprovalBusy
    from shared.adapters.journal_ranges import proposal_reader
    from shared.adapters.proposed_journal_file import UnreadableJournal
    from shared.adapters.storage_clients import blob_service
    from shared.adapters.storage_names import REPORTS_CONTAINER
    from shared.domain.reconciliation.journal import TooManyToApprove, UnknownJournalError, UnknownLineError
    from shared.domain.reconciliation.naming import run_path
    from shared.services.approve import ApprovalRefused, NothingToApprove, approve

    try:
        env, run_id = _env_and_run(req)
        body = read_json(req, 1024 * 1024)
        request = _approval_request(body, get_settings().max_lines_per_request)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    service = blob_service()
    container = service.get_container_client(REPORTS_CONTAINER)
    if isinstance(body, dict) and body.get("background") is True:
        return _queue_approval(service, env, run_id, request)
    destination = approval_destination(service, env)
    try:
        # only this environment's run; named journals (or those holding the named lines) are read by range
        # when the run has indexes
        with proposal_reader(container, run_path(env, run_id), request.journal_ids, request.line_ids) as proposed:
            if proposed is None:
                return error_response(404, "NotFound", f"run {run_id} in {env}: the run has no proposed journal")
            result = approve(destination, proposed, request)
    except (NothingToApprove, UnreadableJournal) as exc:
        return error_response(404, "NotFound", f"run {run_id}: {exc}")
    except TooManyToApprove as exc:
        return error_response(413, "TooManyLines", str(exc))
    except UnknownJournalError as exc:
        return error_response(400, "UnknownJournalIds", str(exc.args[0]))
    except UnknownLineError as exc:
        return error_response(400, "UnknownLineIds", str(exc.args[0]))
    except ApprovalRefused as exc:
        return error_response(400, "InvalidLines", str(exc), [p.model_dump() for p in exc.problems])
    except ApprovalBusy as exc:
        return error_response(409, "ApprovalInProgress", f"{exc}; try again")
    return model_response(ApprovalResult, result.as_dict())


def _queue_approval(service: BlobServiceClient, env: str, run_id: str, request: ApprovalRequest) -> func.HttpResponse:
    """202 with the job: its lines are moved by the `approve` queue worker, a part at a time."""
    from shared.adapters.approval_jobs import BlobApprovalJobs
    from shared.adapters.blob_reports import read_manifest
    from shared.adapters.storage_names import REPORTS_CONTAINER
    from shared.adapters.work_queues import WorkQueues
    from shared.domain.reconciliation.naming import run_path
    from shared.services.approve_background import queue_approval
    from shared.services.reconcile import JOURNAL

    if request.line_ids is not None:
        return error_response(400, "InvalidBody", "background approves all lines or whole journalIds, not lineIds")
    manifest = read_manifest(service.get_container_client(REPORTS_CONTAINER), run_path(env, run_id))
    if JOURNAL not in manifest.get("files", {}):
        return error_response(404, "NotFound", f"run {run_id} in {env}: the run has no proposed journal")
    job, _ = queue_approval(BlobApprovalJobs(service), WorkQueues(), env, run_id, request)
    return model_response(ApprovalJob, _job_answer(job), status=202)


def _job_answer(job: dict[str, object]) -> dict[str, object]:
    path = f"environment/{job['environmentId']}/reconciliation/{job['runId']}/approvals/{job['approvalId']}"
    return {**job, "statusUrl": path}


APPROVAL_ID = re.compile(r"bg-[0-9a-f]{24}")


@bp.route(route="environment/{environmentId}/reconciliation/{runId}/approvals", methods=["GET"])
def list_background_approvals(req: func.HttpRequest) -> func.HttpResponse:
    """The run's background approvals, newest first: the console shows one still running when reopened."""
    from functions.http_input import BadRequest
    from shared.adapters.approval_jobs import BlobApprovalJobs
    from shared.adapters.storage_clients import blob_service

    try:
        env, run_id = _env_and_run(req)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    jobs = BlobApprovalJobs(blob_service()).of_run(env, run_id)
    body = {"environmentId": env, "runId": run_id, "items": [_job_answer(job) for job in jobs]}
    return model_response(ApprovalJobs, body)


@bp.route(route="environment/{environmentId}/reconciliation/{runId}/approvals/{approvalId}", methods=["GET"])
def get_background_approval(req: func.HttpRequest) -> func.HttpResponse:
    """How far a background approval got: state, journals and lines done, posted, repeats, problems."""
    from functions.http_input import BadRequest
    from shared.adapters.approval_jobs import BlobApprovalJobs
    from shared.adapters.storage_clients import blob_service

    try:
        env, run_id = _env_and_run(req)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    approval_id = req.route_params.get("approvalId", "")
    if not APPROVAL_ID.fullmatch(approval_id):
        return error_response(400, "InvalidApprovalId", "approvalId is the id a background approval answered")
    job = BlobApprovalJobs(blob_service()).load(env, run_id, approval_id)
    if job is None:
        return error_response(404, "NotFound", f"no background approval {approval_id} of run {run_id} in {env}")
    return model_response(ApprovalJob, _job_answer(job))


def approval_destination(service: BlobServiceClient, environment_id: str) -> Destination:
    """Where an approval in the environment moves lines: checked against its own configuration, exactly as
    ingest checks lines, into its ledger, its ERP connector or the external system's outbox."""
    from functions.environment_config import config_of
    from shared.adapters.external_outbox import BlobExternalOutbox
    from shared.adapters.ledger_tables import LedgerStore
    from shared.services.approve import Destination

    config = config_of(environment_id)
    return Destination(
        LedgerStore(),
        environment_id,
        config.data_source_names(),
        config.measure_names(),
        erp_connector=erp_connector,
        external_outbox=BlobExternalOutbox(service),
    )


def erp_connector() -> ErpConnector:
    from shared.adapters.erp_connectors import connector_from_settings

    return connector_from_settings(get_settings())


def _approval_request(body: object, max_lines: int) -> ApprovalRequest:
    from functions.http_input import BadRequest
    from shared.domain.identifiers import KEY_TEXT
    from shared.services.approve import ApprovalRequest

    if not isinstance(body, dict):
        raise BadRequest(400, "InvalidBody", "the body must be a JSON object")
    unknown = set(body) - {
        "organizationId",
        "lineIds",
        "journalIds",
        "dataSource",
        "physicalMeasure",
        "journalNameId",
        "background",
    }
    if not isinstance(body.get("background", False), bool):
        raise BadRequest(400, "InvalidBody", "background must be true or false")
    if unknown:
        raise BadRequest(400, "InvalidBody", f"unknown fields: {sorted(unknown)}")
    texts = {k: body.get(k) for k in ("organizationId", "dataSource", "physicalMeasure", "journalNameId")}
    for name, value in texts.items():
        if value is not None and (not isinstance(value, str) or not KEY_TEXT.fullmatch(value)):
            raise BadRequest(400, "InvalidBody", f"{name} has characters that are not allowed")
    if not texts["organizationId"]:
        raise BadRequest(400, "InvalidBody", "organizationId is required (the ERP company, e.g. usmf)")
    line_ids = _id_list(body, "lineIds", "proposed line ids")
    journal_ids = _id_list(body, "journalIds", "journal ids of the proposal (e.g. the run id + -001)")
    if line_ids is not None and len(set(line_ids)) > max_lines:
        raise BadRequest(
            413,
            "TooManyLines",
            f"lineIds names {len(set(line_ids)):,} lines; one approval moves at most {max_lines:,} "
            "(INGEST_MAX_LINES): approve a part at a time",
        )
    return ApprovalRequest(
        organization_id=texts["organizationId"],
        data_source=texts["dataSource"] or "@iv",
        physical_measure=texts["physicalMeasure"] or "adjustment",
        journal_name_id=texts["journalNameId"],
        line_ids=None if line_ids is None else tuple(line_ids),
        journal_ids=None if journal_ids is None else tuple(journal_ids),
        max_lines=max_lines,
    )


def _id_list(body: dict[str, object], name: str, what: str) -> list[str] | None:
    """A list of ids from the body (at most 100,000; each id's characters as every key's)."""
    from functions.http_input import BadRequest
    from shared.domain.identifiers import KEY_TEXT

    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 100_000:
        raise BadRequest(400, "InvalidBody", f"{name} must be a list of {what}")
    if not all(isinstance(i, str) and KEY_TEXT.fullmatch(i) for i in value):
        raise BadRequest(400, "InvalidBody", f"{name} must be a list of {what}, each of allowed characters")
    return value
