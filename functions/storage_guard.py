"""Every HTTP function answers 503 + `Retry-After` with a JSON body when storage does not answer.

Applied to each HTTP-triggered function when the blueprints are collected (functions/__init__.py), so
no route can forget it and no route answers an empty 500 during an outage. Only "storage did not
answer" is turned into a 503: a refused connection, a broken response, or a 5xx from the service.
Any other exception is a bug and still fails loudly.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.functions.decorators.http import HttpTrigger

from functions.http_responses import storage_unavailable_response

log = logging.getLogger(__name__)


def storage_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    return isinstance(exc, HttpResponseError) and (exc.status_code or 0) >= 500


def guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(function, "_storage_guarded", False) or inspect.iscoroutinefunction(function):
        return function

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            if not storage_unavailable(exc):
                raise
            log.warning("%s: storage did not answer (%s); answered 503", function.__name__, type(exc).__name__)
            return storage_unavailable_response()

    wrapper.__dict__["_storage_guarded"] = True  # a marker read back with getattr (no declared attribute)
    return wrapper


def guard_http_functions(blueprints: list[func.Blueprint]) -> None:
    """Wrap the user function of every HTTP trigger (the same object the host and the runner invoke).

    A route that did not declare an auth level itself (the app default) also gets the caller check of
    functions/auth_guard.py; routes that declare ANONYMOUS are public by choice.
    """
    from functions.auth_guard import authorized

    for blueprint in blueprints:
        for builder in blueprint._function_builders:
            function = builder._function
            trigger = function.get_trigger()
            if isinstance(trigger, HttpTrigger):
                wrapped = guarded(function._func)
                if getattr(trigger, "auth_level", None) is None:
                    wrapped = authorized(wrapped)
                function._func = wrapped
