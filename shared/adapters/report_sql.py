"""Report lines written by DuckDB: the per-key rules of a run as SQL over the engine's rows.

A bad day has 300,000 differing keys. Taking each through Python (``reconcile_stream.stream_fast``)
cost ~20 µs a key, three times the rest of the run; DuckDB computes the same texts on both
cores in a fraction of that. The engine's final statement (``snapshot_engine._query``) gets the
columns built here: the machine and finance CSV lines up to the streak, the journal line around
its numbering, the line id (``sha256``), and, once per group, the summary's sums, so Python only
adds each key's streak and joins text (``reconcile_sql_stream.stream_sql``).

Every expression restates a domain rule (``rules.assess``, ``excel.csv_row_maker``,
``finance_csv``, ``journal.JournalProposer``, ``spreadsheet.neutralise``, ``report_view.id_cell``);
``tests/unit/reconciliation/test_fast_path.py`` holds every report file of this path to the
reference path byte for byte. What the SQL does not restate, a run does not send here
(``sql_report_possible``): other measures, item or class overrides, thresholds with more places
than the engine keeps. Ids that SQL would escape or classify differently from Python (control
characters other than tab, non-ASCII digits or spaces) and magnitudes beyond exact DECIMAL
arithmetic are found per row (``unsafe``); the run then takes the Python path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from json.encoder import encode_basestring

from shared.domain.reconciliation.config import JournalMode, ProposeScope, ReconcileConfig, Side, Thresholds
from shared.domain.reconciliation.journal import line_id_prefix
from shared.domain.reconciliation.report_view import _SPREADSHEET_CONVERTS, CATEGORY_LABELS
from shared.domain.reconciliation.rules import fmt
from shared.domain.spreadsheet import DANGEROUS_PREFIXES

QTY_PLACES = 6
"""The engine's quantities and costs are DECIMAL(…, 6); thresholds with more places stay with Python."""
BIG = "100000000000000"  # 1e14: below it, differences, quantities and values are exact in DECIMAL(38, …)


@dataclass(frozen=True)
class ReportSpec:
    """What a run's report columns need to know: its settings and the run's constant texts."""

    config: ReconcileConfig
    run_id: str


def sql_report_possible(config: ReconcileConfig) -> bool:
    """True when every rule the run uses is restated in SQL here."""
    if config.measures or config.item_overrides or config.class_overrides:
        return False
    for t in (config.materiality.positive, config.materiality.negative):
        for limit in (t.quantity, t.percent, t.value):
            if limit is not None and (_places(limit) > QTY_PLACES or limit >= Decimal(10) ** 12):
                return False
    return True


def _places(d: Decimal) -> int:
    exponent = d.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 99


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _python_verbose_to_re2(pattern: str) -> str:
    """``re.VERBOSE`` pattern without its comments and layout whitespace (the pattern has no
    literal spaces or ``#`` in character classes), case-insensitive as the Python one."""
    lines = [re.sub(r"#.*$", "", line) for line in pattern.splitlines()]
    return "(?i)" + re.sub(r"\s+", "", "".join(lines))


_CONVERTS = _python_verbose_to_re2(_SPREADSHEET_CONVERTS.pattern)
_SAME_AS_NUMBER = r"^(0|[1-9][0-9]{0,14})$"
# Python's \d, \s and IGNORECASE also match non-ASCII digits, spaces, ſ and K (Kelvin); RE2's do not.
_UNSAFE_ID = r"[\x00-\x08\x0a-\x1f\x{85}\x{a0}\x{17f}\x{212a}\p{Z}]"


def _neutralised(x: str) -> str:
    firsts = ", ".join(_lit(p) if p.isprintable() else f"chr({ord(p)})" for p in DANGEROUS_PREFIXES)
    return f"CASE WHEN left({x}, 1) IN ({firsts}) THEN '''' || {x} ELSE {x} END"


def _csv(x: str) -> str:
    """``csv.writer`` QUOTE_MINIMAL with ``,``: quoted when it holds ``"`` or ``,`` (CR and LF are ``unsafe``)."""
    return f"""CASE WHEN contains({x}, '"') OR contains({x}, ',') THEN '"' || replace({x}, '"', '""') || '"' ELSE {x} END"""


def _id_cell(plain: str) -> str:
    """``report_view.id_cell`` of a neutralised text."""
    converts = f"({plain} <> '' AND regexp_matches({plain}, {_lit(_CONVERTS)}) AND NOT regexp_matches({plain}, {_lit(_SAME_AS_NUMBER)}))"
    return f"CASE WHEN left({plain}, 1) <> '''' AND {converts} THEN '''' || {plain} ELSE {plain} END"


