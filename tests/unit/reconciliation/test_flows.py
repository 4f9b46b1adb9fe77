"""The source documents' flows through the engine: empty sides, zero vs absent, precision, scope and
warehouse mapping, serials and negative stock."""

from __future__ import annotations

import json
from pathlib import Path

from shared.domain.reconciliation.config import ReconcileConfig

from .conftest import report_text, run, write_csv

ERP_H = ["ItemNumber", "InventoryWarehouseId", "OnHandQuantity", "UnitCost"]
WMS_H = ["item_id", "warehouse", "on_hand"]


def _journal_lines(result) -> list[dict]:
    doc = json.loads(report_text(result, "proposed_journal.json"))
    return [ln for j in doc["journals"] for ln in j["lines"]]


# ---- item 9: empty sides, zero vs absent, precision ----
def test_header_only_erp_export_is_an_error_run_not_an_empty_inventory(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_H, [])
    wms = write_csv(tmp_path / "w.csv", WMS_H, [["A1", "13", "5"], ["A2", "13", "7"]])
    result = run(erp, wms)
    assert result.summary["status"] == "error"
    assert "e.csv" in result.errors[0] and "no data rows" in result.errors[0] and "expect_empty" in result.errors[0]
    assert {r.name for r in result.reports} == {"summary.json", "report.html"}  # no journal to approve


def test_an_empty_side_is_fine_when_the_run_config_expects_it(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_H, [])
    wms = write_csv(tmp_path / "w.csv", WMS_H, [["A1", "13", "5"]])
    result = run(erp, wms, config=ReconcileConfig(expect_empty=["erp"]))
    assert result.ok
    assert result.summary["counts"]["only_in_wms"] == 1


def test_zero_on_one_side_and_absent_on_the_other_is_a_match(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_H, [["A1", "13", "0", "5"], ["A2", "13", "3", "5"]])
    wms = write_csv(tmp_path / "w.csv", WMS_H, [["A2", "13", "3"], ["A3", "13", "0.000"]])
    result = run(erp, wms)
    assert result.ok
    assert result.summary["counts"]["match"] == 3 and result.summary["counts"]["differences"] == 0
    assert _journal_lines(result) == []


def test_more_decimals_than_supported_is_an_error_naming_the_row(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_H, [["A1", "13", "1", "5"], ["A2", "13", "2.0000001", "5"]])
    wms = write_csv(tmp_path / "w.csv", WMS_H, [["A1", "13", "1.500000000"], ["A2", "13", "2"]])  # zeros are fine
    result = run(erp, wms)
    assert result.summary["status"] == "error"
    [error] = result.errors
    assert "e.csv" in error and "data row 2" in error and "'A2'" in error and "2.0000001" in error
    assert "decimal places" in error and "w.csv" not in error


# ---- item 5: scope filters and value mappings ----
def test_many_warehouses_mapped_to_one_balance_the_field_service_example(tmp_path: Path) -> None:
    """Field Service: WMS vans VAN1 60 + VAN2 40 hold what the ERP books as warehouse FO1 100."""
    erp = write_csv(tmp_path / "e.csv", ERP_H, [["P1", "FO1", "100", "10"]])
    wms = write_csv(tmp_path / "w.csv", WMS_H, [["P1", "VAN1", "60"], ["P1", "VAN2", "40"]])
    unmapped = run(erp, wms)
    assert unmapped.summary["counts"]["differences"] == 3
    cfg = ReconcileConfig.model_validate({"value_maps": {"wms": {"warehouse": {"VAN1": "FO1", "VAN2": "FO1"}}}})
    mapped = run(erp, wms, config=cfg)
    assert mapped.ok and mapped.summary["counts"]["match"] == 1 and mapped.summary["counts"]["differences"] == 0


