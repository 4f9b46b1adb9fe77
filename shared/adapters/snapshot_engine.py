# ruff: noqa: S608 - SQL text is built only from identifiers quoted by _q() and literals by _lit();
# user data never reaches the SQL text unquoted.
"""DuckDB engine: read two snapshots, sum each key, and stream only the keys that differ.

Why DuckDB: it reads CSV/Parquet out of core, keeps every id as text
(``all_varchar``-style explicit VARCHAR columns), does exact DECIMAL sums and a
hash aggregation with a memory limit. Both snapshots are aggregated in ONE
GROUP BY over their union (no separate join), which is cheaper than
aggregate-then-join. Python only ever sees the differing keys; every rule about
what a difference means lives in ``shared.domain.reconciliation``.
"""

from __future__ import annotations

import codecs
import csv
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from shared.domain.reconciliation.columns import (
    MappingError,
    ResolvedColumns,
    choose_level,
    resolve_columns,
    resolve_measure,
)
from shared.domain.reconciliation.config import KeyField, ReconcileConfig, Side

log = logging.getLogger(__name__)

QTY_TYPE = "DECIMAL(18,6)"  # per row; sums widen to DECIMAL(38,6) in DuckDB
QTY_SCALE = 6
"""Places of every quantity and cost the engine hands over as text (``123.000000``)."""
DELIMITERS = (",", ";", "\t", "|")
SAMPLE_ERRORS = 5


class SnapshotError(ValueError):
    """A snapshot cannot be compared; the message is shown to the user as is."""


@dataclass(frozen=True)
class SnapshotSource:
    """A snapshot already on local disk (the Azure adapter downloads blobs to temp files).

    ``format``: "csv", "parquet" or None to detect from the name and magic bytes.
    ``as_of``: snapshot time when the file has no as-of column (e.g. from blob metadata).
    """

    path: Path
    format: str | None = None
    as_of: datetime | None = None
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.path.name


@dataclass(frozen=True)
class EngineSettings:
    """Limits that keep peak RSS near 400 MB at 1M+1M rows (DuckDB spills beyond them)."""

    threads: int = 2
    memory_limit: str = "256MB"
    temp_directory: str | None = None


@dataclass(slots=True)
class DiffRow:
    """One differing key as the engine sees it; None quantity = key absent on that side."""

    key: dict[str, str]
    erp_qty: Decimal | None
    wms_qty: Decimal | None
    unit_cost: Decimal | None
    item_class: str | None
    site: str | None
    measures: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    """Other configured measures: name -> (ERP sum, WMS sum), 0 where a side lacks the key."""


@dataclass(slots=True)
class WarehouseFigures:
    warehouse: str
    keys: int
    matches: int
    erp_quantity: Decimal
    wms_quantity: Decimal


@dataclass(frozen=True)
class RowLayout:
    """Where things are in a differing key's engine row (``Comparison.raw_batches``).

    ``row[1 : keys + 1]``: the level's key fields; ``row[keys + 2 : keys + 10]``: ERP present,
    WMS present, ERP sum, WMS sum, unit cost (text), min site, max site, item class;
    ``row[keys + 13]``, ``row[keys + 14]``: the item-level fallback cost and class;
    ``row[spelled_item]``: the item as spelled (or None); from ``first_measure``: ERP and WMS sum
    of each other measure. Sums and costs are DECIMAL text with exactly ``QTY_SCALE`` places.
    """

    keys: int
    spelled_item: int | None
    first_measure: int


class EngineOutOfMemory(RuntimeError):
    """DuckDB ran out of memory while the differing keys streamed (after `compare` returned): the
    run is tried again from the start with one thread (`reconcile`), as a comparison is."""


