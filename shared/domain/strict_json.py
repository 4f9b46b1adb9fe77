"""Strict JSON for everything omnisync reads from outside (request bodies, ERP result files).

Numbers become Decimal (never float); `NaN`/`Infinity` are refused; a key given twice in one object is
refused rather than silently last-wins (`{"quantity": 1, "quantity": 1000}` would otherwise store 1000);
nesting deep enough to exhaust the parser is a refusal, not a RecursionError. Pure, no I/O.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any


class InvalidJson(ValueError):
    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.message, self.key = message, key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidJson(f"key {key[:60]!r} is given twice in one object", key[:60])
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a number JSON allows")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _lone_surrogate_at(value: Any, path: str = "") -> str | None:
    """Where a text (or key) holds a lone surrogate, as `a.0.b`; None when there is none."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "body"
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        found = _lone_surrogate_at(key, where) if isinstance(key, str) else None
        found = found or _lone_surrogate_at(item, where)
        if found:
            return found
    return None


def _no_lone_surrogates(value: Any) -> Any:
    """`"\\ud800"` alone decodes to a code point that is not a character: no store or file can hold it."""
    where = _lone_surrogate_at(value)
    if where is not None:
        raise InvalidJson(
            "a text holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not a character",
            where.encode("utf-8", "backslashreplace").decode()[:60],
        )
    return value


def loads(data: bytes | str) -> Any:
    """Parse JSON text (bytes: UTF-8, optional BOM); raises InvalidJson with a reason a client can act on."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        value = json.loads(
            text, parse_float=Decimal, parse_int=Decimal, parse_constant=_constant, object_pairs_hook=_object
        )
        # Only an escape can make one (UTF-8 text cannot), so only a text with such an escape is walked.
        return _no_lone_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value
    except UnicodeDecodeError:
        raise InvalidJson("the JSON is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise InvalidJson("the JSON is nested too deeply") from None