def test_scope_includes_and_excludes_products_and_warehouses(tmp_path: Path) -> None:
    erp = write_csv(
        tmp_path / "e.csv",
        ERP_H,
        [["P1", "13", "1", "1"], ["P2", "13", "1", "1"], ["P3", "13", "1", "1"], ["P1", "99", "1", "1"]],
    )
    wms = write_csv(tmp_path / "w.csv", WMS_H, [["P1", "13", "5"], ["P2", "13", "5"], ["P3", "13", "5"]])
    cfg = ReconcileConfig.model_validate(
        {"scope": {"items": {"include": ["P1", "P2"], "exclude": ["P2"]}, "warehouses": {"exclude": ["99"]}}}
    )
    result = run(erp, wms, config=cfg)
    assert result.ok
    assert {(ln["item"], ln["warehouse"]) for ln in _journal_lines(result)} == {("P1", "13")}
    assert result.summary["counts"]["keys"] == 1


def test_scope_values_never_reach_the_sql_text(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_H, [["x'); DROP TABLE t; --", "13", "1", "1"]])
    wms = write_csv(tmp_path / "w.csv", WMS_H, [["x'); DROP TABLE t; --", "13", "2"]])
    cfg = ReconcileConfig.model_validate(
        {
            "scope": {"items": {"include": ["x'); DROP TABLE t; --"]}},
            "value_maps": {"erp": {"warehouse": {"13": "1'3"}}, "wms": {"warehouse": {"13": "1'3"}}},
        }
    )
    result = run(erp, wms, config=cfg)
    assert result.ok and [ln["warehouse"] for ln in _journal_lines(result)] == ["1'3"]


# ---- item 6: serials and negative stock ----
def test_serials_are_compared_when_both_sides_have_them(tmp_path: Path) -> None:
    erp = write_csv(
        tmp_path / "e.csv",
        ["ItemNumber", "InventoryWarehouseId", "ItemSerialNumber", "OnHandQuantity"],
        [["S1", "13", "SN1", "1"], ["S1", "13", "SN2", "1"]],
    )
    wms = write_csv(
        tmp_path / "w.csv",
        ["item_id", "warehouse", "serial_number", "on_hand"],
        [["S1", "13", "SN1", "1"], ["S1", "13", "SN3", "1"]],
    )
    result = run(erp, wms)
    assert "serial" in result.summary["level"]
    lines = {ln["serial"]: ln for ln in _journal_lines(result)}
    assert set(lines) == {"SN2", "SN3"}
    assert lines["SN2"]["quantity_delta"] == "-1" and lines["SN3"]["quantity_delta"] == "1"


def test_negative_stock_has_its_own_section_and_is_material(tmp_path: Path) -> None:
    """Field Service: the ERP at -5 against the WMS at 0."""
    erp = write_csv(tmp_path / "e.csv", ERP_H, [["N1", "13", "-5", "0.01"], ["N2", "13", "-2", "1"]])
    wms = write_csv(tmp_path / "w.csv", WMS_H, [["N1", "13", "0"], ["N2", "13", "-2"]])
    result = run(erp, wms, config=ReconcileConfig(master="erp"))
    section = result.summary["negative_inventory"]
    assert section["erp_keys"] == 2 and section["wms_keys"] == 1 and section["is_material"] is True
    assert [(e["item"], e["erp_quantity"], e["wms_quantity"]) for e in section["items"]] == [("N1", "-5", "0")]
    [line] = _journal_lines(result)
    assert line["target"] == "wms" and line["quantity_delta"] == "-5" and line["review"] is True
    quiet = run(erp, wms, config=ReconcileConfig(master="erp", negative_is_material=False))
    assert [ln["review"] for ln in _journal_lines(quiet)] == [False]  # value 0.05 is under the threshold


# ---- item 10: real-world exports ----
def test_excel_style_semicolon_export_with_decimal_comma_and_thousands_points(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_H, [["P1", "13", "1234.5", "2.5"], ["P2", "13", "7", "1"]])
    wms = write_csv(tmp_path / "w.csv", WMS_H, [["P1", "13", "1.234,5"], ["P2", "13", "6,75"]], delimiter=";")
    cfg = ReconcileConfig.model_validate({"wms": {"decimal_separator": ",", "thousands_separator": "."}})
    result = run(erp, wms, config=cfg)
    assert result.ok, result.errors
    assert result.summary["counts"]["match"] == 1
    [line] = _journal_lines(result)
    assert (line["item"], line["quantity_delta"]) == ("P2", "-0.25")


