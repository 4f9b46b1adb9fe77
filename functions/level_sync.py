"""Level sync to target systems: queue triggers `level_sync` and `level_send`, the `level_sweep` timer,
and the read API per target (what was sent, what is pending, what failed)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions.http_input import BadRequest, environment_id, query_filters
from functions.http_responses import error_response, json_response, validation_error
from shared.config import STORAGE_CONNECTION, get_settings

bp = func.Blueprint()
log = logging.getLogger(__name__)
BASE = "environment/{environmentId}/levels"


def _connector(environment_id: str, target: Any) -> Any:
    from shared.adapters.level_connectors import connector_for
    from shared.adapters.storage_clients import blob_service

    return connector_for(target, blob_service)


def _run(name: str, msg: func.QueueMessage, work: Any) -> None:
    from functions.partition_work import _run as run_message

    run_message(name, msg, work)


@bp.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE_PREFIX%-level", connection=STORAGE_CONNECTION)
def level_sync(msg: func.QueueMessage) -> None:
    """One product: compare its ERP levels with what each target was sent, commit the deltas."""
    from functions.environment_config import config_of
    from shared.adapters.level_tables import LevelStore
    from shared.adapters.work_queues import WorkQueues
    from shared.services.level_sync import on_level_message

    _run(
        "level",
        msg,
        lambda body: on_level_message(
            LevelStore(), WorkQueues(), body, config_of, send_delay_s=get_settings().level_send_delay_s
        ),
    )


@bp.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE_PREFIX%-levelsend", connection=STORAGE_CONNECTION)
def level_send(msg: func.QueueMessage) -> None:
    """One target: its open delta batches as files (or HTTPS posts), under the target's lease."""
    from functions.environment_config import config_of
    from shared.adapters.level_tables import LevelStore
    from shared.adapters.work_queues import WorkQueues
    from shared.domain.identifiers import check_environment_id
    from shared.services.level_sync import RETRY_DELAY_S, schedule_level_send, send_target

    def work(body: dict[str, Any]) -> None:
        env = check_environment_id(str(body.get("environment")))
        target = config_of(env).target(str(body.get("target")))
        if target is None:
            raise ValueError(f"environment {env} has no target {str(body.get('target'))[:40]!r}")
        store = LevelStore()
        report = send_target(store, _connector(env, target), env, target.name, max_lines=get_settings().level_max_lines)
        if report.waiting or report.failed:
            # another holder (soon), or a failed file's retry time (the level_sweep timer also comes back to it)
            delay = RETRY_DELAY_S if report.waiting and report.retry_at is None else 60
            if report.retry_at is not None:
                delay = max(RETRY_DELAY_S, min(600, int((report.retry_at - datetime.now(UTC)).total_seconds())))
            schedule_level_send(store, WorkQueues(), env, target.name, delay)

    _run("levelsend", msg, work)


