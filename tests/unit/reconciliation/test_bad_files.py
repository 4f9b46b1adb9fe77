"""Unreadable or invalid snapshots give an error result and an error report, never an exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.adapters.local_reports import LocalDirSink
from shared.domain.reconciliation.config import ReconcileConfig
from shared.services.reconcile import SnapshotSource, run_reconciliation

from .conftest import ERP_HEADER, ERP_ROWS, WMS_HEADER, WMS_ROWS, report_text, run, write_csv


@pytest.fixture
def good_erp(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "erp.csv", ERP_HEADER, ERP_ROWS)


def _assert_error(result, needle: str) -> None:
    assert not result.ok
    assert result.summary["status"] == "error"
    assert any(needle in e for e in result.errors), result.errors
    assert {r.name for r in result.reports} == {"summary.json", "report.html"}
    assert needle.split()[0] in report_text(result, "report.html")


def test_missing_quantity_column(tmp_path: Path, good_erp: Path) -> None:
    wms = write_csv(tmp_path / "w.csv", ["item_id", "warehouse", "lot"], [["A", "1", ""]])
    _assert_error(run(good_erp, wms), "no quantity column")


def test_non_numeric_quantity(tmp_path: Path, good_erp: Path) -> None:
    wms = write_csv(tmp_path / "w.csv", WMS_HEADER, [*WMS_ROWS, ["Z1", "11", "", "twelve"]])
    result = run(good_erp, wms)
    _assert_error(result, "not a number")
    assert "twelve" in result.errors[0]


def test_decimal_comma_is_rejected_not_misread(tmp_path: Path, good_erp: Path) -> None:
    wms = write_csv(tmp_path / "w.csv", WMS_HEADER, [["A0002", "13", "", "1,5"]], delimiter=";")
    _assert_error(run(good_erp, wms), "not a number")


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path: Path, good_erp: Path, content: bytes) -> None:
    wms = tmp_path / "w.csv"
    wms.write_bytes(content)
    _assert_error(run(good_erp, wms), "empty")


def test_header_only_on_both_sides(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_HEADER, [])
    wms = write_csv(tmp_path / "w.csv", WMS_HEADER, [])
    _assert_error(run(erp, wms), "no data rows")


def test_not_text(tmp_path: Path, good_erp: Path) -> None:
    wms = tmp_path / "w.csv"
    wms.write_bytes(b"item_id;warehouse;on_hand\n\x81\x00\x9d;1;2\n")  # neither UTF-8/16 nor Windows-1252
    _assert_error(run(good_erp, wms), "UTF-8")


def test_missing_file(tmp_path: Path, good_erp: Path) -> None:
    _assert_error(run(good_erp, tmp_path / "nope.csv"), "not found")


def test_ragged_rows(tmp_path: Path, good_erp: Path) -> None:
    wms = tmp_path / "w.csv"
    wms.write_text("item_id;warehouse;on_hand\nA;1;2;9;9\n")
    _assert_error(run(good_erp, wms), "line 2: expected 3 columns")


def test_error_run_replaces_previous_reports(tmp_path: Path, good_erp: Path) -> None:
    out = tmp_path / "out"
    wms = write_csv(tmp_path / "w.csv", WMS_HEADER, WMS_ROWS, ";")
    ok = run_reconciliation(
        SnapshotSource(good_erp), SnapshotSource(wms), ReconcileConfig(), [], LocalDirSink(out), run_id="r"
    )
    assert ok.ok and (out / "discrepancies.csv").exists()
    wms.write_text("item_id;warehouse\nA;1\n")
    bad = run_reconciliation(
        SnapshotSource(good_erp), SnapshotSource(wms), ReconcileConfig(), [], LocalDirSink(out), run_id="r"
    )
    assert not bad.ok
    assert json.loads((out / "summary.json").read_text())["status"] == "error"
    assert not (out / "discrepancies.csv").exists()
    assert not (out / "proposed_journal.json").exists()


def test_missing_item_id(tmp_path: Path, good_erp: Path) -> None:
    wms = write_csv(tmp_path / "w.csv", WMS_HEADER, [*WMS_ROWS, ["", "11", "", "5"]])
    _assert_error(run(good_erp, wms), "missing item id")
