"""An environment's inventory configuration: read it, replace it, go back to the default."""

from __future__ import annotations

import azure.functions as func

from functions.environment_config import DEFAULT_NOTICE, config_and_default
from functions.http_input import BadRequest, environment_id, read_json
from functions.http_responses import error_response, model_response
from shared.adapters.config_store import ConfigStore
from shared.domain.api_models import ConfigurationView
from shared.services.inventory_config import InvalidConfig, replace_config

bp = func.Blueprint()
ROUTE = "environment/{environmentId}/configuration"
MAX_CONFIG_BYTES = 64 * 1024


@bp.route(route=ROUTE, methods=["GET"])
def get_configuration(req: func.HttpRequest) -> func.HttpResponse:
    try:
        env = environment_id(req)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    config, is_default = config_and_default(env)
    view = {"isDefault": is_default, "configuration": config.model_dump(mode="json")}
    return model_response(ConfigurationView, {**view, "notice": DEFAULT_NOTICE} if is_default else view)


@bp.route(route=ROUTE, methods=["PUT"])
def put_configuration(req: func.HttpRequest) -> func.HttpResponse:
    try:
        env = environment_id(req)
        config = replace_config(ConfigStore(), env, read_json(req, MAX_CONFIG_BYTES))
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)
    except InvalidConfig as exc:
        return error_response(
            400, "InvalidConfiguration", "the configuration was refused; nothing changed", exc.problems
        )
    return model_response(ConfigurationView, {"isDefault": False, "configuration": config.model_dump(mode="json")})


@bp.route(route=ROUTE, methods=["DELETE"])
def reset_configuration(req: func.HttpRequest) -> func.HttpResponse:
    try:
        env = environment_id(req)
    except BadRequest as exc:
        return error_response(exc.status, exc.code, exc.message)
    ConfigStore().delete(env)
    return func.HttpResponse(status_code=204)
