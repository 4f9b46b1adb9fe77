"""Proposed journal: direction, mode, stable line ids, split at 1,000 lines."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

from shared.domain.reconciliation.config import JournalMode, ReconcileConfig, Side
from shared.domain.reconciliation.journal import line_id, propose
from shared.domain.reconciliation.model import Discrepancy
from shared.domain.reconciliation.rules import assess

from .conftest import report_text, run, write_csv


def _disc(item: str, erp: str, wms: str, cfg: ReconcileConfig, cost: str = "1000") -> Discrepancy:
    a = assess(erp_qty=D(erp), wms_qty=D(wms), unit_cost=D(cost), item=item, item_class=None, config=cfg)
    return Discrepancy({"item": item, "warehouse": "W1"}, "S1", None, D(cost), a)


def test_master_wms_adjusts_erp_by_delta() -> None:
    cfg = ReconcileConfig()
    [[line]] = propose("r1", [_disc("A", "98", "100", cfg)], cfg)
    assert line.target is Side.ERP
    assert line.quantity_delta == D(2)
    assert line.counted_quantity is None
    assert (line.site, line.warehouse) == ("S1", "W1")


def test_master_erp_adjusts_wms() -> None:
    cfg = ReconcileConfig(master=Side.ERP)
    [[line]] = propose("r1", [_disc("A", "98", "100", cfg)], cfg)
    assert line.target is Side.WMS
    assert line.quantity_delta == D(-2)
    assert line.book_quantity == D(100)


def test_counting_mode_sets_counted_quantity() -> None:
    cfg = ReconcileConfig(journal_mode=JournalMode.COUNTING)
    [[line]] = propose("r1", [_disc("A", "98", "100", cfg)], cfg)
    assert line.counted_quantity == D(100)
    assert line.book_quantity == D(98)
    assert line.to_json()["counted_quantity"] == "100"


def test_immaterial_differences_are_not_proposed() -> None:
    cfg = ReconcileConfig()
    assert propose("r1", [_disc("A", "98", "100", cfg, cost="0.01")], cfg) == []


def test_split_at_1000_lines() -> None:
    cfg = ReconcileConfig()
    discs = [_disc(f"I{i:05d}", "0", "1", cfg) for i in range(2500)]
    journals = propose("r9", discs, cfg)
    assert [len(j) for j in journals] == [1000, 1000, 500]
    assert [j[0].journal_id for j in journals] == ["r9-001", "r9-002", "r9-003"]
    assert journals[1][0].line_number == 1 and journals[1][-1].line_number == 1000
    ids = [ln.line_id for j in journals for ln in j]
    assert len(set(ids)) == 2500


def test_line_ids_are_stable_and_key_specific() -> None:
    a = line_id("r1", Side.ERP, {"item": "A", "warehouse": "1"})
    assert a == line_id("r1", Side.ERP, {"item": "A", "warehouse": "1"})
    assert a != line_id("r2", Side.ERP, {"item": "A", "warehouse": "1"})
    assert a != line_id("r1", Side.ERP, {"item": "A", "warehouse": "11"})
    assert a != line_id("r1", Side.ERP, {"item": "A1", "warehouse": ""})
    assert a != line_id("r1", Side.WMS, {"item": "A", "warehouse": "1"})


def test_journal_document_from_a_run(tmp_path: Path) -> None:
    erp = write_csv(
        tmp_path / "e.csv",
        ["ItemNumber", "InventorySiteId", "InventoryWarehouseId", "OnHandQuantity", "UnitCost"],
        [["A0003", "1", "13", "12", "899.00"], ["A0002", "1", "13", "35", "0.15"]],
    )
    wms = write_csv(
        tmp_path / "w.csv",
        ["item_id", "warehouse", "on_hand"],
        [["A0003", "13", "11"], ["A0002", "13", "31"]],
    )
    first = json.loads(report_text(run(erp, wms, run_id="R"), "proposed_journal.json"))
    again = json.loads(report_text(run(erp, wms, run_id="R"), "proposed_journal.json"))
    assert first == again
    assert first["target"] == "erp" and first["line_count"] == 1
    line = first["journals"][0]["lines"][0]
    assert {k: line[k] for k in ("item", "site", "warehouse", "quantity_delta", "run_id", "journal_id")} == {
        "item": "A0003",
        "site": "1",
        "warehouse": "13",
        "quantity_delta": "-1",
        "run_id": "R",
        "journal_id": "R-001",
    }


def test_split_at_1000_end_to_end(tmp_path: Path) -> None:
    n = 1001
    erp = write_csv(
        tmp_path / "e.csv",
        ["ItemNumber", "OnHandQuantity", "UnitCost"],
        [[f"I{i:04d}", "10", "100"] for i in range(n)],
    )
    wms = write_csv(tmp_path / "w.csv", ["sku", "qty"], [[f"I{i:04d}", "9"] for i in range(n)])
    result = run(erp, wms)
    doc = json.loads(report_text(result, "proposed_journal.json"))
    assert [len(j["lines"]) for j in doc["journals"]] == [1000, 1]
    assert result.summary["journal"]["journals"] == 2