@dataclass
class Comparison:
    """Result of one engine query: matching keys arrive pre-counted per warehouse, then the
    differing keys one by one in key order. ``warehouses`` is complete once
    ``differences()`` has been consumed (differing keys add to it as they stream)."""

    level: list[KeyField]
    erp_columns: ResolvedColumns
    wms_columns: ResolvedColumns
    erp_as_of: datetime | None
    wms_as_of: datetime | None
    _con: duckdb.DuckDBPyConnection = field(repr=False)
    _cursor: duckdb.DuckDBPyConnection | None = field(repr=False)
    """The differing keys in key order, queried on the first fetch: a run whose texts the engine makes
    (``difference_texts``) never reads them here, and never pays for their sort."""
    _figures: dict[str, WarehouseFigures] = field(repr=False)
    _wh_site: dict[str, str] = field(repr=False)
    _temp_dir: str = field(repr=False)
    negative_keys: tuple[int, int] = (0, 0)
    measure_names: tuple[str, ...] = ()
    measure_columns: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Other measures: name -> (ERP column, WMS column)."""
    item_spelled: bool = False
    """Rows carry the item id as spelled in the files after the totals (ids compared in capitals)."""
    """Keys with negative stock in the ERP and in the WMS (all keys, matching ones too)."""

    @property
    def warehouses(self) -> list[WarehouseFigures]:
        return [self._figures[w] for w in sorted(self._figures)]

    def differences(self, batch: int = 2_048) -> Iterator[DiffRow]:
        """Stream differing keys sorted by key, so journals and CSVs are stable."""
        n = len(self.level)
        names = [k.value for k in self.level]
        has_wh = "warehouse" in names
        spelled = self.item_spelled
        measure_names = self.measure_names
        first_measure = n + 20 + (1 if spelled else 0)
        figures, wh_site = self._figures, self._wh_site
        rows = self._fetch(batch)
        while rows:
            for r in rows:
                key = dict(zip(names, r[1 : n + 1], strict=True))
                if spelled and r[n + 20] is not None:
                    key["item"] = r[n + 20]
                en, wn, eq_text, wq_text, cost_text, smin, _smax, cls = r[n + 2 : n + 10]
                fb_cost, fb_cls = r[n + 13], r[n + 14]
                eq, wq = _dec(eq_text), _dec(wq_text)
                wh = key["warehouse"] if has_wh else ""
                fig = figures.get(wh)
                if fig is None:
                    fig = figures[wh] = WarehouseFigures(wh, 0, 0, Decimal(0), Decimal(0))
                fig.keys += 1
                fig.erp_quantity += eq or 0
                fig.wms_quantity += wq or 0
                yield DiffRow(
                    key,
                    eq if en else None,
                    wq if wn else None,
                    _clean(_dec(cost_text if cost_text is not None else fb_cost)),
                    cls if cls is not None else fb_cls,
                    smin if smin is not None else wh_site.get(wh),
                    {
                        name: (
                            Decimal(r[first_measure + 2 * i] or 0),
                            Decimal(r[first_measure + 2 * i + 1] or 0),
                        )
                        for i, name in enumerate(measure_names)
                    }
                    if measure_names
                    else {},
                )
            rows = self._fetch(batch)

    def _fetch(self, batch: int) -> list[tuple[Any, ...]]:
        try:
            if self._cursor is None:
                self._cursor = self._con.execute(_read_back(self.level, matches=False))
            return self._cursor.fetchmany(batch)
        except duckdb.OutOfMemoryException as exc:
            raise EngineOutOfMemory(str(exc)) from exc

    def raw_batches(self, batch: int = 2_048) -> Iterator[list[tuple[Any, ...]]]:
        """The differing keys as the engine's own rows, a batch at a time, for a consumer that
        builds no ``DiffRow`` per key (``reconcile_stream.stream_fast``). Column positions:
        ``row_layout()``. The consumer keeps ``figures`` up to date itself (``differences`` does
        that for its rows): each differing key adds to its warehouse's keys and quantities."""
        rows = self._fetch(batch)
        while rows:
            yield rows
            rows = self._fetch(batch)

    def row_layout(self) -> RowLayout:
        n = len(self.level)
        spelled = n + 20 if self.item_spelled else None
        first_measure = n + 20 + (1 if self.item_spelled else 0)
        return RowLayout(
            keys=n,
            spelled_item=spelled,
            first_measure=first_measure,
        )

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The run's DuckDB connection, its ``DIFFS_TABLE`` in place (``difference_texts`` queries it;
        a query there ends ``raw_batches``' stream)."""
        return self._con

    @property
    def figures(self) -> dict[str, WarehouseFigures]:
        """Per warehouse: keys, matches and book quantities so far (mutable: see ``raw_batches``)."""
        return self._figures

    @property
    def warehouse_sites(self) -> dict[str, str]:
        """The one site of each warehouse whose matching keys all name the same site."""
        return self._wh_site

    def close(self) -> None:
        self._con.close()
        shutil.rmtree(self._temp_dir, ignore_errors=True)


def _clean(d: Decimal | None) -> Decimal | None:
    return None if d is None else d.normalize() if d == d.to_integral_value() else d


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def detect_format(src: SnapshotSource) -> str:
    if src.format:
        fmt = src.format.lower().lstrip(".")
        if fmt in ("csv", "txt", "tsv"):
            return "csv"
        if fmt in ("parquet", "pq"):
            return "parquet"
        raise SnapshotError(f"{src.label}: unknown format hint {src.format!r}")
    with open(src.path, "rb") as fh:
        magic = fh.read(4)
    return "parquet" if magic == b"PAR1" else "csv"


MAX_HEADER_CHARS = 65_536
"""Longest header row read (and longest column name, well under csv's own 131,072 field limit)."""


