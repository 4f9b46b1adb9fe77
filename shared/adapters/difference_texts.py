# ruff: noqa: S608 - SQL text is built from fixed fragments, the engine's own column names and integers;
# every text that comes from a snapshot or a caller is a table row or a $parameter.
"""Every report text of a run's differing keys, made by DuckDB as column expressions.

A bad day has 300,000 differing keys. Made in Python, their CSV rows and journal lines cost
~20 µs each even inlined (``reconcile_stream.stream_fast``): two thirds of the run, on one core.
Here the engine makes them from the comparison's own result table (``snapshot_engine.DIFFS_TABLE``)
on every core, as vectorised expressions over whole columns. The rules are the domain's
(``rules.assess``, ``excel.csv_row_maker``, ``finance_csv``, ``JournalProposer``), restated in SQL;
``tests/unit/reconciliation/test_fast_path.py`` holds every report file to the reference path's bytes.

Python keeps what it does better: the cells of each *distinct* id (formula neutralisation, CSV
quoting, spreadsheet-kept-as-text, JSON escaping) are made once per text by the same functions as
the other paths and joined in as a table; ids of ASCII digits only (most item numbers) get theirs in
the query (``DIGITS``). Nothing from a snapshot or a caller is spliced into SQL
text: ids arrive as table rows, thresholds and run names as parameters.

``unsupported`` names what a run needs that this does not restate (other measures, item or class
thresholds, serial numbers, numbers too large to prove exact here); those runs go the Python way.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

import duckdb

from shared.adapters.snapshot_engine import DIFFS_TABLE, QTY_SCALE, Comparison, EngineOutOfMemory
from shared.domain.reconciliation.config import (
    AuditBasis,
    JournalMode,
    KeyField,
    ProposeScope,
    ReconcileConfig,
    Side,
    Thresholds,
)
from shared.domain.reconciliation.report_view import DIGITS_KEPT_AS_NUMBER
from shared.domain.reconciliation.rules import Category, fmt

QUANTITY_BELOW = Decimal(5) * Decimal(10) ** 11
"""Largest |quantity| restated here. Below it a quantity and a difference of two fit a DECIMAL(18,6),
whose arithmetic and text are on 64-bit integers (the 128-bit ones take several times as long); far
beyond it a percent or a value could need more than the 28 significant digits of Python's Decimal
context, and the reference would round where SQL does not."""
COST_BELOW = Decimal(10) ** 6
"""Largest |unit cost|: with ``QUANTITY_BELOW`` every value stays below 10^18, exact either way."""
THRESHOLD_BELOW = Decimal(10) ** 20
PERCENT_BELOW = Decimal(10) ** 6
"""A percent threshold multiplies a master quantity in the query: below this, no product overflows."""

KEYED = "keyed"
"""The temp table of the differing keys with every number, text and cell the reports need, stored in
key order: a key's ``rowid`` + 1 is its place (``rn``), with no window function to number them."""

LINE_KEYS = ("site", "warehouse", "batch", "status", "location")
"""The key fields a line id names after the item, in ``journal.line_id_tail``'s order; the journal
line names the same fields, JSON null when the level has no such field."""


@dataclass(frozen=True)
class TextSettings:
    """What the queries need from the run besides the comparison."""

    config: ReconcileConfig
    run_id: str
    target: str
    mode: str
    id_prefix: str
    labels: Mapping[str, str]
    """Category value -> the finance CSV's label."""


@dataclass(frozen=True)
class Bucket:
    """Sums of one (category, warehouse), for ``summary._Bucket`` and the warehouse figures."""

    category: str
    warehouse: str
    count: int
    material: int
    quantity_difference: Decimal
    abs_quantity_difference: Decimal
    value_difference: Decimal
    abs_value_difference: Decimal
    unknown_value: int
    erp_quantity: Decimal
    wms_quantity: Decimal


