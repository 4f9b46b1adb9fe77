"""JSON responses shared by the HTTP functions, so every error has the same shape.

Every error body is `{"error": {"code": "PascalCase", "message": "...", "details": [...]?}}`; the local runner
answers 401, 404, 405, 413 and 500 in the same shape (devtools/localrunner/http_host.py).
"""

from __future__ import annotations

import functools
from typing import Any

import azure.functions as func
import simplejson
from pydantic import BaseModel, TypeAdapter

from shared.domain import api_models
from shared.domain.api_models import ErrorBody
from shared.domain.plain_errors import plain_problems


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(body: Any) -> str:
    """JSON text where a Decimal is a number written from its own digits (`use_decimal`), never via a float."""
    return simplejson.dumps(body, default=_default, ensure_ascii=False, use_decimal=True, allow_nan=False)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    # A lone surrogate (`"\ud800"` in a refused value) cannot be UTF-8: written back as its JSON escape.
    text = to_json(body)
    return func.HttpResponse(
        text.encode("utf-8", "backslashreplace"),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
        headers=headers,
    )


@functools.cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


def model_response(
    shape: Any, body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    """An answer checked against its documented model (shared/domain/api_models.py); quantities become numbers.

    `exclude_unset` keeps the answer's own shape (a field the service left out stays out, not `null`).
    """
    adapter = _adapter(shape)
    checked = adapter.dump_python(adapter.validate_python(body), mode="python", exclude_unset=True)
    return json_response(checked, status, headers)


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> func.HttpResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return model_response(ErrorBody, body, status)


def method_not_allowed(allowed: list[str]) -> func.HttpResponse:
    """405 in the common error shape, with `Allow` (for a path another route would otherwise claim)."""
    response = error_response(405, "MethodNotAllowed", f"this route answers {', '.join(allowed)} only")
    response.headers["Allow"] = ", ".join(allowed)
    return response


def validation_error(exc: Any, message: str) -> func.HttpResponse:
    """A pydantic ValidationError as a 400 listing each field and what is wrong with it."""
    details = plain_problems(exc.errors(include_url=False), "query")
    return error_response(400, "InvalidQuery", message, details)


def outcomes_response(key: str, outcomes: list[Any]) -> func.HttpResponse:
    """A bulk answer: one outcome per item under `key`, a summary, and 207 when any item conflicted."""
    summary = {k: sum(1 for o in outcomes if o.outcome == k) for k in ("created", "duplicate", "conflict")}
    return model_response(
        _OUTCOMES[key], {key: [o.as_dict() for o in outcomes], "summary": summary}, 207 if summary["conflict"] else 200
    )


_OUTCOMES: dict[str, type[BaseModel]] = {
    "lines": api_models.LineOutcomes,
    "events": api_models.EventOutcomes,
    "transactions": api_models.TransactionOutcomes,
}


def busy_response(what: str) -> func.HttpResponse:
    """A partition kept changing under us: part may be applied, and resending the same request is safe."""
    return error_response(
        503,
        "TooMuchContention",
        f"storage was too busy to apply every {what}; resend the same request — what was "
        "applied comes back as duplicate and is not applied twice",
    )


STORAGE_RETRY_AFTER_S = 30
"""Seconds a client is asked to wait when storage does not answer (the `Retry-After` of a 503)."""


def storage_unavailable_response() -> func.HttpResponse:
    """Storage did not answer: 503, `Retry-After`, and a body that names no host, account or SDK class."""
    response = error_response(
        503,
        "StorageUnavailable",
        "storage is not answering; try again later. Resending the same request is safe: "
        "lines and events already stored come back as duplicate and are not applied twice",
    )
    response.headers["Retry-After"] = str(STORAGE_RETRY_AFTER_S)
    return response