@bp.timer_trigger(schedule="%LEVEL_SYNC_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def level_sweep(timer: func.TimerRequest) -> None:
    """Safety sweep: products whose level message was lost, and every target with open batches."""
    from functions.environment_config import config_of
    from shared.adapters.level_tables import LevelStore
    from shared.services.level_sync import sweep_levels

    settings = get_settings()
    sweep_levels(
        LevelStore(),
        config_of,
        _connector,
        budget_s=settings.sweep_budget_s,
        min_age_s=settings.sweep_min_age_s,
        max_lines=settings.level_max_lines,
    )


@bp.blob_trigger(
    arg_name="blob", path="level-snapshots/{name}", connection=STORAGE_CONNECTION, source=func.BlobSource.EVENT_GRID
)
def level_snapshot(blob: func.InputStream) -> None:
    """An ERP level snapshot file: its rows land in the cache once, as counting results, then level work."""
    from functions.environment_config import config_of
    from shared.adapters.ledger_tables import LedgerStore
    from shared.adapters.work_queues import WorkQueues
    from shared.services.level_snapshots import SnapshotRefused, apply_level_snapshot

    try:
        report = apply_level_snapshot(LedgerStore(), WorkQueues(), blob.name or "", blob.read(), config_of)
    except SnapshotRefused as exc:
        log.error("level snapshot refused, nothing applied: %s", exc)
        return
    log.info("level snapshot %s: %d rows, %d applied now", blob.name, report.rows, report.applied)


# ---- read API ---------------------------------------------------------------------------------------------------
class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pageSize: int = Field(100, ge=1, le=1000)
    continuationToken: str | None = Field(None, max_length=2000)


def _target(req: func.HttpRequest) -> tuple[str, str, PageQuery]:
    from functions.environment_config import config_of

    env = environment_id(req)
    name = req.route_params.get("target", "")
    if config_of(env).target(name) is None:
        raise BadRequest(404, "NotFound", f"environment {env} has no level target {name[:40]!r}")
    try:
        query = PageQuery.model_validate(query_filters(req))
    except ValidationError as exc:
        raise _Invalid(exc) from None
    return env, name, query


class _Invalid(Exception):
    def __init__(self, exc: ValidationError) -> None:
        self.exc = exc


def _page(req: func.HttpRequest, rows: str, extra: str, view: Any) -> func.HttpResponse:
    from shared.adapters.ledger_tables import InvalidContinuationToken
    from shared.adapters.level_tables import LevelStore

    try:
        env, name, query = _target(req)
        items, token = LevelStore().query_target(env, name, rows, query.pageSize, query.continuationToken, extra)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    except _Invalid as exc:
        return validation_error(exc.exc, "invalid query parameters")
    except InvalidContinuationToken as exc:
        return error_response(400, "InvalidContinuationToken", str(exc))
    return json_response({"items": [view(e) for e in items], "continuationToken": token})


def _sent_view(entity: dict[str, Any]) -> dict[str, Any]:
    return {
        "organizationId": entity.get("OrganizationId"),
        "productId": entity.get("ProductId"),
        "levels": json.loads(entity.get("Levels") or "{}"),
        "sequence": entity.get("Seq"),
        "fileId": entity.get("FileId"),
        "sentAt": entity.get("SentAt"),
    }


def _batch_view(entity: dict[str, Any]) -> dict[str, Any]:
    return {
        "organizationId": entity.get("OrganizationId"),
        "productId": entity.get("ProductId"),
        "sequence": entity.get("Seq"),
        "status": "sending" if entity.get("FileId") else "pending",
        "fileId": entity.get("FileId"),
        "attempts": entity.get("Attempts", 0),
        "lastError": entity.get("LastError"),
        "nextAttemptAt": entity.get("NextAttemptAt"),
        "createdAt": entity.get("CreatedAt"),
        "lines": json.loads(entity.get("Lines") or "[]"),
    }


@bp.route(route=BASE, methods=["GET"])
def list_level_targets(req: func.HttpRequest) -> func.HttpResponse:
    """The environment's targets: connector type, filters, and which warehouses are target-mastered."""
    from functions.environment_config import config_of

    try:
        env = environment_id(req)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    targets = [
        {
            "name": t.name,
            "connector": t.connector.type,
            "dataSource": t.dataSource,
            "measures": list(t.measures),
            "products": list(t.products),
            "warehouses": list(t.warehouses),
            "warehouseMapping": {k: list(v) for k, v in t.warehouseMapping.items()},
            "targetMastered": {k: list(v) for k, v in t.target_mastered().items()},
        }
        for t in config_of(env).targets
    ]
    return json_response({"items": targets})


@bp.route(route=BASE + "/{target}/sent", methods=["GET"])
def level_sent(req: func.HttpRequest) -> func.HttpResponse:
    """Per product: the levels each target warehouse was last sent (confirmed by the connector)."""
    return _page(req, "sent", "", _sent_view)


@bp.route(route=BASE + "/{target}/pending", methods=["GET"])
def level_pending(req: func.HttpRequest) -> func.HttpResponse:
    """Delta batches not yet confirmed: waiting for a send, or in a file being sent."""
    return _page(req, "open", "", _batch_view)


@bp.route(route=BASE + "/{target}/failures", methods=["GET"])
def level_failures(req: func.HttpRequest) -> func.HttpResponse:
    """Batches whose file the target refused or did not answer for: attempts, last error, next retry."""
    return _page(req, "open", "failed", _batch_view)