def unsupported(cmp: Comparison, config: ReconcileConfig) -> str | None:
    """Why this run's texts cannot be made here (None: they can)."""
    if cmp.measure_names:
        return "other measures"
    if config.item_overrides or config.class_overrides:
        return "item or class thresholds"
    if KeyField.SERIAL in cmp.level:
        return "serial numbers"
    if cmp.level[0] is not KeyField.ITEM:
        return "a level that does not start with the item"
    for t in (config.materiality.positive, config.materiality.negative):
        for d, below in ((t.quantity, THRESHOLD_BELOW), (t.percent, PERCENT_BELOW), (t.value, THRESHOLD_BELOW)):
            if d is not None and (d >= below or int(d.as_tuple().exponent) < -QTY_SCALE):
                return "a threshold beyond six decimal places, 10^20 or (a percent) 10^6"
    quantity, cost = _fetch(
        cmp,
        f"""SELECT CAST(max(greatest(abs(coalesce(eq, 0)), abs(coalesce(wq, 0)))) AS VARCHAR),
                   CAST(max(abs(coalesce(cost, fb_cost))) AS VARCHAR)
            FROM {DIFFS_TABLE} WHERE NOT m""",
    )[0]
    if Decimal(quantity or 0) >= QUANTITY_BELOW or Decimal(cost or 0) >= COST_BELOW:
        return "quantities or unit costs too large to prove exact"
    return None


def distinct_texts(cmp: Comparison) -> list[str]:
    """Every id text a differing key's row shows (items as spelled, other key fields, sites, classes)
    but those of digits only, whose cells the queries make themselves (``DIGITS``)."""
    parts = [f"SELECT {_item(cmp)} AS v FROM {DIFFS_TABLE} WHERE NOT m"]
    parts += [f"SELECT k_{k.value} FROM {DIFFS_TABLE} WHERE NOT m" for k in cmp.level[1:]]
    parts.append(f"SELECT CAST(smin AS VARCHAR) FROM {DIFFS_TABLE} WHERE NOT m")
    parts.append(f"SELECT coalesce(CAST(cls AS VARCHAR), CAST(fb_cls AS VARCHAR)) FROM {DIFFS_TABLE} WHERE NOT m")
    digits = DIGITS.format("v")
    rows = _fetch(cmp, f"SELECT DISTINCT v FROM ({' UNION ALL '.join(parts)}) WHERE v IS NOT NULL AND NOT {digits}")
    return [r[0] for r in rows]


def load_lookups(
    cmp: Comparison,
    cells: Mapping[str, tuple[str, str, str, str]],
    warehouse_sites: Mapping[str, str],
    before: Mapping[str, int],
) -> None:
    """The tables ``prepare`` joins: each text's cells, each warehouse's one site, the earlier streaks
    by their joined keys (``history.JoinedStreaks.joined_runs``: after a bad day 300,000 of them, handed
    over as they are held, not split into tuples of new strings first); passed as list parameters,
    never as statement text. The caller can drop its own copies after."""
    texts = list(cells)
    columns = {"v": texts, **{name: [cells[t][i] for t in texts] for i, name in enumerate(("mc", "fc", "jc"))}}
    _run(
        cmp,
        "CREATE OR REPLACE TEMP TABLE cells AS "
        "SELECT unnest($v) AS v, unnest($mc) AS mc, unnest($fc) AS fc, unnest($jc) AS jc",
        columns,
    )
    _run(
        cmp,
        "CREATE OR REPLACE TEMP TABLE wh_sites AS SELECT unnest($w) AS wh, unnest($s) AS site",
        {"w": list(warehouse_sites), "s": list(warehouse_sites.values())},
    )
    _run(
        cmp,
        "CREATE OR REPLACE TEMP TABLE before AS SELECT unnest($k) AS k, CAST(unnest($n) AS BIGINT) AS runs",
        {"k": list(before), "n": list(before.values())},
    )


def earlier_streaks(cmp: Comparison) -> dict[str, int]:
    """The streaks ``load_lookups`` took, by joined key: for the Python way when ``prepare`` fails
    (the tables stay until it succeeds)."""
    return dict(_fetch(cmp, "SELECT k, runs FROM before"))


class TextsNotMade(RuntimeError):
    """The engine could not build ``KEYED`` (not for lack of memory); the comparison is intact."""


def prepare(cmp: Comparison, s: TextSettings) -> None:
    """Build ``KEYED`` (after ``load_lookups``): one row per differing key, in key order, with
    everything the reports take from it."""
    try:
        sql = _keyed(cmp, s)
        used = {name: value for name, value in _params(s.config).items() if f"${name}" in sql}
        _run(cmp, f"CREATE OR REPLACE TEMP TABLE {KEYED} AS {sql}", used)
    except duckdb.Error as exc:
        raise TextsNotMade(str(exc)) from exc
    # everything else the run needs is in KEYED now: give their memory back before the texts are made
    # (``Comparison.raw_batches`` cannot be read after this)
    for table in (DIFFS_TABLE, "cells", "wh_sites", "before"):
        _run(cmp, f"DROP TABLE {table}")


