"""The per-key part of a run: every differing key into every report, in two interchangeable ways.

``stream_reference`` is the plain reading of the rules: one ``DiffRow`` per key from the engine,
``assess`` and ``assess_measure`` from ``shared.domain.reconciliation.rules``, a ``Discrepancy``,
then the CSV row, summary buckets, streak and journal line from the domain helpers.

``stream_fast`` writes byte for byte the same reports (``tests/unit/reconciliation/
test_fast_path.py`` compares every file over a data set that exercises every rule) but costs
a fraction per key: a bad day has 300,000 differing keys, and there ~40 µs of Python per key
(function calls, a dataclass or two and a dict per key, the same number formatted three times)
was four fifths of the run. It takes the engine's rows a batch at a time, keeps the run's
settings in locals, formats each number once and builds a ``Discrepancy`` only for the few keys
that enter the summary's "largest" list. Rare paths (other measures) call the domain rules.
"""

from __future__ import annotations

import csv
import heapq
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) uses
from typing import IO, Any

from shared.adapters.snapshot_engine import QTY_SCALE, Comparison, WarehouseFigures
from shared.domain.reconciliation.config import AuditBasis, JournalMode, ReconcileConfig, Side, Thresholds
from shared.domain.reconciliation.excel import csv_row_maker
from shared.domain.reconciliation.history import JoinedStreaks, OutOfBalanceLog
from shared.domain.reconciliation.journal import (
    JournalProposer,
    JournalText,
    line_id_of,
    line_id_prefix,
    line_id_tail,
)
from shared.domain.reconciliation.model import Discrepancy
from shared.domain.reconciliation.report_view import CATEGORY_LABELS, DIGITS_KEPT_AS_NUMBER, id_cell
from shared.domain.reconciliation.rules import (
    CENT,
    HUNDRED,
    ZERO,
    Assessment,
    Category,
    MeasureAssessment,
    assess,
    assess_measure,
    fmt,
)
from shared.domain.reconciliation.summary import SummaryBuilder, _Bucket
from shared.domain.spreadsheet import neutralise
from shared.services.finance_reports import FinanceRows
from shared.services.text_spool import TextSpool


@dataclass(slots=True)
class MeasureStats:
    """Per other measure: how many keys differ, how many materially, and by how much."""

    differences: int = 0
    material: int = 0
    quantity_difference: Decimal = Decimal(0)
    abs_quantity_difference: Decimal = Decimal(0)

    def add(self, m: MeasureAssessment) -> None:
        if m.difference != 0:
            self.differences += 1
            self.material += m.material
            self.quantity_difference += m.difference
            self.abs_quantity_difference += abs(m.difference)

    def to_json(self, name: str, config: ReconcileConfig) -> dict[str, Any]:
        spec = config.measures[name]
        thresholds = spec.materiality.model_dump(mode="json") if spec.materiality is not None else None
        return {
            "differences": self.differences,
            "material": self.material,
            "quantity_difference": fmt(self.quantity_difference),
            "abs_quantity_difference": fmt(self.abs_quantity_difference),
            "thresholds": thresholds,
            "proposed": False,
        }


@dataclass
class RunSinks:
    """Everything a run's differing keys flow into; both streams fill these the same way."""

    config: ReconcileConfig
    before: JoinedStreaks
    machine: TextSpool
    writer: Any  # csv.writer over ``machine`` (the _csv module exports no writer type)
    finance_rows: FinanceRows
    builder: SummaryBuilder
    streaks: OutOfBalanceLog
    proposer: JournalProposer
    journal: JournalText
    journal_body: TextSpool
    negative: list[dict[str, Any]] = field(default_factory=list)
    measure_stats: dict[str, MeasureStats] = field(default_factory=dict)
    journal_head: str | None = None
    """The journal's head when a way wrote it into ``journal_body`` ahead of the lines (it knew the line
    count): the body then needs no copy behind a head at the end."""

    def journal_file(self) -> IO[bytes]:
        """The whole journal document as a file, rewound (owned by the caller)."""
        journal, body = self.journal, self.journal_body
        if self.journal_head is None:
            return body.wrap(journal.head_text(), journal.tail_text() + "\n")
        if self.journal_head != journal.head_text():
            raise RuntimeError("the journal head written ahead does not name the lines that were written")
        body.write(journal.tail_text() + "\n")
        return body.finish()

    def close(self) -> None:
        """Release the spooled files of a run that is abandoned half way."""
        self.machine.file.close()
        self.finance_rows.close()
        self.journal_body.file.close()


