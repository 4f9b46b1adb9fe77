"""Reading JSON request bodies at the edge: content type, size, strict numbers."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from shared.domain import strict_json
from shared.domain.identifiers import KEY_TEXT, InvalidIdentifier, check_environment_id

MAX_JSON_DEPTH = 20


class BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def read_json(req: func.HttpRequest, max_bytes: int) -> Any:
    """Parse a JSON body strictly (shared/domain/strict_json.py): Decimal numbers, no duplicate keys."""
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest(415, "UnsupportedMediaType", "send the body as application/json")
    declared = req.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BadRequest(413, "PayloadTooLarge", f"the body is larger than {max_bytes} bytes")
    body = req.get_body()
    if len(body) > max_bytes:
        raise BadRequest(413, "PayloadTooLarge", f"the body is larger than {max_bytes} bytes")
    try:
        value = strict_json.loads(body)
    except strict_json.InvalidJson as exc:
        details: list[dict[str, Any]] | None
        if exc.key:
            details = [{"field": exc.key, "message": exc.message}]
        else:
            position = syntax_error_position(body)
            details = [{**position, "message": exc.message}] if position else None
        raise BadRequest(400, "InvalidJson", f"the body is not accepted: {exc.message}", details) from None
    return value


def syntax_error_position(body: bytes) -> dict[str, int] | None:
    """Where a body stops being JSON, as `{"line", "column"}` (1-based), for a client to point at; None if it parses.

    Only called on a refused body, so parsing it once more with the plain decoder costs nothing on the happy path.
    """
    import json

    try:
        json.loads(body.decode("utf-8-sig"))
    except json.JSONDecodeError as exc:
        return {"line": exc.lineno, "column": exc.colno}
    except (UnicodeDecodeError, RecursionError, ValueError):
        return None
    return None


def environment_id(req: func.HttpRequest) -> str:
    try:
        return check_environment_id(req.route_params.get("environmentId", ""))
    except InvalidIdentifier as exc:
        raise BadRequest(400, "InvalidEnvironmentId", str(exc)) from None


def refuse_problems(problems: list[Any], code: str, outcome: str) -> None:
    """One bad item refuses the whole request: every problem, as `{index, field, message}`."""
    if problems:
        raise BadRequest(400, code, f"{len(problems)} problem(s); {outcome}", [p.model_dump() for p in problems[:1000]])


def environment_and_id(req: func.HttpRequest) -> tuple[str, str]:
    """The `{environmentId}` and `{id}` of a read-by-id route, both checked before they reach a key."""
    env = environment_id(req)
    item_id = req.route_params.get("id", "")
    if not KEY_TEXT.fullmatch(item_id):
        raise BadRequest(400, "InvalidId", "id has characters that are not allowed")
    return env, item_id


def query_filters(req: func.HttpRequest) -> dict[str, str]:
    """Query parameters that are filters: `code` carries the API key (functions/auth_guard.py), not a filter."""
    return {name: value for name, value in req.params.items() if name != "code"}