def buckets(cmp: Comparison) -> list[Bucket]:
    """The summary's sums per (category, warehouse), in the order each pair first occurs.

    DuckDB's DECIMAL sums are exact (128-bit), as the Python paths' Decimal sums are."""
    rows = _fetch(
        cmp,
        f"""SELECT category, {_wh(cmp)} AS wh, count(*), count(*) FILTER (WHERE material),
                   CAST(sum(w - e) AS VARCHAR), CAST(sum(abs(w - e)) AS VARCHAR),
                   CAST(coalesce(sum((w - e) * c), 0) AS VARCHAR),
                   CAST(coalesce(sum(abs((w - e) * c)), 0) AS VARCHAR),
                   count(*) FILTER (WHERE c IS NULL AND w <> e),
                   CAST(sum(e) AS VARCHAR), CAST(sum(w) AS VARCHAR)
            FROM {KEYED} GROUP BY ALL ORDER BY min(rowid)""",
    )
    return [
        Bucket(
            category=r[0],
            warehouse=r[1],
            count=r[2],
            material=r[3],
            quantity_difference=Decimal(r[4]),
            abs_quantity_difference=Decimal(r[5]),
            value_difference=Decimal(r[6]),
            abs_value_difference=Decimal(r[7]),
            unknown_value=r[8],
            erp_quantity=Decimal(r[9]),
            wms_quantity=Decimal(r[10]),
        )
        for r in rows
    ]


def largest(cmp: Comparison, n: int) -> list[tuple[Any, ...]]:
    """The ``n`` keys of largest absolute value (unknown counts as 0), earliest first among equals:
    (rn, key fields..., item, site, class, ERP text, WMS text, cost text, has ERP, has WMS, runs)."""
    return _fetch(
        cmp,
        f"""SELECT rowid + 1, {_key_columns(cmp)}, item, site, cls, CAST(e AS VARCHAR), CAST(w AS VARCHAR),
                   CAST(c AS VARCHAR), has_e, has_w, runs
            FROM {KEYED} ORDER BY coalesce(abs((w - e) * c), 0) DESC, rowid LIMIT $n""",
        {"n": n},
    )


def negatives(cmp: Comparison, n: int) -> list[tuple[Any, ...]]:
    """The first ``n`` keys with negative stock on a side: (key fields..., item, ERP text, WMS text)."""
    return _fetch(
        cmp,
        f"SELECT {_key_columns(cmp)}, item, {_fmt('e')}, {_fmt('w')} "
        f"FROM {KEYED} WHERE e < 0 OR w < 0 ORDER BY rowid LIMIT $n",
        {"n": n},
    )


Line = tuple[str, str, str | None, str | None, bool, bool, str, str, int, int, str | None]
"""Of one differing key: the machine CSV row, the finance CSV row, the journal line's id (numbered: the
line up to its line number) and its text after the line number (None when no line is proposed), material,
counts for the streak, item, warehouse, runs, its place in key order from 1, and its streak entry
(``history.OutOfBalanceLog``; None when it does not count)."""


def every_key_proposed(cmp: Comparison) -> bool:
    """Whether each differing key has a journal line (the default scope, "all"): then a key's place in
    key order decides its journal and line number, and the engine writes whole lines (``lines``)."""
    return not _fetch(cmp, f"SELECT 1 FROM {KEYED} WHERE NOT proposed LIMIT 1")


LINES_BATCH = 2_048
"""Keys per fetch of ``lines`` (DuckDB's vector size): ~2 MB of text, which stays in the CPU's
caches between the fetching thread and the caller. 8,192 took ~20 % longer on a bad day's 300,000
keys (1.1–1.3 s against 0.85–1.05 s, three runs each); 1,024 was no faster than 2,048."""


