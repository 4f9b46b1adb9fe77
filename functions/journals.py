"""Timer `send_journals` (the safety sweep of sending), ERP result files, and the aggregated-line API."""

from __future__ import annotations

import logging

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions.http_input import BadRequest, environment_and_id, environment_id, query_filters
from functions.http_responses import error_response, model_response, validation_error
from shared.adapters.journal_records import JournalRecords
from shared.adapters.ledger_tables import InvalidContinuationToken, LedgerStore
from shared.adapters.storage_names import INBOX_CONTAINER
from shared.config import STORAGE_CONNECTION, get_settings
from shared.domain.api_models import AggregatedLine, AggregatedLinePage, RetryAccepted

bp = func.Blueprint()
log = logging.getLogger(__name__)
BASE = "environment/{environmentId}/transaction/aggregated"


@bp.timer_trigger(schedule="%SEND_JOURNALS_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def send_journals(timer: func.TimerRequest) -> None:
    from shared.adapters.erp_connectors import connector_from_settings
    from shared.services.send_journals import send_pending

    settings = get_settings()
    store = LedgerStore()
    send_pending(
        store,
        JournalRecords(),
        connector_from_settings(settings),
        max_lines=settings.journal_max_lines,
        max_attempts=settings.send_max_attempts,
    )
    _offset(store)


def _offset(store: LedgerStore) -> None:
    """Offsets of lines the ERP's answer just moved to their trigger status (the sync timer sweeps up)."""
    from functions.environment_config import config_of
    from shared.services.offsets import offset_pending

    offset_pending(store, config_of)


@bp.blob_trigger(
    arg_name="blob",
    path=f"{INBOX_CONTAINER}/{{name}}",
    connection=STORAGE_CONNECTION,
    source=func.BlobSource.EVENT_GRID,
)
def journal_results(blob: func.InputStream) -> None:
    from shared.services.journal_results import ResultRejected, apply_result_file

    store = LedgerStore()
    try:
        from functions.environment_config import config_of

        changed = apply_result_file(
            store, JournalRecords(), blob.name or "", blob.read(), get_settings().send_max_attempts, config_of
        )
        log.info("result file %s applied to %d aggregated lines", blob.name, changed)
        _offset(store)
    except ResultRejected as exc:
        log.error("result file %s refused: %s", blob.name, exc)


class AggregatedFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str | None = Field(None, pattern=r"^[A-Za-z]{1,20}$")
    productId: str | None = Field(None, max_length=100)
    journalId: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,60}$")
    pageSize: int = Field(100, ge=1, le=1000)
    continuationToken: str | None = Field(None, max_length=2000)


def _view(entity: dict) -> dict:
    import json

    return {
        "id": entity["AggregatedId"],
        "organizationId": entity["OrganizationId"],
        "productId": entity["ProductId"],
        "key": json.loads(entity["ErpKey"]),
        "quantity": entity["Quantity"],
        "status": entity["Status"],
        "journalId": entity.get("JournalId"),
        "erpJournalNumber": entity.get("ErpJournalNumber"),
        "erpLineNumber": entity.get("ErpLineNumber"),
        "message": entity.get("Message"),
        "attempts": entity.get("Attempts", 0),
        "offset": entity.get("Offset"),
        "offsetTarget": entity.get("OffsetTarget"),
        "waitingForPerson": bool(entity.get("WaitingForPerson")),
        "detailedLineIds": json.loads(entity.get("DetailedLineIds") or "[]"),
        "lateAnswers": json.loads(entity.get("LateAnswers") or "[]"),
    }


@bp.route(route=BASE, methods=["GET"])
def list_aggregated(req: func.HttpRequest) -> func.HttpResponse:
    try:
        env = environment_id(req)
        filters = AggregatedFilters.model_validate(query_filters(req))
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    except ValidationError as exc:
        return validation_error(exc, "invalid query parameters")
    try:
        items, token = LedgerStore().query_aggregated(
            env, filters.model_dump(), filters.pageSize, filters.continuationToken
        )
    except InvalidContinuationToken as exc:
        return error_response(400, "InvalidContinuationToken", str(exc))
    page = {"items": [_view(e) for e in items], "continuationToken": token}
    if not items and not filters.continuationToken:
        from functions.environment_config import no_data_yet

        notice = no_data_yet(env)
        if notice:
            page["notice"] = notice
    return model_response(AggregatedLinePage, page)


def _aggregated_or_error(req: func.HttpRequest) -> tuple[LedgerStore, str, dict] | func.HttpResponse:
    try:
        env, aggregated_id = environment_and_id(req)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    store = LedgerStore()
    entity = store.find_aggregated(env, aggregated_id)
    if entity is None:
        from functions.environment_config import no_data_yet

        why = no_data_yet(env) or "this environment has no aggregated line with that id"
        return error_response(404, "NotFound", f"no aggregated line {aggregated_id!r}: {why}")
    return store, env, entity


@bp.route(route=f"{BASE}/{{id}}", methods=["GET"])
def get_aggregated(req: func.HttpRequest) -> func.HttpResponse:
    found = _aggregated_or_error(req)
    if isinstance(found, func.HttpResponse):
        return found
    return model_response(AggregatedLine, _view(found[2]))


@bp.route(route=f"{BASE}/{{id}}/retry", methods=["POST"])
def retry_aggregated(req: func.HttpRequest) -> func.HttpResponse:
    """A person sends a line the ERP did not create again: attempts start over, the next send run picks it up.

    Never a line the ERP has created or posted (FnOCreated, FnOPostError, FnOPosted): that would book it twice.
    """
    from shared.domain.status_machine import may_resend

    found = _aggregated_or_error(req)
    if isinstance(found, func.HttpResponse):
        return found
    store, env, entity = found
    verdict = may_resend(entity["Status"])
    if not verdict.apply:
        return error_response(409, "NotResendable", verdict.reason)
    from datetime import UTC, datetime

    from shared.adapters.ledger_tables import SEND_WORK

    store.update_aggregated(
        [
            {
                "PartitionKey": entity["PartitionKey"],
                "RowKey": entity["RowKey"],
                "Status": "Created",
                "Attempts": 0,
                "Retries": entity.get("Retries", 0) + 1,
                "NextAttemptAt": None,
                "WaitingForPerson": False,
            }
        ]
    )
    store.touch_pending([entity["PartitionKey"]], datetime.now(UTC), SEND_WORK)
    from shared.adapters.work_queues import WorkQueues
    from shared.services.send_journals import schedule_send

    schedule_send(store, WorkQueues(), env, get_settings().send_delay_s)  # the send sweep would too, later
    return model_response(RetryAccepted, {"id": entity["AggregatedId"], "status": "Created"}, 202)