def stream_reference(cmp: Comparison, sinks: RunSinks) -> None:
    """The differing keys through the domain rules one ``Discrepancy`` at a time (the reference)."""
    config = sinks.config
    level = cmp.level
    before, streaks, builder = sinks.before, sinks.streaks, sinks.builder
    writer, finance_rows, proposer, journal = sinks.writer, sinks.finance_rows, sinks.proposer, sinks.journal
    negative, measure_stats = sinks.negative, sinks.measure_stats
    csv_row = csv_row_maker(level)
    audit_material = config.audit_basis is AuditBasis.MATERIAL
    audit_after = config.audit_after_runs
    for row in cmp.differences():
        key = row.key
        a = assess(
            erp_qty=row.erp_qty,
            wms_qty=row.wms_qty,
            unit_cost=row.unit_cost,
            item=key["item"],
            item_class=row.item_class,
            config=config,
        )
        measures = None
        if row.measures:
            measures = {
                name: assess_measure(
                    name=name,
                    erp_qty=eq,
                    wms_qty=wq,
                    unit_cost=row.unit_cost,
                    item=key["item"],
                    item_class=row.item_class,
                    config=config,
                )
                for name, (eq, wq) in row.measures.items()
            }
            if a.category is Category.MATCH:
                a.category = Category.MEASURE_DIFFERS
            flagged_measures = [r for ma in measures.values() for r in ma.reasons]
            if flagged_measures:
                a.material = True
                a.reasons = (*a.reasons, *flagged_measures)
            for name, ma in measures.items():
                measure_stats[name].add(ma)
        hkey = (key["item"], key.get("warehouse", ""))
        counts = a.material if audit_material else a.difference != 0
        runs = before.get(hkey, 0) + 1 if counts else 0
        if counts:
            streaks.add(hkey, runs)
        d = Discrepancy(
            key, row.site, row.item_class, row.unit_cost, a, runs, audit=runs >= audit_after, measures=measures
        )
        if (a.erp_qty < 0 or a.wms_qty < 0) and len(negative) < config.report_top_n:
            negative.append({**key, "erp_quantity": fmt(a.erp_qty), "wms_quantity": fmt(a.wms_qty)})
        cost = row.unit_cost
        texts = (fmt(a.erp_qty), fmt(a.wms_qty), fmt(a.difference), None if cost is None else fmt(cost))
        machine_row = csv_row(d, texts)
        writer.writerow(machine_row)
        finance_rows.add(machine_row)
        builder.add(d)
        line = proposer.text_for(d, texts)
        if line is not None:
            journal.add_text(proposer.journal_id, line)
        if not builder.total.count & 1023:
            sinks.machine.spill()
            finance_rows.spill()
            sinks.journal_body.spill()


_Limits = tuple[Decimal | None, str, Decimal | None, str, Decimal | None, str]
"""A ``Thresholds`` as (quantity, its text, percent, its text, value, its text), made once per run."""


def _limits(t: Thresholds) -> _Limits:
    def text(d: Decimal | None) -> str:
        return "" if d is None else fmt(d)

    return t.quantity, text(t.quantity), t.percent, text(t.percent), t.value, text(t.value)


def _clean_cost(text: str) -> Decimal:
    """``snapshot_engine._clean(_dec(text))``: an integral cost loses its trailing zeros."""
    d = Decimal(text)
    return d.normalize() if d == d.to_integral_value() else d


assert QTY_SCALE > 0, "stream_fast strips the engine's number texts at their decimal point"

_NEEDS_QUOTES = re.compile(r'[",\r\n]').search


def _csv_cell(text: str) -> str:
    """One cell exactly as ``csv.writer`` (``QUOTE_MINIMAL``, delimiter ``,``, line end ``\r\n``) writes it."""
    return '"' + text.replace('"', '""') + '"' if _NEEDS_QUOTES(text) else text


