"""Every keyed route accepts an API key or a Microsoft Entra ID bearer token, and only for granted environments.

Routes are anonymous at the Functions host (function_app.py): the host cannot accept "a key or a token" on
one route, so the app checks the caller itself, once, here. A route opts out only by declaring
`auth_level=ANONYMOUS` itself (health, the API reference, the console's static files); every other HTTP
function is wrapped when the blueprints are collected, so a new route cannot forget the check.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func

from functions.http_responses import error_response
from shared.adapters.entra_tokens import InvalidToken, validate
from shared.config import get_settings
from shared.domain.access import Grant, find_key, grant_of_token

log = logging.getLogger(__name__)

KEY_HEADER = "x-functions-key"


def _unauthorized(message: str, bearer_error: str | None = None) -> func.HttpResponse:
    response = error_response(401, "Unauthorized", message)
    challenge = "Bearer" if bearer_error is None else f'Bearer error="{bearer_error}"'
    response.headers["WWW-Authenticate"] = challenge
    return response


def _grant_of(req: func.HttpRequest) -> Grant | func.HttpResponse:
    settings = get_settings()
    authorization = req.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        entra = settings.entra()
        if entra is None:
            return _unauthorized("this deployment does not accept Entra ID tokens; use an API key", "invalid_token")
        try:
            claims = validate(authorization[7:].strip(), entra)
        except InvalidToken as exc:
            return _unauthorized(str(exc), "invalid_token")
        return grant_of_token(claims, settings.role_grants())
    presented = req.headers.get(KEY_HEADER) or req.params.get("code")
    if not presented:
        return _unauthorized(f"send an API key ({KEY_HEADER} header or ?code=) or an Entra ID bearer token")
    key = find_key(settings.key_list(), presented)
    if key is None:
        return _unauthorized("the API key is not valid")
    return key.grant


def authorized(function: Callable[..., Any]) -> Callable[..., Any]:
    """The route runs only for a caller granted the environment in its path (`{environmentId}`)."""
    if getattr(function, "_authorized", False):
        return function

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        req = next((value for value in (*args, *kwargs.values()) if isinstance(value, func.HttpRequest)), None)
        if req is None:  # not an HTTP call: nothing to check against
            return function(*args, **kwargs)
        grant = _grant_of(req)
        if isinstance(grant, func.HttpResponse):
            log.info("%s: refused a caller (401)", function.__name__)
            return grant
        environment = req.route_params.get("environmentId")
        if not grant.allows(environment):
            log.info("%s: %s is not granted environment %r (403)", function.__name__, grant.who, environment)
            return error_response(403, "Forbidden", f"this caller is not granted environment {environment!r}")
        return function(*args, **kwargs)

    wrapper.__dict__["_authorized"] = True  # a marker read back with getattr (no declared attribute)
    return wrapper
