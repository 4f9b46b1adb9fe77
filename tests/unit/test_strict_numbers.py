"""Strict numbers and JSON: the rules, without storage."""

from decimal import Decimal

import pytest

from shared.domain import strict_json
from shared.domain.quantities import InvalidQuantity, canonical, parse_decimal


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (Decimal("1E+1000000"), "integer digits"),
        ("1E+1000000", "plain decimal"),
        (Decimal("-1E+1000000"), "integer"),
        (Decimal("1e-9999999"), "decimal places"),
        ("1_000", "plain decimal"),
        ("١٠٠٠", "plain decimal"),
        ("１０", "plain decimal"),
        ("Infinity", "plain decimal"),
        (Decimal("NaN"), "finite"),
        ("1.000000000000000000000000000000001", "decimal places"),
        (Decimal("1E+15"), "integer digits"),
    ],
)
def test_numbers_outside_the_documented_digits_or_notation_are_refused(value, reason):
    with pytest.raises(InvalidQuantity, match=reason):
        parse_decimal(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("12.50", "12.5"),
        (Decimal("1000E-3"), "1"),
        ("-0.000001", "-0.000001"),
        (Decimal("0E-9999999"), "0"),
        (Decimal("999999999999999.999999"), "999999999999999.999999"),
        ("1e3", "1000"),
    ],
)
def test_exact_values_within_the_digits_are_kept_exactly(value, text):
    assert canonical(parse_decimal(value)) == text


def test_duplicate_keys_deep_nesting_and_constants_are_refused_naming_what():
    with pytest.raises(strict_json.InvalidJson) as dup:
        strict_json.loads(b'{"quantity": 1, "quantity": 1000}')
    assert dup.value.key == "quantity"
    with pytest.raises(strict_json.InvalidJson, match="nested too deeply"):
        strict_json.loads("[" * 100_000 + "]" * 100_000)
    with pytest.raises(strict_json.InvalidJson, match="NaN"):
        strict_json.loads("[NaN]")
    assert strict_json.loads(b'\xef\xbb\xbf{"a": [1.5, {"b": 2}]}') == {"a": [Decimal("1.5"), {"b": Decimal(2)}]}
