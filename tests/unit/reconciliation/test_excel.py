"""Discrepancy CSV is safe to open in Excel and keeps numbers exact."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from shared.domain.reconciliation.excel import neutralise

from .conftest import discrepancy_rows, run, write_csv


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+41", "'+41"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("A-1", "A-1"),
        ("00417", "00417"),
        ("", ""),
    ],
)
def test_neutralise(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected


def test_formula_ids_are_neutralised_but_numbers_are_not(tmp_path: Path) -> None:
    erp = write_csv(
        tmp_path / "e.csv",
        ["ItemNumber", "InventoryWarehouseId", "OnHandQuantity", "UnitCost"],
        [['=HYPERLINK("http://x","y")', "@W", "10", "2.50"]],
    )
    wms = write_csv(tmp_path / "w.csv", ["sku", "wh", "qty"], [['=HYPERLINK("http://x","y")', "@W", "6.25"]])
    result = run(erp, wms)
    rows = discrepancy_rows(result)
    assert len(rows) == 1
    row = rows[0]
    assert row["item"] == '\'=HYPERLINK("http://x","y")'
    assert row["warehouse"] == "'@W"
    assert row["difference"] == "-3.75"
    assert row["value_difference"] == "-9.375"
    # the negative number is written plainly, never as '-3.75
    raw = list(csv.reader(_raw(result).splitlines()))[1]
    assert "-3.75" in raw and "'-3.75" not in raw


def _raw(result) -> str:
    from .conftest import report_text

    return report_text(result, "discrepancies.csv")


def test_csv_is_utf8_with_crlf_and_header(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ["ItemNumber", "OnHandQuantity", "UnitCost"], [["Ärmel", "1", "1"]])
    wms = write_csv(tmp_path / "w.csv", ["sku", "qty"], [["Ärmel", "2"]])
    text = _raw(run(erp, wms))
    assert text.startswith("category,material,item,")
    assert "\r\n" in text
    assert "Ärmel" in text