def test_ids_differing_only_in_case_or_trailing_spaces_match_by_default(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_H, [["Ab-1", "wh1", "5", "1"], ["X9 ", "13", "2", "1"]])
    wms = write_csv(tmp_path / "w.csv", WMS_H, [["AB-1", "WH1", "5"], ["x9", "13 ", "3"]])
    result = run(erp, wms)
    assert result.summary["counts"]["match"] == 1
    [line] = _journal_lines(result)
    assert line["item"] == "X9" and line["quantity_delta"] == "1"  # shown as spelled in a file, not folded
    strict = run(erp, wms, config=ReconcileConfig(case_sensitive_ids=True))
    assert strict.summary["counts"]["match"] == 0 and strict.summary["counts"]["differences"] == 4


def test_utf16_and_windows_1252_exports_are_read(tmp_path: Path) -> None:
    erp = tmp_path / "e.csv"
    erp.write_bytes("ItemNumber\tInventoryWarehouseId\tOnHandQuantity\r\nCafé-1\t13\t4\r\n".encode("utf-16"))
    wms = tmp_path / "w.csv"
    wms.write_bytes("item_id;warehouse;on_hand\r\nCafé-1;13;5\r\n".encode("cp1252"))
    result = run(erp, wms)
    assert result.ok, result.errors
    [line] = _journal_lines(result)
    assert line["item"] == "Café-1" and line["quantity_delta"] == "1"


def test_an_encoding_can_be_configured(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_H, [["Ü1", "13", "4", "1"]])
    wms = tmp_path / "w.csv"
    wms.write_bytes("item_id;warehouse;on_hand\nÜ1;13;4\n".encode("latin-1"))
    result = run(erp, wms, config=ReconcileConfig.model_validate({"wms": {"encoding": "latin-1"}}))
    assert result.ok and result.summary["counts"]["match"] == 1


# ---- item 4: every configured quantity column, thresholds per measure ----
def test_on_order_and_ordered_are_compared_with_their_own_thresholds(tmp_path: Path) -> None:
    """Field Service syncs on-hand, on-order and ordered per product and warehouse."""
    erp = write_csv(
        tmp_path / "e.csv",
        ["ItemNumber", "InventoryWarehouseId", "OnHandQuantity", "OnOrderQuantity", "OrderedQuantity", "UnitCost"],
        [["P1", "13", "10", "5", "0", "1"], ["P2", "13", "4", "2", "", "1"], ["P3", "13", "1", "0", "0", "1"]],
    )
    wms = write_csv(
        tmp_path / "w.csv",
        ["item_id", "warehouse", "on_hand", "on_order", "qty_ordered"],
        [["P1", "13", "10", "5", "0"], ["P2", "13", "4", "9", "3"], ["P3", "13", "1", "0", "0"]],
    )
    cfg = ReconcileConfig.model_validate(
        {"measures": {"on_order": {"materiality": {"quantity": "5"}}, "ordered": {"wms": "qty_ordered"}}}
    )
    result = run(erp, wms, config=cfg)
    assert result.ok, result.errors
    counts = result.summary["counts"]
    assert counts["match"] == 2 and counts["measure_differs"] == 1 and counts["differences"] == 1
    measures = result.summary["measures"]
    assert measures["on_order"]["differences"] == 1 and measures["on_order"]["material"] == 1  # 7 > 5
    assert measures["ordered"]["differences"] == 1 and measures["ordered"]["material"] == 0  # 3 x 1.00 < 50
    assert measures["ordered"]["wms_column"] == "qty_ordered"
    assert _journal_lines(result) == []  # only on-hand is balanced by a journal


def test_a_configured_measure_missing_from_a_file_is_an_error_run(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_H, [["P1", "13", "1", "1"]])
    wms = write_csv(tmp_path / "w.csv", WMS_H, [["P1", "13", "1"]])
    result = run(erp, wms, config=ReconcileConfig.model_validate({"measures": {"on_order": {}}}))
    assert result.summary["status"] == "error" and "on_order" in result.errors[0]
