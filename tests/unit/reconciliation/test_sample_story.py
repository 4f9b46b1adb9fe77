"""The story from the issue, on data built here: what finance must see."""

from __future__ import annotations

from pathlib import Path

from shared.domain.reconciliation.config import KeyField, ReconcileConfig

from .conftest import ERP_HEADER, WMS_HEADER, by_item, run, write_csv


def test_costly_item_one_unit_gap_is_material(sample_files: tuple[Path, Path]) -> None:
    rows = by_item(run(*sample_files))
    assert rows["A0003"]["category"] == "quantity_differs"
    assert rows["A0003"]["difference"] == "-1"
    assert rows["A0003"]["material"] == "yes"
    assert rows["A0003"]["value_difference"] == "-899"


def test_cheap_item_few_units_is_not_material(sample_files: tuple[Path, Path]) -> None:
    rows = by_item(run(*sample_files))
    assert rows["A0002"]["difference"] == "-4"
    assert rows["A0002"]["material"] == "no"
    assert rows["M0030"]["material"] == "no"


def test_item_only_in_wms_is_listed(sample_files: tuple[Path, Path]) -> None:
    rows = by_item(run(*sample_files))
    assert rows["X9999"]["category"] == "only_in_wms"
    assert rows["X9999"]["wms_quantity"] == "3"


def test_leading_zero_id_matches_itself(sample_files: tuple[Path, Path]) -> None:
    result = run(*sample_files)
    assert "00417" not in by_item(result)
    assert result.summary["counts"]["match"] == 4  # A0001/051, D0001, M0031, 00417


def test_leading_zero_id_does_not_match_stripped_id(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_HEADER, [["00417", "1", "11", "", "9", "1.00"]])
    wms = write_csv(tmp_path / "w.csv", WMS_HEADER, [["417", "11", "", "9"]])
    rows = by_item(run(erp, wms))
    assert rows["00417"]["category"] == "only_in_erp"
    assert rows["417"]["category"] == "only_in_wms"


def test_summary_counts_and_totals(sample_files: tuple[Path, Path]) -> None:
    s = run(*sample_files).summary
    assert s["status"] == "ok"
    assert s["level"] == ["item", "warehouse", "batch"]
    assert s["counts"] == {
        "match": 4,
        "quantity_differs": 5,
        "only_in_erp": 0,
        "only_in_wms": 1,
        "keys": 10,
        "differences": 6,
        "material": 3,
    }
    # -2*4.10 - 4*0.15 - 1*899 + 4*22 - 3*0.02 (X9999 has no cost)
    assert s["totals"]["value_difference"] == "-819.86"
    assert s["by_warehouse"]["13"]["material"] == 2
    assert s["by_category"]["only_in_wms"]["count"] == 1


def test_duplicate_keys_are_summed_before_comparing(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_HEADER, [["B1", "1", "13", "", "10", "5"]])
    wms = write_csv(tmp_path / "w.csv", WMS_HEADER, [["B1", "13", "", "4"], ["B1", "13", "", "6"]])
    result = run(erp, wms)
    assert result.summary["counts"]["match"] == 1
    assert result.summary["counts"]["differences"] == 0


def test_level_item_warehouse_sums_batches(tmp_path: Path) -> None:
    erp = write_csv(
        tmp_path / "e.csv",
        ERP_HEADER,
        [["A1", "2", "24", "L1", "120", "4"], ["A1", "2", "24", "L2", "80", "4"]],
    )
    wms = write_csv(tmp_path / "w.csv", WMS_HEADER, [["A1", "24", "L1", "100"], ["A1", "24", "L2", "100"]])
    by_batch = run(erp, wms)
    assert by_batch.summary["counts"]["quantity_differs"] == 2
    by_wh = run(erp, wms, ReconcileConfig(level=[KeyField.ITEM, KeyField.WAREHOUSE]))
    assert by_wh.summary["level"] == ["item", "warehouse"]
    assert by_wh.summary["counts"]["match"] == 1
    assert by_wh.summary["counts"]["differences"] == 0


def test_decimal_quantities_stay_exact(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_HEADER, [["F1", "1", "1", "", "0.1", "3"]] * 3)
    wms = write_csv(tmp_path / "w.csv", WMS_HEADER, [["F1", "1", "", "0.3"]])
    # 0.1 + 0.1 + 0.1 == 0.3 only in exact decimal arithmetic
    assert run(erp, wms).summary["counts"]["match"] == 1


def test_as_of_difference_beyond_tolerance_warns(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", [*ERP_HEADER, "AsOf"], [["A", "1", "1", "", "1", "1", "2026-11-23T08:00:00Z"]])
    wms = write_csv(tmp_path / "w.csv", [*WMS_HEADER, "as_of"], [["A", "1", "", "1", "2026-11-23T09:00:00+00:00"]])
    s = run(erp, wms).summary
    assert s["as_of"]["warning"] is True
    assert s["as_of"]["difference_seconds"] == 3600
    assert s["warnings"]
    ok = run(erp, wms, ReconcileConfig(as_of_tolerance=7200)).summary
    assert ok["as_of"]["warning"] is False
    assert ok["warnings"] == []
