"""On-hand index query in Inventory Visibility's shape."""

from __future__ import annotations

import azure.functions as func
from pydantic import ValidationError

from functions.http_input import BadRequest, environment_id, read_json
from functions.http_responses import error_response, json_response, validation_error
from shared.adapters.ledger_tables import LedgerStore
from shared.services.queries import IndexQuery, index_query

bp = func.Blueprint()
MAX_QUERY_BYTES = 64 * 1024


@bp.route(route="environment/{environmentId}/onhand/indexquery", methods=["POST"])
def onhand_index_query(req: func.HttpRequest) -> func.HttpResponse:
    try:
        env = environment_id(req)
        query = IndexQuery.model_validate(read_json(req, MAX_QUERY_BYTES))
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)
    except ValidationError as exc:
        return validation_error(exc, "invalid index query")
    return json_response(index_query(LedgerStore(), env, query))
