"""Bulk adjustment ingest and the detailed-line read API."""

from __future__ import annotations

import azure.functions as func
from pydantic import ValidationError

from functions.environment_config import config_of, no_data_yet
from functions.http_input import (
    BadRequest,
    environment_and_id,
    environment_id,
    query_filters,
    read_json,
    refuse_problems,
)
from functions.http_responses import (
    error_response,
    method_not_allowed,
    model_response,
    outcomes_response,
    validation_error,
)
from shared.adapters.ledger_tables import InvalidContinuationToken, LedgerStore
from shared.config import get_settings
from shared.domain.adjustments import parse_lines
from shared.domain.api_models import DetailedLine, DetailedLinePage
from shared.services.ingest import ingest
from shared.services.queries import LineFilters, get_line, list_lines

bp = func.Blueprint()
BASE = "environment/{environmentId}/transaction/adjustment"


def _bad(exc: BadRequest) -> func.HttpResponse:
    return error_response(exc.status, exc.code, exc.message, exc.details)


def _flag(value: str | None) -> bool:
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise BadRequest(400, "InvalidQuery", "createWithIVSync must be true or false")
    return value.lower() == "true"


@bp.route(route=f"{BASE}/bulk", methods=["POST"])
def post_adjustments(req: func.HttpRequest) -> func.HttpResponse:
    settings = get_settings()
    try:
        env = environment_id(req)
        sync_all = _flag(req.params.get("createWithIVSync"))
        body = read_json(req, settings.max_body_bytes)
        if not isinstance(body, list):
            raise BadRequest(400, "InvalidBody", "the body must be a JSON array of adjustment lines")
        if not body:
            raise BadRequest(400, "InvalidBody", "the body has no lines")
        if len(body) > settings.max_lines_per_request:
            raise BadRequest(413, "TooManyLines", f"at most {settings.max_lines_per_request} lines per request")
        config = config_of(env)
        lines, problems = parse_lines(
            body, allowed_sources=config.data_source_names(), allowed_measures=config.measure_names(), sync_all=sync_all
        )
        refuse_problems(problems, "InvalidLines", "nothing was stored")
    except BadRequest as exc:
        return _bad(exc)
    from shared.adapters.work_queues import WorkQueues

    outcomes = ingest(LedgerStore(), env, lines, queues=WorkQueues())
    return outcomes_response("lines", outcomes)


@bp.route(route=f"{BASE}/bulk", methods=["GET"])
def get_adjustments_bulk(req: func.HttpRequest) -> func.HttpResponse:
    """`bulk` is not a line id: without this route a GET would reach `{id}` and answer 404 for a line 'bulk'."""
    return method_not_allowed(["POST"])


@bp.route(route=BASE, methods=["GET"])
def list_adjustments(req: func.HttpRequest) -> func.HttpResponse:
    try:
        env = environment_id(req)
        filters = LineFilters.model_validate(query_filters(req))
    except BadRequest as exc:
        return _bad(exc)
    except ValidationError as exc:
        return validation_error(exc, "invalid query parameters")
    try:
        page = list_lines(LedgerStore(), env, filters)
    except InvalidContinuationToken as exc:
        return error_response(400, "InvalidContinuationToken", str(exc))
    notice = None if page["items"] or filters.continuationToken else no_data_yet(env)
    return model_response(DetailedLinePage, {**page, "notice": notice} if notice else page)


@bp.route(route=f"{BASE}/{{id}}", methods=["GET"])
def get_adjustment(req: func.HttpRequest) -> func.HttpResponse:
    try:
        env, line_id = environment_and_id(req)
    except BadRequest as exc:
        return _bad(exc)
    view = get_line(LedgerStore(), env, line_id)
    if view is None:
        why = no_data_yet(env) or "this environment has no line with that id"
        return error_response(404, "NotFound", f"no adjustment line {line_id!r}: {why}")
    return model_response(DetailedLine, view)
