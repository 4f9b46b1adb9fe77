"""The per-key part of a run when DuckDB wrote its report texts (``shared.adapters.report_sql``).

``stream_fast`` spends ~20 µs of Python on each differing key; on a bad day (300,000 keys) that
was two thirds of the run. Here the engine's rows arrive with the machine and finance CSV lines,
the journal line and the summary's sums already computed, and each key costs Python only what
depends on the run's history or on the keys before it: the streak (runs in a row, audit), the
journal's numbering, and the first rows the workbook keeps. The reports are byte for byte those
of ``stream_reference`` (``tests/unit/reconciliation/test_fast_path.py``).
"""

from __future__ import annotations

import heapq
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from shared.adapters.report_sql import OUT_NAMES
from shared.adapters.snapshot_engine import Comparison, WarehouseFigures
from shared.domain.reconciliation.config import AuditBasis, Side
from shared.domain.reconciliation.history import joined_key
from shared.domain.reconciliation.model import Discrepancy
from shared.domain.reconciliation.rules import CENT, HUNDRED, ZERO, Assessment, Category, fmt
from shared.domain.reconciliation.summary import _Bucket
from shared.domain.spreadsheet import neutralise
from shared.services.reconcile_stream import RunSinks, _clean_cost, _key, _merge

_AT = {name: i for i, name in enumerate(OUT_NAMES)}


def stream_sql(cmp: Comparison, sinks: RunSinks) -> None:
    """Every differing key into the run's sinks from the engine's report columns."""
    at = cmp.report_at
    if at is None:
        raise ValueError("the comparison has no report columns")
    config = sinks.config
    layout = cmp.row_layout()
    n = layout.keys
    names = [k.value for k in cmp.level]
    spelled = layout.spelled_item
    wh_pos = names.index("warehouse") + 1 if "warehouse" in names else None
    figures, wh_site = cmp.figures, cmp.warehouse_sites
    pre_m, pre_f, post, material_at, jpre_at, jpost_at, rank_at = (at + _AT[c] for c in OUT_NAMES)

    runs_before = sinks.before.by_joined_key()
    streaks_add = sinks.streaks.add
    builder = sinks.builder
    top, top_n = builder._top, builder.top_n
    finance = sinks.finance_rows
    kept_over, kept_other, kept_max = finance.over, finance.other, finance._max
    journal_add = sinks.journal.add_texts
    negative, negative_max = sinks.negative, config.report_top_n
    audit_material = config.audit_basis is AuditBasis.MATERIAL
    audit_after = config.audit_after_runs
    master_wms = config.master is Side.WMS
    pairs: dict[tuple[Category, str], _Bucket] = {}
    for group in cmp.report_groups():
        _add_group(group, pairs, figures)
    smallest = -1.0  # the rank (as a float) a key must reach to enter the largest list once it is full

    run_id = sinks.proposer.run_id
    max_lines = sinks.proposer.max_lines
    journals, lines_in_journal, journal_id, journal_json = 0, 0, "", ""
    seq = 0

    for batch in cmp.raw_batches():
        machine_lines: list[str] = []
        finance_lines: list[str] = []
        journal_lines: list[str] = []
        machine_write, finance_write = machine_lines.append, finance_lines.append
        keys = 0
        for r in batch:
            keys += 1
            seq += 1
            item = r[1]
            if spelled is not None and r[spelled] is not None:
                item = r[spelled]
            wh = r[wh_pos] if wh_pos is not None else ""
            material = r[material_at]
            if material or not audit_material:
                runs = runs_before.get(joined_key(item, wh), 0) + 1
                streaks_add((item, wh), runs)
            else:
                runs = 0
            audit = "yes" if runs >= audit_after else "no"
            middle = f"{runs},{audit},"
            rest = r[post]
            machine_write(r[pre_m] + middle + rest)
            finance_write(r[pre_f] + middle + rest)
            jpre = r[jpre_at]
            if jpre is not None:
                if journals == 0 or lines_in_journal == max_lines:
                    journal_add(journal_id, journal_lines)
                    journal_lines = []
                    journals += 1
                    lines_in_journal = 0
                    journal_id = f"{run_id}-{journals:03d}"
                    journal_json = encode_basestring(journal_id)
                lines_in_journal += 1
                journal_lines.append(f'{jpre}{journal_json},"line_number":{lines_in_journal}{r[jpost_at]}')
            kept = kept_over if material else kept_other
            rank = r[rank_at]
            en, wn, eq_text, wq_text = r[n + 2 : n + 6]
            is_negative = (en and eq_text[0] == "-") or (wn and wq_text[0] == "-")
            in_top = (rank is None and smallest < 0) or (rank is not None and rank >= smallest)
            if not (in_top or len(kept) < kept_max or (is_negative and len(negative) < negative_max)):
                continue
            # one of the few keys a list keeps: its figures as ``stream_fast`` makes them
            d = _discrepancy(r, n, names, item, wh, wh_site, master_wms, material, rest[:-2], runs, audit_after)
            a = d.assessment
            if in_top:
                exact = abs(a.value) if a.value is not None else ZERO
                entry = (exact, -seq, d)
                if len(top) < top_n:
                    heapq.heappush(top, entry)
                elif entry[:2] > top[0][:2]:
                    heapq.heapreplace(top, entry)
                if len(top) >= top_n:
                    # DuckDB's DOUBLE of a DECIMAL may be an ulp off Python's: a margin keeps the filter safe
                    smallest = float(top[0][0]) * (1 - 1e-9)
            if len(kept) < kept_max:
                kept.append(_cells(d, names, material, runs, audit, rest[:-2]))
            if is_negative and len(negative) < negative_max:
                negative.append({**d.key, "erp_quantity": fmt(a.erp_qty), "wms_quantity": fmt(a.wms_qty)})
        finance.rows += keys
        sinks.machine.write("".join(machine_lines))
        finance._spool.write("".join(finance_lines))
        journal_add(journal_id, journal_lines)
        sinks.machine.spill()
        finance.spill()
        sinks.journal_body.spill()
    builder._seq = seq
    _merge(pairs, builder)


