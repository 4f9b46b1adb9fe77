"""Helpers that write snapshot files into tmp_path; every test builds its own data."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from shared.domain.reconciliation.config import ReconcileConfig
from shared.services.reconcile import ReconciliationResult, SnapshotSource, reconcile

ERP_HEADER = [
    "ItemNumber",
    "InventorySiteId",
    "InventoryWarehouseId",
    "ItemBatchNumber",
    "OnHandQuantity",
    "UnitCost",
]
ERP_ROWS = [
    ["A0001", "2", "24", "B-2026-044", "120", "4.10"],
    ["A0001", "2", "24", "B-2026-051", "80", "4.10"],
    ["A0002", "1", "13", "", "35", "0.15"],
    ["A0003", "1", "13", "", "12", "899.00"],
    ["D0001", "1", "13", "", "60", "12.50"],
    ["D0002", "1", "13", "", "0", "22.00"],
    ["M0030", "1", "11", "", "500", "0.02"],
    ["M0031", "1", "11", "", "44", "310.00"],
    ["00417", "1", "11", "", "9", "1.00"],
]
WMS_HEADER = ["item_id", "warehouse", "lot", "on_hand"]
WMS_ROWS = [
    ["A0001", "24", "B-2026-044", "118"],
    ["A0001", "24", "B-2026-051", "80"],
    ["A0002", "13", "", "31"],
    ["A0003", "13", "", "11"],
    ["D0001", "13", "", "60"],
    ["D0002", "13", "", "4"],
    ["M0030", "11", "", "497"],
    ["M0031", "11", "", "44"],
    ["00417", "11", "", "9"],
    ["X9999", "11", "", "3"],
]


def write_csv(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], delimiter: str = ",", bom: bool = False
) -> Path:
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def sample_files(tmp_path: Path) -> tuple[Path, Path]:
    erp = write_csv(tmp_path / "erp.csv", ERP_HEADER, ERP_ROWS)
    wms = write_csv(tmp_path / "wms.csv", WMS_HEADER, WMS_ROWS, delimiter=";")
    return erp, wms


def run(
    erp: Path,
    wms: Path,
    config: ReconcileConfig | None = None,
    history: list[dict] | None = None,
    run_id: str = "t1",
) -> ReconciliationResult:
    result = reconcile(
        SnapshotSource(erp), SnapshotSource(wms), config or ReconcileConfig(), history or [], run_id=run_id
    )
    return result


def report_text(result: ReconciliationResult, name: str) -> str:
    for r in result.reports:
        if r.name == name:
            if isinstance(r.data, bytes):
                return r.data.decode("utf-8")
            r.data.seek(0)
            text = r.data.read().decode("utf-8")
            r.data.seek(0)
            return text
    raise AssertionError(f"no report {name}; have {[r.name for r in result.reports]}")


def discrepancy_rows(result: ReconciliationResult) -> list[dict[str, str]]:
    return list(csv.DictReader(report_text(result, "discrepancies.csv").splitlines()))


def by_item(result: ReconciliationResult) -> dict[str, dict[str, str]]:
    return {r["item"]: r for r in discrepancy_rows(result)}