class _Cells(dict[str, tuple[str, str, str, str]]):
    """Per id text: (machine CSV cell, finance CSV cell, JSON string, neutralised text), made once.

    Warehouses, sites, batches and classes repeat on every row; the cache is bounded.
    """

    def __missing__(self, text: str) -> tuple[str, str, str, str]:
        if len(self) >= 4_096:
            self.clear()
        got = self[text] = _cells_of(text)
        return got


def _cells_of(text: str) -> tuple[str, str, str, str]:
    if text.isascii() and text.isdigit():  # most item numbers: what the general path gives them, made directly
        kept = "'" + text if (len(text) > 1 and text[0] == "0") or len(text) > DIGITS_KEPT_AS_NUMBER else text
        return text, kept, '"' + text + '"', text
    return _cells_in_general(text)


def _cells_in_general(text: str) -> tuple[str, str, str, str]:
    plain = neutralise(text)
    return _csv_cell(plain), _csv_cell(id_cell(plain)), encode_basestring(text), plain


def _negated(text: str) -> str:
    return text if text == "0" else text[1:] if text.startswith("-") else "-" + text


def stream_fast(cmp: Comparison, sinks: RunSinks) -> None:
    """``stream_reference`` with the per-key work inlined: the same bytes in every report.

    Quantities and costs arrive as DECIMAL text with six places, so their canonical text is a
    strip of that text, not a Decimal formatted (extra text columns or ``sha256`` in DuckDB cost
    more there than this does here); each report line is then put together as text once. Each
    step names the domain function it stands for; a change to a rule there must be made here too
    (the parity test fails until it is).
    """
    config = sinks.config
    layout = cmp.row_layout()
    n = layout.keys
    names = [k.value for k in cmp.level]
    if names[0] != "item":
        raise ValueError("the comparison level starts with the item")
    spelled = layout.spelled_item
    measure_names = cmp.measure_names
    first_measure = layout.first_measure
    figures, wh_site = cmp.figures, cmp.warehouse_sites
    pos = {name: i + 1 for i, name in enumerate(names)}
    wh_pos, site_pos, serial_pos = pos.get("warehouse"), pos.get("site"), pos.get("serial")
    json_at = tuple(pos.get(name) for name in ("warehouse", "batch", "status", "location"))

    before_runs = sinks.before.joined_runs  # looked up inline: history.joined_key(item, warehouse)
    streaks_add_many = sinks.streaks.add_many
    builder = sinks.builder
    sums: dict[tuple[Category, str], list[Any]] = {}  # summary._Bucket's fields, in its order, as a list
    top, top_n = builder._top, builder.top_n
    seq = builder._seq
    finance = sinks.finance_rows
    kept_over, kept_other, kept_max = finance.over, finance.other, finance._max
    journal_add = sinks.journal.add_texts
    negative, measure_stats = sinks.negative, sinks.measure_stats
    negative_max = config.report_top_n

    master_wms = config.master is Side.WMS
    unknown_material = config.unknown_cost_is_material
    negative_material = config.negative_is_material
    audit_material = config.audit_basis is AuditBasis.MATERIAL
    audit_after = config.audit_after_runs
    overridden = bool(config.item_overrides or config.class_overrides)
    thresholds_for = config.thresholds_for
    limits: dict[int, tuple[_Limits, _Limits]] = {}

    def limits_of(item: str, item_class: str | None) -> tuple[_Limits, _Limits]:
        m = thresholds_for(item, item_class)
        got = limits.get(id(m))
        if got is None:
            got = limits[id(m)] = (_limits(m.positive), _limits(m.negative))
        return got

    default_limits = limits_of("", None) if not overridden else None

    # journal.JournalProposer: numbering and the run's constant parts of a line
    run_id = sinks.proposer.run_id
    max_lines, material_only = sinks.proposer.max_lines, sinks.proposer.material_only
    counting = config.journal_mode is JournalMode.COUNTING
    s = encode_basestring
    run_json = s(run_id)
    run_part = f'"target":{s(sinks.proposer.target)},"mode":{s(sinks.proposer.mode)},"item":'
    id_prefix = line_id_prefix(run_id, config)
    journals, lines_in_journal, journal_id, journal_part = 0, 0, "", ""

    site_added = site_pos is None
    labels = {c: CATEGORY_LABELS.get(c, c.value) for c in Category}
    values = {c: c.value for c in Category}  # Enum.value is a descriptor call: a dict is cheaper per key
    category_json = {c: s(c) for c in Category}
    match, differs = Category.MATCH, Category.QUANTITY_DIFFERS
    only_erp, only_wms = Category.ONLY_IN_ERP, Category.ONLY_IN_WMS
    cells = _Cells()
    suffixes: dict[tuple[Any, ...], tuple[str, str, list[str], str, str]] = {}
    costs: dict[str, tuple[Decimal, str]] = {}  # cost text -> (cost, its canonical text)
    last_item, item_cells = None, ("", "", "", "")

    for batch in cmp.raw_batches():
        machine_lines: list[str] = []
        finance_lines: list[str] = []
        journal_lines: list[str] = []
        streak_keys: list[tuple[str, str]] = []
        streak_runs: list[int] = []
        machine_write, finance_write, journal_write = (
            machine_lines.append,
            finance_lines.append,
            journal_lines.append,
        )
        for r in batch:
            item = r[1]
            if spelled is not None and r[spelled] is not None:
                item = r[spelled]
            en, wn, eq_text, wq_text, cost_text, smin, _smax, cls = r[n + 2 : n + 10]
            # snapshot_engine.Comparison.differences: the row's numbers and fallbacks
            if cost_text is None:
                cost_text = r[n + 13]
            if cost_text is None:
                cost = cost_t = None
            else:
                known = costs.get(cost_text)
                if known is None:
                    if len(costs) >= 65_536:
                        costs.clear()
                    known = costs[cost_text] = (_clean_cost(cost_text), cost_text.rstrip("0").rstrip("."))
                cost, cost_t = known
            if cls is None:
                cls = r[n + 14]
            # rules.fmt of the engine's DECIMAL text (always QTY_SCALE places, never "-0"): the
            # trailing zeros and a bare point go, as fmt(Decimal(text)) would drop them
            if en:
                e = Decimal(eq_text)
                erp_t = eq_text.rstrip("0").rstrip(".")
            else:
                e, erp_t = ZERO, "0"
            if wn:
                w = Decimal(wq_text)
                wms_t = wq_text.rstrip("0").rstrip(".")
            else:
                w, wms_t = ZERO, "0"
            wh = r[wh_pos] if wh_pos is not None else ""
            site = smin if smin is not None else wh_site.get(wh)
            fig = figures.get(wh)
            if fig is None:
                fig = figures[wh] = WarehouseFigures(wh, 0, 0, Decimal(0), Decimal(0))
            fig.keys += 1
            fig.erp_quantity += e
            fig.wms_quantity += w

            # rules.assess (classify, difference, value, percent, materiality)
            diff = w - e
            diff_t = fmt(diff)
            if e == w:
                category = match
            elif not en:
                category = only_wms
            elif not wn:
                category = only_erp
            else:
                category = differs
            if cost is None:
                value = value_t = abs_value = None
            else:
                value = diff * cost
                value_t = fmt(value)
                abs_value = abs(value)
            master_qty = w if master_wms else e
            abs_diff = abs(diff)
            pct = abs_diff * HUNDRED / abs(master_qty) if master_qty != 0 else None
            # fmt of a percent quantized to 2 places: str never writes it with an exponent, it is >= 0
            pct_t = "" if pct is None else str(pct.quantize(CENT)).rstrip("0").rstrip(".")
            reasons: list[str] = []
            if diff != 0:
                pos_limits, neg_limits = default_limits if default_limits is not None else limits_of(item, cls)
                q, q_t, p, p_t, v, v_t = pos_limits if diff > 0 else neg_limits
                # rules._exceeded, with the texts formatted once
                if q is not None and abs_diff > q:
                    reasons.append(f"quantity {diff_t.lstrip('-')} > {q_t}")
                if p is not None:
                    if master_qty == 0:
                        reasons.append("percent: master quantity is 0")
                    elif pct is not None and pct > p:
                        reasons.append(f"percent {pct_t} > {p_t}")
                if v is not None:
                    if value is None:
                        if unknown_material:
                            reasons.append("value unknown (no unit cost)")
                    elif abs_value is not None and abs_value > v and value_t is not None:
                        reasons.append(f"value {value_t.lstrip('-')} > {v_t}")  # fmt(abs(value))
                if negative_material and (e < 0 or w < 0):
                    reasons.append("negative stock")
            material = bool(reasons)
            reason_tuple = tuple(reasons)

            measures: dict[str, MeasureAssessment] | None = None
            if measure_names:  # the rare path: the domain rules themselves
                measures = {
                    name: assess_measure(
                        name=name,
                        erp_qty=Decimal(r[first_measure + 2 * i] or 0),
                        wms_qty=Decimal(r[first_measure + 2 * i + 1] or 0),
                        unit_cost=cost,
                        item=item,
                        item_class=cls,
                        config=config,
                    )
                    for i, name in enumerate(measure_names)
                }
                if category is match:
                    category = Category.MEASURE_DIFFERS
                flagged_measures = [reason for ma in measures.values() for reason in ma.reasons]
                if flagged_measures:
                    material = True
                    reason_tuple = (*reason_tuple, *flagged_measures)
                for name, ma in measures.items():
                    measure_stats[name].add(ma)

            # history: the streak of (item, warehouse)
            if material if audit_material else diff != 0:
                runs = before_runs.get(f"{len(item)}:{item}{wh}", 0) + 1 if before_runs else 1
                streak_keys.append((item, wh))
                streak_runs.append(runs)
            else:
                runs = 0
            audit = runs >= audit_after
            if (e < 0 or w < 0) and len(negative) < negative_max:
                negative.append({**_key(names, r, item), "erp_quantity": erp_t, "wms_quantity": wms_t})

            # excel.csv_row_maker (machine row) and finance_csv.row_converter (finance row) as CSV text
            if item != last_item:
                last_item, item_cells = item, _cells_of(item)
            rest = r[2 : n + 1]
            suffix = suffixes.get((site, rest, cls))
            if suffix is None:
                if len(suffixes) >= 4_096:
                    suffixes.clear()
                suffix = suffixes[(site, rest, cls)] = _suffix(
                    cells, site, site_added, site_pos, rest, cls, json_at, names
                )
            machine_suffix, finance_suffix, plain_suffix, journal_key, id_tail = suffix
            material_t = "yes" if material else "no"
            audit_t = "yes" if audit else "no"
            # every reason is ASCII words, fmt() numbers and measure names ([a-z0-9_]): never a
            # formula, never a character CSV quotes or JSON escapes
            reasons_text = "; ".join(reason_tuple)
            tail = (
                f",{erp_t},{wms_t},{diff_t},{cost_t or ''},{value_t or ''},{pct_t},{runs},{audit_t},{reasons_text}\r\n"
            )
            machine_write(f"{values[category]},{material_t},{item_cells[0]}{machine_suffix}{tail}")
            finance_write(f"{labels[category]},{material_t},{item_cells[1]}{finance_suffix}{tail}")
            kept = kept_over if material else kept_other
            if len(kept) < kept_max:
                kept.append(
                    [
                        category,
                        material_t,
                        item_cells[3],
                        *plain_suffix,
                        erp_t,
                        wms_t,
                        diff_t,
                        cost_t or "",
                        value_t or "",
                        pct_t,
                        str(runs),
                        audit_t,
                        reasons_text,
                    ]
                )

            # summary.SummaryBuilder.add, one bucket per (category, warehouse), merged into the
            # summary's three at the end (_merge)
            b = sums.get((category, wh))
            if b is None:
                b = sums[(category, wh)] = [0, 0, ZERO, ZERO, ZERO, ZERO, 0]
            b[0] += 1
            b[1] += material
            b[2] += diff
            b[3] += abs_diff
            if value is None:
                b[6] += diff != 0
            else:
                b[4] += value
                b[5] += abs_value
            rank = abs_value if abs_value is not None else ZERO
            seq += 1
            if len(top) < top_n or rank > top[0][0] or (rank == top[0][0] and -seq > top[0][1]):
                a = Assessment(category, e, w, diff, value, pct, material, reason_tuple)
                d = Discrepancy(_key(names, r, item), site, cls, cost, a, runs, audit=audit, measures=measures)
                if len(top) < top_n:
                    heapq.heappush(top, (rank, -seq, d))
                else:
                    heapq.heapreplace(top, (rank, -seq, d))

            # journal.JournalProposer.text_of
            if diff != 0 and (material or not material_only):
                if journals == 0 or lines_in_journal == max_lines:
                    journal_add(journal_id, journal_lines)
                    journal_lines = []
                    journal_write = journal_lines.append
                    journals += 1
                    lines_in_journal = 0
                    journal_id = f"{run_id}-{journals:03d}"
                    journal_part = f'","run_id":{run_json},"journal_id":{s(journal_id)},"line_number":'
                lines_in_journal += 1
                if master_wms:
                    master_t, book_t, delta_t, moves_in = wms_t, erp_t, diff_t, diff > 0
                    value_json = "null" if value_t is None else f'"{value_t}"'
                else:
                    master_t, book_t, moves_in = erp_t, wms_t, diff < 0
                    delta_t = _negated(diff_t)
                    value_json = "null" if value_t is None else f'"{_negated(value_t)}"'
                counted_json = '"' + master_t + '"' if counting else "null"
                reasons_json = '"' + '","'.join(reason_tuple) + '"' if reason_tuple else ""
                serial_json = "null" if serial_pos is None else cells[r[serial_pos]][2]
                cost_json = "null" if cost_t is None else '"' + cost_t + '"'
                line_id = line_id_of(id_prefix, item, id_tail)
                journal_write(
                    f'{{"line_id":"{line_id}{journal_part}{lines_in_journal},{run_part}{item_cells[2]},'
                    f'{journal_key},"quantity_delta":"{delta_t}","counted_quantity":{counted_json},'
                    f'"book_quantity":"{book_t}","unit_cost":{cost_json},"value":{value_json},'
                    f'"category":{category_json[category]},"reasons":[{reasons_json}],'
                    f'"movement":"{"receipt" if moves_in else "issue"}","review":{"true" if material else "false"},'
                    f'"serial":{serial_json}}}',
                )
        finance.rows += len(batch)
        sinks.machine.write("".join(machine_lines))
        finance._spool.write("".join(finance_lines))
        journal_add(journal_id, journal_lines)
        streaks_add_many(streak_keys, streak_runs)
        sinks.machine.spill()
        finance.spill()
        sinks.journal_body.spill()
    builder._seq = seq
    pairs = {key: _Bucket(*b) for key, b in sums.items()}
    _merge(pairs, builder)