def _json(x: str) -> str:
    """``encode_basestring`` of a text without control characters other than tab (``unsafe`` otherwise)."""
    return f"""'"' || replace(replace(replace({x}, '\\', '\\\\'), '"', '\\"'), chr(9), '\\t') || '"'"""


def _strip(decimal_sql: str) -> str:
    """``rules.fmt`` of a DECIMAL with places: its text without trailing zeros and point."""
    return f"rtrim(rtrim(CAST({decimal_sql} AS VARCHAR), '0'), '.')"


def _micro(decimal_sql: str) -> str:
    """A DECIMAL(38, 6) as a whole number of millionths (exact below ``BIG``)."""
    return f"CAST({decimal_sql} * 1000000 AS HUGEINT)"


@dataclass(frozen=True)
class Columns:
    """The layers of SQL over the engine's kept rows (``report_queries`` puts them together)."""

    base: str
    """Columns over the engine's own (``c_0`` ...) and ``ws``: the key's parts under plain names."""
    calc: str
    """Columns of ``calc`` over ``base``: the rules' numbers."""
    above: tuple[str, ...]
    """Layers of columns over ``calc``, each over the one before (the texts, once each)."""
    out: str
    """The report columns (``OUT_NAMES``), appended after the engine's own."""
    unsafe_ids: str
    """True for a key holding ids these columns do not restate exactly."""


OUT_NAMES = ("pre_m", "pre_f", "post", "material", "jpre", "jpost", "rank")
"""Names of the report columns, in row order (``reconcile_sql_stream`` reads them by position)."""