def _csv_header(src: SnapshotSource) -> tuple[list[str], str]:
    """Header and delimiter: the candidate that splits the header line into most columns."""
    with open(src.path, encoding="utf-8-sig", newline="") as fh:
        try:
            first = fh.readline(MAX_HEADER_CHARS + 1)
        except UnicodeDecodeError as exc:
            raise SnapshotError(f"{src.label}: not UTF-8 text ({exc.reason})") from exc
    if len(first) > MAX_HEADER_CHARS:
        raise SnapshotError(f"{src.label}: line 1 (the header row) is longer than {MAX_HEADER_CHARS} characters")
    if not first.strip():
        raise SnapshotError(f"{src.label}: file is empty (no header row)")
    delim = max(DELIMITERS, key=first.count)
    try:
        header = next(csv.reader([first], delimiter=delim))
    except csv.Error as exc:
        raise SnapshotError(f"{src.label}: line 1 (the header row) is not valid CSV ({exc})") from None
    header = [h.strip() for h in header]
    if len(header) < 2:
        raise SnapshotError(f"{src.label}: cannot find a delimiter (tried , ; tab |) in header {first[:200]!r}")
    return header, delim


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_REASONS = (
    (re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)"), "expected {0} columns, found {1}"),
    (re.compile(r"unterminated quote", re.I), "a quoted value is not closed"),
    (re.compile(r"Maximum line size", re.I), "the row is too long"),
    (re.compile(r"[Ii]nvalid unicode|UTF-?8", re.I), "not UTF-8 text"),
    (re.compile(r"Out of Memory Error", re.I), "the comparison ran out of memory (the files are not at fault)"),
)


def readable_error(exc: Exception, sources: tuple[SnapshotSource, ...], fmt: str = "CSV") -> str:
    """An engine error as a person can act on it: which file, which line, what is wrong.

    DuckDB's text names server temp paths and lists its own parser options; neither belongs in a
    report a person reads (or that an attacker could use).
    """
    text = str(exc)
    src = next((s for s in sources if str(s.path) in text), sources[0] if len(sources) == 1 else None)
    where = src.label if src else "the snapshots"
    line = _CSV_LINE.search(text)
    reason = next(
        (template.format(*m.groups()) for pattern, template in _REASONS if (m := pattern.search(text))),
        f"cannot be read as {fmt}",
    )
    return f"{where}: line {line.group(1)}: {reason}" if line else f"{where}: {reason}"


_SAMPLE_BYTES = 65_536
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


def detect_encoding(head: bytes) -> str | None:
    """Encoding of a text export from its first bytes: a BOM decides; else UTF-8 if the sample is
    valid UTF-8; else Windows-1252 (what Excel writes as "CSV") if every byte is defined there and
    there are no control characters; else None (not text we can read)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    controls = set(range(32)) - {9, 10, 13}
    if any(b in _CP1252_UNDEFINED or b in controls for b in head):
        return None
    return "cp1252"


def as_utf8(src: SnapshotSource, encoding: str, temp_dir: Path, side: Side) -> SnapshotSource:
    """The snapshot as UTF-8 text (DuckDB reads only UTF-8): transcoded into the run's temp folder
    when it is UTF-16 or Windows-1252/Latin-1, streaming, so a large file never sits in memory."""
    if not src.path.exists() or src.path.stat().st_size == 0 or detect_format(src) != "csv":
        return src
    if encoding == "auto":
        with open(src.path, "rb") as fh:
            head = fh.read(_SAMPLE_BYTES)
        detected = detect_encoding(head)
        if detected is None:
            raise SnapshotError(
                f'{src.label}: not UTF-8, UTF-16 or Windows-1252 text; set the side\'s "encoding" in the run config'
            )
        encoding = detected
    if encoding == "utf-8":
        return src
    target = temp_dir / f"{side.value}.utf8.csv"
    try:
        with (
            open(src.path, encoding=encoding, newline="") as fin,
            open(target, "w", encoding="utf-8", newline="") as out,
        ):
            while chunk := fin.read(1 << 20):
                out.write(chunk)
    except (UnicodeError, ValueError) as exc:
        raise SnapshotError(f"{src.label}: not {encoding} text ({exc})") from None
    return SnapshotSource(target, format="csv", as_of=src.as_of, name=src.label)


def _open(con: duckdb.DuckDBPyConnection, side: Side, src: SnapshotSource) -> list[str]:
    """Create view ``{side}_raw`` with every column as VARCHAR; return the header."""
    if not src.path.exists():
        raise SnapshotError(f"{src.label}: file not found")
    if src.path.stat().st_size == 0:
        raise SnapshotError(f"{src.label}: file is empty")
    fmt = detect_format(src)
    view = f"{side.value}_raw"
    try:
        if fmt == "parquet":
            rel = f"read_parquet({_lit(str(src.path))})"
            header = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()]
            cols = ", ".join(f"CAST({_q(h)} AS VARCHAR) AS {_q(h)}" for h in header)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {cols} FROM {rel}")
        else:
            header, delim = _csv_header(src)
            if len(set(header)) != len(header):
                raise SnapshotError(f"{src.label}: duplicate column names in header {header}")
            columns = "{" + ", ".join(f"{_lit(h)}: 'VARCHAR'" for h in header) + "}"
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM read_csv({_lit(str(src.path))}, "
                f"auto_detect=false, header=true, delim={_lit(delim)}, quote='\"', escape='\"', "
                f"columns={columns})"
            )
    except duckdb.Error as exc:
        raise SnapshotError(readable_error(exc, (src,), fmt.upper() if fmt == "csv" else "Parquet")) from exc
    return header


@dataclass(frozen=True)
class _Features:
    """Optional columns actually present: absent ones cost nothing in the aggregation."""

    cost: bool
    site: bool
    cls: bool
    e_asof: bool
    w_asof: bool


def _key_text(column: str, fold: bool = False) -> str:
    """A key field: trimmed text, '' when missing (``column`` is SQL, already quoted); in capitals when
    ids are compared case-insensitively (``fold``)."""
    text = f"coalesce(trim(CAST({column} AS VARCHAR)), '')"
    return f"upper({text})" if fold else text


def _opt_text(column: str) -> str:
    """An optional field: trimmed text, NULL when empty."""
    return f"nullif(trim(CAST({column} AS VARCHAR)), '')"


MAX_DECIMALS = 6
"""Decimal places a quantity may carry (``QTY_TYPE``); more is an error naming the row, never a rounding."""
_TOO_PRECISE = rf"\.[0-9]{{{MAX_DECIMALS}}}[0-9]*[1-9]"
"""A significant digit beyond the supported places (trailing zeros are harmless)."""


def _number_text(column: str, decimal: str = ".", thousands: str | None = None) -> str:
    """A number cell in the file's own notation, rewritten to ``1234.5`` (``1.234,5`` with decimal
    comma and thousands point; ``1 234,5``; ``1'234.5``)."""
    t = f"trim({column})"
    if thousands is not None:
        t = f"replace({t}, {_lit(thousands)}, '')"
    if decimal != ".":
        t = f"replace({t}, {_lit(decimal)}, '.')"
    return t