def _suffix(
    cells: _Cells,
    site: str | None,
    site_added: bool,
    site_pos: int | None,
    rest: tuple[str, ...],
    item_class: str | None,
    json_at: tuple[int | None, ...],
    names: list[str],
) -> tuple[str, str, list[str], str, str]:
    """What follows the item in a row, for one (site, other key fields, class): the machine and the
    finance CSV cells, the plain cells (workbook rows) and the journal line's key fields as JSON.
    ``rest``: the row's key fields after the item (positions 2 ...; ``json_at`` and ``site_pos``
    count from 1, as in the engine row); last, the line id's hashed text after the item."""
    machine, finance, plain = "", "", []
    if site_added:
        c = cells[site or ""]
        machine, finance = machine + "," + c[0], finance + "," + c[1]
        plain.append(c[3])
    for value in rest:
        c = cells[value]
        machine, finance = machine + "," + c[0], finance + "," + c[1]
        plain.append(c[3])
    c = cells[item_class or ""]
    machine, finance = machine + "," + c[0], finance + "," + c[1]
    plain.append(c[3])
    site_value = rest[site_pos - 2] if site_pos is not None else site
    site_json = "null" if site_value is None else cells[site_value][2]
    wh, batch, status, location = ("null" if i is None else cells[rest[i - 2]][2] for i in json_at)
    journal = f'"site":{site_json},"warehouse":{wh},"batch":{batch},"status":{status},"location":{location}'
    return machine, finance, plain, journal, line_id_tail(dict(zip(names[1:], rest, strict=True)))


