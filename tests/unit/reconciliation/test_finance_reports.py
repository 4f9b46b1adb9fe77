"""The CSV, workbook and HTML a finance team opens (BOM, ids as text, plain names, header
block, as-of times, unknown-value items, thresholds, proposed line ids and how to approve them)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from shared.adapters import report_xlsx
from shared.domain.reconciliation.config import ReconcileConfig
from shared.services.reconcile import ReconciliationResult, SnapshotSource, reconcile

from .conftest import report_text, write_csv

ERP_HEADER = ["ItemNumber", "InventoryWarehouseId", "OnHandQuantity", "UnitCost"]
WMS_HEADER = ["sku", "wh", "qty"]


def _run(tmp_path: Path, erp_rows: list[list[str]], wms_rows: list[list[str]], **kw: object) -> ReconciliationResult:
    erp = write_csv(tmp_path / "erp.csv", ERP_HEADER, erp_rows)
    wms = write_csv(tmp_path / "wms.csv", WMS_HEADER, wms_rows)
    as_of = kw.pop("as_of", None)
    return reconcile(
        SnapshotSource(erp, as_of=as_of),  # type: ignore[arg-type]
        SnapshotSource(wms, as_of=as_of),  # type: ignore[arg-type]
        kw.pop("config", ReconcileConfig()),  # type: ignore[arg-type]
        kw.pop("history", []),  # type: ignore[arg-type]
        run_id="fin-1",
    )


@pytest.fixture
def result(tmp_path: Path) -> ReconciliationResult:
    return _run(
        tmp_path,
        [
            ["00417", "11", "10", "99.586"],
            ["Ärmel", "11", "1", "2.50"],
            ['=HYPERLINK("http://x","y")', "11", "4", "1"],
            ["NOCOST", "11", "5", ""],
        ],
        [
            ["00417", "11", "0"],
            ["Ärmel", "11", "2"],
            ['=HYPERLINK("http://x","y")', "11", "1"],
            ["NOCOST", "11", "7"],
        ],
        as_of=datetime(2026, 11, 26, 8, 0, tzinfo=UTC),
    )


def _bytes(result: ReconciliationResult, name: str) -> bytes:
    for r in result.reports:
        if r.name == name:
            if isinstance(r.data, bytes):
                return r.data
            r.data.seek(0)
            data = r.data.read()
            r.data.seek(0)
            return data
    raise AssertionError(f"no {name}")


def _finance_csv(result: ReconciliationResult) -> tuple[list[list[str]], list[dict[str, str]]]:
    """(header block rows, table rows as dicts) of differences.csv."""
    lines = list(csv.reader(io.StringIO(_bytes(result, "differences.csv").decode("utf-8-sig"))))
    blank = lines.index([])
    header, *rows = lines[blank + 1 :]
    return lines[:blank], [dict(zip(header, r, strict=True)) for r in rows]


# --- differences.csv ---------------------------------------------------------------------------


def test_differences_csv_starts_with_a_utf8_bom_and_keeps_accents(result: ReconciliationResult) -> None:
    raw = _bytes(result, "differences.csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    assert "Ärmel" in raw.decode("utf-8-sig")


def test_leading_zero_id_is_kept_as_text_without_a_formula(result: ReconciliationResult) -> None:
    _, rows = _finance_csv(result)
    items = {r["Item"] for r in rows}
    assert "'00417" in items  # a spreadsheet shows '00417, never 417
    assert not any(cell.startswith("=") for r in rows for cell in r.values())  # no ="00417" trick


def test_formula_ids_stay_neutralised_in_the_finance_csv(result: ReconciliationResult) -> None:
    _, rows = _finance_csv(result)
    assert '\'=HYPERLINK("http://x","y")' in {r["Item"] for r in rows}


def test_plain_column_names_and_category_labels(result: ReconciliationResult) -> None:
    _, rows = _finance_csv(result)
    assert list(rows[0])[:5] == ["Status", "Over threshold", "Item", "Site", "Warehouse"]
    assert "Difference (WMS − ERP)" in rows[0] and "Value difference" in rows[0]
    assert {r["Status"] for r in rows} == {"Quantity differs"}
    by_item = {r["Item"]: r for r in rows}
    assert by_item["'00417"]["Difference (WMS − ERP)"] == "-10"  # numbers stay plain numbers
    assert by_item["'00417"]["Value difference"] == "-995.86"


def test_header_block_names_run_times_sign_rule_thresholds_and_currency(result: ReconciliationResult) -> None:
    block, _ = _finance_csv(result)
    facts = {row[0]: row[1] for row in block if len(row) == 2}
    assert facts["Run"] == "fin-1"
    assert facts["ERP as of"] == "2026-11-26 08:00:00 UTC"
    assert facts["WMS as of"] == "2026-11-26 08:00:00 UTC"
    assert facts["Sign rule"] == "difference = WMS − ERP"
    assert facts["Threshold, both directions"] == "|value| > 50"
    assert facts["Master side"] == "WMS"
    assert "Currency" in facts and "Run date/time" in facts


def test_split_thresholds_are_listed_per_direction(tmp_path: Path) -> None:
    config = ReconcileConfig.model_validate(
        {"materiality": {"positive": {"quantity": "5"}, "negative": {"value": "20", "percent": "10"}}}
    )
    block, _ = _finance_csv(_run(tmp_path, [["A1", "1", "1", "1"]], [["A1", "1", "2"]], config=config))
    facts = {row[0]: row[1] for row in block if len(row) == 2}
    assert facts["Threshold, WMS holds more (positive)"] == "|quantity| > 5"
    assert facts["Threshold, WMS holds less (negative)"] == "percent of master > 10 % or |value| > 20"


def test_machine_csv_is_unchanged_for_existing_consumers(result: ReconciliationResult) -> None:
    text = report_text(result, "discrepancies.csv")
    assert text.startswith("category,material,item,")  # no BOM, no header block
    rows = list(csv.DictReader(text.splitlines()))
    assert "00417" in {r["item"] for r in rows}  # raw id, no apostrophe


# --- report.xlsx --------------------------------------------------------------------------------


def _workbook(result: ReconciliationResult) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(_bytes(result, "report.xlsx")))


def test_workbook_has_summary_differences_and_journal_sheets(result: ReconciliationResult) -> None:
    wb = _workbook(result)
    assert wb.sheetnames == ["Summary", "Differences", "Proposed journal"]


def test_workbook_keeps_ids_as_text_and_quantities_as_formatted_numbers(result: ReconciliationResult) -> None:
    ws = _workbook(result)["Differences"]
    header = [c.value for c in ws[1]]
    item_col, diff_col, value_col = (
        header.index("Item"),
        header.index("Difference (WMS − ERP)"),
        header.index("Value difference"),
    )
    rows = {r[item_col].value: r for r in ws.iter_rows(min_row=2)}
    cell = rows["00417"][item_col]
    assert cell.data_type == "s" and cell.value == "00417"  # text, leading zeros kept
    diff, value = rows["00417"][diff_col], rows["00417"][value_col]
    assert diff.data_type == "n" and diff.value == -10 and diff.number_format == "#,##0"
    assert value.value == pytest.approx(-995.86) and value.number_format.startswith("#,##0.00")
    formula = rows['\'=HYPERLINK("http://x","y")'][item_col]
    assert formula.data_type == "s"  # a string cell, never a formula


def test_workbook_summary_counts_unknown_value_items(result: ReconciliationResult) -> None:
    ws = _workbook(result)["Summary"]
    facts = {r[0].value: r[1].value for r in ws.iter_rows() if r[0].value}
    assert facts["Items of unknown value (not in value totals)"] == 1
    assert facts["Sign rule"] == "difference = WMS − ERP"
    assert facts["ERP as of"] == "2026-11-26 08:00:00 UTC"


def test_workbook_journal_sheet_lists_every_proposed_line_id(result: ReconciliationResult) -> None:
    ws = _workbook(result)["Proposed journal"]
    ids = [r[0].value for r in ws.iter_rows(min_row=2)]
    journal = result.journal
    assert journal is not None
    expected = [ln["line_id"] for j in journal["journals"] for ln in j["lines"]]
    assert ids == expected and expected


def test_workbook_puts_rows_over_threshold_first_and_says_what_was_left_out(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(report_xlsx, "XLSX_MAX_ROWS", 2)
    costs = {"I0": "1", "I1": "100", "I2": "1", "I3": "100", "I4": "1"}  # 1 unit off: material only at 100
    small = _run(
        tmp_path,
        [[item, "1", "1", cost] for item, cost in costs.items()],
        [[item, "1", "2"] for item in costs],
    )
    wb = _workbook(small)
    values = [r[0].value for r in wb["Differences"].iter_rows(min_row=2)]
    items = [r[2].value for r in wb["Differences"].iter_rows(min_row=2, max_row=3)]
    assert items == ["I1", "I3"]  # over threshold first
    assert values[-1] == "2 rows shown; 3 more are left out of this workbook — differences.csv holds every row."
    journal = [r[0].value for r in wb["Proposed journal"].iter_rows(min_row=2)]
    # Every difference is proposed (materiality flags for review), so the journal sheet is capped as well.
    assert len(journal) == 3
    assert journal[-1] == "2 rows shown; 3 more are left out of this workbook — proposed_journal.json holds every row."


# --- report.html --------------------------------------------------------------------------------


def test_html_shows_as_of_times(result: ReconciliationResult) -> None:
    html = report_text(result, "report.html")
    assert '<dd id="erp-as-of">2026-11-26 08:00:00 UTC</dd>' in html
    assert '<dd id="wms-as-of">2026-11-26 08:00:00 UTC</dd>' in html


def test_html_says_not_given_without_as_of_times(tmp_path: Path) -> None:
    html = report_text(_run(tmp_path, [["A1", "1", "1", "1"]], [["A1", "1", "2"]]), "report.html")
    assert '<dd id="erp-as-of">not given</dd>' in html and '<dd id="wms-as-of">not given</dd>' in html
    assert "as of ," not in html and "as of ." not in html


def test_html_counts_items_of_unknown_value(result: ReconciliationResult) -> None:
    html = report_text(result, "report.html")
    assert "<b>1 item(s) of unknown value</b>" in html
    assert '<div class="kpi">unknown value<b>1</b></div>' in html


def test_html_shows_thresholds_and_sign_rule(result: ReconciliationResult) -> None:
    html = report_text(result, "report.html")
    assert "material when |value| &gt; 50" in html
    assert "difference = WMS − ERP" in html


def test_html_lists_proposed_line_ids_and_the_approve_call(result: ReconciliationResult) -> None:
    html = report_text(result, "report.html")
    journal = result.journal
    assert journal is not None
    ids = [ln["line_id"] for j in journal["journals"] for ln in j["lines"]]
    assert ids and all(f'<td class="id">{i}</td>' in html for i in ids)
    assert "/reconciliation/fin-1/approve" in html and "lineIds" in html
    # a bad day's proposal is too big for one approval: the page says how to approve it a journal at a time
    first = journal["journals"][0]["journal_id"]
    assert f'"journalIds": ["{first}"]' in html.replace("&#34;", '"') and "INGEST_MAX_LINES" in html
    assert '"background": true' in html.replace("&#34;", '"'), "a big proposal: one call in the background"


def test_html_trend_direction_rising_is_a_red_flag(tmp_path: Path) -> None:
    history = [
        {
            "run_id": f"old{i}",
            "status": "ok",
            "counts": {"material": 1, "differences": 1},
            "totals": {"abs_value_difference": "1"},
        }
        for i in range(3)
    ]
    html = report_text(_run(tmp_path, [["A1", "1", "1", "100"]], [["A1", "1", "9"]], history=history), "report.html")
    assert '<span class="bad">rising' in html


def test_summary_lists_the_new_report_files(result: ReconciliationResult) -> None:
    files = json.loads(report_text(result, "summary.json"))["files"]
    assert {"differences.csv", "report.xlsx"} <= set(files)


def test_journal_sheet_counts_left_out_lines_from_the_whole_journal(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(report_xlsx, "XLSX_MAX_ROWS", 1)
    two = _run(tmp_path, [["I1", "1", "1", "100"], ["I2", "1", "1", "100"]], [["I1", "1", "2"], ["I2", "1", "2"]])
    values = [r[0].value for r in _workbook(two)["Proposed journal"].iter_rows(min_row=2)]
    assert len(values) == 2
    assert values[-1] == "1 rows shown; 1 more are left out of this workbook — proposed_journal.json holds every row."


def test_journal_head_is_the_first_lines_of_the_written_journal() -> None:
    from decimal import Decimal

    from shared.domain.reconciliation.journal import JournalProposer, JournalText
    from shared.domain.reconciliation.model import Discrepancy
    from shared.domain.reconciliation.rules import assess

    config = ReconcileConfig.model_validate({"journal_max_lines": 2})
    proposer, text = JournalProposer("r", config), JournalText("r", config)
    for i in range(5):
        a = assess(
            erp_qty=Decimal(1), wms_qty=Decimal(9), unit_cost=Decimal(100), item=f"I{i}", item_class=None, config=config
        )
        line = proposer.line_for(Discrepancy({"item": f"I{i}"}, None, None, Decimal(100), a))
        assert line is not None
        text.add(line)
    every = [ln for j in json.loads(text.text())["journals"] for ln in j["lines"]]
    assert text.head(3) == every[:3]  # across the first journal's end
    assert text.head(99) == every
    assert text.head(0) == []


def test_configured_currency_is_in_the_header_block_workbook_and_next_to_html_values(tmp_path: Path) -> None:
    config = ReconcileConfig.model_validate({"currency": "EUR"})
    result = _run(tmp_path, [["A1", "1", "1", "100"]], [["A1", "1", "3"]], config=config)
    assert result.summary["currency"] == "EUR"
    block, _ = _finance_csv(result)
    assert {row[0]: row[1] for row in block if len(row) == 2}["Currency"] == "EUR"
    facts = {r[0].value: r[1].value for r in _workbook(result)["Summary"].iter_rows() if r[0].value}
    assert facts["Currency"] == "EUR"
    html = report_text(result, "report.html")
    assert "<dd>EUR</dd>" in html and "value difference (EUR)" in html and "|value difference| (EUR)" in html


def test_without_a_currency_the_reports_say_it_is_not_configured(result: ReconciliationResult) -> None:
    assert result.summary["currency"] is None
    block, _ = _finance_csv(result)
    assert {row[0]: row[1] for row in block if len(row) == 2}["Currency"].startswith("not configured")
    assert "value difference (" not in report_text(result, "report.html")


def test_workbook_rows_per_sheet_is_a_run_setting_and_the_sheet_says_where_the_rest_is(tmp_path: Path) -> None:
    config = ReconcileConfig.model_validate({"workbook_max_rows": 3})
    items = [f"I{i}" for i in range(5)]
    result = _run(tmp_path, [[i, "1", "1", "100"] for i in items], [[i, "1", "2"] for i in items], config=config)
    wb = _workbook(result)
    differences = [r[0].value for r in wb["Differences"].iter_rows(min_row=2)]
    assert differences[-1] == "3 rows shown; 2 more are left out of this workbook — differences.csv holds every row."
    journal = [r[0].value for r in wb["Proposed journal"].iter_rows(min_row=2)]
    assert journal[-1] == "3 rows shown; 2 more are left out of this workbook — proposed_journal.json holds every row."


@pytest.mark.parametrize("rows", [0, 10_001])
def test_workbook_rows_per_sheet_is_bounded(rows: int) -> None:
    with pytest.raises(ValueError, match="workbook_max_rows"):
        ReconcileConfig.model_validate({"workbook_max_rows": rows})


def test_a_run_warning_heads_the_csv_and_the_workbook_not_only_the_web_page(tmp_path: Path) -> None:
    """Finance reads the CSV and the workbook: snapshots taken hours apart must be said there too."""
    erp = write_csv(tmp_path / "erp.csv", ERP_HEADER, [["A1", "11", "5", "2"]])
    wms = write_csv(tmp_path / "wms.csv", WMS_HEADER, [["A1", "11", "7"]])
    result = reconcile(
        SnapshotSource(erp, as_of=datetime(2026, 11, 23, 6, 0, tzinfo=UTC)),
        SnapshotSource(wms, as_of=datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),
        ReconcileConfig(warn_differing_percent=None),  # its one key differs: only the as-of warning here
        [],
        run_id="fin-1",
    )
    (warning,) = result.summary["warnings"]
    assert "3:00:00 apart" in warning
    head = list(csv.reader(report_text(result, "differences.csv").lstrip("\ufeff").splitlines()))[:12]
    assert ["Warning", warning] in head
    summary_sheet = _workbook(result)["Summary"]
    assert ("Warning", warning) in {(r[0].value, r[1].value) for r in summary_sheet.iter_rows() if len(r) > 1}
    quiet = _run(
        tmp_path, [["A1", "11", "5", "2"]], [["A1", "11", "7"]], config=ReconcileConfig(warn_differing_percent=None)
    )
    assert "Warning" not in {r[0] for r in csv.reader(report_text(quiet, "differences.csv").splitlines()) if r}


def test_a_run_where_many_keys_differ_warns_that_the_export_may_be_wrong(tmp_path: Path) -> None:
    """30 % of keys differing is rarely stock: a partial export, units or a warehouse mapping that does not
    match. The run says so in every report before anyone approves its journal; 10 % by default."""
    erp = [[f"A{i}", "11", "5", "2"] for i in range(1000)]
    wms = [[f"A{i}", "11", "6" if i % 10 < 3 else "5"] for i in range(1000)]
    result = _run(tmp_path, erp, wms)
    (warning,) = result.summary["warnings"]
    assert warning.startswith("30 % of the compared keys differ (300 of 1,000)") and "10 %" in warning
    assert ["Warning", warning] in list(
        csv.reader(report_text(result, "differences.csv").lstrip("\ufeff").splitlines())
    )
    assert "300 of 1,000" in report_text(result, "report.html")
    assert _run(tmp_path, erp, wms, config=ReconcileConfig(warn_differing_percent=30)).summary["warnings"] == []
    assert _run(tmp_path, erp, wms, config=ReconcileConfig(warn_differing_percent=None)).summary["warnings"] == []
    few = [[f"A{i}", "11", "6" if i % 10 < 1 else "5"] for i in range(1000)]
    assert _run(tmp_path, erp, few).summary["warnings"] == []  # 10 % is not more than 10 %
    small = _run(tmp_path, erp[:999], wms[:999])  # 299 of 999 differ, but below 1,000 keys a share says little
    assert small.summary["warnings"] == []


@pytest.mark.parametrize("bad", [0, -1, 101, "ten"])
def test_the_differing_share_warning_takes_a_percent(bad: object) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="warn_differing_percent"):
        ReconcileConfig.model_validate({"warn_differing_percent": bad})


def test_a_thousand_stores_chart_their_largest_differences_not_a_bar_each(tmp_path: Path) -> None:
    """A retailer with 1,000 stores had a 1,000-bar chart, 24,000 px tall: the page charts the warehouses
    with the largest |value difference| and one bar for the rest; the table still lists every one."""
    import re as regex

    stores = 60
    erp = [[f"P{s:03d}", f"S{s:03d}", "10", "1"] for s in range(stores)]
    wms = [[f"P{s:03d}", f"S{s:03d}", str(10 + s)] for s in range(stores)]  # store s differs by s (value s)
    html = report_text(_run(tmp_path, erp, wms), "report.html")
    chart = html.split('aria-label="value difference by warehouse"', 1)[1].split("</svg>", 1)[0]
    bars = regex.findall(r"<rect[^>]*><title>([^<]*)</title>", chart)
    assert len(bars) == 25
    assert bars[0].startswith("S059") and bars[23].startswith("S036")  # the largest first
    assert bars[24].startswith("S035")
    note = html.split('id="warehouses-folded">', 1)[1].split("</p>", 1)[0]
    assert "other 34 differ by 595" in " ".join(note.split())  # S001 … S034 (1 + … + 34); S000 has none
    table = html.split("Value difference by warehouse", 1)[1]
    assert all(f"S{s:03d}" in table for s in range(stores))
    small = report_text(_run(tmp_path, erp[:5], wms[:5]), "report.html")
    small_chart = small.split('aria-label="value difference by warehouse"', 1)[1].split("</svg>", 1)[0]
    assert len(regex.findall(r"<rect[^>]*><title>", small_chart)) == 4 and "other warehouses" not in small_chart
