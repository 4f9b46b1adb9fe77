"""pydantic's validation errors in plain words for API clients and the people behind them.

pydantic's own messages name its internals ("Tuple should have at least 1 item after validation", "Input should
be a valid dictionary or instance of DataSource"); a finance or operations user, or a client developer, needs to
read what to change. The error *type* is stable across pydantic versions, so the wording is chosen by type; an
unknown type keeps pydantic's message. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_BY_TYPE: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda c: "is required",
    "extra_forbidden": lambda c: "is not a known field (check the spelling)",
    "too_short": lambda c: f"needs at least {c.get('min_length')} item(s)",
    "too_long": lambda c: f"may have at most {c.get('max_length')} item(s)",
    "string_too_short": lambda c: f"must have at least {c.get('min_length')} character(s)",
    "string_too_long": lambda c: f"may have at most {c.get('max_length')} characters",
    "string_pattern_mismatch": lambda c: "has characters or a form that are not allowed",
    "literal_error": lambda c: f"must be one of {c.get('expected')}",
    "enum": lambda c: f"must be one of {c.get('expected')}",
    "string_type": lambda c: "must be text",
    "int_type": lambda c: "must be a whole number",
    "int_parsing": lambda c: "must be a whole number",
    "int_from_float": lambda c: "must be a whole number",
    "bool_type": lambda c: "must be true or false",
    "bool_parsing": lambda c: "must be true or false",
    "list_type": lambda c: "must be a list",
    "tuple_type": lambda c: "must be a list",
    "dict_type": lambda c: "must be an object",
    "model_type": lambda c: "must be an object",
    "model_attributes_type": lambda c: "must be an object",
    "greater_than_equal": lambda c: f"must be at least {c.get('ge')}",
    "greater_than": lambda c: f"must be more than {c.get('gt')}",
    "less_than_equal": lambda c: f"must be at most {c.get('le')}",
    "less_than": lambda c: f"must be less than {c.get('lt')}",
    "datetime_type": lambda c: "must be an ISO date and time, e.g. 2026-11-23T10:00:00Z",
    "datetime_parsing": lambda c: "must be an ISO date and time, e.g. 2026-11-23T10:00:00Z",
    "datetime_from_date_parsing": lambda c: "must be an ISO date and time, e.g. 2026-11-23T10:00:00Z",
    "date_type": lambda c: "must be an ISO date (YYYY-MM-DD)",
    "date_parsing": lambda c: "must be an ISO date (YYYY-MM-DD)",
    "date_from_datetime_parsing": lambda c: "must be an ISO date (YYYY-MM-DD)",
    "decimal_type": lambda c: "must be a number",
    "decimal_parsing": lambda c: "must be a number",
}


def plain_message(error: Mapping[str, Any]) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) as words a person can act on."""
    wording = _BY_TYPE.get(str(error.get("type", "")))
    if wording is not None:
        return wording(error.get("ctx") or {})
    message = str(error.get("msg", "is not valid"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def plain_field(location: tuple[int | str, ...] | list[int | str], whole: str) -> str:
    """pydantic's `loc` as a dotted field (`dataSources.0.physicalMeasures`); `whole` when it is the object."""
    return ".".join(str(part) for part in location) or whole


def plain_problems(errors: list[Any], whole: str) -> list[dict[str, str]]:
    """Every error as `{field, message}`, the `details` of an error answer."""
    return [{"field": plain_field(e["loc"], whole), "message": plain_message(e)} for e in errors]