class SumsNotExact(ArithmeticError):
    """The run's sums are too large for the batched path to prove them exact (see ``_merge``)."""


QUANTITY_SUMS_BELOW = Decimal(10) ** 21
VALUE_SUMS_BELOW = Decimal(10) ** 15


def _merge(pairs: Mapping[tuple[Category, str], _Bucket], builder: SummaryBuilder) -> None:
    """The summary's buckets (total, per category, per warehouse) from the per-(category, warehouse) ones.

    The reference adds each key to all three buckets in key order; here each key is added once and
    the sums are combined afterwards, in another order. Decimal addition is exact while a result
    has at most 28 significant digits, whatever the order: differences carry 6 places and values
    at most 12 (6 of the difference, at most 6 of the unit cost), so while the absolute sums stay
    below ``QUANTITY_SUMS_BELOW`` and ``VALUE_SUMS_BELOW`` (a digit of margin) every partial sum in
    either order is exact and both paths write the same figures. Beyond that (values of a
    quadrillion) ``SumsNotExact`` asks the caller to run the reference instead.
    """
    total = builder.total
    for (category, warehouse), b in pairs.items():
        for target in (total, builder.by_category[category.value], builder.by_warehouse[warehouse]):
            target.count += b.count
            target.material += b.material
            target.quantity_difference += b.quantity_difference
            target.abs_quantity_difference += b.abs_quantity_difference
            target.value_difference += b.value_difference
            target.abs_value_difference += b.abs_value_difference
            target.unknown_value += b.unknown_value
    if total.abs_quantity_difference >= QUANTITY_SUMS_BELOW or total.abs_value_difference >= VALUE_SUMS_BELOW:
        raise SumsNotExact("sums beyond what the batched path proves exact")


