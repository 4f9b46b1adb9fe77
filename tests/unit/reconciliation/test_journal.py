"""Proposed journal: direction, mode, stable line ids, split at 1,000 lines."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

from shared.domain.reconciliation.config import JournalMode, ReconcileConfig, Side
from shared.domain.reconciliation.journal import (
    JournalProposer,
    JournalText,
    journal_document,
    line_id,
    propose,
)
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


def test_immaterial_differences_are_not_proposed_when_configured_material_only() -> None:
    cfg = ReconcileConfig(propose="material")
    assert propose("r1", [_disc("A", "98", "100", cfg, cost="0.01")], cfg) == []


def test_documents_example_external_100_erp_98_proposes_a_receipt_of_2_by_default() -> None:
    """The Oracle document: external master 100, ERP 98, unit cost 10 (value 20 < 50) -> receipt of 2."""
    cfg = ReconcileConfig()
    disc = _disc("A", "98", "100", cfg, cost="10")
    assert not disc.assessment.material
    [[line]] = propose("r1", [disc], cfg)
    assert line.quantity_delta == 2 and line.movement == "receipt" and line.review is False
    assert line.to_json()["movement"] == "receipt" and json.loads(line.to_json_text()) == line.to_json()


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
    assert first["target"] == "erp" and first["line_count"] == 2  # every difference is proposed
    line = next(ln for ln in first["journals"][0]["lines"] if ln["item"] == "A0003")
    assert line["review"] is True and line["movement"] == "issue"
    cheap = next(ln for ln in first["journals"][0]["lines"] if ln["item"] == "A0002")
    assert cheap["review"] is False and cheap["quantity_delta"] == "-4"
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


def test_journal_text_is_exactly_json_dumps_of_the_document() -> None:
    """The report writes journal JSON as text; it must match json.dumps of the dict byte for byte."""
    tricky = ['A"1', "B\\2", "C\n3", "Ärmel ✓", "\x01ctl", "=HYPERLINK(1)", "", "\u2028sep"]
    for master, mode in ((Side.WMS, JournalMode.MOVEMENT), (Side.ERP, JournalMode.COUNTING)):
        cfg = ReconcileConfig(master=master, journal_mode=mode, journal_max_lines=3)
        discs = [
            Discrepancy(
                {"item": item, "warehouse": f"W{i}", "batch": item, "status": "", "location": "L\t1"},
                None if i % 2 else "S\\1",
                None,
                None if i % 3 == 0 else D("0.1234567"),
                assess(
                    erp_qty=D(i) / D(7),
                    wms_qty=D("1E+3") if i % 2 else D("-0.5"),
                    unit_cost=None if i % 3 == 0 else D("0.1234567"),
                    item=item,
                    item_class=None,
                    config=cfg,
                ),
            )
            for i, item in enumerate(tricky)
        ]
        journals = propose('run"1', discs, cfg)
        assert len(journals) >= 2  # the split between journals is covered too
        expected = json.dumps(journal_document('run"1', journals, cfg), ensure_ascii=False, separators=(",", ":"))
        text = JournalText('run"1', cfg)
        for line in (ln for j in journals for ln in j):
            text.add(line)
        assert text.text() == expected
        assert (text.line_count, text.journal_count) == (sum(map(len, journals)), len(journals))
        assert [ln.to_json_text() for j in journals for ln in j] == [
            json.dumps(ln.to_json(), ensure_ascii=False, separators=(",", ":")) for j in journals for ln in j
        ]


def test_journal_proposer_numbers_lines_like_propose() -> None:
    cfg = ReconcileConfig(journal_max_lines=2)
    discs = [_disc(f"I{i}", "0", "1" if i % 3 else "0", cfg) for i in range(9)]
    proposer = JournalProposer("r", cfg)
    streamed = [line for line in map(proposer.line_for, discs) if line is not None]
    assert streamed == [ln for j in propose("r", discs, cfg) for ln in j]
    assert [(ln.journal_id, ln.line_number) for ln in streamed] == [
        ("r-001", 1),
        ("r-001", 2),
        ("r-002", 1),
        ("r-002", 2),
        ("r-003", 1),
        ("r-003", 2),
    ]


def test_fmt_matches_format_f_reference() -> None:
    from shared.domain.reconciliation.rules import fmt

    def reference(d: D) -> str:
        text = format(d, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text

    values = ["0", "-0", "0E-7", "1E+2", "-1.5E-9", "123E-6", "33.000000", "-774.060000000000", "NaN", "-Infinity"]
    values += [str(D(i) / D(7)) for i in range(-50, 50)] + [str(D(i).scaleb(-i % 13)) for i in range(-300, 300)]
    for v in values:
        assert fmt(D(v)) == reference(D(v)), v
