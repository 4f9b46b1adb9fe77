"""Consecutive out-of-balance runs and the transaction-audit flag."""

from __future__ import annotations

from pathlib import Path

from shared.domain.reconciliation.config import AuditBasis, ReconcileConfig
from shared.domain.reconciliation.history import flagged_for_audit, joined_key, update_streaks

from .conftest import by_item, run, write_csv


def _files(tmp_path: Path, wms_a3: str) -> tuple[Path, Path]:
    erp = write_csv(
        tmp_path / "e.csv",
        ["ItemNumber", "InventoryWarehouseId", "OnHandQuantity", "UnitCost"],
        [["A0003", "13", "12", "899"], ["A0002", "13", "35", "0.15"]],
    )
    wms = write_csv(
        tmp_path / "w.csv",
        ["item_id", "warehouse", "on_hand"],
        [["A0003", "13", wms_a3], ["A0002", "13", "31"]],
    )
    return erp, wms


def test_flag_after_three_consecutive_runs(tmp_path: Path) -> None:
    erp, wms = _files(tmp_path, "11")
    history: list[dict] = []
    for i in range(1, 4):
        result = run(erp, wms, history=history, run_id=f"r{i}")
        history.append(result.summary)
    assert by_item(result)["A0003"]["consecutive_runs"] == "3"
    assert by_item(result)["A0003"]["audit"] == "yes"
    assert result.summary["audit"]["flagged"] == [{"item": "A0003", "warehouse": "13", "runs": 3}]
    # the cheap, immaterial difference never counts (audit basis: material)
    assert by_item(result)["A0002"]["audit"] == "no"
    assert "A0003" in report_text_html(result)


def report_text_html(result) -> str:
    from .conftest import report_text

    return report_text(result, "report.html")


def test_two_runs_do_not_flag(tmp_path: Path) -> None:
    erp, wms = _files(tmp_path, "11")
    h = [run(erp, wms, run_id="r1").summary]
    result = run(erp, wms, history=h, run_id="r2")
    assert by_item(result)["A0003"]["consecutive_runs"] == "2"
    assert result.summary["audit"]["flagged"] == []


def test_balanced_run_resets_streak(tmp_path: Path) -> None:
    erp, wms = _files(tmp_path, "11")
    h = [run(erp, wms, run_id="r1").summary, run(erp, wms, run_id="r2").summary]
    (tmp_path / "balanced").mkdir()
    balanced = run(*_files(tmp_path / "balanced", "12"), history=h, run_id="r3")
    assert "A0003" not in by_item(balanced)
    h.append(balanced.summary)
    assert by_item(run(erp, wms, history=h, run_id="r4"))["A0003"]["consecutive_runs"] == "1"


def test_refire_of_same_run_and_error_runs_do_not_count(tmp_path: Path) -> None:
    erp, wms = _files(tmp_path, "11")
    h = [run(erp, wms, run_id="r1").summary]
    h.append({"run_id": "bad", "status": "error"})
    r2 = run(erp, wms, history=h, run_id="r2")
    h.append(r2.summary)
    again = run(erp, wms, history=h, run_id="r2")  # trigger fired twice for r2
    assert by_item(again)["A0003"]["consecutive_runs"] == "2"


def test_audit_basis_any_counts_immaterial_differences(tmp_path: Path) -> None:
    erp, wms = _files(tmp_path, "11")
    cfg = ReconcileConfig(audit_basis=AuditBasis.ANY, audit_after_runs=2)
    h = [run(erp, wms, cfg, run_id="r1").summary]
    result = run(erp, wms, cfg, history=h, run_id="r2")
    assert by_item(result)["A0002"]["audit"] == "yes"


def test_pure_streak_functions() -> None:
    prev = {"run_id": "a", "status": "ok", "out_of_balance": [{"item": "X", "warehouse": "1", "runs": 2}]}
    s = update_streaks([prev], "b", [("X", "1"), ("Y", "1")])
    assert s == {("X", "1"): 3, ("Y", "1"): 1}
    assert flagged_for_audit(s, 3) == [(("X", "1"), 3)]


def test_the_engine_builds_the_joined_key_the_history_holds_streaks_under() -> None:
    """The engine way looks streaks up by ``joined_key`` made in SQL: it must be the same text whatever
    the ids hold (colons, digits, nothing, letters of several bytes, a combining accent, an emoji)."""
    import duckdb

    from shared.adapters.difference_texts import JOINED_KEY

    pairs = [("12:3", "W:1"), ("", "W"), ("A", ""), ("7", "77"), ("Ärmel ✓", "Lager"), ("e\u0301", "1"), ("👍🏽", "")]
    sql = JOINED_KEY.format(item="unnest($i)", warehouse="unnest($w)")
    made = duckdb.connect().execute(f"SELECT {sql}", {"i": [p[0] for p in pairs], "w": [p[1] for p in pairs]})
    assert [r[0] for r in made.fetchall()] == [joined_key(item, wh) for item, wh in pairs]
