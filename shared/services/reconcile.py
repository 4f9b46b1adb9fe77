"""Use case: reconcile an ERP and a WMS snapshot and publish one complete report set.

The Azure blob trigger and the CLI both call ``run_reconciliation``; they differ
only in the ``ReportSink`` they pass (blob container vs local directory) and in
how they fetch the snapshots to local files. Any failure to read or map a
snapshot becomes an error report for the run (never an exception that would
make the trigger retry forever).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any, Protocol

from shared.adapters.report_html import render_error
from shared.adapters.snapshot_engine import (
    Comparison,
    EngineOutOfMemory,
    EngineSettings,
    SnapshotError,
    SnapshotSource,
    compare,
)
from shared.domain.reconciliation.columns import MappingError
from shared.domain.reconciliation.config import ReconcileConfig, Side
from shared.domain.reconciliation.excel import csv_header
from shared.domain.reconciliation.history import (
    OutOfBalanceEntries,
    streaks_by_scope,
    trend,
    trend_direction,
)
from shared.domain.reconciliation.journal_index import JOURNAL_INDEX_FILE
from shared.domain.reconciliation.line_index import LINE_INDEX_FILE, line_index_document
from shared.domain.reconciliation.naming import HISTORY_FILE, JOURNAL_FILE, SUMMARY_FILE
from shared.domain.reconciliation.summary import WarehouseTotals, differing_share_warning
from shared.services.finance_reports import (
    DIFFERENCES,
    WORKBOOK,
    XLSX_TYPE,
    build_finance_reports,
    journal_lines_shown,
)
from shared.services.journal_indexing import index_from_spans
from shared.services.reconcile_engine_stream import stream_engine
from shared.services.reconcile_stream import (
    RunSinks,
    StreamWay,
    SumsNotExact,
    new_sinks,
    stream_fast,
    stream_reference,
)

log = logging.getLogger(__name__)

SUMMARY_SCHEMA = "omnisync.reconciliation.summary/1"
DISCREPANCIES = "discrepancies.csv"
SUMMARY = SUMMARY_FILE
REPORT = "report.html"
JOURNAL = JOURNAL_FILE
HISTORY = HISTORY_FILE
"""The summary without its two long lists, for later runs' history (``brief_of``); not a report file."""
JOURNAL_INDEX = JOURNAL_INDEX_FILE
"""Where each journal sits in the journal file, for ranged reads (``journal_ranges``); not a report file."""
FINAL_STATUSES = ("ok", "duplicate")
"""Statuses of a finished run: its report set never changes again (error runs can be re-run)."""

__all__ = [
    "DIFFERENCES",
    "DISCREPANCIES",
    "FINAL_STATUSES",
    "HISTORY",
    "JOURNAL",
    "JOURNAL_INDEX",
    "REPORT",
    "SUMMARY",
    "WORKBOOK",
    "ReconciliationResult",
    "Report",
    "ReportSink",
    "SnapshotSource",
    "StreamWay",
    "duplicate_result",
    "error_result",
    "publish",
    "reconcile",
    "run_reconciliation",
]


class ReportSink(Protocol):
    """Where a report set goes. Nothing written is visible before ``commit``.

    Adapters stage writes (temp files, a staging blob prefix) and make the set
    appear in ``commit``, writing ``manifest.json`` last so readers can tell a
    complete set. Writing the same run id again replaces the set (no duplicates).
    """

    def write(self, name: str, data: bytes | IO[bytes], content_type: str) -> None: ...

    def commit(self, listing: Mapping[str, str] | None = None) -> None:
        """``listing``: the few figures a list of runs shows (``listing_of``), kept beside the manifest."""
        ...

    def abort(self) -> None: ...


LISTING_FIELDS = ("status", "differences", "material", "trend")


def listing_of(summary: Mapping[str, Any]) -> dict[str, str]:
    """What a list of runs shows of one run, as text; "" where the run has none (an error run's counts).

    A bad day's summary.json is 13.6 MB (its streak list); a run list reading every summary of a page
    downloaded hundreds of MB to show four figures a run.
    """
    counts = summary.get("counts") or {}
    trend = summary.get("trend")
    trend = trend if isinstance(trend, dict) else {}
    values = (summary.get("status"), counts.get("differences"), counts.get("material"), trend.get("direction"))
    return {name: "" if v is None else str(v) for name, v in zip(LISTING_FIELDS, values, strict=True)}


@dataclass
class Report:
    name: str
    content_type: str
    data: bytes | IO[bytes]


