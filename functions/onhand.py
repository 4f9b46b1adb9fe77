"""On-hand change events, counting results, and the index and exact queries, in Inventory Visibility's shape."""

from __future__ import annotations

from typing import Any

import azure.functions as func
from pydantic import ValidationError

from functions.environment_config import config_of, no_data_yet
from functions.http_input import BadRequest, environment_id, read_json, refuse_problems
from functions.http_responses import (
    busy_response,
    error_response,
    model_response,
    outcomes_response,
    validation_error,
)
from shared.adapters.ledger_tables import LedgerStore
from shared.config import get_settings
from shared.domain.api_models import ItemOutcome, OnHandRow
from shared.domain.onhand_events import Mode, parse_events
from shared.services.cache_changes import TooMuchContention
from shared.services.onhand_events import post_events
from shared.services.queries import IndexQuery, index_query, parse_exact_query

bp = func.Blueprint()
BASE = "environment/{environmentId}"
MAX_QUERY_BYTES = 64 * 1024


def _bad(exc: BadRequest) -> func.HttpResponse:
    return error_response(exc.status, exc.code, exc.message, exc.details)


def _apply(req: func.HttpRequest, *, bulk: bool, mode: Mode, set_source: str | None = None) -> func.HttpResponse:
    settings = get_settings()
    try:
        env = environment_id(req)
        body = read_json(req, settings.max_body_bytes)
        if bulk and not isinstance(body, list):
            raise BadRequest(400, "InvalidBody", "the body must be a JSON array of on-hand events")
        if not bulk and not isinstance(body, dict):
            raise BadRequest(400, "InvalidBody", "the body must be one on-hand event (a JSON object)")
        events_raw: list[Any] = body if bulk else [body]
        if not events_raw:
            raise BadRequest(400, "InvalidBody", "the body has no events")
        if len(events_raw) > settings.onhand_max_events:
            raise BadRequest(413, "TooManyEvents", f"at most {settings.onhand_max_events} events per request")
        config = config_of(env)
        if set_source is not None and config.source(set_source) is None:
            raise BadRequest(404, "UnknownDataSource", f"{set_source[:40]!r} is not a configured data source")
        events, problems = parse_events(events_raw, config, mode, set_source)
        refuse_problems(problems, "InvalidEvents", "nothing was applied")
    except BadRequest as exc:
        return _bad(exc)
    store = LedgerStore()
    try:
        outcomes = post_events(store, env, events)
    except TooMuchContention:
        return busy_response("event")
    if config.targets:
        _queue_levels(store, env, config, events)
    if not bulk:
        return model_response(ItemOutcome, outcomes[0].as_dict(), 409 if outcomes[0].outcome == "conflict" else 200)
    return outcomes_response("events", outcomes)


def _queue_levels(store: LedgerStore, env: str, config: Any, events: list[Any]) -> None:
    """Products whose ERP levels may have changed get level work (compared with each target's last send)."""
    from datetime import UTC, datetime

    from shared.adapters.work_queues import WorkQueues
    from shared.services.level_sync import level_partitions, queue_level_work

    changes = [(e.organization_id, e.product_id, e.quantities) for e in events]
    queue_level_work(store, WorkQueues(), level_partitions(env, config, changes), datetime.now(UTC))


@bp.route(route=f"{BASE}/onhand", methods=["POST"])
def post_onhand(req: func.HttpRequest) -> func.HttpResponse:
    return _apply(req, bulk=False, mode="add")


@bp.route(route=f"{BASE}/onhand/bulk", methods=["POST"])
def post_onhand_bulk(req: func.HttpRequest) -> func.HttpResponse:
    return _apply(req, bulk=True, mode="add")


@bp.route(route=f"{BASE}/setonhand/{{dataSource}}/bulk", methods=["POST"])
def set_onhand_bulk(req: func.HttpRequest) -> func.HttpResponse:
    return _apply(req, bulk=True, mode="set", set_source=req.route_params.get("dataSource", ""))


@bp.route(route=f"{BASE}/onhand/indexquery", methods=["POST"])
def onhand_index_query(req: func.HttpRequest) -> func.HttpResponse:
    try:
        env = environment_id(req)
        query = IndexQuery.model_validate(read_json(req, MAX_QUERY_BYTES))
    except BadRequest as exc:
        return _bad(exc)
    except ValidationError as exc:
        return validation_error(exc, "invalid index query")
    try:
        rows = index_query(LedgerStore(), env, query, config_of(env))
    except ValueError as exc:
        return error_response(400, "InvalidQuery", str(exc))
    return _rows_or_no_data(env, rows)


@bp.route(route=f"{BASE}/onhand/exactquery", methods=["POST"])
def onhand_exact_query(req: func.HttpRequest) -> func.HttpResponse:
    try:
        env = environment_id(req)
        query, exact = parse_exact_query(read_json(req, MAX_QUERY_BYTES))
    except BadRequest as exc:
        return _bad(exc)
    except ValidationError as exc:
        return validation_error(exc, "invalid exact query")
    except ValueError as exc:
        return error_response(400, "InvalidQuery", str(exc))
    try:
        rows = index_query(LedgerStore(), env, query, config_of(env), exact)
    except ValueError as exc:
        return error_response(400, "InvalidQuery", str(exc))
    return _rows_or_no_data(env, rows)


NOTICE_HEADER = "Omnisync-Notice"


def _rows_or_no_data(env: str, rows: list[dict[str, Any]]) -> func.HttpResponse:
    """IV's bare array of rows, `[]` when nothing matches (as IV answers, so IV clients keep working); for an
    environment nothing was ever posted to, the `Omnisync-Notice` header says so (the array has no room for it)."""
    notice = None if rows else no_data_yet(env)
    return model_response(list[OnHandRow], rows, headers={NOTICE_HEADER: notice} if notice else None)