def lines(cmp: Comparison, s: TextSettings, numbered: bool) -> Iterator[list[Line]]:
    """Every differing key's report texts, in key order, a batch at a time.

    ``numbered`` (only when ``every_key_proposed``): the journal line is whole, its journal id and
    line number from the key's place; else the caller numbers the proposed lines."""
    config = s.config
    numbering = {
        "run_part": f'","run_id":{encode_basestring(s.run_id)},"journal_id":',
        "run_open": encode_basestring(s.run_id)[:-1],  # the journal id is the run id, "-" and digits
        "max_lines": config.journal_max_lines,
    }
    params = {
        **(numbering if numbered else {}),
        "mode_part": f',"target":{encode_basestring(s.target)},"mode":{encode_basestring(s.mode)},"item":',
        "prefix": s.id_prefix,
        "counting": config.journal_mode is JournalMode.COUNTING,
        **{f"label_{c.value}": s.labels[c.value] for c in Category},
    }
    # ``KEYED`` is stored in key order, and a projection of it keeps that order only with insertion
    # order preserved (the engine's connection runs without it, for its aggregations); no ORDER BY:
    # sorting ~700 bytes of text per key would spill through the memory limit
    _run(cmp, "SET preserve_insertion_order = true")
    try:
        _run(cmp, _lines_query(cmp, s, numbered), params)
        done = 0
        for rows in _fetched_ahead(cmp):
            if rows[0][9] != done + 1 or rows[-1][9] != done + len(rows):
                raise RuntimeError("the engine returned the differing keys out of key order")
            done += len(rows)
            yield rows
    finally:
        _run(cmp, "SET preserve_insertion_order = false")


def _fetched_ahead(cmp: Comparison) -> Iterator[list[Line]]:
    """The pending query's rows, a batch at a time, the next batch fetched by a thread while the
    caller works on this one: DuckDB makes the texts without holding the GIL, so the engine's
    work and the caller's Python overlap instead of taking turns. At most two batches wait."""
    ready: queue.Queue[list[Line] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def fetch() -> None:
        try:
            while not stop.is_set():
                rows = cmp.connection.fetchmany(LINES_BATCH)
                ready.put(rows or None)
                if not rows:
                    return
        except BaseException as exc:  # handed to the caller, raised there
            ready.put(exc)

    worker = threading.Thread(target=fetch, name="difference-texts", daemon=True)
    worker.start()
    try:
        while True:
            got = ready.get()
            if got is None:
                return
            if isinstance(got, duckdb.OutOfMemoryException):
                raise EngineOutOfMemory(str(got)) from got
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        stop.set()
        while worker.is_alive():  # let a blocked put finish, so the connection is free again
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)
        worker.join()


