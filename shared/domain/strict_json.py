"""Strict JSON for everything omnisync reads from outside (request bodies, ERP result files).

Numbers become Decimal (never float); `NaN`/`Infinity` are refused; a key given twice in one object is
refused rather than silently last-wins (`{"quantity": 1, "quantity": 1000}` would otherwise store 1000);
nesting deep enough to exhaust the parser is a refusal, not a RecursionError. Pure, no I/O.
"""

from __future__ import annotations

import json
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


def loads(data: bytes | str) -> Any:
    """Parse JSON text (bytes: UTF-8, optional BOM); raises InvalidJson with a reason a client can act on."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        return json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_constant,
                          object_pairs_hook=_object)
    except UnicodeDecodeError:
        raise InvalidJson("the JSON is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise InvalidJson("the JSON is nested too deeply") from None
