"""Exact decimal quantities: parsed strictly, stored as canonical strings, never floats."""

from __future__ import annotations

import re
from decimal import Decimal

MAX_INTEGER_DIGITS = 15
MAX_FRACTION_DIGITS = 6


class InvalidQuantity(ValueError):
    pass


PLAIN_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]{1,3})?", re.ASCII)
"""Numeric strings: plain ASCII decimal notation (no `_`, no other scripts' digits, no NaN/Infinity)."""
MAX_NUMBER_TEXT = 64

REQUEST_JSON_SCHEMA: dict[str, object] = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": -(10**MAX_INTEGER_DIGITS), "exclusiveMaximum": 10**MAX_INTEGER_DIGITS},
        {
            "type": "string",
            "pattern": r"^ *[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]{1,3})? *$",
            "maxLength": MAX_NUMBER_TEXT,
        },
    ],
    "description": f"a JSON number or a numeric string (plain ASCII decimal notation); at most {MAX_INTEGER_DIGITS} "
    f"integer and {MAX_FRACTION_DIGITS} decimal digits",
}
"""How a quantity in a request is documented (OpenAPI): what `parse_decimal` accepts."""


def parse_decimal(value: object, *, field: str = "quantity") -> Decimal:
    """Accept JSON numbers (already Decimal when parsed with `parse_float=Decimal`) and numeric strings.

    Floats are refused outright: by the time a float exists, precision is already lost. Booleans are
    refused although Python treats them as ints. The digits are checked on the exact value, before any
    arithmetic: `1E+1000000` has too many integer digits and `1e-9999999` too many decimal places (it is
    not 0), whatever a decimal context would round them to.
    """
    if isinstance(value, bool | float):
        raise InvalidQuantity(f"{field} must be a decimal number, not {type(value).__name__}")
    if isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, str):
        text = value.strip(" ")
        if len(text) > MAX_NUMBER_TEXT or not PLAIN_DECIMAL.fullmatch(text):
            raise InvalidQuantity(
                f"{field} is not a plain decimal number (ASCII digits, optional sign, point and exponent)"
            )
        value = Decimal(text)
    if not isinstance(value, Decimal):
        raise InvalidQuantity(f"{field} must be a number")
    if not value.is_finite():
        raise InvalidQuantity(f"{field} must be finite (no NaN or Infinity)")
    if value.is_zero():
        return Decimal(0)
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    significant = len(digits)
    while significant > 1 and digits[significant - 1] == 0:
        significant -= 1
    exponent += len(digits) - significant
    if max(0, -exponent) > MAX_FRACTION_DIGITS:
        raise InvalidQuantity(f"{field} has more than {MAX_FRACTION_DIGITS} decimal places")
    if max(0, significant + exponent) > MAX_INTEGER_DIGITS:
        raise InvalidQuantity(f"{field} has more than {MAX_INTEGER_DIGITS} integer digits")
    return Decimal((sign, digits[:significant], exponent))


def canonical(value: Decimal) -> str:
    """The one string form of a quantity: no exponent, no trailing zeros, no negative zero."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def from_storage(text: str | None) -> Decimal:
    return Decimal(text) if text else Decimal(0)
