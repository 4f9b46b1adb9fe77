"""Exact decimal quantities: parsed strictly, stored as canonical strings, never floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MAX_INTEGER_DIGITS = 15
MAX_FRACTION_DIGITS = 6


class InvalidQuantity(ValueError):
    pass


def parse_decimal(value: object, *, field: str = "quantity") -> Decimal:
    """Accept JSON numbers (already Decimal when parsed with `parse_float=Decimal`) and numeric strings.

    Floats are refused outright: by the time a float exists, precision is already lost. Booleans are
    refused although Python treats them as ints.
    """
    if isinstance(value, bool | float):
        raise InvalidQuantity(f"{field} must be a decimal number, not {type(value).__name__}")
    if isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidQuantity(f"{field} is not a number") from None
    if not isinstance(value, Decimal):
        raise InvalidQuantity(f"{field} must be a number")
    if not value.is_finite():
        raise InvalidQuantity(f"{field} must be finite (no NaN or Infinity)")
    _, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)
    fraction = max(0, -exponent)
    integer = max(0, len(digits) + exponent) if digits != (0,) else 0
    if fraction > MAX_FRACTION_DIGITS:
        raise InvalidQuantity(f"{field} has more than {MAX_FRACTION_DIGITS} decimal places")
    if integer > MAX_INTEGER_DIGITS:
        raise InvalidQuantity(f"{field} has more than {MAX_INTEGER_DIGITS} integer digits")
    return value


def canonical(value: Decimal) -> str:
    """The one string form of a quantity: no exponent, no trailing zeros, no negative zero."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def from_storage(text: str | None) -> Decimal:
    return Decimal(text) if text else Decimal(0)