def _lines_query(cmp: Comparison, s: TextSettings, numbered: bool) -> str:
    config = s.config
    names = [k.value for k in cmp.level]
    rest = names[1:]
    site_added = "site" not in names
    shown = (["site"] if site_added else []) + rest + ["cls"]  # the CSV columns after the item
    in_keyed = {"item": "item", "cls": "cls", "site": "site"} | {n: "k_" + n for n in rest}
    cells = ", ".join(_cells(n, in_keyed[n]) for n in ["item", *shown])
    # each shown text's "digits only" once, in its own projection (inlined, each cell would repeat it)
    digits = ", ".join(f"{DIGITS.format(in_keyed[n])} AS {n}_d" for n in ["item", *shown])
    suffix_m = "".join(f", ',', coalesce({n}_mc, '')" for n in shown)
    suffix_f = "".join(f", ',', coalesce({n}_fc, '')" for n in shown)
    tail = (
        ", ',', et, ',', wt, ',', dt, ',', ct, ',', vt, ',', pt, ',', CAST(runs AS VARCHAR), ',', "
        "CASE WHEN audit THEN 'yes' ELSE 'no' END, ',', reasons, chr(13), chr(10)"
    )
    material_t = "CASE WHEN material THEN 'yes' ELSE 'no' END"
    label = "CASE category " + " ".join(f"WHEN '{c.value}' THEN $label_{c.value}" for c in Category) + " END"
    json_of = {n: f"{n}_jc" for n in rest}
    json_of["site"] = "site_jc"
    key_json = ", ',', ".join(f"'\"{n}\":', {_json_cell(json_of.get(n), n, names)}" for n in LINE_KEYS)
    id_tail = ", ".join(f"chr(31), '{n}=', {'k_' + n if n in names else chr(39) * 2}" for n in LINE_KEYS)
    wms_master = config.master is Side.WMS
    delta, book, master_t = ("dt", "et", "wt") if wms_master else (_negated("dt"), "wt", "et")
    value = "vt" if wms_master else _negated("vt")
    moves_in = "w > e" if wms_master else "w < e"
    # the journal line without what only its place in the journal decides (journal id, line number:
    # the caller counts the proposed lines), as the line id and the rest after the line number
    journal_rest = f"""concat(
        $mode_part, item_jc, ',', {key_json},
        ',"quantity_delta":"', {delta}, '","counted_quantity":',
        CASE WHEN $counting THEN concat('"', {master_t}, '"') ELSE 'null' END,
        ',"book_quantity":"', {book}, '","unit_cost":', CASE WHEN ct = '' THEN 'null' ELSE concat('"', ct, '"') END,
        ',"value":', CASE WHEN vt = '' THEN 'null' ELSE concat('"', {value}, '"') END,
        ',"category":"', category, '","reasons":[',
        CASE WHEN reasons = '' THEN '' ELSE concat('"', replace(reasons, '; ', '","'), '"') END,
        '],"movement":"', CASE WHEN {moves_in} THEN 'receipt' ELSE 'issue' END,
        '","review":', CASE WHEN material THEN 'true' ELSE 'false' END, ',"serial":null}}')"""
    wh_json = "coalesce(warehouse_jc, '\"\"')" if "warehouse" in names else "'\"\"'"
    line_id = f"substr(sha256(concat($prefix, 'item=', item, {id_tail})), 1, 24)"
    if numbered:  # journal.JournalProposer: a new journal every ``journal_max_lines`` lines
        number = "(rn - 1) // $max_lines + 1"
        journal_id = (
            f"CASE WHEN {number} < 1000 THEN lpad(CAST({number} AS VARCHAR), 3, '0') ELSE CAST({number} AS VARCHAR) END"
        )
        line_id = (
            f"""concat('{{"line_id":"', {line_id}, $run_part, $run_open, '-', {journal_id}, '"',"""
            f""" ',"line_number":', CAST((rn - 1) % $max_lines + 1 AS VARCHAR), {journal_rest})"""
        )
        journal_rest = "NULL"
    return f"""
        SELECT concat(category, ',', {material_t}, ',', item_mc{suffix_m}{tail}),
               concat({label}, ',', {material_t}, ',', item_fc{suffix_f}{tail}),
               CASE WHEN proposed THEN {line_id} END, CASE WHEN proposed THEN {journal_rest} END,
               material, counts, item, wh, runs, rn,
               CASE WHEN counts THEN concat('{{"item":', item_jc, ',"warehouse":', {wh_json}, ',"runs":',
                                            CAST(runs AS VARCHAR), '}}') END
        FROM (SELECT *, {cells}
              FROM (SELECT *, rowid + 1 AS rn, {_fmt("e")} AS et, {_fmt("w")} AS wt,
                           CASE WHEN c IS NULL THEN '' ELSE {_fmt("c")} END AS ct,
                           {_wh(cmp)} AS wh, {digits}
                    FROM {KEYED}))"""


def _json_cell(column: str | None, name: str, names: list[str]) -> str:
    """A key field of the journal line as JSON: null when the level has no such field (the site:
    when the key has none); an empty text is "" (``cells`` holds no row for it)."""
    if column is None:
        return "'null'"
    if name == "site" and name not in names:
        return f"CASE WHEN site IS NULL THEN 'null' ELSE coalesce({column}, '\"\"') END"
    return f"coalesce({column}, '\"\"')"


