"""Use case: the reports a finance team reads, made as the comparison streams its differing keys.

The run writes every differing key once, as its ``discrepancies.csv`` row
(machine-readable, unchanged for scripts that parse it); ``FinanceRows`` turns
that same row, while it is at hand, into its ``differences.csv`` row (plain
names, ids kept as text) and keeps the few rows the workbook shows. Nothing is
read back and nothing per key stays in memory: on a bad day (300,000 differing
keys) re-reading and re-parsing the machine CSV twice cost seconds.
``differences.csv`` gets its header block (BOM, run, sign rule, thresholds,
currency) at the end, when the summary is known, in front of the spooled body.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from shared.adapters import report_xlsx
from shared.adapters.report_html import HTML_JOURNAL_LINES, render_report
from shared.adapters.report_xlsx import write_workbook
from shared.domain.reconciliation.config import KeyField, ReconcileConfig
from shared.domain.reconciliation.finance_csv import BOM, header_block, row_converter
from shared.domain.reconciliation.model import Discrepancy
from shared.domain.reconciliation.report_view import direction_of, plain_header_names, report_header, trend_series
from shared.services.text_spool import TextSpool


def journal_lines_shown(workbook_max_rows: int | None) -> int:
    """Proposed lines a run keeps for the workbook and the page (one more tells "some were left out")."""
    rows = workbook_max_rows if workbook_max_rows is not None else report_xlsx.XLSX_MAX_ROWS
    return max(rows, HTML_JOURNAL_LINES) + 1


DIFFERENCES = "differences.csv"
WORKBOOK = "report.xlsx"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_SPOOL = 1024 * 1024  # kept small: on a bad day differences.csv is tens of MB, and memory is the scarce part


@dataclass
class FinanceReports:
    """The finance files of one ok run; the two spooled files are owned by the caller's result."""

    html: str
    differences_csv: IO[bytes]
    workbook: IO[bytes]


def kept_rows_max(max_rows: int | None) -> int:
    """How many rows over threshold (and how many others) the workbook keeps (``FinanceRows``)."""
    return max_rows if max_rows is not None else report_xlsx.XLSX_MAX_ROWS


class FinanceRows:
    """differences.csv body and the workbook's Differences rows, fed one machine row at a time.

    The workbook shows rows over threshold first, then the others, at most
    ``report_xlsx.XLSX_MAX_ROWS`` (read when the run starts, so a test can lower it); both kept
    lists are bounded by that, whatever the run's size.
    """

    def __init__(self, technical: Sequence[str], max_rows: int | None = None) -> None:
        self.technical = list(technical)
        self._spool = TextSpool()
        self.spill = self._spool.spill
        self.body: IO[bytes] = self._spool.file
        self._writer = csv.writer(self._spool, lineterminator="\r\n")
        self._convert = row_converter(technical)
        self._material = self.technical.index("material") if "material" in self.technical else None
        self.max_rows = kept_rows_max(max_rows)
        self._max = self.max_rows
        self.over: list[Sequence[str]] = []
        self.other: list[Sequence[str]] = []
        self.rows = 0

    def add(self, row: Sequence[str]) -> None:
        self._writer.writerow(self._convert(row))
        self.rows += 1
        kept = self.over if self._material is not None and row[self._material] == "yes" else self.other
        if len(kept) < self._max:
            kept.append(row)

    def finish(self) -> None:
        self._spool.finish()

    def close(self) -> None:
        self.body.close()


def build_finance_reports(
    rows: FinanceRows,
    summary: Mapping[str, Any],
    largest: Sequence[Discrepancy],
    level: Sequence[KeyField],
    trend: Sequence[Mapping[str, Any]],
    config: ReconcileConfig,
    journal_head: Sequence[Mapping[str, Any]],
) -> FinanceReports:
    """HTML page, differences.csv and report.xlsx from the streamed ``rows`` (finished).

    ``journal_head``: the first ``journal_lines_shown(...)`` proposed lines, in journal order (never all
    of them: on a bad day the whole journal as dicts would cost more memory than the comparison).
    """
    header = report_header(summary, config)
    lines = journal_head
    direction = direction_of(summary, [v for _, v in trend_series(trend, summary)])

    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 - owned by the result
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    text.write(BOM)
    csv.writer(text, lineterminator="\r\n").writerows([*header_block(header), plain_header_names(rows.technical)])
    text.flush()
    text.detach()
    rows.body.seek(0)
    shutil.copyfileobj(rows.body, out, 1024 * 1024)
    rows.close()
    out.seek(0)

    book: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 - owned by the result
    write_workbook(
        book, header, summary, direction, rows.technical, [*rows.over, *rows.other], lines, rows.rows, rows.max_rows
    )
    book.seek(0)

    html = render_report(summary, largest, level, trend, config, lines)
    return FinanceReports(html=html, differences_csv=out, workbook=book)
