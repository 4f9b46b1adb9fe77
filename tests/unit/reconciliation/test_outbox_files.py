"""Files for the external system (ERP master): same rows in JSON and CSV, counting sets, formulas neutralised."""

from __future__ import annotations

import csv
import io
import json

from shared.domain.reconciliation.outbox_files import approval_id, external_csv, external_json

LINES = [
    {"line_id": "L1", "run_id": "R", "item": "Ü-1", "warehouse": "FO1", "quantity_delta": "-5", "book_quantity": "0"},
    {
        "line_id": "L2",
        "run_id": "R",
        "item": "@SUM(A1)",
        "warehouse": "FO1",
        "quantity_delta": "2",
        "counted_quantity": "100",
        "book_quantity": "98",
    },
]


def test_movement_rows_say_receipt_or_issue_in_json_and_csv() -> None:
    doc = json.loads(external_json("env", "R", "wms", "movement", LINES))
    assert [(r["LineId"], r["Quantity"], r["Movement"]) for r in doc["lines"]] == [
        ("L1", "-5", "issue"),
        ("L2", "2", "receipt"),
    ]
    raw = external_csv("movement", LINES)
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the accented id right
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0]["Item"] == "Ü-1" and rows[0]["Quantity"] == "-5"  # numbers stay numbers
    assert rows[1]["Item"] == "'@SUM(A1)"  # text a spreadsheet would run is neutralised


def test_counting_rows_carry_the_counted_quantity() -> None:
    doc = json.loads(external_json("env", "R", "wms", "counting", LINES[1:]))
    [row] = doc["lines"]
    assert row["Mode"] == "counting" and row["CountedQuantity"] == "100" and row["BookQuantity"] == "98"


def test_approval_id_depends_only_on_the_selection() -> None:
    assert approval_id(["b", "a"]) == approval_id(["a", "b"]) != approval_id(["a"])