def _keyed(cmp: Comparison, s: TextSettings) -> str:
    """``rules.assess`` and the streak as columns; ``fmt`` of a DECIMAL is its text without trailing
    zeros (the engine's sums carry exactly six places, values twelve)."""
    config = s.config
    names = [k.value for k in cmp.level]
    keys = ", ".join(f"k_{n}" for n in names)
    wh = _wh(cmp)
    master = "w" if config.master is Side.WMS else "e"
    counts = "reasons <> ''" if config.audit_basis is AuditBasis.MATERIAL else "diff <> 0"  # material, or any
    reasons = ", ".join(_reasons(config))
    proposed = "diff <> 0" + (" AND material" if config.propose is ProposeScope.MATERIAL else "")
    # each shown text's cells; a NULL site or class, and an empty text, find none ('' in a CSV)
    site_added = "site" not in names
    on = {"item": "z.item"} | {n: "k_" + n for n in names[1:]} | {"cls": "z.cls"}
    if site_added:
        on["site"] = "z.site"
    joins = " ".join(f"LEFT JOIN cells c_{n} ON c_{n}.v = {column}" for n, column in on.items())
    # the looked-up cells only (NULL for digit-only ids, made in ``lines``): a narrower sort
    cell_columns = ", ".join(f"c_{n}.mc AS {n}_mc0, c_{n}.fc AS {n}_fc0, c_{n}.jc AS {n}_jc0" for n in on)
    return f"""
        WITH b AS (
          SELECT {keys}, {_item(cmp)} AS item, {wh} AS wh,
            en > 0 AS has_e, wn > 0 AS has_w,
            -- below QUANTITY_BELOW and COST_BELOW (``unsupported``): 64-bit from here on
            CAST(CASE WHEN en > 0 THEN eq ELSE 0 END AS DECIMAL(18,6)) AS e,
            CAST(CASE WHEN wn > 0 THEN wq ELSE 0 END AS DECIMAL(18,6)) AS w,
            CAST(coalesce(cost, fb_cost) AS DECIMAL(18,6)) AS cost,
            coalesce(CAST(cls AS VARCHAR), CAST(fb_cls AS VARCHAR)) AS cls,
            coalesce(CAST(smin AS VARCHAR), ws.site) AS site
          FROM {DIFFS_TABLE} LEFT JOIN wh_sites ws ON ws.wh = {wh} WHERE NOT m),
        n AS (
          -- w - e is a 128-bit DECIMAL(19,6): products of it cannot overflow; its text is made from the
          -- 64-bit diff (below 10^12: quantities are below QUANTITY_BELOW)
          SELECT *, CAST(w - e AS DECIMAL(18,6)) AS diff, abs(w - e) AS ad, CAST({master} AS DECIMAL(38,6)) AS mq,
            (w - e) * cost AS val,
            CASE WHEN e = w THEN '{Category.MATCH.value}' WHEN NOT has_e THEN '{Category.ONLY_IN_WMS.value}'
                 WHEN NOT has_w THEN '{Category.ONLY_IN_ERP.value}' ELSE '{Category.QUANTITY_DIFFERS.value}' END
              AS category
          FROM b),{PERCENT_CENTS}
        -- most values as a 64-bit DECIMAL for their text (twelve places: below 10^6)
        v AS (SELECT *, CASE WHEN abs(val) < 1000000 THEN CAST(val AS DECIMAL(18,12)) END AS v18 FROM p3),
        x AS (
          SELECT *, {_fmt("diff")} AS dt,
            CASE WHEN val IS NULL THEN '' WHEN v18 IS NOT NULL THEN {_fmt("v18")}
                 ELSE {_strip("CAST(val AS VARCHAR)")} END AS vt,
            {PERCENT_TEXT} AS pt
          FROM v),
        y AS (SELECT *, concat_ws('; ', {reasons}) AS reasons FROM x),
        z AS (
          SELECT y.*, reasons <> '' AS material,
            {counts} AS counts
          FROM y)
        SELECT {keys}, z.item, z.site, z.cls, has_e, has_w,
          e, w, cost AS c,  -- eight bytes each through the sort
          category, dt, vt, pt, reasons, material, counts, {proposed} AS proposed,
          CASE WHEN counts THEN coalesce(before.runs, 0) + 1 ELSE 0 END AS runs,
          (CASE WHEN counts THEN coalesce(before.runs, 0) + 1 ELSE 0 END) >= {int(config.audit_after_runs)} AS audit,
          {cell_columns}
        FROM z LEFT JOIN before ON before.k = {JOINED_KEY.format(item="z.item", warehouse="z.wh")}
        {joins}
        ORDER BY {keys}"""


def _negated(text: str) -> str:
    """``journal._negated``: ``fmt(-d)`` from the text of ``fmt(d)``."""
    return (
        f"CASE WHEN {text} = '0' THEN '0' WHEN starts_with({text}, '-') THEN substr({text}, 2) "
        f"ELSE concat('-', {text}) END"
    )


JOINED_KEY = "concat(CAST(length({item}) AS VARCHAR), ':', {item}, {warehouse})"
"""``history.joined_key`` in SQL (DuckDB's ``length`` counts code points, as Python's ``len``): the
streaks are looked up by the key the history holds them under."""

DIGITS = "regexp_full_match({0}, '[0-9]+')"
"""An id of ASCII digits only (most item numbers): its cells are made in the query, not looked up
(``reconcile_stream._cells_of``'s own shortcut); the ``cells`` table holds every other text."""


