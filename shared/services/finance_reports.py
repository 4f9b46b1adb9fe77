"""Use case: the reports a finance team reads, made from what the comparison already wrote.

They are derived after the comparison has streamed every differing key into
``discrepancies.csv`` (machine-readable, unchanged for scripts that parse it):
that file is read back twice, once into ``differences.csv`` (BOM, header block,
plain names, ids kept as text) and once into the workbook. Reading a spooled
CSV back is cheap next to the comparison and keeps the engine's per-key loop
free of presentation work.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from shared.adapters.report_html import HTML_JOURNAL_LINES, render_report
from shared.adapters.report_xlsx import XLSX_MAX_ROWS, write_workbook
from shared.domain.reconciliation.config import KeyField, ReconcileConfig
from shared.domain.reconciliation.finance_csv import BOM, finance_rows
from shared.domain.reconciliation.model import Discrepancy
from shared.domain.reconciliation.report_view import direction_of, report_header, trend_series

JOURNAL_LINES_SHOWN = max(XLSX_MAX_ROWS, HTML_JOURNAL_LINES) + 1  # one more tells "some were left out"
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


@contextmanager
def _machine_rows(machine_csv: IO[bytes]) -> Iterator[tuple[list[str], Iterator[list[str]]]]:
    """discrepancies.csv's header and data rows; the spool stays open and is rewound afterwards."""
    machine_csv.seek(0)
    text = io.TextIOWrapper(machine_csv, encoding="utf-8", newline="")
    try:
        reader = csv.reader(text)
        yield next(reader, []), reader
    finally:
        text.detach()  # a wrapper closed or collected later would close the spool with it
        machine_csv.seek(0)


def build_finance_reports(
    machine_csv: IO[bytes],
    summary: Mapping[str, Any],
    largest: Sequence[Discrepancy],
    level: Sequence[KeyField],
    trend: Sequence[Mapping[str, Any]],
    config: ReconcileConfig,
    journal_head: Sequence[Mapping[str, Any]],
) -> FinanceReports:
    """HTML page, differences.csv and report.xlsx; ``machine_csv`` is rewound and left open.

    ``journal_head``: the first ``JOURNAL_LINES_SHOWN`` proposed lines, in journal order (never all
    of them: on a bad day the whole journal as dicts would cost more memory than the comparison).
    """
    header = report_header(summary, config)
    lines = journal_head
    direction = direction_of(summary, [v for _, v in trend_series(trend, summary)])

    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 - owned by the result
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    text.write(BOM)
    with _machine_rows(machine_csv) as (technical, rows):
        csv.writer(text, lineterminator="\r\n").writerows(finance_rows(header, technical, rows))
    text.flush()
    text.detach()
    out.seek(0)

    book: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 - owned by the result
    with _machine_rows(machine_csv) as (technical, rows):
        write_workbook(book, header, summary, direction, technical, rows, lines)
    book.seek(0)

    html = render_report(summary, largest, level, trend, config, lines)
    return FinanceReports(html=html, differences_csv=out, workbook=book)
