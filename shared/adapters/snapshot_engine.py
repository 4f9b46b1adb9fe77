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

import csv
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from shared.domain.reconciliation.columns import ResolvedColumns, choose_level, resolve_columns
from shared.domain.reconciliation.config import KeyField, ReconcileConfig, Side

QTY_TYPE = "DECIMAL(18,6)"  # per row; sums widen to DECIMAL(38,6) in DuckDB
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


@dataclass
class DiffRow:
    """One differing key as the engine sees it; None quantity = key absent on that side."""

    key: dict[str, str]
    erp_qty: Decimal | None
    wms_qty: Decimal | None
    unit_cost: Decimal | None
    item_class: str | None
    site: str | None


@dataclass
class WarehouseFigures:
    warehouse: str
    keys: int
    matches: int
    erp_quantity: Decimal
    wms_quantity: Decimal


@dataclass
class Comparison:
    level: list[KeyField]
    erp_columns: ResolvedColumns
    wms_columns: ResolvedColumns
    erp_as_of: datetime | None
    wms_as_of: datetime | None
    warehouses: list[WarehouseFigures]
    _con: duckdb.DuckDBPyConnection = field(repr=False)
    _diff_sql: str = field(repr=False)

    def differences(self, batch: int = 10_000) -> Iterator[DiffRow]:
        """Stream differing keys sorted by key, so journals and CSVs are stable."""
        cur = self._con.execute(self._diff_sql)
        names = [k.value for k in self.level]
        n = len(names)
        while True:
            rows = cur.fetchmany(batch)
            if not rows:
                break
            for r in rows:
                key = dict(zip(names, r[:n], strict=True))
                en, wn, eq, wq, cmin, cmax, evalue, fb_cost, cls, site = r[n:]
                erp_qty = eq if en else None
                wms_qty = wq if wn else None
                yield DiffRow(key, erp_qty, wms_qty, _unit_cost(cmin, cmax, evalue, eq, fb_cost), cls, site)

    def close(self) -> None:
        self._con.close()


def _unit_cost(
    cmin: Decimal | None,
    cmax: Decimal | None,
    evalue: Decimal | None,
    eq: Decimal | None,
    fallback: Decimal | None,
) -> Decimal | None:
    """Key-level ERP cost; weighted average when rows of one key disagree; else item-level fallback."""
    if cmin is None:
        return _clean(fallback)
    if cmin == cmax:
        return _clean(cmin)
    if eq and evalue is not None:
        return (evalue / eq).quantize(Decimal("0.000001"))
    return _clean(cmax)


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


def _csv_header(src: SnapshotSource) -> tuple[list[str], str]:
    """Header and delimiter: the candidate that splits the header line into most columns."""
    with open(src.path, encoding="utf-8-sig", newline="") as fh:
        try:
            first = fh.readline()
        except UnicodeDecodeError as exc:
            raise SnapshotError(f"{src.label}: not UTF-8 text ({exc.reason})") from exc
    if not first.strip():
        raise SnapshotError(f"{src.label}: file is empty (no header row)")
    delim = max(DELIMITERS, key=first.count)
    header = next(csv.reader([first], delimiter=delim))
    header = [h.strip() for h in header]
    if len(header) < 2:
        raise SnapshotError(f"{src.label}: cannot find a delimiter (tried , ; tab |) in header {first!r}")
    return header, delim


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
        raise SnapshotError(f"{src.label}: cannot read as {fmt}: {exc}") from exc
    return header


def _side_select(side: Side, cols: ResolvedColumns, level: list[KeyField]) -> str:
    c = cols.columns

    def text(field: str) -> str:
        return f"coalesce(trim(CAST({_q(c[field])} AS VARCHAR)), '')" if field in c else "NULL"

    keys = ", ".join(f"{text(k.value)} AS k_{k.value}" for k in level)
    q = f"TRY_CAST(nullif(trim({_q(c['quantity'])}), '') AS {QTY_TYPE})"
    cost = f"TRY_CAST(nullif(trim({_q(c['unit_cost'])}), '') AS {QTY_TYPE})" if "unit_cost" in c else "NULL"
    cls = f"nullif(trim({_q(c['item_class'])}), '')" if "item_class" in c else "NULL"
    site = f"nullif(trim({_q(c['site'])}), '')" if "site" in c else "NULL"
    asof = f"nullif(trim({_q(c['as_of'])}), '')" if "as_of" in c else "NULL"
    bad_q = f"({q} IS NULL)"
    bad_item = f"({text('item')} = '')"
    return (
        f"SELECT {keys}, '{side.value}' AS side, {q} AS q, CAST({cost} AS {QTY_TYPE}) AS cost, "
        f"CAST({cls} AS VARCHAR) AS cls, CAST({site} AS VARCHAR) AS site, "
        f"CAST({asof} AS VARCHAR) AS snap_at, "
        f"({bad_q} OR {bad_item}) AS bad FROM {side.value}_raw"
    )


def _parse_as_of(text: str | None, fallback: datetime | None) -> datetime | None:
    if text:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return fallback
    return fallback


def _bad_samples(con: duckdb.DuckDBPyConnection, side: Side, cols: ResolvedColumns) -> list[str]:
    c = cols.columns
    q = f"TRY_CAST(nullif(trim({_q(c['quantity'])}), '') AS {QTY_TYPE})"
    rows = con.execute(
        f"SELECT {_q(c['item'])}, {_q(c['quantity'])} FROM {side.value}_raw "
        f"WHERE {q} IS NULL OR coalesce(trim({_q(c['item'])}), '') = '' LIMIT {SAMPLE_ERRORS}"
    ).fetchall()
    return [f"item {item!r} quantity {qty!r}" for item, qty in rows]


