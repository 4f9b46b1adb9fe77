"""HTML report is self-contained and escaped; the local sink publishes whole sets only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.adapters.local_reports import LocalDirSink
from shared.domain.reconciliation.config import ReconcileConfig
from shared.services.reconcile import SnapshotSource, publish, run_reconciliation

from .conftest import ERP_HEADER, ERP_ROWS, WMS_HEADER, WMS_ROWS, report_text, run, write_csv


def test_html_escapes_values_and_has_no_external_assets(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    erp = write_csv(
        tmp_path / "e.csv",
        ["ItemNumber", "InventoryWarehouseId", "OnHandQuantity", "UnitCost"],
        [[evil, '"><img src=x>', "10", "100"]],
    )
    wms = write_csv(tmp_path / "w.csv", ["sku", "wh", "qty"], [[evil, '"><img src=x>', "8"]])
    html = report_text(run(erp, wms), "report.html")
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<link" not in html


def test_html_has_chart_largest_differences_and_trend(sample_files: tuple[Path, Path]) -> None:
    h = [run(*sample_files, run_id="earlier").summary]
    html = report_text(run(*sample_files, history=h, run_id="now"), "report.html")
    assert html.count("<svg") == 2  # value by warehouse + trend
    assert "Largest differences" in html
    assert html.index("A0003") < html.index("A0001")  # -899 ranks above -8.20
    assert "earlier" in html


def test_local_sink_commit_writes_manifest_and_leaves_no_staging(
    sample_files: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_reconciliation(
        SnapshotSource(sample_files[0]),
        SnapshotSource(sample_files[1]),
        ReconcileConfig(),
        [],
        LocalDirSink(out),
        run_id="r1",
    )
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "differences.csv",
        "discrepancies.csv",
        "history.json",
        "journal_index.json",
        "line_index.json",
        "manifest.json",
        "proposed_journal.json",
        "report.html",
        "report.xlsx",
        "summary.json",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == set(names) - {"manifest.json"}
    assert manifest["files"]["discrepancies.csv"]["bytes"] == (out / "discrepancies.csv").stat().st_size


def test_rerun_gives_identical_reports_and_no_duplicates(sample_files: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    contents = []
    for _ in range(2):
        run_reconciliation(
            SnapshotSource(sample_files[0]),
            SnapshotSource(sample_files[1]),
            ReconcileConfig(),
            [],
            LocalDirSink(out),
            run_id="r1",
        )
        contents.append({p.name: p.read_bytes() for p in out.iterdir()})
    assert contents[0] == contents[1]
    assert len(contents[1]) == 10  # six reports, the history brief, the journal and line indexes, the manifest


class _FailingSink(LocalDirSink):
    def write(self, name, data, content_type):  # type: ignore[override]
        if name == "report.html":
            raise OSError("disk full")
        super().write(name, data, content_type)


def test_failed_publish_leaves_nothing_visible(sample_files: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(*sample_files)
    with pytest.raises(OSError):
        publish(result, _FailingSink(out))
    assert list(out.iterdir()) == []


def test_sink_rejects_path_names(tmp_path: Path) -> None:
    sink = LocalDirSink(tmp_path / "o")
    for bad in ("../x", "a/b", ".hidden", "manifest.json"):
        with pytest.raises(ValueError):
            sink.write(bad, b"", "text/plain")
    sink.abort()


def test_summary_json_holds_no_floats(tmp_path: Path) -> None:
    erp = write_csv(tmp_path / "e.csv", ERP_HEADER, ERP_ROWS)
    wms = write_csv(tmp_path / "w.csv", WMS_HEADER, WMS_ROWS, ";")
    result = run(erp, wms)
    floats: list[str] = []
    for name in ("summary.json", "proposed_journal.json"):
        json.loads(report_text(result, name), parse_float=floats.append)
    assert floats == []


def test_engine_spill_directory_is_private_and_removed(sample_files: tuple[Path, Path], tmp_path: Path) -> None:
    from shared.adapters.snapshot_engine import EngineSettings
    from shared.services.reconcile import reconcile

    spill = tmp_path / "spill"
    spill.mkdir()
    ok = reconcile(
        SnapshotSource(sample_files[0]),
        SnapshotSource(sample_files[1]),
        ReconcileConfig(),
        [],
        run_id="r",
        engine=EngineSettings(temp_directory=str(spill)),
    )
    bad = reconcile(
        SnapshotSource(sample_files[0]),
        SnapshotSource(tmp_path / "missing.csv"),
        ReconcileConfig(),
        [],
        run_id="r",
        engine=EngineSettings(temp_directory=str(spill)),
    )
    assert ok.ok and not bad.ok
    assert list(spill.iterdir()) == []