def _shows_item_spelling(config: ReconcileConfig | None) -> bool:
    """Item ids compared in capitals are shown as spelled in the files (the smallest spelling of a key)."""
    return (
        config is not None
        and not config.case_sensitive_ids
        and KeyField.ITEM not in config.value_maps.get(Side.ERP, {})
        and KeyField.ITEM not in config.value_maps.get(Side.WMS, {})
    )


def _fold(text: str, fold: bool) -> str:
    return text.upper() if fold else text


def _quantity(column: str, decimal: str = ".", thousands: str | None = None) -> str:
    """A quantity cell as an exact decimal, NULL (a bad row) when empty, not a number, or too precise.

    The cheap length test runs first so the regular expression only sees the rare long values.
    """
    t = _number_text(column, decimal, thousands)
    return (
        f"CASE WHEN strpos({t}, '.') > 0 AND length({t}) - strpos({t}, '.') > {MAX_DECIMALS} "
        f"AND regexp_matches({t}, {_lit(_TOO_PRECISE)}) THEN NULL "
        f"ELSE TRY_CAST(nullif({t}, '') AS {QTY_TYPE}) END"
    )


def _map_table(side: Side, field: str) -> str:
    return f"map_{side.value}_{field}"


def _scope_table(field: str, kind: str) -> str:
    return f"scope_{field}_{kind}"


SCOPE_FIELDS = {"items": "item", "warehouses": "warehouse"}


def _load_config_tables(con: duckdb.DuckDBPyConnection, config: ReconcileConfig) -> None:
    """Value maps and scope lists as temp tables, filled through parameters (values never enter SQL text).

    Folded to capitals like the ids they meet when ids compare case-insensitively.
    """
    fold = not config.case_sensitive_ids
    for side, maps in config.value_maps.items():
        for key_field, mapping in maps.items():
            table = _map_table(side, key_field.value)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} (src VARCHAR, dst VARCHAR)")
            rows = {_fold(a, fold): _fold(b, fold) for a, b in mapping.items()}
            if rows:
                con.executemany(f"INSERT INTO {table} VALUES (?, ?)", list(rows.items()))
    for name, scoped in SCOPE_FIELDS.items():
        filt = getattr(config.scope, name)
        for kind, values in (("include", filt.include), ("exclude", filt.exclude)):
            if values is None or (kind == "exclude" and not values):
                continue
            table = _scope_table(scoped, kind)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} (v VARCHAR)")
            if values:
                con.executemany(f"INSERT INTO {table} VALUES (?)", [(_fold(v, fold),) for v in values])


