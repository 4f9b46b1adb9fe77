import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.domain.adjustments import dimension_key, parse_lines
from shared.domain.cache import CacheRow, PendingLine, cache_row_key, line_change, plan_changes
from shared.domain.quantities import InvalidQuantity, canonical, parse_decimal

SOURCES, MEASURES = ("@iv", "pos"), ("adjustment", "sold")


def _line(**over):
    base = {
        "id": "l-1",
        "organizationId": "usmf",
        "productId": "A0001",
        "quantityDataSource": "@iv",
        "physicalMeasure": "adjustment",
        "dimensions": {"siteId": "1", "locationId": "13"},
        "quantity": Decimal("2.5"),
    }
    base.update(over)
    return base


def _parse(*lines, sync_all=False):
    return parse_lines(list(lines), allowed_sources=SOURCES, allowed_measures=MEASURES, sync_all=sync_all)


def test_keys_and_dimension_names_are_case_insensitive():
    raw = {k.upper(): v for k, v in _line().items()}
    raw["DIMENSIONS"] = {"SITEID": "1", "LocationID": "13"}
    (line,), problems = _parse(raw)
    assert problems == []
    assert line.dimensions == {"locationId": "13", "siteId": "1"}
    assert line.quantityDataSource == "@iv"


def test_every_problem_is_reported_with_index_and_field():
    good = _line()
    bad = _line(id="has/slash", quantity="abc", physicalMeasure="teleported")
    lines, problems = _parse(good, bad, "not an object")
    found = {(p.index, p.field) for p in problems}
    assert {(1, "id"), (1, "quantity"), (2, "")} <= found
    assert len(lines) == 1


@pytest.mark.parametrize("quantity", [float("nan"), 1.5, True, "1e400", "0.0000001", "1234567890123456", "Infinity"])
def test_quantities_that_are_not_exact_sane_decimals_are_refused(quantity):
    _, problems = _parse(_line(quantity=quantity))
    assert [p.field for p in problems] == ["quantity"]


def test_data_source_and_measure_must_be_allowed():
    _, problems = _parse(_line(quantityDataSource="erp", physicalMeasure="teleported"))
    assert {p.field for p in problems} == {"quantityDataSource", "physicalMeasure"}


@pytest.mark.parametrize(
    "dims", [{"siteId": "a#b"}, {"bad name": "x"}, {"siteId": 5}, {"siteId": "x" * 101}, {"siteId": "1", "SITEID": "2"}]
)
def test_dimension_values_that_would_break_keys_are_refused(dims):
    _, problems = _parse(_line(dimensions=dims))
    assert problems and problems[0].field == "dimensions"


def test_unknown_fields_are_refused():
    _, problems = _parse(_line(quantityy=1))
    assert problems[0].field == "quantityy"


def test_fingerprint_ignores_casing_number_form_and_the_sync_flag_but_not_content():
    (a,), _ = _parse(_line(quantity=Decimal("2.50")))
    (b,), _ = _parse({**_line(quantity="2.5"), "createWithIVSync": True})
    (c,), _ = _parse(_line(quantity=Decimal("2.51")))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_query_flag_makes_every_line_instant():
    (line,), _ = _parse(_line(), sync_all=True)
    assert line.createWithIVSync


def test_the_sample_file_is_valid():
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "samples" / "adjustments.json"
    raw = json.loads(sample.read_text(), parse_float=Decimal, parse_int=Decimal)
    lines, problems = parse_lines(raw, allowed_sources=("@iv",), allowed_measures=("adjustment",))
    assert problems == [] and len(lines) == len(raw)


def test_canonical_decimals():
    assert canonical(parse_decimal("1.2500")) == "1.25"
    assert canonical(parse_decimal("-0.0")) == "0"
    assert canonical(parse_decimal("1E+3")) == "1000"
    with pytest.raises(InvalidQuantity):
        parse_decimal("NaN")


def _pending(i, dims, qty):
    return PendingLine(f"D|{i}", "etag", dims, "@iv", "adjustment", Decimal(qty))


def test_sync_plan_sums_per_dimension_combination_and_keeps_within_100_operations():
    lines = [_pending(i, {"siteId": str(i % 3)}, "1.5") for i in range(150)]
    existing = CacheRow(
        cache_row_key(dimension_key({"siteId": "0"})), "siteId=0", {"siteId": "0"}, {"@iv": {"adjustment": "10"}}, "e0"
    )
    plan = plan_changes([line_change(line, datetime.now(UTC)) for line in lines], {existing.row_key: existing})
    assert plan.operations <= 100
    # each line is one operation (its open record), plus the 3 cache rows they touch
    assert len(plan.changes) == 100 - 3
    assert [change.marker_key for change in plan.changes] == [f"D|{i}" for i in range(97)]
    assert all(change.marker["Status"] == change.marker["Stage"] == "IVPosted" for change in plan.changes)
    by_dims = {row.dim_key: row for row in plan.rows}
    count0 = sum(1 for change in plan.changes if dimension_key(dict(change.edits[0].dimensions)) == "siteId=0")
    assert Decimal(by_dims["siteId=0"].quantities["@iv"]["adjustment"]) == 10 + Decimal("1.5") * count0
    assert by_dims["siteId=0"].etag == "e0" and by_dims["siteId=1"].etag is None


def test_a_line_with_a_bad_measure_and_two_other_problems_reports_all_three():
    """A measure that is not configured is reported with the field errors, not only when the rest is valid."""
    _, problems = _parse(_line(physicalMeasure="bogus", quantity="abc", productId="-A1"))
    assert sorted(p.field for p in problems) == ["physicalMeasure", "productId", "quantity"]
    assert all(p.index == 0 for p in problems)
    measure = next(p for p in problems if p.field == "physicalMeasure")
    assert "not an allowed physical measure" in measure.message


def test_a_bad_data_source_is_reported_next_to_a_missing_field_and_a_malformed_one_only_once():
    raw = _line(quantityDataSource="erp")
    del raw["organizationId"]
    _, problems = _parse(raw, _line(physicalMeasure="bad measure!"))
    assert [(p.index, p.field) for p in problems] == [
        (0, "organizationId"),
        (0, "quantityDataSource"),
        (1, "physicalMeasure"),
    ]
    assert problems[0].message == "is required"
