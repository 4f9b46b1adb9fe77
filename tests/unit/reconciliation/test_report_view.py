"""Pure pieces of the finance reports: id cells, as-of text, trend direction, chart geometry, templates shipped."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from fnmatch import fnmatch
from pathlib import Path

import pytest

from shared.adapters.report_html import render_error
from shared.domain.reconciliation.charts import bar_chart, text_width
from shared.domain.reconciliation.report_view import (
    TrendDirection,
    as_of_text,
    direction_of,
    id_cell,
    trend_direction,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("00417", "'00417"),  # leading zeros
        ("1E5", "'1E5"),  # exponent
        ("3-4", "'3-4"),  # date
        ("2026-11-26", "'2026-11-26"),
        ("Jan-12", "'Jan-12"),
        ("10:30", "'10:30"),
        ("TRUE", "'TRUE"),
        ("1234567890123456", "'1234567890123456"),  # 16 digits lose precision
        ("1.50", "'1.50"),
        ("24", "24"),  # reads back the same: left alone
        ("A0001", "A0001"),
        ("B-2026-044", "B-2026-044"),
        ("Ärmel", "Ärmel"),
        ("'=cmd", "'=cmd"),  # already neutralised: one apostrophe only
        ("", ""),
    ],
)
def test_id_cell_marks_only_what_a_spreadsheet_would_change(cell: str, expected: str) -> None:
    assert id_cell(cell) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "not given"),
        ("", "not given"),
        ("  ", "not given"),
        ("2026-11-26T08:00:00+00:00", "2026-11-26 08:00:00 UTC"),
        ("2026-11-26T09:00:00+01:00", "2026-11-26 09:00:00 UTC+0100"),
        ("2026-11-26T08:00:00", "2026-11-26 08:00:00 (no time zone given)"),
        ("yesterday", "yesterday"),
    ],
)
def test_as_of_text_never_empty(value: str | None, expected: str) -> None:
    assert as_of_text(value) == expected


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        ([], TrendDirection.UNKNOWN),
        (["5"], TrendDirection.UNKNOWN),
        (["100", "100", "100", "50"], TrendDirection.FALLING),
        (["100", "100", "100", "150"], TrendDirection.RISING),
        (["100", "100", "100", "103"], TrendDirection.FLAT),
        (["0", "0"], TrendDirection.FLAT),
        (["0", "7"], TrendDirection.RISING),
        (["1000", "10", "10", "10", "10"], TrendDirection.FLAT),  # only the last three runs count
    ],
)
def test_trend_direction(series: list[str], expected: TrendDirection) -> None:
    assert trend_direction([Decimal(v) for v in series]) == expected


def test_direction_from_the_data_side_wins_when_summary_carries_it() -> None:
    rising = [Decimal(1), Decimal(100)]
    assert direction_of({"trend": {"direction": "falling"}}, rising) is TrendDirection.FALLING
    assert direction_of({"trend": {"direction": "sideways?"}}, rising) is TrendDirection.RISING
    assert direction_of({}, rising) is TrendDirection.RISING


@pytest.mark.parametrize(
    "values",
    [
        ["995.86"],
        ["310.5", "402.75", "995.86"],
        ["-995.86", "12"],
        ["-123456789.123456", "987654321.654321"],
        ["-5", "-7"],
        ["0"],
    ],
)
def test_chart_value_labels_fit_inside_the_drawing(values: list[str]) -> None:
    chart = bar_chart([(f"run-{i}", Decimal(v)) for i, v in enumerate(values)])
    name_w = max(text_width(b.label) for b in chart.bars)
    for b in chart.bars:
        w = text_width(b.value_text)
        left, right = (b.value_x - w, b.value_x) if b.value_anchor == "end" else (b.value_x, b.value_x + w)
        assert left > name_w and right <= chart.width, (b.value_text, left, right, chart.width)
        assert b.x >= 0 and b.x + b.width <= chart.width


def test_long_names_are_shortened_but_kept_whole_in_the_tooltip() -> None:
    name = "Zentrallager Süd-Ost, Halle 24, Regal 1-40"
    bar = bar_chart([(name, Decimal(1))]).bars[0]
    assert bar.name == name and bar.label.endswith("…") and len(bar.label) <= 28


def test_templates_ship_as_package_data() -> None:
    """pyproject's package-data covers every template, so an installed app finds them, not only a checkout."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["shared.adapters"]
    base = ROOT / "shared" / "adapters"
    templates = [p.relative_to(base).as_posix() for p in (base / "templates").rglob("*") if p.is_file()]
    assert templates and all(any(fnmatch(t, g) for g in globs) for t in templates)


def test_error_page_escapes_and_lists_every_reason() -> None:
    html = render_error("r1", ["<b>bad</b> header", "second"])
    assert "&lt;b&gt;bad&lt;/b&gt; header" in html and "<li>second</li>" in html