def _side_select(
    side: Side,
    cols: ResolvedColumns,
    level: list[KeyField],
    f: _Features,
    config: ReconcileConfig | None = None,
    measures: tuple[tuple[str, str], ...] = (),
) -> str:
    c = cols.columns
    config = config or ReconcileConfig()
    fold = not config.case_sensitive_ids
    maps = {k: {_fold(a, fold): b for a, b in m.items()} for k, m in config.value_maps.get(side, {}).items()}
    mapping = config.erp if side is Side.ERP else config.wms
    joins: list[str] = []

    def text(field: str) -> str:
        raw = _key_text(_q(c[field]), fold)
        if KeyField(field) in maps:
            alias = f"m_{field}"
            joins.append(f"LEFT JOIN {_map_table(side, field)} AS {alias} ON {alias}.src = {raw}")
            return f"coalesce({alias}.dst, {raw})"
        return raw

    def opt(field: str, wanted: bool) -> str:
        return _opt_text(_q(c[field])) if wanted and field in c else "NULL"

    q = _quantity(_q(c["quantity"]), mapping.decimal_separator, mapping.thousands_separator)
    key_sql = {k.value: text(k.value) for k in level}
    conditions: list[str] = []
    for name, scoped in SCOPE_FIELDS.items():
        filt = getattr(config.scope, name)
        if not filt.active:
            continue
        if scoped not in c:
            raise MappingError(f"{side.value} file has no {scoped} column, but the run's scope filters {name}")
        expr = key_sql.get(scoped) or text(scoped)
        if filt.include is not None:
            conditions.append(f"{expr} IN (SELECT v FROM {_scope_table(scoped, 'include')})")
        if filt.exclude:
            conditions.append(f"{expr} NOT IN (SELECT v FROM {_scope_table(scoped, 'exclude')})")
    parts = [f"{key_sql[k.value]} AS k_{k.value}" for k in level]
    if _shows_item_spelling(config):
        parts.append(f"{_key_text(_q(c['item']))} AS d_item")
    # Each side fills its own columns and NULLs the other's: plain sum()/max() then need no
    # FILTER clause and no side column (measurably cheaper in the 2M-row aggregation).
    erp_side = side is Side.ERP
    parts += [f"{q if erp_side else 'NULL'} AS qe", f"{'NULL' if erp_side else q} AS qw"]
    dec, thou = mapping.decimal_separator, mapping.thousands_separator
    for i, (_name, column) in enumerate(measures):
        # an empty cell of another measure is 0 (exports leave "no orders" blank); text is a bad row
        blank = f"coalesce({_number_text(_q(column), dec, thou)}, '') = ''"
        mq = f"CASE WHEN {blank} THEN 0 ELSE {_quantity(_q(column), dec, thou)} END"
        parts += [f"{mq if erp_side else 'NULL'} AS qe_{i}", f"{'NULL' if erp_side else mq} AS qw_{i}"]
    if f.cost:
        cost = _number_text(opt("unit_cost", side is Side.ERP), mapping.decimal_separator, mapping.thousands_separator)
        parts.append(f"TRY_CAST({cost} AS {QTY_TYPE}) AS cost")
    if f.site:
        parts.append(f"CAST({opt('site', side is Side.ERP)} AS VARCHAR) AS site")
    if f.cls:
        parts.append(f"CAST({opt('item_class', True)} AS VARCHAR) AS cls")
    if f.e_asof:
        parts.append(f"CAST({opt('as_of', erp_side)} AS VARCHAR) AS e_at")
    if f.w_asof:
        parts.append(f"CAST({opt('as_of', not erp_side)} AS VARCHAR) AS w_at")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT {', '.join(parts)} FROM {side.value}_raw {' '.join(joins)}{where}"


def _fallback_select(erp_cols: ResolvedColumns, f: _Features, fold: bool = False) -> str:
    """ERP item ids with their raw cost/class text, for the item-level fallback.

    Trimming and casting wait until the semi-join has cut the million rows down to the few
    items that need a fallback (``fb`` in ``_query``), which spares a cast per ERP row.
    """
    c = erp_cols.columns
    parts = [f"{_key_text(_q(c['item']), fold)} AS k_item"]
    if f.cost:
        parts.append(f"{_q(c['unit_cost'])} AS cost")
    if f.cls:
        parts.append(f"{_q(c['item_class'])} AS cls" if "item_class" in c else "NULL AS cls")
    return f"SELECT {', '.join(parts)} FROM erp_raw"


