"""differences.csv: the differences as a finance reader opens them in a spreadsheet (pure, no I/O).

``discrepancies.csv`` stays the machine-readable file (technical column names,
header on the first line, no BOM) for scripts that parse it today. This one is
made from the same rows for people:

* UTF-8 **with a BOM**, so Excel reads accented names as UTF-8, not as cp1252;
* a **header block** first (run, run time, as-of times, sign rule, thresholds,
  currency), then an empty line, then the table with **plain column names**;
* ids that a spreadsheet would turn into numbers or dates (``00417`` -> 417) get
  the leading apostrophe of ``report_view.id_cell``; formula neutralisation of the
  machine file is kept (its cells arrive already neutralised).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from shared.domain.spreadsheet import neutralise

from .report_view import CATEGORY_LABELS, ID_COLUMNS, ReportHeader, id_cell, plain_header_names

BOM = "\ufeff"


def header_block(header: ReportHeader) -> list[list[str]]:
    """The label/value lines above the table; every value goes through formula neutralisation."""
    lines = [["Inventory reconciliation ERP vs WMS — differences"]]
    lines += [[label, neutralise(value)] for label, value in header.rows()]
    lines.append([])
    return lines


def row_converter(technical: Sequence[str]) -> Callable[[Sequence[str]], list[str]]:
    """The function that turns one machine row into its finance row (layout worked out once)."""
    ids = [i for i, name in enumerate(technical) if name in ID_COLUMNS]
    category = technical.index("category") if "category" in technical else -1

    def convert(row: Sequence[str]) -> list[str]:
        out = list(row)
        for i in ids:
            out[i] = id_cell(out[i])
        if category >= 0:
            out[category] = CATEGORY_LABELS.get(out[category], out[category])
        return out

    return convert


def finance_rows(header: ReportHeader, technical: Sequence[str], rows: Iterable[Sequence[str]]) -> Iterator[list[str]]:
    """Every line of differences.csv, header block first. ``rows``: the machine file's data rows."""
    yield from header_block(header)
    yield plain_header_names(technical)
    convert = row_converter(technical)
    for row in rows:
        yield convert(row)
