"""ERP transactions made outside omnisync (a sales order re-created from a POS sale): offset once."""

from __future__ import annotations

import azure.functions as func

from functions.environment_config import config_of, no_data_yet
from functions.http_input import BadRequest, environment_and_id, environment_id, read_json, refuse_problems
from functions.http_responses import busy_response, error_response, model_response, outcomes_response
from shared.adapters.ledger_tables import LedgerStore
from shared.config import get_settings
from shared.domain.api_models import ErpTransactionView
from shared.domain.offsets import parse_transactions
from shared.services.cache_changes import TooMuchContention
from shared.services.offsets import post_transactions, transaction_view

bp = func.Blueprint()


@bp.route(route="environment/{environmentId}/erptransactions/bulk", methods=["POST"])
def post_erp_transactions(req: func.HttpRequest) -> func.HttpResponse:
    settings = get_settings()
    try:
        env = environment_id(req)
        body = read_json(req, settings.max_body_bytes)
        if not isinstance(body, list) or not body:
            raise BadRequest(400, "InvalidBody", "the body must be a non-empty JSON array of transactions")
        if len(body) > settings.onhand_max_events:
            raise BadRequest(413, "TooManyTransactions", f"at most {settings.onhand_max_events} per request")
        transactions, problems = parse_transactions(body, config_of(env))
        refuse_problems(problems, "InvalidTransactions", "nothing was applied")
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)
    try:
        outcomes = post_transactions(LedgerStore(), env, transactions)
    except TooMuchContention:
        return busy_response("transaction")
    return outcomes_response("transactions", outcomes)


@bp.route(route="environment/{environmentId}/erptransactions/{id}", methods=["GET"])
def get_erp_transaction(req: func.HttpRequest) -> func.HttpResponse:
    try:
        env, transaction_id = environment_and_id(req)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    view = transaction_view(LedgerStore(), env, transaction_id)
    if view is None:
        why = no_data_yet(env) or "this environment has no ERP transaction with that id"
        return error_response(404, "NotFound", f"no ERP transaction {transaction_id!r}: {why}")
    return model_response(ErpTransactionView, view)