def _query(
    erp_cols: ResolvedColumns,
    wms_cols: ResolvedColumns,
    level: list[KeyField],
    config: ReconcileConfig | None = None,
    measures: tuple[tuple[str, str, str], ...] = (),
) -> str:
    """One statement over both files.

    1. ``k``: one hash aggregation over the UNION of both sides, per key (only the
       aggregates whose columns exist: each extra aggregate costs ~10-40 % here).
    2. ``r``: matching keys collapse into one row per warehouse; differing keys stay
       single rows. This second aggregation is tiny and streams, so the million
       matching keys are never materialised or sent to Python.
    3. Item-level cost/class fallback for keys the ERP lacks, by a semi-join scan of
       the ERP file restricted to the few items that need it.
    Rows come unordered into ``DIFFS_TABLE``; ``_read_back`` reads them back in key order.
    """
    f = _Features(
        cost="unit_cost" in erp_cols.columns,
        site="site" in erp_cols.columns and KeyField.SITE not in level,
        cls="item_class" in erp_cols.columns or "item_class" in wms_cols.columns,
        e_asof="as_of" in erp_cols.columns,
        w_asof="as_of" in wms_cols.columns,
    )
    keys = [f"k_{k.value}" for k in level]
    aggs = ["sum(qe) AS eq", "sum(qw) AS wq"]
    aggs.append("max(cost) AS cost" if f.cost else "NULL AS cost")
    aggs.append("max(site) AS site" if f.site else "NULL AS site")
    aggs.append("max(cls) AS cls" if f.cls else "NULL AS cls")
    aggs.append("max(e_at) AS e_asof" if f.e_asof else "NULL AS e_asof")
    aggs.append("max(w_at) AS w_asof" if f.w_asof else "NULL AS w_asof")
    # bad rows: a NULL quantity (empty or not a number), counted from aggregates the engine
    # computes anyway instead of a per-row predicate; empty item ids are counted in ``r``
    bad = "count(*) - count(qe) - count(qw)"
    for i in range(len(measures)):
        aggs += [f"sum(qe_{i}) AS eq_{i}", f"sum(qw_{i}) AS wq_{i}"]
        bad += f" + count(*) - count(qe_{i}) - count(qw_{i})"
    aggs.append(f"{bad} AS bad")
    spelled = _shows_item_spelling(config)
    if spelled:
        aggs.append("min(d_item) AS d_item")
    collapsed = ", ".join(
        f"{c} AS {c}" if c == "k_warehouse" else f"CASE WHEN m THEN NULL ELSE {c} END AS {c}"
        for c in [*keys, *(["d_item"] if spelled else [])]
    )
    if f.cost or f.cls:
        erp_item = _fallback_select(erp_cols, f, not (config or ReconcileConfig()).case_sensitive_ids)
        erp_fmt = (config or ReconcileConfig()).erp
        cost_text = _number_text("cost", erp_fmt.decimal_separator, erp_fmt.thousands_separator)
        fb_cost = f"max(TRY_CAST(nullif({cost_text}, '') AS {QTY_TYPE}))" if f.cost else "NULL"
        fb_cls = f"max(CAST({_opt_text('cls')} AS VARCHAR))" if f.cls else "NULL"
        need_cond = " OR ".join(c for c, on in (("cost IS NULL", f.cost), ("cls IS NULL", f.cls)) if on)
        fallback = f""",
        need AS (SELECT DISTINCT k_item FROM r WHERE NOT m AND ({need_cond})),
        fb AS (SELECT k_item, {fb_cost} AS fb_cost, {fb_cls} AS fb_cls
               FROM ({erp_item}) e SEMI JOIN need USING (k_item) GROUP BY ALL)"""
        fb_join, fb_cols = "LEFT JOIN fb USING (k_item)", "fb.fb_cost, fb.fb_cls"
    else:
        fallback, fb_join, fb_cols = "", "", f"CAST(NULL AS {QTY_TYPE}) AS fb_cost, CAST(NULL AS VARCHAR) AS fb_cls"
    same_measures = "".join(f" AND coalesce(eq_{i}, 0) = coalesce(wq_{i}, 0)" for i in range(len(measures)))
    measure_sums = "".join(f" sum(eq_{i}) AS eq_{i}, sum(wq_{i}) AS wq_{i}," for i in range(len(measures)))
    measure_out = "".join(
        f", {_text(f'r.eq_{i}')} AS eq_{i}_t, {_text(f'r.wq_{i}')} AS wq_{i}_t" for i in range(len(measures))
    )
    return f"""
        WITH k AS (
          SELECT {", ".join(keys)}, {", ".join(aggs)}
          FROM ({_side_select(Side.ERP, erp_cols, level, f, config, tuple((m[0], m[1]) for m in measures))}
                UNION ALL {_side_select(Side.WMS, wms_cols, level, f, config, tuple((m[0], m[2]) for m in measures))})
          GROUP BY ALL),
        r AS MATERIALIZED (
          SELECT (coalesce(eq, 0) = coalesce(wq, 0) AND (eq IS NOT NULL OR wq IS NOT NULL){same_measures}) AS m,
            {collapsed},{measure_sums}
            count(*) AS nkeys, count(eq) AS en, count(wq) AS wn, sum(eq) AS eq, sum(wq) AS wq,
            max(cost) AS cost, min(site) AS smin, max(site) AS smax, max(cls) AS cls,
            max(e_asof) AS e_asof, max(w_asof) AS w_asof,
            sum(bad) + count(*) FILTER (WHERE k_item = '') AS bad,
            count(*) FILTER (WHERE eq < 0) AS eneg, count(*) FILTER (WHERE wq < 0) AS wneg
          FROM k GROUP BY ALL){fallback}
        SELECT r.m, {", ".join("r." + c for c in keys)}, r.nkeys, r.en, r.wn, r.eq, r.wq,
               CAST(r.cost AS {QTY_TYPE}) AS cost, r.smin, r.smax, r.cls, r.e_asof, r.w_asof,
               CAST(r.bad AS BIGINT) AS bad, {fb_cols},
               t.tot_bad, t.tot_e, t.tot_w, t.tot_eneg, t.tot_wneg{", r.d_item" if spelled else ""}
{measure_out}
        FROM r {fb_join}
        CROSS JOIN (SELECT CAST(sum(bad) AS BIGINT) AS tot_bad, max(e_asof) AS tot_e, max(w_asof) AS tot_w,
                           CAST(sum(eneg) AS BIGINT) AS tot_eneg, CAST(sum(wneg) AS BIGINT) AS tot_wneg FROM r) t
    """


