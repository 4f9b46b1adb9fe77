"""The per-key part of a run with its texts made by the engine (``adapters.difference_texts``).

The third interchangeable way to fill a run's sinks, and the default: the same bytes as
``reconcile_stream.stream_reference`` and ``stream_fast`` (``tests/unit/reconciliation/
test_fast_path.py``), at a fraction of the Python per key. Python's share here is what is per
*distinct* id (its cells), per summary bucket, per "largest" entry (``rules.assess`` itself, for at
most ``report_top_n`` keys), and moving finished text from the engine into the sinks.

A run the engine does not restate (``difference_texts.unsupported``) goes through ``stream_fast``.
"""

from __future__ import annotations

import csv
import heapq
import logging
from decimal import Decimal
from itertools import compress
from json.encoder import encode_basestring
from typing import cast

from shared.adapters import difference_texts as texts
from shared.adapters.snapshot_engine import Comparison, WarehouseFigures
from shared.domain.reconciliation.history import JoinedStreaks
from shared.domain.reconciliation.journal import line_id_prefix
from shared.domain.reconciliation.model import Discrepancy
from shared.domain.reconciliation.report_view import CATEGORY_LABELS
from shared.domain.reconciliation.rules import ZERO, Category, assess
from shared.domain.reconciliation.summary import _Bucket
from shared.services.reconcile_stream import RunSinks, StreamWay, _cells_of, _clean_cost, _merge, stream_fast

log = logging.getLogger(__name__)


def stream_engine(cmp: Comparison, sinks: RunSinks) -> StreamWay:
    """Fill ``sinks`` with every differing key; returns which way it went (``ENGINE`` or ``PYTHON``)."""
    config = sinks.config
    why = texts.unsupported(cmp, config)
    ids: list[str] = []
    if why is None:
        # the texts whose cells Python makes: the ids the differing keys show, and the sites keys take
        # from their warehouse (``Comparison.warehouse_sites``), which no differing key need name itself
        ids = [*texts.distinct_texts(cmp), *cmp.warehouse_sites.values()]
        if any("\r" in t or "\n" in t for t in ids):
            why = "ids with line breaks"  # the workbook rows are read back from the CSV rows, one line each
    if why is not None:
        log.info("reconciliation %s: texts made in Python (%s)", sinks.proposer.run_id, why)
        stream_fast(cmp, sinks)
        return StreamWay.PYTHON
    cells = {t: _cells_of(t) for t in ids if t}  # an empty text's cells are empty: the query writes them
    texts.load_lookups(cmp, cells, cmp.warehouse_sites, sinks.before.joined_runs)
    # in the engine now: not beside its memory while it builds the texts (after a bad day the streaks
    # are 300,000 keys, ~35 MB of Python objects, at the run's peak); read back if Python takes over
    del cells, ids
    sinks.before = JoinedStreaks({})
    proposer = sinks.proposer
    settings = texts.TextSettings(
        config=config,
        run_id=proposer.run_id,
        target=str(proposer.target),
        mode=str(proposer.mode),
        id_prefix=line_id_prefix(proposer.run_id, config),
        labels={c.value: CATEGORY_LABELS.get(c, c.value) for c in Category},
    )
    try:
        texts.prepare(cmp, settings)
    except texts.TextsNotMade:
        # nothing is written yet and the comparison's rows are still there: the Python way makes the
        # same files (running out of memory is not this: it is retried with one thread, as ever)
        log.exception("reconciliation %s: the engine could not make the texts; made in Python", proposer.run_id)
        sinks.before = JoinedStreaks(texts.earlier_streaks(cmp))
        stream_fast(cmp, sinks)
        return StreamWay.PYTHON
    total = _sums(cmp, sinks)
    _largest(cmp, sinks)
    _negatives(cmp, sinks)
    _lines(cmp, sinks, settings, total)
    sinks.builder._seq += total
    return StreamWay.ENGINE


def _sums(cmp: Comparison, sinks: RunSinks) -> int:
    """The summary's buckets and the warehouse figures; returns the number of differing keys."""
    pairs: dict[tuple[Category, str], _Bucket] = {}
    figures = cmp.figures
    total = 0
    for b in texts.buckets(cmp):
        pairs[(Category(b.category), b.warehouse)] = _Bucket(
            b.count,
            b.material,
            b.quantity_difference,
            b.abs_quantity_difference,
            b.value_difference,
            b.abs_value_difference,
            b.unknown_value,
        )
        fig = figures.get(b.warehouse)
        if fig is None:
            fig = figures[b.warehouse] = WarehouseFigures(b.warehouse, 0, 0, Decimal(0), Decimal(0))
        fig.keys += b.count
        fig.erp_quantity += b.erp_quantity
        fig.wms_quantity += b.wms_quantity
        total += b.count
    _merge(pairs, sinks.builder)
    return total