def report_columns(spec: ReportSpec, names: list[str], *, spelled: bool) -> Columns:
    """The report columns for a level (``names``, item first) over the engine's rows as
    ``snapshot_engine._query`` names them (``c_0`` the match flag, then the key fields, ...;
    ``snapshot_engine.RowLayout``), their item-level fallbacks included."""
    config = spec.config
    n = len(names)
    rest = names[1:]

    def c(i: int) -> str:
        return f"c_{i}"

    item = f"coalesce({c(n + 20)}, c_1)" if spelled else "c_1"
    wh = c(names.index("warehouse") + 1) if "warehouse" in names else "''"
    base = ",\n".join(
        [
            f"CAST({c(n + 4)} AS DECIMAL(38,6)) AS x_eq",
            f"CAST({c(n + 5)} AS DECIMAL(38,6)) AS x_wq",
            f"{c(n + 2)} AS x_en",
            f"{c(n + 3)} AS x_wn",
            f"CAST(coalesce({c(n + 6)}, {c(n + 13)}) AS DECIMAL(18,6)) AS x_cost",
            f"coalesce({c(n + 9)}, {c(n + 14)}) AS x_cls",
            f"coalesce({c(n + 7)}, ws.ws_site) AS x_site",
            f"{item} AS x_item",
            f"{wh} AS x_wh",
            *(f"{c(i + 2)} AS x_{name}" for i, name in enumerate(rest)),
        ]
    )
    master_wms = config.master is Side.WMS
    e, w = "CAST(coalesce(x_eq, 0) AS DECIMAL(38,6))", "CAST(coalesce(x_wq, 0) AS DECIMAL(38,6))"
    big = f"(abs({e}) >= {BIG} OR abs({w}) >= {BIG})"
    calc = ",\n".join(
        [
            f"{w} - {e} AS d",
            f"{e} AS e",
            f"{w} AS w",
            f"{big} AS big",
            # value = difference × unit cost, exact in DECIMAL(38,12) below BIG
            f"CASE WHEN x_cost IS NULL OR {big} THEN NULL ELSE CAST({w} - {e} AS DECIMAL(20,6)) * x_cost END AS v",
            f"CASE WHEN {big} THEN NULL ELSE {_micro(f'abs({w} - {e})')} END AS a_mu",
            f"CASE WHEN {big} THEN NULL ELSE {_micro(f'abs({w if master_wms else e})')} END AS m_mu",
            "CASE WHEN x_en = 0 THEN 'only_in_wms' WHEN x_wn = 0 THEN 'only_in_erp' ELSE 'quantity_differs' END AS cat",
        ]
    )
    mat = f"coalesce(({_reasons(config.materiality.positive, config, 'd > 0', None)}) OR "
    mat += f"({_reasons(config.materiality.negative, config, 'd < 0', None)}), FALSE) AS mat"
    # ---- rules.assess: texts and reasons, computed above the sort (layers of ``above``), once each
    # percent of the master quantity in hundredths, quantized half-even, exactly in whole numbers
    q, rem = "(a_mu * 10000 // m_mu)", "(a_mu * 10000 % m_mu)"
    hundredths = (
        f"CASE WHEN m_mu = 0 THEN NULL ELSE {q} + CASE WHEN 2 * {rem} > m_mu THEN 1 "
        f"WHEN 2 * {rem} = m_mu THEN {q} % 2 ELSE 0 END END AS h"
    )
    texts = [
        f"CASE WHEN x_en > 0 THEN {_strip('x_eq')} ELSE '0' END AS erp_t",
        f"CASE WHEN x_wn > 0 THEN {_strip('x_wq')} ELSE '0' END AS wms_t",
        f"{_strip('d')} AS diff_t",
        f"ltrim({_strip('d')}, '-') AS adiff_t",
        f"CASE WHEN x_cost IS NULL THEN NULL ELSE {_strip('x_cost')} END AS cost_t",
        f"CASE WHEN v IS NULL THEN NULL ELSE {_strip('v')} END AS value_t",
        f"CASE WHEN v IS NULL THEN NULL ELSE ltrim({_strip('v')}, '-') END AS avalue_t",
        "CASE WHEN h IS NULL THEN '' ELSE CAST(h // 100 AS VARCHAR) || CASE WHEN h % 100 = 0 THEN '' "
        "WHEN h % 10 = 0 THEN '.' || CAST(h % 100 // 10 AS VARCHAR) "
        "ELSE '.' || lpad(CAST(h % 100 AS VARCHAR), 2, '0') END END AS pct_t",
    ]
    erp_t, wms_t, diff_t, cost_t, value_t, pct_t = "erp_t", "wms_t", "diff_t", "cost_t", "value_t", "pct_t"
    # one of the two directions is NULL throughout, so concat_ws joins the other's reasons
    reasons = f"concat_ws('; ', {_reasons(config.materiality.positive, config, 'd > 0', 'text')}, "
    reasons += f"{_reasons(config.materiality.negative, config, 'd < 0', 'text')}) AS rs"
    # ---- cells (excel.csv_row_maker, finance_csv, journal JSON)
    site_added = "site" not in names
    suffix_fields = [
        *(["coalesce(x_site, '')"] if site_added else []),
        *(f"x_{n}" for n in rest),
        "coalesce(x_cls, '')",
    ]
    # each id's neutralised text (n_i) and finance cell (f_i) is a column of its own, computed once
    fields = ["x_item", *suffix_fields]
    neutral = [f"{_neutralised(f)} AS n_{i}" for i, f in enumerate(fields)]
    finance = [f"{_id_cell(f'n_{i}')} AS f_{i}" for i in range(len(fields))]
    m_cells = " || ".join(f"',' || {_csv(f'n_{i}')}" for i in range(1, len(fields)))
    f_cells = " || ".join(f"',' || {_csv(f'f_{i}')}" for i in range(1, len(fields)))
    numbers = f"{erp_t} || ',' || {wms_t} || ',' || {diff_t} || ',' || coalesce({cost_t}, '') || ',' || coalesce({value_t}, '') || ',' || {pct_t} || ','"
    labels = " ".join(f"WHEN {_lit(c)} THEN {_lit(label)}" for c, label in CATEGORY_LABELS.items())
    yes = "CASE WHEN rs <> '' THEN 'yes' ELSE 'no' END"
    pre_m = f"cat || ',' || {yes} || ',' || {_csv('n_0')} || {m_cells} || ',' || {numbers}"
    pre_f = f"CASE cat {labels} END || ',' || {yes} || ',' || {_csv('f_0')} || {f_cells} || ',' || {numbers}"
    # ---- journal.JournalProposer.text_of: all but the journal id and line number
    target = Side.ERP if master_wms else Side.WMS
    prefix = line_id_prefix(spec.run_id, config)
    tail = " || ".join(
        f"chr(31) || '{n}=' || " + (f"x_{n}" if n in rest else "''")
        for n in ("site", "warehouse", "batch", "status", "location")
    )
    if "serial" in rest:
        tail += " || CASE WHEN x_serial <> '' THEN chr(31) || 'serial=' || x_serial ELSE '' END"
    line_id = f"left(sha256({_lit(prefix)} || 'item=' || x_item || {tail}), 24)"
    site_json = (
        _json("x_site") if "site" in rest else f"CASE WHEN x_site IS NULL THEN 'null' ELSE {_json('x_site')} END"
    )
    key_json = f"'\"site\":' || {site_json}"
    for n in ("warehouse", "batch", "status", "location"):
        key_json += f" || ',\"{n}\":' || " + (_json(f"x_{n}") if n in rest else "'null'")
    negated_value = f"CASE WHEN v IS NULL THEN NULL ELSE {_strip('-v')} END"
    if master_wms:
        master_t, book_t, delta_t, value_j, moves_in = wms_t, erp_t, diff_t, value_t, "d > 0"
    else:
        master_t, book_t, delta_t, value_j, moves_in = erp_t, wms_t, _strip("-d"), negated_value, "d < 0"
    counting = config.journal_mode is JournalMode.COUNTING
    counted = f"'\"' || {master_t} || '\"'" if counting else "'null'"
    jpost = (
        f"',\"target\":' || {_lit(encode_basestring(target))} || ',\"mode\":' || {_lit(encode_basestring(config.journal_mode))}"
        f" || ',\"item\":' || {_json('x_item')} || ',' || {key_json}"
        f' || \',"quantity_delta":"\' || {delta_t} || \'","counted_quantity":\' || {counted}'
        f' || \',"book_quantity":"\' || {book_t} || \'","unit_cost":\' || '
        f"CASE WHEN x_cost IS NULL THEN 'null' ELSE '\"' || {cost_t} || '\"' END"
        f" || ',\"value\":' || CASE WHEN v IS NULL THEN 'null' ELSE '\"' || {value_j} || '\"' END"
        f' || \',"category":"\' || cat || \'","reasons":[\' || '
        "CASE WHEN rs = '' THEN '' ELSE '\"' || replace(rs, '; ', '\",\"') || '\"' END"
        f" || '],\"movement\":\"' || CASE WHEN {moves_in} THEN 'receipt' ELSE 'issue' END"
        " || '\",\"review\":' || CASE WHEN rs <> '' THEN 'true' ELSE 'false' END"
        + " || ',\"serial\":' || "
        + (_json("x_serial") if "serial" in rest else "'null'")
        + " || '}'"
    )
    jpre = f'\'{{"line_id":"\' || {line_id} || \'","run_id":\' || {_lit(encode_basestring(spec.run_id))} || \',"journal_id":\''
    proposed = "(rs <> '')" if config.propose is ProposeScope.MATERIAL else "TRUE"
    unsafe_ids = " OR ".join(
        f"regexp_matches({f}, {_lit(_UNSAFE_ID)}) OR (strlen({f}) <> length({f}) "
        f"AND regexp_matches(regexp_replace({f}, '[0-9]', '', 'g'), '\\pN'))"
        for f in ["x_item", *(f"x_{n}" for n in rest), "coalesce(x_site, '')", "coalesce(x_cls, '')"]
    )
    out = ",\n".join(
        [
            f"{pre_m} AS pre_m",
            f"{pre_f} AS pre_f",
            "rs || chr(13) || chr(10) AS post",
            "mat AS material",
            f"CASE WHEN {proposed} THEN {jpre} END AS jpre",
            f"CASE WHEN {proposed} THEN {jpost} END AS jpost",
            "CAST(abs(v) AS DOUBLE) AS rank",
        ]
    )
    return Columns(
        base=base,
        calc=f"{calc},\n{mat}",
        above=(hundredths, ",\n".join([*texts, *neutral]), ",\n".join([reasons, *finance])),
        out=out,
        unsafe_ids=unsafe_ids,
    )