def _add_group(
    g: tuple[Any, ...], pairs: dict[tuple[Category, str], _Bucket], figures: dict[str, WarehouseFigures]
) -> None:
    """One (category, warehouse) row of ``report_sql.GROUP_SUMS``: its bucket and its keys' book quantities."""
    category, wh, count, material, d, ad, v, av, unknown, e, w = g[:11]
    pairs[(Category(category), wh)] = _Bucket(
        count,
        material,
        Decimal(d),
        Decimal(ad),
        ZERO if v is None else Decimal(v),
        ZERO if av is None else Decimal(av),
        unknown,
    )
    fig = figures.get(wh)
    if fig is None:
        fig = figures[wh] = WarehouseFigures(wh, 0, 0, Decimal(0), Decimal(0))
    fig.keys += count
    fig.erp_quantity += Decimal(e)
    fig.wms_quantity += Decimal(w)


def _cells(d: Discrepancy, names: list[str], material: bool, runs: int, audit: str, reasons: str) -> list[Any]:
    """A workbook row (``FinanceRows.add``'s cells) of one of the first keys."""
    a = d.assessment
    keys = [neutralise(d.key.get(k, "")) for k in names]
    if "site" not in names:
        keys.insert(1, neutralise(d.site or ""))
    pct = a.percent
    return [
        a.category,
        "yes" if material else "no",
        *keys,
        neutralise(d.item_class or ""),
        fmt(a.erp_qty),
        fmt(a.wms_qty),
        fmt(a.difference),
        "" if d.unit_cost is None else fmt(d.unit_cost),
        "" if a.value is None else fmt(a.value),
        "" if pct is None else fmt(pct.quantize(CENT)),
        str(runs),
        audit,
        reasons,
    ]


def _text(decimal_text: str | None) -> str:
    """``rules.fmt`` of the engine's DECIMAL text (``"0"`` for a side without the key)."""
    return "0" if decimal_text is None else decimal_text.rstrip("0").rstrip(".")


def _discrepancy(
    r: tuple[Any, ...],
    n: int,
    names: list[str],
    item: str,
    wh: str,
    wh_site: dict[str, str],
    master_wms: bool,
    material: bool,
    reasons: str,
    runs: int,
    audit_after: int,
) -> Discrepancy:
    """The ``Discrepancy`` of one of the few keys the summary lists, as ``stream_fast`` builds it."""
    en, wn, eq_text, wq_text, cost_text, smin, _smax, cls = r[n + 2 : n + 10]
    if cost_text is None:
        cost_text = r[n + 13]
    cost = None if cost_text is None else _clean_cost(cost_text)
    if cls is None:
        cls = r[n + 14]
    e = Decimal(eq_text) if en else ZERO
    w = Decimal(wq_text) if wn else ZERO
    diff = w - e
    category = Category.ONLY_IN_WMS if not en else Category.ONLY_IN_ERP if not wn else Category.QUANTITY_DIFFERS
    value = None if cost is None else diff * cost
    master_qty = w if master_wms else e
    pct = abs(diff) * HUNDRED / abs(master_qty) if master_qty != 0 else None
    a = Assessment(category, e, w, diff, value, pct, material, tuple(reasons.split("; ")) if reasons else ())
    site = smin if smin is not None else wh_site.get(wh)
    return Discrepancy(_key(names, r, item), site, cls, cost, a, runs, audit=runs >= audit_after, measures=None)


__all__ = ["stream_sql"]