DIFFS_TABLE = "diffs"
"""The engine's result rows (``_query``), kept as a temp table: ``Comparison.raw_batches`` reads them
back in key order, and ``difference_texts`` makes every report text of the differing keys from them
in one vectorised query."""


def _read_back(level: list[KeyField], matches: bool) -> str:
    """The match rows (one per warehouse), or the differing keys in key order (``RowLayout``).

    ``DIFFS_TABLE`` keeps sums and costs as exact DECIMALs (``difference_texts`` computes on them);
    they leave for Python as text (``_text``)."""
    keys = ", ".join(f"k_{k.value}" for k in level)
    texts = ", ".join(f"{_text(c)} AS {c}" for c in ("eq", "wq", "cost", "fb_cost"))
    return f"SELECT * REPLACE ({texts}) FROM {DIFFS_TABLE} WHERE {'' if matches else 'NOT '}m ORDER BY {keys}"


def _text(column: str) -> str:
    """Numbers leave DuckDB as text: Python's ``Decimal(str)`` gives the identical value and
    exponent but is ~4x cheaper than DuckDB's own DECIMAL -> Decimal conversion (likewise
    HUGEINT counts leave as BIGINT), which matters once differing keys run into the 10,000s."""
    return f"CAST({column} AS VARCHAR)"


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _parse_as_of(text: str | None, fallback: datetime | None) -> datetime | None:
    if text:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return fallback
    return fallback


def _no_data_rows(con: duckdb.DuckDBPyConnection, side: Side, sources: tuple[SnapshotSource, ...]) -> bool:
    """True for a header-only file; reads only the first rows, not the whole file."""
    try:
        return con.execute(f"SELECT 1 FROM {side.value}_raw LIMIT 1").fetchone() is None
    except duckdb.Error as exc:
        raise SnapshotError(readable_error(exc, sources)) from exc


def _bad_samples(
    con: duckdb.DuckDBPyConnection, side: Side, cols: ResolvedColumns, config: ReconcileConfig
) -> list[str]:
    """A few bad rows, each named by its data row number (1 = the first row under the header), item and value."""
    c = cols.columns
    fmt = config.erp if side is Side.ERP else config.wms
    q = _quantity(_q(c["quantity"]), fmt.decimal_separator, fmt.thousands_separator)
    # One thread and insertion order for this error path only, so row numbers follow the file.
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    rows = con.execute(
        f"SELECT n, item, qty FROM (SELECT row_number() OVER () AS n, {_q(c['item'])} AS item, "
        f"{_q(c['quantity'])} AS qty, {q} AS parsed FROM {side.value}_raw) "
        f"WHERE parsed IS NULL OR coalesce(trim(item), '') = '' ORDER BY n LIMIT {SAMPLE_ERRORS}"
    ).fetchall()
    return [f"data row {n}: item {item!r} quantity {qty!r} ({_why(item, qty)})" for n, item, qty in rows]


def _why(item: str | None, qty: str | None) -> str:
    if not (item or "").strip():
        return "no item id"
    text = (qty or "").strip()
    if not text:
        return "no quantity"
    if re.search(_TOO_PRECISE, text):
        return f"more than {MAX_DECIMALS} decimal places; it would have to be rounded"
    return "not a number"


def compare(
    erp: SnapshotSource,
    wms: SnapshotSource,
    config: ReconcileConfig,
    settings: EngineSettings | None = None,
) -> Comparison:
    """Aggregate both snapshots to the comparison level; raise SnapshotError for bad input.

    DuckDB runs out of memory now and then at its limit with two threads on very large snapshots
    (seen at 10M + 10M rows, on main as on this code: its CSV readers and hash tables do not always
    spill in time); the comparison is then tried once more with one thread, which needs less.
    """
    settings = settings or EngineSettings()
    try:
        return _compare(erp, wms, config, settings)
    except SnapshotError as exc:
        if settings.threads <= 1 or not isinstance(exc.__cause__, duckdb.OutOfMemoryException):
            raise
    log.warning("comparison ran out of memory with %d threads; trying once more with 1", settings.threads)
    return _compare(erp, wms, config, replace(settings, threads=1))