def _largest(cmp: Comparison, sinks: RunSinks) -> None:
    """The summary's "largest" keys, each through ``rules.assess`` as the reference takes it."""
    config, builder = sinks.config, sinks.builder
    names = [k.value for k in cmp.level]
    n = len(names)
    seq = builder._seq
    for row in texts.largest(cmp, builder.top_n):
        rn, key_values = row[0], row[1 : n + 1]
        item, site, cls, eq_t, wq_t, cost_text, has_e, has_w, runs = row[n + 1 :]
        key = dict(zip(names, key_values, strict=True))
        key["item"] = item
        cost = None if cost_text is None else _clean_cost(cost_text)
        a = assess(
            erp_qty=Decimal(eq_t) if has_e else None,
            wms_qty=Decimal(wq_t) if has_w else None,
            unit_cost=cost,
            item=item,
            item_class=cls,
            config=config,
        )
        d = Discrepancy(key, site, cls, cost, a, runs, audit=runs >= config.audit_after_runs, measures=None)
        rank = abs(a.value) if a.value is not None else ZERO
        heapq.heappush(builder._top, (rank, -(seq + rn), d))


def _negatives(cmp: Comparison, sinks: RunSinks) -> None:
    names = [k.value for k in cmp.level]
    n = len(names)
    room = sinks.config.report_top_n - len(sinks.negative)
    for row in texts.negatives(cmp, room) if room > 0 else ():
        key = dict(zip(names, row[:n], strict=True))
        key["item"] = row[n]
        sinks.negative.append({**key, "erp_quantity": row[n + 1], "wms_quantity": row[n + 2]})


def _lines(cmp: Comparison, sinks: RunSinks, settings: texts.TextSettings, total: int) -> None:
    """The engine's texts into the CSV spools, the journal, the streak log and the workbook rows."""
    finance = sinks.finance_rows
    kept_over, kept_other, kept_max = finance.over, finance.other, finance._max
    numbered = texts.every_key_proposed(cmp)
    if numbered and sinks.journal.line_count == 0:  # every differing key is a line: the count is known now
        sinks.journal_head = sinks.journal.head_text(total)
        sinks.journal_body.write(sinks.journal_head)
    number_lines = _LineNumbers(sinks, settings.run_id)
    for rows in texts.lines(cmp, settings, numbered):
        columns = list(zip(*rows, strict=True))  # each field of the batch as one tuple, in one C call
        sinks.machine.write("".join(columns[0]))
        finance._spool.write("".join(columns[1]))
        finance.rows += len(rows)
        counts, keys, runs = columns[5], zip(columns[6], columns[7], strict=True), columns[8]
        entries = cast("tuple[str, ...]", columns[10])  # made for every key that counts
        if all(counts):  # a bad day: every differing key counts for its streak
            sinks.streaks.add_many(list(keys), runs, entries)
        else:
            sinks.streaks.add_many(
                list(compress(keys, counts)), list(compress(runs, counts)), list(compress(entries, counts))
            )
        if numbered:
            number_lines.add_numbered(cast("tuple[str, ...]", columns[2]), columns[9])
        else:
            number_lines.add(rows)
        if len(kept_over) < kept_max or len(kept_other) < kept_max:
            for r in rows:
                kept = kept_over if r[4] else kept_other
                if len(kept) < kept_max:
                    cells = next(csv.reader([r[0]]))
                    kept.append([Category(cells[0]), *cells[1:]])
        sinks.machine.spill()
        finance.spill()
        sinks.journal_body.spill()


class _LineNumbers:
    """Proposed lines into their journals, as ``JournalProposer`` numbers them: a new journal every
    ``journal_max_lines`` lines."""

    def __init__(self, sinks: RunSinks, run_id: str) -> None:
        self._add = sinks.journal.add_texts
        self._run_id, self._max = run_id, sinks.config.journal_max_lines
        self._run_json = encode_basestring(run_id)
        self._journals, self._in_journal, self._part = 0, self._max, ""

    def add_numbered(self, lines: tuple[str, ...], places: tuple[int, ...]) -> None:
        """Whole lines, every key proposed (``texts.every_key_proposed``): the batch is cut where its
        journals end, a key's place deciding its journal."""
        start, size = 0, self._max
        while start < len(lines):
            place = places[start] - 1
            end = min(len(lines), start + size - place % size)
            self._add(f"{self._run_id}-{place // size + 1:03d}", lines[start:end])
            start = end

    def add(self, rows: list[texts.Line]) -> None:
        """Lines the engine left unnumbered (id, then the text after the line number)."""
        journal_id = f"{self._run_id}-{self._journals:03d}"
        lines: list[str] = []
        for r in rows:
            if r[2] is None:
                continue
            if self._in_journal == self._max:
                self._add(journal_id, lines)
                self._journals, self._in_journal, lines = self._journals + 1, 0, []
                journal_id = f"{self._run_id}-{self._journals:03d}"
                self._part = f'","run_id":{self._run_json},"journal_id":{encode_basestring(journal_id)},"line_number":'
            self._in_journal += 1
            lines.append(f'{{"line_id":"{r[2]}{self._part}{self._in_journal}{r[3]}')
        self._add(journal_id, lines)


__all__ = ["stream_engine"]