GROUP_SUMS = (
    "count(*)",
    "count(*) FILTER (WHERE mat)",
    "CAST(sum(d) AS VARCHAR)",
    "CAST(sum(abs(d)) AS VARCHAR)",
    "CAST(sum(v) AS VARCHAR)",
    "CAST(sum(abs(v)) AS VARCHAR)",
    "count(*) FILTER (WHERE v IS NULL)",
    "CAST(sum(e) AS VARCHAR)",
    "CAST(sum(w) AS VARCHAR)",
)
"""Per (category, warehouse) of the differing keys: the summary's bucket (``summary._Bucket``:
count, over threshold, difference, its absolute, value, its absolute, unknown value) and the
warehouse's book quantities (``ReportQueries.groups``)."""


def _reasons(t: Thresholds, config: ReconcileConfig, direction: str, texts: str | None) -> str:
    """``rules._exceeded`` for one direction: with ``texts``, the reasons as text over the text
    columns (NULL when the direction does not apply); without, whether any applies (below the sort)."""
    parts: list[tuple[str, str]] = []  # (condition, reason text)
    if t.quantity is not None:
        parts.append(
            (f"abs(d) > CAST({_lit(format(t.quantity, 'f'))} AS DECIMAL(38,6))", f"'quantity ' || adiff_t || ' > {fmt(t.quantity)}'")
        )
    if t.percent is not None:
        p = t.percent
        scale = _places(p)
        whole = int(p.scaleb(scale))
        parts.append(("m_mu = 0", "'percent: master quantity is 0'"))
        parts.append(
            (f"m_mu <> 0 AND a_mu * {100 * 10**scale} > CAST({whole} AS HUGEINT) * m_mu", f"'percent ' || pct_t || ' > {fmt(p)}'")
        )
    if t.value is not None:
        if config.unknown_cost_is_material:
            parts.append(("v IS NULL", "'value unknown (no unit cost)'"))
        parts.append(
            (f"v IS NOT NULL AND abs(v) > CAST({_lit(format(t.value, 'f'))} AS DECIMAL(38,12))", f"'value ' || avalue_t || ' > {fmt(t.value)}'")
        )
    if config.negative_is_material:
        parts.append(("e < 0 OR w < 0", "'negative stock'"))
    if not parts:
        return "NULL" if texts else "FALSE"
    if texts is None:
        return f"{direction} AND ({' OR '.join(f'({c})' for c, _ in parts)})"
    cases = ", ".join(f"CASE WHEN {c} THEN {text} END" for c, text in parts)
    return f"CASE WHEN {direction} THEN concat_ws('; ', {cases}) END"