def _compare(erp: SnapshotSource, wms: SnapshotSource, config: ReconcileConfig, settings: EngineSettings) -> Comparison:
    # One spill directory per run: concurrent trigger invocations must not share spill files.
    temp_dir = tempfile.mkdtemp(prefix="omnisync-duckdb-", dir=settings.temp_directory)
    con = duckdb.connect(
        config={
            "threads": settings.threads,
            "memory_limit": settings.memory_limit,
            "temp_directory": temp_dir,
            "preserve_insertion_order": False,
        }
    )
    con.execute("SET enable_progress_bar = false")
    try:
        erp = as_utf8(erp, config.erp.encoding, Path(temp_dir), Side.ERP)
        wms = as_utf8(wms, config.wms.encoding, Path(temp_dir), Side.WMS)
        erp_header = _open(con, Side.ERP, erp)
        wms_header = _open(con, Side.WMS, wms)
        erp_cols = resolve_columns(Side.ERP, erp_header, config.erp)
        wms_cols = resolve_columns(Side.WMS, wms_header, config.wms)
        level = choose_level(config, erp_cols, wms_cols)
        n = len(level)
        measures = tuple(
            (
                name,
                resolve_measure(Side.ERP, erp_header, name, m.erp, set(erp_cols.columns.values())),
                resolve_measure(Side.WMS, wms_header, name, m.wms, set(wms_cols.columns.values())),
            )
            for name, m in config.measures.items()
        )
        empty = [
            src.label
            for side, src in ((Side.ERP, erp), (Side.WMS, wms))
            if side not in config.expect_empty and _no_data_rows(con, side, (erp, wms))
        ]
        if empty:
            raise SnapshotError(
                f"{' and '.join(empty)}: no data rows (header only). An empty export usually means the export "
                "failed, and comparing it would propose to move the whole other side; if this side is really "
                'empty, say so in the run config: "expect_empty": ["erp"] or ["wms"]'
            )
        try:
            _load_config_tables(con, config)
            con.execute(f"CREATE TEMP TABLE {DIFFS_TABLE} AS {_query(erp_cols, wms_cols, level, config, measures)}")
            totals = con.execute(
                f"SELECT tot_bad, tot_e, tot_w, tot_eneg, tot_wneg FROM {DIFFS_TABLE} LIMIT 1"
            ).fetchall()
        except duckdb.Error as exc:
            raise SnapshotError(readable_error(exc, (erp, wms))) from exc
        if not totals:
            raise SnapshotError(f"{erp.label} and {wms.label}: no data rows in scope")
        tot_bad, tot_e, tot_w, tot_eneg, tot_wneg = totals[0]
        if tot_bad:
            errors = []
            for side, cols, src in ((Side.ERP, erp_cols, erp), (Side.WMS, wms_cols, wms)):
                samples = _bad_samples(con, side, cols, config)
                if samples:
                    errors.append(
                        f"{src.label}: row(s) with a missing item id or a quantity that is not an exact number "
                        f"(column '{cols.columns['quantity']}'), e.g. {'; '.join(samples)}"
                    )
            raise SnapshotError(f"{tot_bad} bad row(s): " + " | ".join(errors))
        negative = (int(tot_eneg or 0), int(tot_wneg or 0))
        figures: dict[str, WarehouseFigures] = {}
        wh_site: dict[str, str] = {}
        wh_pos = level.index(KeyField.WAREHOUSE) + 1 if KeyField.WAREHOUSE in level else None
        for r in con.execute(_read_back(level, matches=True)).fetchall():  # one row per warehouse
            wh = r[wh_pos] if wh_pos is not None else ""
            nkeys, _en, _wn, eq, wq, _cost, smin, smax = r[n + 1 : n + 9]
            figures[wh] = WarehouseFigures(wh, nkeys, nkeys, Decimal(eq or 0), Decimal(wq or 0))
            if smin is not None and smin == smax:
                wh_site[wh] = smin
        return Comparison(
            level=level,
            erp_columns=erp_cols,
            wms_columns=wms_cols,
            erp_as_of=_parse_as_of(tot_e, erp.as_of),
            wms_as_of=_parse_as_of(tot_w, wms.as_of),
            _con=con,
            _cursor=None,
            _figures=figures,
            _wh_site=wh_site,
            _temp_dir=temp_dir,
            negative_keys=negative,
            item_spelled=_shows_item_spelling(config),
            measure_names=tuple(name for name, _, _ in measures),
            measure_columns={name: (e, w) for name, e, w in measures},
        )
    except BaseException:
        con.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