def _cells(name: str, column: str) -> str:
    """The machine CSV, finance CSV and JSON cells of one shown text (``column`` of ``KEYED``), as
    ``{name}_mc`` ... columns: made here for digit-only ids (``{name}_d``), else the looked-up
    ``{name}_mc0`` ...."""
    digits = f"{name}_d"
    apostrophe = "''''"  # SQL for the text "'": the spreadsheet keeps the id as text
    kept = (
        f"CASE WHEN (length({column}) > 1 AND starts_with({column}, '0')) OR length({column}) > "
        f"{int(DIGITS_KEPT_AS_NUMBER)} THEN concat({apostrophe}, {column}) ELSE {column} END"
    )
    return (
        f"CASE WHEN {digits} THEN {column} ELSE {name}_mc0 END AS {name}_mc, "
        f"CASE WHEN {digits} THEN {kept} ELSE {name}_fc0 END AS {name}_fc, "
        f"""CASE WHEN {digits} THEN concat('"', {column}, '"') ELSE {name}_jc0 END AS {name}_jc"""
    )


def _strip(text: str) -> str:
    """``fmt`` of a DECIMAL's text: no trailing zeros, no bare point."""
    return f"rtrim(rtrim({text}, '0'), '.')"


def _fmt(column: str) -> str:
    """``fmt`` of a DECIMAL(18, s) column, cheaper than ``_strip`` (a third of the time): a whole
    number, as most quantities are, is the text of its BIGINT; any other has a digit after the point
    that is not 0, so trimming the zeros leaves no bare point. ``column`` is read three times: a name."""
    return (
        f"CASE WHEN {column} = trunc({column}) THEN CAST(CAST({column} AS BIGINT) AS VARCHAR) "
        f"ELSE rtrim(CAST({column} AS VARCHAR), '0') END"
    )


def _reasons(config: ReconcileConfig) -> list[str]:
    """``rules._exceeded`` in its order: quantity, percent, value, then negative stock; each a
    text or NULL (``concat_ws`` skips NULLs)."""
    m = config.materiality

    def by_sign(make: Callable[[Thresholds, str], str]) -> str | None:
        """The reason for the difference's sign; None when neither sign has it, one branch when
        both signs have the same threshold (fewer CASEs per row)."""
        positive, negative = make(m.positive, "pos"), make(m.negative, "neg")
        if positive == negative == "NULL":
            return None
        if m.positive == m.negative:
            return positive
        return f"CASE WHEN diff > 0 THEN {positive} ELSE {negative} END"

    def quantity(t: Thresholds, side: str) -> str:
        if t.quantity is None:
            return "NULL"
        return (
            f"CASE WHEN ad > {_decimal(t.quantity)} "
            f"THEN concat('quantity ', ltrim(dt, '-'), ' > ', $quantity_{side}_t) END"
        )

    def percent(t: Thresholds, side: str) -> str:
        if t.percent is None:
            return "NULL"
        return (
            "CASE WHEN mq = 0 THEN 'percent: master quantity is 0' "
            f"WHEN ad * 100 > {_decimal(t.percent)} * abs(mq) "
            f"THEN concat('percent ', pt, ' > ', $percent_{side}_t) END"
        )

    def value(t: Thresholds, side: str) -> str:
        if t.value is None:
            return "NULL"
        unknown = "'value unknown (no unit cost)'" if config.unknown_cost_is_material else "NULL"
        return (
            f"CASE WHEN val IS NULL THEN {unknown} WHEN abs(val) > {_decimal(t.value)} "
            f"THEN concat('value ', ltrim(vt, '-'), ' > ', $value_{side}_t) END"
        )

    parts = [p for p in (by_sign(quantity), by_sign(percent), by_sign(value)) if p is not None]
    if config.negative_is_material:
        parts.append("CASE WHEN e < 0 OR w < 0 THEN 'negative stock' END")
    return [f"CASE WHEN diff <> 0 THEN {p} END" for p in parts] or ["NULL"]