def compare(
    erp: SnapshotSource, wms: SnapshotSource, config: ReconcileConfig, settings: EngineSettings | None = None
) -> Comparison:
    """Aggregate both snapshots to the comparison level; raise SnapshotError for bad input."""
    settings = settings or EngineSettings()
    temp_dir = settings.temp_directory or os.path.join(tempfile.gettempdir(), "omnisync-duckdb")
    con = duckdb.connect(
        config={
            "threads": settings.threads,
            "memory_limit": settings.memory_limit,
            "temp_directory": temp_dir,
            "preserve_insertion_order": False,
        }
    )
    try:
        erp_header = _open(con, Side.ERP, erp)
        wms_header = _open(con, Side.WMS, wms)
        erp_cols = resolve_columns(Side.ERP, erp_header, config.erp)
        wms_cols = resolve_columns(Side.WMS, wms_header, config.wms)
        level = choose_level(config, erp_cols, wms_cols)
        kcols = ", ".join(f"k_{k.value}" for k in level)
        try:
            con.execute(
                f"""CREATE TEMP TABLE k AS
                SELECT {kcols},
                  count(*) FILTER (WHERE side = 'erp') AS en,
                  count(*) FILTER (WHERE side = 'wms') AS wn,
                  coalesce(sum(q) FILTER (WHERE side = 'erp'), 0) AS eq,
                  coalesce(sum(q) FILTER (WHERE side = 'wms'), 0) AS wq,
                  min(cost) FILTER (WHERE side = 'erp') AS cmin,
                  max(cost) FILTER (WHERE side = 'erp') AS cmax,
                  sum(CAST(q AS DECIMAL(38,6)) * cost) FILTER (WHERE side = 'erp') AS evalue,
                  max(cls) AS cls,
                  CASE WHEN min(site) FILTER (WHERE side = 'erp') = max(site) FILTER (WHERE side = 'erp')
                       THEN min(site) FILTER (WHERE side = 'erp') END AS site,
                  max(snap_at) FILTER (WHERE side = 'erp') AS e_asof,
                  max(snap_at) FILTER (WHERE side = 'wms') AS w_asof,
                  count(*) FILTER (WHERE side = 'erp' AND bad) AS ebad,
                  count(*) FILTER (WHERE side = 'wms' AND bad) AS wbad
                FROM ({_side_select(Side.ERP, erp_cols, level)}
                      UNION ALL {_side_select(Side.WMS, wms_cols, level)})
                GROUP BY ALL"""
            )
            stats = con.execute(
                f"""SELECT {"k_warehouse" if KeyField.WAREHOUSE in level else "''"} AS wh,
                  count(*), count(*) FILTER (WHERE en > 0 AND wn > 0 AND eq = wq),
                  sum(eq), sum(wq), sum(ebad), sum(wbad), max(e_asof), max(w_asof)
                FROM k GROUP BY ALL ORDER BY wh"""
            ).fetchall()
        except duckdb.Error as exc:
            raise SnapshotError(f"cannot read snapshots: {exc}") from exc
        ebad = sum(r[5] for r in stats)
        wbad = sum(r[6] for r in stats)
        errors = []
        for side, n, cols, src in ((Side.ERP, ebad, erp_cols, erp), (Side.WMS, wbad, wms_cols, wms)):
            if n:
                errors.append(
                    f"{src.label}: {n} row(s) with a missing item id or a quantity that is not a number "
                    f"(column '{cols.columns['quantity']}'), e.g. {'; '.join(_bad_samples(con, side, cols))}"
                )
        if errors:
            raise SnapshotError(" | ".join(errors))
        if not stats:
            raise SnapshotError(f"{erp.label} and {wms.label}: both snapshots have no data rows")
        e_asof = max((r[7] for r in stats if r[7]), default=None)
        w_asof = max((r[8] for r in stats if r[8]), default=None)
        warehouses = [WarehouseFigures(r[0], r[1], r[2], r[3], r[4]) for r in stats]
        wh_site = (
            """LEFT JOIN (SELECT k_warehouse, min(site) AS s FROM k WHERE site IS NOT NULL
                   GROUP BY ALL HAVING min(site) = max(site)) ws USING (k_warehouse)"""
            if KeyField.WAREHOUSE in level and KeyField.SITE not in level
            else ""
        )
        site_expr = "coalesce(d.site, ws.s)" if wh_site else "d.site"
        diff_sql = f"""
            WITH d AS (SELECT * FROM k WHERE NOT (en > 0 AND wn > 0 AND eq = wq)),
            need AS (SELECT DISTINCT k_item FROM d WHERE cmin IS NULL OR cls IS NULL),
            fb AS (SELECT k_item, max(cmax) AS c, max(cls) AS fcls FROM k SEMI JOIN need USING (k_item)
                   GROUP BY ALL)
            SELECT {", ".join(f"d.k_{k.value}" for k in level)}, d.en, d.wn, d.eq, d.wq, d.cmin, d.cmax,
                   d.evalue, fb.c, coalesce(d.cls, fb.fcls), {site_expr}
            FROM d LEFT JOIN fb USING (k_item) {wh_site}
            ORDER BY {", ".join(f"d.k_{k.value}" for k in level)}
        """
        return Comparison(
            level=level,
            erp_columns=erp_cols,
            wms_columns=wms_cols,
            erp_as_of=_parse_as_of(e_asof, erp.as_of),
            wms_as_of=_parse_as_of(w_asof, wms.as_of),
            warehouses=warehouses,
            _con=con,
            _diff_sql=diff_sql,
        )
    except BaseException:
        con.close()
        raise
