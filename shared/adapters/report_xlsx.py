"""report.xlsx: the run as a workbook (Summary, Differences, Proposed journal), since finance lives in Excel.

Why XlsxWriter: it is write-only and, with ``constant_memory``, streams each
row to a temp file, so a large run costs disk rather than memory; ids go in as
string cells (``00417`` stays ``00417``, never a number, never a formula) and
quantities and values as numbers with number formats.

Why at most ``XLSX_MAX_ROWS`` rows per list sheet: a workbook cell costs tens of
microseconds (a CSV cell a fraction of one), and a bad day has hundreds of
thousands of differing keys. The Differences sheet takes the rows over threshold
first (what needs review), then the others, and its last row says how many were
left out; differences.csv and proposed_journal.json always hold every row.

The output is byte-for-byte reproducible (fixed document time), like every other
report of a run: a re-fired run must give the same files and sha256 values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from shared.domain.reconciliation.report_view import (
    CATEGORY_LABELS,
    COUNT_COLUMNS,
    MONEY_COLUMNS,
    PERCENT_COLUMNS,
    QUANTITY_COLUMNS,
    TREND_MESSAGES,
    ReportHeader,
    TrendDirection,
    decimal_or_none,
    plain_header_names,
)

XLSX_MAX_ROWS = 1_000
_FIXED_TIME = datetime(2000, 1, 1)

_JOURNAL_COLUMNS: list[tuple[str, str, str]] = [
    # (key in proposed_journal.json, column title, kind)
    ("line_id", "Line id", "text"),
    ("journal_id", "Journal", "text"),
    ("line_number", "Line", "count"),
    ("target", "Adjusts", "text"),
    ("mode", "Mode", "text"),
    ("item", "Item", "text"),
    ("site", "Site", "text"),
    ("warehouse", "Warehouse", "text"),
    ("batch", "Batch", "text"),
    ("status", "Inventory status", "text"),
    ("location", "Location", "text"),
    ("book_quantity", "Book quantity", "quantity"),
    ("quantity_delta", "Adjust by", "quantity"),
    ("counted_quantity", "Set to (counted)", "quantity"),
    ("unit_cost", "Unit cost", "money"),
    ("value", "Value", "money"),
    ("category", "Status", "category"),
    ("reasons", "Why", "reasons"),
]


class _Formats:
    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        self.bold = wb.add_format({"bold": True})
        self.title = wb.add_format({"bold": True, "font_size": 14})
        self.head = wb.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1, "text_wrap": True})
        self.text = wb.add_format({"num_format": "@"})
        self.integer = wb.add_format({"num_format": "#,##0"})
        self.decimal = wb.add_format({"num_format": "#,##0.0#####"})
        self.money = wb.add_format({"num_format": "#,##0.00;[Red]-#,##0.00"})
        self.percent = wb.add_format({"num_format": "0.00%"})
        self.note = wb.add_format({"italic": True, "font_color": "#7F6000"})

    def quantity(self, value: Decimal) -> Format:
        return self.integer if value == value.to_integral_value() else self.decimal


def _number(ws: Worksheet, row: int, col: int, value: Decimal | None, fmt: Format) -> None:
    if value is not None:
        ws.write_number(row, col, float(value), fmt)


def _cell(ws: Worksheet, f: _Formats, row: int, col: int, kind: str, raw: object) -> None:
    """One cell by kind; text always as a string cell (never parsed, never a formula)."""
    if kind == "quantity":
        q = decimal_or_none(raw)
        _number(ws, row, col, q, f.quantity(q) if q is not None else f.decimal)
    elif kind == "money":
        _number(ws, row, col, decimal_or_none(raw), f.money)
    elif kind == "percent":
        p = decimal_or_none(raw)
        _number(ws, row, col, None if p is None else p / 100, f.percent)
    elif kind == "count":
        _number(ws, row, col, decimal_or_none(raw), f.integer)
    elif kind == "category":
        text = str(raw or "")
        ws.write_string(row, col, CATEGORY_LABELS.get(text, text))
    elif kind == "reasons":
        ws.write_string(row, col, "; ".join(raw) if isinstance(raw, list) else str(raw or ""))
    elif raw is not None and raw != "":
        ws.write_string(row, col, str(raw), f.text)


def _kind(technical: str) -> str:
    if technical in QUANTITY_COLUMNS:
        return "quantity"
    if technical in MONEY_COLUMNS:
        return "money"
    if technical in PERCENT_COLUMNS:
        return "percent"
    if technical in COUNT_COLUMNS:
        return "count"
    if technical == "category":
        return "category"
    return "text"


def _table_head(ws: Worksheet, f: _Formats, titles: Sequence[str], widths: Sequence[int]) -> None:
    for col, (title, width) in enumerate(zip(titles, widths, strict=True)):
        ws.set_column(col, col, width)
        ws.write_string(0, col, title, f.head)
    ws.freeze_panes(1, 0)


def _summary_sheet(
    ws: Worksheet, f: _Formats, header: ReportHeader, summary: Mapping[str, Any], direction: TrendDirection
) -> None:
    ws.set_column(0, 0, 34)
    ws.set_column(1, 7, 16)
    ws.write_string(0, 0, "Inventory reconciliation ERP vs WMS", f.title)
    row = 2
    for label, value in header.rows():
        ws.write_string(row, 0, label, f.bold)
        ws.write_string(row, 1, value)
        row += 1
    row += 1
    counts, totals = summary.get("counts", {}), summary.get("totals", {})
    figures: list[tuple[str, object, str]] = [
        ("Keys compared", counts.get("keys"), "count"),
        ("Match", counts.get("match"), "count"),
        ("Quantity differs", counts.get("quantity_differs"), "count"),
        ("Only in ERP", counts.get("only_in_erp"), "count"),
        ("Only in WMS", counts.get("only_in_wms"), "count"),
        ("Over threshold (material)", counts.get("material"), "count"),
        ("Items of unknown value (not in value totals)", totals.get("unknown_value", 0), "count"),
        ("ERP quantity", totals.get("erp_quantity"), "quantity"),
        ("WMS quantity", totals.get("wms_quantity"), "quantity"),
        ("Quantity difference (WMS − ERP)", totals.get("quantity_difference"), "quantity"),
        ("Value difference (WMS − ERP)", totals.get("value_difference"), "money"),
        ("|Value difference|", totals.get("abs_value_difference"), "money"),
    ]
    for label, figure, kind in figures:
        ws.write_string(row, 0, label, f.bold)
        _cell(ws, f, row, 1, kind, figure)
        row += 1
    ws.write_string(row, 0, "Trend", f.bold)
    ws.write_string(row, 1, TREND_MESSAGES[direction])
    row += 2
    wh_head = ["Warehouse", "Keys", "Matches", "Differences", "Over threshold", "Unknown value", "Qty difference"]
    for col, title in enumerate([*wh_head, "Value difference"]):
        ws.write_string(row, col, title, f.head)
    row += 1
    for wh, v in summary.get("by_warehouse", {}).items():
        ws.write_string(row, 0, wh or "(none)", f.text)
        for col, key in enumerate(("keys", "matches", "differences", "material", "unknown_value"), start=1):
            _cell(ws, f, row, col, "count", v.get(key, 0))
        _cell(ws, f, row, 6, "quantity", v.get("quantity_difference"))
        _cell(ws, f, row, 7, "money", v.get("value_difference"))
        row += 1


CellWriter = Callable[[Worksheet, int, int, str], None]


def _column_writers(f: _Formats, kinds: Sequence[str]) -> list[CellWriter]:
    """One writer per column, chosen once: a cell costs tens of microseconds, so no per-cell dispatch.

    The cells are discrepancies.csv text: numbers there are exact decimals written by ``fmt``
    (``-10``, ``0.15``), so ``float()`` reads them directly.
    """

    def text(ws: Worksheet, r: int, c: int, raw: str) -> None:
        if raw:
            ws.write_string(r, c, raw)

    def quantity(ws: Worksheet, r: int, c: int, raw: str) -> None:
        if raw:
            ws.write_number(r, c, float(raw), f.decimal if "." in raw else f.integer)

    def money(ws: Worksheet, r: int, c: int, raw: str) -> None:
        if raw:
            ws.write_number(r, c, float(raw), f.money)

    def percent(ws: Worksheet, r: int, c: int, raw: str) -> None:
        if raw:
            ws.write_number(r, c, float(raw) / 100, f.percent)

    def count(ws: Worksheet, r: int, c: int, raw: str) -> None:
        if raw:
            ws.write_number(r, c, float(raw), f.integer)

    def category(ws: Worksheet, r: int, c: int, raw: str) -> None:
        ws.write_string(r, c, CATEGORY_LABELS.get(raw, raw))

    by_kind: dict[str, CellWriter] = {
        "quantity": quantity,
        "money": money,
        "percent": percent,
        "count": count,
        "category": category,
        "text": text,
    }
    return [by_kind.get(kind, text) for kind in kinds]


def _differences_sheet(
    ws: Worksheet,
    f: _Formats,
    technical: Sequence[str],
    rows: Iterable[Sequence[str]],
    max_rows: int,
    total_rows: int | None = None,
) -> None:
    """Rows over threshold first (what needs review), then the others, up to ``max_rows``.

    ``total_rows``: how many rows the run has when ``rows`` holds only the ones kept for the sheet."""
    kinds = [_kind(name) for name in technical]
    widths = [12 if k != "text" else 14 for k in kinds]
    if "reasons" in technical:
        widths[technical.index("reasons")] = 40
    _table_head(ws, f, plain_header_names(technical), widths)
    writers = list(enumerate(_column_writers(f, kinds)))
    material = technical.index("material") if "material" in technical else None
    first: list[Sequence[str]] = []  # over threshold
    rest: list[Sequence[str]] = []
    total = 0
    for row in rows:  # each list holds at most max_rows rows, whatever the run's size
        total += 1
        kept_list = first if material is not None and row[material] == "yes" else rest
        if len(kept_list) < max_rows:
            kept_list.append(row)
    kept = (first + rest)[:max_rows]
    left_out = (total if total_rows is None else total_rows) - len(kept)
    for n, row in enumerate(kept, start=1):
        for col, write in writers:
            write(ws, n, col, row[col] if col < len(row) else "")
    if kept:
        ws.autofilter(0, 0, len(kept), len(technical) - 1)
    if left_out:
        ws.write_string(len(kept) + 1, 0, _more_note(len(kept), left_out, "differences.csv"), f.note)


def _journal_sheet(ws: Worksheet, f: _Formats, lines: Sequence[Mapping[str, Any]], total: int, max_rows: int) -> None:
    """``lines``: the first proposed lines (at least ``max_rows`` + 1 when there are more); ``total``: all."""
    _table_head(ws, f, [t for _, t, _ in _JOURNAL_COLUMNS], [26, 16, 6, 8, 10] + [12] * 13)
    writers = _column_writers(f, [kind for _, _, kind in _JOURNAL_COLUMNS])
    columns = [
        (col, key, write) for col, ((key, _, _), write) in enumerate(zip(_JOURNAL_COLUMNS, writers, strict=True))
    ]
    for r, line in enumerate(lines[:max_rows], start=1):
        for col, key, write in columns:
            value = line.get(key)
            if isinstance(value, list):
                value = "; ".join(value)
            write(ws, r, col, "" if value is None else str(value))
    shown = min(len(lines), max_rows)
    if total > shown:
        ws.write_string(shown + 1, 0, _more_note(shown, total - shown, "proposed_journal.json"), f.note)


def _more_note(shown: int, left_out: int, where: str) -> str:
    return f"{shown:,} rows shown; {left_out:,} more are left out of this workbook — {where} holds every row."


def write_workbook(
    out: IO[bytes],
    header: ReportHeader,
    summary: Mapping[str, Any],
    direction: TrendDirection,
    technical: Sequence[str],
    rows: Iterable[Sequence[str]],
    journal_lines: Sequence[Mapping[str, Any]],
    total_rows: int | None = None,
    max_rows: int | None = None,
) -> None:
    """Write the workbook to ``out``; ``max_rows``: rows per list sheet (default ``XLSX_MAX_ROWS``).

    ``technical``/``rows``: discrepancies.csv's header and data rows (or only those the sheet can
    show, with ``total_rows`` the count of all); ``journal_lines``: the first
    proposed lines (the sheet shows up to ``XLSX_MAX_ROWS``, the count of all comes from the summary).
    """
    wb = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_numbers": False})
    wb.set_properties({"title": f"Reconciliation {header.run_id}", "created": _FIXED_TIME})
    f = _Formats(wb)
    _summary_sheet(wb.add_worksheet("Summary"), f, header, summary, direction)
    cap = max_rows if max_rows is not None else XLSX_MAX_ROWS
    _differences_sheet(wb.add_worksheet("Differences"), f, technical, rows, cap, total_rows)
    total = int((summary.get("journal") or {}).get("lines", len(journal_lines)))
    _journal_sheet(wb.add_worksheet("Proposed journal"), f, journal_lines, total, cap)
    wb.close()