PERCENT_CENTS = """
        p AS (
          SELECT *,
            CASE WHEN mq <> 0 AND ad < 900000000 THEN CAST(ad * 1000000 AS BIGINT) * 10000 END AS pa64,
            CASE WHEN mq <> 0 AND ad < 900000000 THEN CAST(abs(mq) * 1000000 AS BIGINT) END AS pb64,
            CASE WHEN mq <> 0 AND ad >= 900000000 THEN CAST(ad * 1000000 AS HUGEINT) * 10000 END AS pa,
            CASE WHEN mq <> 0 AND ad >= 900000000 THEN CAST(abs(mq) * 1000000 AS HUGEINT) END AS pb
          FROM n),
        pq AS (
          SELECT *, CASE WHEN pb64 IS NOT NULL THEN pa64 // pb64 ELSE pa // pb END AS pq,
            CASE WHEN pb64 IS NOT NULL THEN pa64 % pb64 ELSE pa % pb END AS pr,
            coalesce(pb64, pb) AS pd
          FROM p),
        pc AS (
          SELECT *, pq + CASE WHEN 2 * pr > pd OR (2 * pr = pd AND pq % 2 = 1) THEN 1 ELSE 0 END AS cents
          FROM pq),
        p3 AS (
          SELECT *,
            CASE WHEN cents < 100 THEN lpad(CAST(cents AS VARCHAR), 3, '0') ELSE CAST(cents AS VARCHAR) END AS c3
          FROM pc),"""
"""``rules.assess``'s percent (|difference| × 100 / |master|) quantized to cents half-even: both
quantities carry six places, so the ratio of their scaled integers is exact. A difference below
9·10^8 keeps the scaled dividend in 64 bits (128-bit division is several times slower); larger ones
take 128. Each step is its own projection, so DuckDB computes each once per row (inlined into one
expression it repeats them)."""

PERCENT_TEXT = (
    "CASE WHEN cents IS NULL THEN '' ELSE concat(substr(c3, 1, length(c3) - 2), "
    "rtrim(concat('.', substr(c3, length(c3) - 1)), '.0')) END"
)
"""The cents as ``fmt`` writes the quantized percent: no trailing zeros, no bare point."""


_DECIMAL_TEXT = re.compile(r"[0-9]{1,20}(\.[0-9]{1,6})?")


def _decimal(d: Decimal | None) -> str:
    """A threshold as a DECIMAL(38,6) literal. A parameter cast in the query is cast again for every
    row (~0.3 s of a bad day's 300,000 keys); a literal is folded once. Only a validated ``Decimal``
    (``Thresholds``: not negative, at most six places, checked in ``unsupported``) gets here, and its
    text is checked to be digits and a point before it becomes statement text."""
    text = fmt(d) if d is not None else ""
    if not _DECIMAL_TEXT.fullmatch(text):
        raise ValueError(f"not a threshold the engine takes: {d!r}")
    return f"{text}::DECIMAL(38,6)"


def _params(config: ReconcileConfig) -> dict[str, Any]:
    """Each threshold that is set as ``fmt`` writes it in a reason."""
    params: dict[str, Any] = {}
    for side, t in (("pos", config.materiality.positive), ("neg", config.materiality.negative)):
        for name in ("quantity", "percent", "value"):
            d = getattr(t, name)
            if d is not None:
                params[f"{name}_{side}_t"] = fmt(d)
    return params


def _item(cmp: Comparison) -> str:
    """The item as the reports show it: as spelled in the files when ids are compared in capitals."""
    return "coalesce(d_item, k_item)" if cmp.item_spelled else "k_item"


def _wh(cmp: Comparison) -> str:
    """The key's warehouse, '' when the level has none (as the streaks and summary name it)."""
    return "k_warehouse" if KeyField.WAREHOUSE in cmp.level else "''"


def _key_columns(cmp: Comparison) -> str:
    return ", ".join(f"k_{k.value}" for k in cmp.level)


def _run(cmp: Comparison, sql: str, params: Mapping[str, Any] | None = None) -> None:
    try:
        cmp.connection.execute(sql, params or {})
    except duckdb.OutOfMemoryException as exc:
        raise EngineOutOfMemory(str(exc)) from exc


def _fetch(cmp: Comparison, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    try:
        return cmp.connection.execute(sql, params or {}).fetchall()
    except duckdb.OutOfMemoryException as exc:
        raise EngineOutOfMemory(str(exc)) from exc


__all__ = [
    "JOINED_KEY",
    "KEYED",
    "Bucket",
    "Line",
    "TextSettings",
    "TextsNotMade",
    "buckets",
    "distinct_texts",
    "earlier_streaks",
    "every_key_proposed",
    "largest",
    "lines",
    "load_lookups",
    "negatives",
    "prepare",
    "unsupported",
]
