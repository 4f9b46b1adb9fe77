import csv
import io
import json
from decimal import Decimal

from shared.adapters.erp_outbox import journal_csv, journal_json
from shared.domain.journals import Journal, JournalLine


def _journal() -> Journal:
    lines = (
        JournalLine("agg-1", "+A1", Decimal("-3.50"), site_id="1", warehouse_id="@13"),
        JournalLine("agg-2", "B2", Decimal("0.000001"), batch_id="-B7", unit_cost=Decimal("899.00")),
    )
    return Journal("OS-x", "env", "usmf", "adjustment", "IAdj", "Posted", lines)


def test_journal_csv_uses_erp_import_names_neutralises_text_and_keeps_numbers_exact():
    rows = list(csv.DictReader(io.StringIO(journal_csv(_journal()).decode("utf-8-sig"))))
    assert rows[0]["ItemNumber"] == "'+A1" and rows[0]["InventoryWarehouseId"] == "'@13"
    assert rows[0]["InventoryQuantity"] == "-3.5", "a negative quantity stays a number"
    assert rows[1]["ItemBatchNumber"] == "'-B7"
    assert rows[1]["InventoryQuantity"] == "0.000001" and rows[1]["UnitCost"] == "899"
    assert [r["LineNumber"] for r in rows] == ["1", "2"]
    assert [r["OmnisyncLineId"] for r in rows] == ["agg-1", "agg-2"]


def test_journal_json_carries_the_same_lines_with_decimal_strings():
    document = json.loads(journal_json(_journal()))
    assert document["journalId"] == "OS-x" and document["dataAreaId"] == "usmf"
    assert [line["InventoryQuantity"] for line in document["lines"]] == ["-3.5", "0.000001"]
    assert document["lines"][0]["ItemNumber"] == "+A1", "JSON is not a spreadsheet: values stay as they are"