@dataclass
class ReconciliationResult:
    """Outcome of one run. ``summary`` is exactly what summary.json holds."""

    run_id: str
    status: str  # "ok" | "error"
    summary: dict[str, Any]
    errors: list[str] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    streamed_by: str = ""
    """Which way the differing keys' texts were made (``StreamWay``); "" for an error run."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def journal(self) -> dict[str, Any] | None:
        """The proposed_journal.json document, or None for an error run.

        Parsed from the report when asked for: the run writes the journal straight to
        JSON text (``JournalText``), and nothing on the run's own path needs the dict.
        """
        for r in self.reports:
            if r.name == JOURNAL:
                if isinstance(r.data, bytes):
                    parsed: dict[str, Any] = json.loads(r.data)
                    return parsed
                r.data.seek(0)
                try:
                    parsed = json.load(r.data)
                finally:
                    r.data.seek(0)
                return parsed
        return None

    def close(self) -> None:
        """Release spooled report files."""
        for r in self.reports:
            if not isinstance(r.data, bytes):
                r.data.close()


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _as_of_block(cmp: Comparison, config: ReconcileConfig) -> tuple[dict[str, Any], list[str]]:
    block: dict[str, Any] = {
        "erp": _iso(cmp.erp_as_of),
        "wms": _iso(cmp.wms_as_of),
        "tolerance_seconds": int(config.as_of_tolerance.total_seconds()),
        "difference_seconds": None,
        "warning": None,
    }
    warnings: list[str] = []
    if cmp.erp_as_of and cmp.wms_as_of:
        delta = abs(_aware(cmp.erp_as_of) - _aware(cmp.wms_as_of))
        block["difference_seconds"] = int(delta.total_seconds())
        block["warning"] = delta > config.as_of_tolerance
        if block["warning"]:
            warnings.append(
                f"Snapshots were taken {delta} apart (tolerance {config.as_of_tolerance}); "
                "part of the differences may be timing, not real."
            )
    return block, warnings


def _json_bytes(doc: Mapping[str, Any]) -> bytes:
    # Compact on purpose: with indent, json falls back to its pure-Python encoder (~1 s per 15k lines).
    # The streaks and the audit flags are JSON text already (OutOfBalanceEntries): each is written
    # as a placeholder no data can spell, then replaced by its text.
    texts: dict[str, str] = {}

    def held(value: Any) -> Any:
        if isinstance(value, OutOfBalanceEntries):
            marker = f"\x00{uuid.uuid4().hex}\x00"
            texts[json.dumps(marker)] = value.json_text
            return marker
        if isinstance(value, Mapping):
            return {k: held(v) for k, v in value.items()}
        return value

    text = json.dumps(held(doc), ensure_ascii=False, separators=(",", ":"))
    for marker, json_text in texts.items():
        text = text.replace(marker, json_text, 1)
    return (text + "\n").encode("utf-8")


def _error_result(run_id: str, errors: list[str], erp: SnapshotSource, wms: SnapshotSource) -> ReconciliationResult:
    summary = {
        "schema": SUMMARY_SCHEMA,
        "run_id": run_id,
        "status": "error",
        "errors": errors,
        "inputs": {"erp": erp.label, "wms": wms.label},
        "files": [SUMMARY, REPORT],
    }
    return ReconciliationResult(
        run_id=run_id,
        status="error",
        summary=summary,
        errors=errors,
        reports=[
            Report(SUMMARY, "application/json", _json_bytes(summary)),
            Report(REPORT, "text/html; charset=utf-8", render_error(run_id, errors).encode("utf-8")),
        ],
    )


def error_result(run_id: str, errors: list[str], erp: SnapshotSource, wms: SnapshotSource) -> ReconciliationResult:
    """An error run for problems found before the engine runs (ambiguous files, invalid run config).

    Public so the blob trigger reports them the same way the engine reports unreadable files.
    """
    return _error_result(run_id, errors, erp, wms)


def duplicate_result(
    run_id: str, same_as: str, erp: SnapshotSource, wms: SnapshotSource, facts: Mapping[str, Any]
) -> ReconciliationResult:
    """A run whose snapshots and config are byte for byte those of an earlier run.

    It is the same run: it proposes nothing new and is no history of its own (history reads only
    ``ok`` summaries), so dropping the same files three times cannot flag anything for audit.
    """
    message = f"The same snapshots and configuration as run {same_as}; see that run's reports."
    summary = {
        "schema": SUMMARY_SCHEMA,
        "run_id": run_id,
        "status": "duplicate",
        "duplicate_of": same_as,
        **facts,
        "errors": [],
        "inputs": {"erp": erp.label, "wms": wms.label},
        "files": [SUMMARY, REPORT],
    }
    return ReconciliationResult(
        run_id=run_id,
        status="duplicate",
        summary=summary,
        reports=[
            Report(SUMMARY, "application/json", _json_bytes(summary)),
            Report(REPORT, "text/html; charset=utf-8", render_error(run_id, [message]).encode("utf-8")),
        ],
    )


def _stream(way: StreamWay, cmp: Comparison, sinks: RunSinks) -> StreamWay:
    if way is StreamWay.ENGINE:
        return stream_engine(cmp, sinks)
    (stream_reference if way is StreamWay.REFERENCE else stream_fast)(cmp, sinks)
    return way


def reconcile(
    erp: SnapshotSource,
    wms: SnapshotSource,
    config: ReconcileConfig,
    history: Sequence[Mapping[str, Any]],
    *,
    run_id: str,
    engine: EngineSettings | None = None,
    facts: Mapping[str, Any] | None = None,
    stream: StreamWay = StreamWay.ENGINE,
) -> ReconciliationResult:
    """Compare two snapshots and build every report in memory/spooled files.

    ``history``: earlier summary.json documents, oldest first (the current run id
    and error runs are ignored). Never raises for bad input: it returns a result
    with status "error" and an error report instead. ``stream``: how the differing keys become
    report texts; every way writes the same bytes (``StreamWay``).
    """
    try:
        cmp = compare(erp, wms, config, engine)
    except (SnapshotError, MappingError) as exc:
        return _error_result(run_id, [str(exc)], erp, wms)
    settings = engine or EngineSettings()
    try:
        return _build(cmp, erp, wms, config, history, run_id, facts or {}, stream)
    except SumsNotExact:
        log.info("reconciliation %s: sums too large for the batched path; running the reference path", run_id)
        stream = StreamWay.REFERENCE
    except EngineOutOfMemory:
        if settings.threads <= 1:
            raise  # not the files' fault: the trigger's own retries take it from here
        # As for the comparison itself (`compare`): with one thread DuckDB needs less memory.
        log.warning(
            "reconciliation %s ran out of memory while streaming with %d threads; once more with 1",
            run_id,
            settings.threads,
        )
        settings = replace(settings, threads=1)
    finally:
        cmp.close()
    return reconcile(erp, wms, config, history, run_id=run_id, engine=settings, facts=facts, stream=stream)


def _build(
    cmp: Comparison,
    erp: SnapshotSource,
    wms: SnapshotSource,
    config: ReconcileConfig,
    history: Sequence[Mapping[str, Any]],
    run_id: str,
    facts: Mapping[str, Any],
    stream: StreamWay = StreamWay.ENGINE,
) -> ReconciliationResult:
    level = cmp.level
    shown = journal_lines_shown(config.workbook_max_rows)
    sinks = new_sinks(config, streaks_by_scope(history, run_id), csv_header(level), run_id, shown)
    try:
        streamed_by = _stream(stream, cmp, sinks)
    except BaseException:
        sinks.close()
        raise
    builder, streaks, journal = sinks.builder, sinks.streaks, sinks.journal
    finance_rows, negative, measure_stats = sinks.finance_rows, sinks.negative, sinks.measure_stats
    for wf in cmp.warehouses:  # complete only after the differences were streamed
        builder.set_warehouse_totals(
            wf.warehouse, WarehouseTotals(wf.keys, wf.matches, wf.erp_quantity, wf.wms_quantity)
        )
    # The engine's memory (its hash tables and buffers, most of the run's peak) goes back before
    # the reports are built, so their own memory does not add to it.
    cmp.close()
    spool = sinks.machine.finish()
    finance_rows.finish()

    as_of, warnings = _as_of_block(cmp, config)
    out_of_balance = streaks.entries()
    flagged = streaks.flagged_entries()
    target = Side.ERP if config.master is Side.WMS else Side.WMS
    figures = builder.to_json()
    wide = differing_share_warning(figures["counts"], config.warn_differing_percent)
    if wide is not None:
        warnings.append(wide)
    stated = [_aware(t) for t in (cmp.erp_as_of, cmp.wms_as_of) if t is not None]
    summary: dict[str, Any] = {
        "schema": SUMMARY_SCHEMA,
        "run_id": run_id,
        "status": "ok",
        **facts,
        "run_time": max(stated).isoformat() if stated else facts.get("run_time"),
        "master": config.master.value,
        "journal_mode": config.journal_mode.value,
        "currency": config.currency,
        "level": [k.value for k in level],
        "inputs": {
            "erp": {"name": erp.label, "columns": cmp.erp_columns.columns},
            "wms": {"name": wms.label, "columns": cmp.wms_columns.columns},
        },
        "as_of": as_of,
        "warnings": warnings,
        **figures,
        "trend": trend_direction(
            history, run_id, Decimal(figures["totals"]["abs_value_difference"]), figures["counts"]["material"]
        ),
        "measures": {
            "on_hand": {
                "erp_column": cmp.erp_columns.columns["quantity"],
                "wms_column": cmp.wms_columns.columns["quantity"],
                "proposed": True,
            },
            **{
                name: {
                    "erp_column": cmp.measure_columns[name][0],
                    "wms_column": cmp.measure_columns[name][1],
                    **stats.to_json(name, config),
                }
                for name, stats in measure_stats.items()
            },
        },
        "negative_inventory": {
            "erp_keys": cmp.negative_keys[0],
            "wms_keys": cmp.negative_keys[1],
            "is_material": config.negative_is_material,
            "items": negative,
        },
        "audit": {
            "after_runs": config.audit_after_runs,
            "basis": config.audit_basis.value,
            "flagged": flagged,
        },
        "out_of_balance": out_of_balance,
        "journal": {
            "file": JOURNAL,
            "lines": journal.line_count,
            "journals": journal.journal_count,
            "mode": config.journal_mode.value,
            "target": target.value,
        },
        "files": [DISCREPANCIES, DIFFERENCES, WORKBOOK, SUMMARY, REPORT, JOURNAL],
    }
    journal_file = sinks.journal_file()
    spans = journal.spans()
    index = None if spans is None else index_from_spans(journal_file, journal.header(), spans)
    prefixes = journal.line_prefixes()  # None whenever spans are: no journal index, no line index
    line_index = None if index is None or prefixes is None else line_index_document(index["bytes"], prefixes)
    finance = build_finance_reports(
        finance_rows,
        summary,
        builder.largest(),
        level,
        trend(history, run_id),
        config,
        journal.head(shown),
    )
    return ReconciliationResult(
        run_id=run_id,
        status="ok",
        summary=summary,
        reports=[
            Report(DISCREPANCIES, "text/csv; charset=utf-8", spool),
            Report(DIFFERENCES, "text/csv; charset=utf-8", finance.differences_csv),
            Report(WORKBOOK, XLSX_TYPE, finance.workbook),
            Report(SUMMARY, "application/json", _json_bytes(summary)),
            Report(HISTORY, "application/json", _json_bytes(brief_of(summary))),
            Report(REPORT, "text/html; charset=utf-8", finance.html.encode("utf-8")),
            Report(JOURNAL, "application/json", journal_file),
            *([] if index is None else [Report(JOURNAL_INDEX, "application/json", _json_bytes(index))]),
            *([] if line_index is None else [Report(LINE_INDEX_FILE, "application/json", _json_bytes(line_index))]),
        ],
        streamed_by=streamed_by,
    )


def brief_of(summary: Mapping[str, Any]) -> dict[str, Any]:
    """What the next runs read of this one for their history, without the streak list and audit flags.

    A bad day's summary is ~15 MB, nearly all of it those two lists, and a run reads the last twelve:
    ~180 MB downloaded and walked per run, though only the newest run covering a warehouse gives its
    streaks (``history.without_unused_streaks``). The next runs read this brief of each and the full
    summary only of the runs whose streaks count; ``out_of_balance_count`` says a list is there."""
    brief = {key: value for key, value in summary.items() if key != "out_of_balance"}
    brief["out_of_balance_count"] = len(summary.get("out_of_balance") or ())
    audit = summary.get("audit")
    if isinstance(audit, Mapping):
        brief["audit"] = {key: value for key, value in audit.items() if key != "flagged"}
        brief["audit"]["flagged_count"] = len(audit.get("flagged") or ())
    return brief


def publish(result: ReconciliationResult, sink: ReportSink) -> None:
    """Write the whole set, then commit; on any failure abort so nothing partial shows."""
    try:
        for r in result.reports:
            sink.write(r.name, r.data, r.content_type)
        sink.commit(listing_of(result.summary))
    except BaseException:
        sink.abort()
        raise


def run_reconciliation(
    erp: SnapshotSource,
    wms: SnapshotSource,
    config: ReconcileConfig,
    history: Sequence[Mapping[str, Any]],
    sink: ReportSink,
    *,
    run_id: str,
    engine: EngineSettings | None = None,
    facts: Mapping[str, Any] | None = None,
    stream: StreamWay = StreamWay.ENGINE,
) -> ReconciliationResult:
    """reconcile + publish: the one entry point for the blob trigger and the CLI.

    ``facts``: summary keys the caller knows (environment, run time, content hash).
    """
    result = reconcile(erp, wms, config, history, run_id=run_id, engine=engine, facts=facts, stream=stream)
    if result.ok:
        log.info("reconciliation %s: report texts made the %s way", run_id, result.streamed_by)
    try:
        publish(result, sink)
    finally:
        result.close()
    if not result.ok:
        log.warning("reconciliation %s failed: %s", run_id, "; ".join(result.errors))
    return result