def _key(names: list[str], row: tuple[Any, ...], item: str) -> dict[str, str]:
    """The key as ``DiffRow.key``: the level's fields, the item as shown."""
    key = dict(zip(names, row[1 : len(names) + 1], strict=True))
    key["item"] = item
    return key


class StreamWay(StrEnum):
    """The three interchangeable ways a run's differing keys become report texts (same bytes)."""

    ENGINE = "engine"
    """Made by DuckDB as column expressions (``reconcile_engine_stream``), Python where it cannot."""
    PYTHON = "python"
    """Made in Python a batch at a time with the rules inlined (``reconcile_stream.stream_fast``)."""
    REFERENCE = "reference"
    """The domain rules, one object per key (``reconcile_stream.stream_reference``): the others' yardstick."""


StreamFunction = Callable[[Comparison, RunSinks], None]


def new_sinks(
    config: ReconcileConfig,
    before: JoinedStreaks,
    technical: list[str],
    run_id: str,
    journal_shown: int,
) -> RunSinks:
    """Empty sinks for one run: the machine CSV with its header row, the finance rows, the journal."""
    machine = TextSpool()
    writer = csv.writer(machine, lineterminator="\r\n")
    writer.writerow(technical)
    journal_body = TextSpool()
    return RunSinks(
        config=config,
        before=before,
        machine=machine,
        writer=writer,
        finance_rows=FinanceRows(technical, config.workbook_max_rows),
        builder=SummaryBuilder(top_n=config.report_top_n),
        streaks=OutOfBalanceLog(config.audit_after_runs),
        proposer=JournalProposer(run_id, config),
        journal=JournalText(run_id, config, emit=journal_body.write, keep=journal_shown),
        journal_body=journal_body,
        measure_stats={name: MeasureStats() for name in config.measures},
    )


__all__ = [
    "MeasureStats",
    "RunSinks",
    "StreamFunction",
    "StreamWay",
    "SumsNotExact",
    "new_sinks",
    "stream_fast",
    "stream_reference",
]
