"""The same snapshot in every accepted file shape gives the same comparison."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from .conftest import ERP_HEADER, ERP_ROWS, WMS_HEADER, WMS_ROWS, by_item, run, write_csv


def _expected_counts() -> dict[str, int]:
    return {
        "match": 4,
        "quantity_differs": 5,
        "only_in_erp": 0,
        "only_in_wms": 1,
        "keys": 10,
        "differences": 6,
        "material": 3,
    }


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
@pytest.mark.parametrize("bom", [False, True])
def test_csv_delimiters_and_bom(tmp_path: Path, delim: str, bom: bool) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_HEADER, ERP_ROWS, delimiter=delim, bom=bom)
    wms = write_csv(tmp_path / "w.txt", WMS_HEADER, WMS_ROWS, delimiter=delim, bom=bom)
    result = run(erp, wms)
    assert result.ok, result.errors
    assert result.summary["counts"] == _expected_counts()
    assert result.summary["inputs"]["erp"]["columns"]["item"] == "ItemNumber"  # BOM not glued to the name


def test_quoted_cells_with_delimiters_inside(tmp_path: Path) -> None:
    erp = write_csv(
        tmp_path / "e.csv",
        ["ItemNumber", "InventoryWarehouseId", "OnHandQuantity", "UnitCost"],
        [["A,1", "W;1", "5", "100"]],
    )
    wms = write_csv(tmp_path / "w.csv", ["sku", "warehouse", "qty"], [["A,1", "W;1", "4"]])
    rows = by_item(run(erp, wms))
    assert rows["A,1"]["warehouse"] == "W;1"
    assert rows["A,1"]["difference"] == "-1"


def _to_parquet(csv_path: Path, out: Path, delim: str) -> Path:
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM read_csv('{csv_path}', delim='{delim}', header=true, all_varchar=true)) "
        f"TO '{out}' (FORMAT parquet)"
    )
    con.close()
    return out


def test_parquet_both_sides(tmp_path: Path) -> None:
    erp = _to_parquet(write_csv(tmp_path / "e.csv", ERP_HEADER, ERP_ROWS), tmp_path / "erp.parquet", ",")
    wms = _to_parquet(write_csv(tmp_path / "w.csv", WMS_HEADER, WMS_ROWS, ";"), tmp_path / "wms.bin", ";")
    result = run(erp, wms)  # wms.bin: detected by magic bytes, not by name
    assert result.ok, result.errors
    assert result.summary["counts"] == _expected_counts()
    assert by_item(result)["A0003"]["material"] == "yes"


def test_parquet_typed_columns(tmp_path: Path) -> None:
    erp = tmp_path / "e.parquet"
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT 'A' AS ItemNumber, 7 AS InventoryWarehouseId, 10.5::DECIMAL(10,2) AS "
        f"OnHandQuantity, 2.0::DOUBLE AS UnitCost) TO '{erp}' (FORMAT parquet)"
    )
    con.close()
    wms = write_csv(tmp_path / "w.csv", ["sku", "wh", "qty"], [["A", "7", "10.5"]])
    result = run(erp, wms)
    assert result.ok, result.errors
    assert result.summary["counts"]["match"] == 1