@dataclass(frozen=True)
class ReportQueries:
    """The statements a run with report columns makes over the engine's kept rows (table ``table``)."""

    unsafe: str
    """One row: does a differing key hold what the report columns do not restate exactly?"""
    groups: str
    """Per (category, warehouse) of the differing keys: ``GROUP_SUMS``."""
    chunk: str
    """The engine's columns and ``OUT_NAMES`` for the kept rows ``{lo}`` <= rowid < ``{hi}``, in rowid order."""


def report_queries(spec: ReportSpec, names: list[str], *, spelled: bool, own: int, table: str) -> ReportQueries:
    """Statements over ``table``: the engine's result (``own`` columns ``c_0`` ...) kept in its order.

    Texts are computed a range of rows at a time and sorted by row id within it, so no sort ever
    carries the texts of a whole bad day (they do not fit the engine's memory limit) and no
    projection is trusted to keep an order it does not promise."""
    cols = report_columns(spec, names, spelled=spelled)
    n = len(names)
    smin, smax = f"c_{n + 7}", f"c_{n + 8}"
    if "warehouse" in names:
        wh = f"c_{names.index('warehouse') + 1}"
        ws = f"ws AS (SELECT {wh} AS ws_wh, {smin} AS ws_site FROM {table} WHERE c_0 AND {smin} = {smax})"
        ws_join = f"LEFT JOIN ws ON ws.ws_wh = {wh}"
    else:
        ws = f"ws AS (SELECT {smin} AS ws_site FROM {table} WHERE c_0 AND {smin} = {smax})"
        ws_join = "LEFT JOIN ws ON TRUE"

    def calc(source: str) -> str:
        return f"(SELECT *, {cols.calc} FROM (SELECT *, {cols.base} FROM {source} {ws_join}))"

    differing = f"(SELECT * FROM {table} WHERE NOT c_0)"
    unsafe = f"WITH {ws} SELECT coalesce(bool_or(big OR {cols.unsafe_ids}), FALSE) FROM {calc(differing)}"
    sums = ", ".join(GROUP_SUMS)
    groups = f"WITH {ws} SELECT cat, x_wh, {sums} FROM {calc(differing)} GROUP BY cat, x_wh"
    inner = calc(f"(SELECT rowid AS rid, * FROM {table} WHERE rowid >= {{lo}} AND rowid < {{hi}})")
    for layer in cols.above:
        inner = f"(SELECT *, {layer} FROM {inner})"
    own_cols = ", ".join(f"c_{i}" for i in range(own))
    chunk = f"WITH {ws} SELECT {own_cols}, {cols.out} FROM {inner} ORDER BY rid"
    return ReportQueries(unsafe=unsafe, groups=groups, chunk=chunk)
