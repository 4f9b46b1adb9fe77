"""The finance report as HTML, from Jinja2 templates shipped inside the package.

Why templates with autoescape: every item id and warehouse name comes from a
snapshot and is attacker-controlled text as far as a browser is concerned;
autoescape escapes each value once, in one place, instead of relying on every
f-string remembering ``html.escape``. The templates live in
``shared/adapters/templates/reconciliation`` and are loaded through the package
(``PackageLoader``), so the deployed function app finds them wherever it runs.
The page stays self-contained: inline CSS and SVG, no scripts, no external assets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from shared.domain.reconciliation.charts import CHART_MAX_BARS, bar_chart, largest_bars
from shared.domain.reconciliation.config import KeyField, ReconcileConfig
from shared.domain.reconciliation.history import first_entries
from shared.domain.reconciliation.model import Discrepancy
from shared.domain.reconciliation.report_view import (
    CATEGORY_LABELS,
    TREND_MESSAGES,
    TrendDirection,
    decimal_or_none,
    direction_of,
    report_header,
    trend_series,
)
from shared.domain.reconciliation.rules import fmt

HTML_JOURNAL_LINES = 50
"""Proposed lines shown on the page; the workbook and proposed_journal.json hold them all."""

_JOURNAL_KEYS = ("site", "warehouse", "batch", "status", "location")


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("shared.adapters", "templates/reconciliation"),
        autoescape=select_autoescape(("html", "j2"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _d(text: object) -> str:
    value = decimal_or_none(text)
    return "" if value is None else fmt(value)


def _journal_view(
    lines: Sequence[Mapping[str, Any]], mode: str
) -> tuple[list[str], list[list[str]], list[int], list[int]]:
    """Header, rows, numeric and id column indexes of the proposed-lines table."""
    keys = [k for k in _JOURNAL_KEYS if any(ln.get(k) for ln in lines)]
    counting = mode == "counting"
    header = ["line id", "journal", "#", "item", *keys, "book qty", "adjust by"]
    if counting:
        header.append("set to (counted)")
    header += ["value", "why"]
    rows = []
    for ln in lines:
        row = [
            str(ln.get("line_id", "")),
            str(ln.get("journal_id", "")),
            str(ln.get("line_number", "")),
            str(ln.get("item", "")),
            *(str(ln.get(k) or "") for k in keys),
            _d(ln.get("book_quantity")),
            _d(ln.get("quantity_delta")),
        ]
        if counting:
            row.append(_d(ln.get("counted_quantity")))
        row += [_d(ln.get("value")), "; ".join(ln.get("reasons") or [])]
        rows.append(row)
    first_numeric = 4 + len(keys)
    return header, rows, list(range(first_numeric, len(header) - 1)), [0, 1, *range(3, first_numeric)]


def render_report(
    summary: Mapping[str, Any],
    largest: Sequence[Discrepancy],
    level: Sequence[KeyField],
    trend: Sequence[Mapping[str, Any]],
    config: ReconcileConfig,
    journal_lines: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The finance page for a compared run. ``journal_lines``: proposed lines in journal order."""
    header = report_header(summary, config)
    c, t = summary["counts"], summary["totals"]
    unknown_value = int(t.get("unknown_value", 0))
    currency = summary.get("currency")
    unit = f" ({currency})" if currency else ""
    kpis = [
        ("keys compared", c["keys"]),
        ("match", c["match"]),
        ("quantity differs", c["quantity_differs"]),
        ("only in ERP", c["only_in_erp"]),
        ("only in WMS", c["only_in_wms"]),
        ("material", c["material"]),
        ("unknown value", unknown_value),
        (f"value difference{unit}", t["value_difference"]),
        (f"|value difference|{unit}", t["abs_value_difference"]),
    ]
    by_wh = summary.get("by_warehouse", {})
    warehouse_pairs, warehouses_folded = largest_bars(
        [(wh or "(none)", Decimal(v["value_difference"])) for wh, v in by_wh.items() if v["count"]], CHART_MAX_BARS
    )
    warehouse_rows = [
        [
            wh or "(none)",
            v["keys"],
            v["matches"],
            v["differences"],
            v["material"],
            v.get("unknown_value", 0),
            v["quantity_difference"],
            v["value_difference"],
        ]
        for wh, v in by_wh.items()
    ]
    category_rows = [
        [
            CATEGORY_LABELS.get(k, k),
            v["count"],
            v["material"],
            v.get("unknown_value", 0),
            v["quantity_difference"],
            v["value_difference"],
        ]
        for k, v in summary.get("by_category", {}).items()
    ]
    keys = [k.value for k in level]
    largest_rows = [
        [
            CATEGORY_LABELS.get(d.assessment.category.value, d.assessment.category.value),
            "yes" if d.assessment.material else "no",
            *(d.key.get(k, "") for k in keys),
            fmt(d.assessment.erp_qty),
            fmt(d.assessment.wms_qty),
            fmt(d.assessment.difference),
            "" if d.unit_cost is None else fmt(d.unit_cost),
            "unknown" if d.assessment.value is None else fmt(d.assessment.value),
            "; ".join(d.assessment.reasons),
        ]
        for d in largest
    ]
    series = trend_series(trend, summary)
    direction = direction_of(summary, [v for _, v in series])
    counts_now = {"run_id": header.run_id, "differences": c["differences"], "material": c["material"]}
    trend_rows = [
        [r["run_id"], r["differences"], r["material"], r["abs_value_difference"]]
        for r in [*trend, {**counts_now, "abs_value_difference": t["abs_value_difference"]}]
    ]
    journal = summary.get("journal", {})
    shown = list(journal_lines[:HTML_JOURNAL_LINES])
    journal_header, journal_rows, journal_numeric, journal_ids = _journal_view(shown, str(journal.get("mode")))
    example_ids = [str(ln["line_id"]) for ln in shown[:2]]
    approve_body = json.dumps({"organizationId": "usmf", "lineIds": example_ids})
    audit = summary.get("audit", {})
    flagged = audit.get("flagged") or []  # the third bad day in a row flags every differing key
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            h=header,
            level=keys,
            warnings=summary.get("warnings", []),
            first_journal=str(shown[0].get("journal_id") or "") if shown else "",
            kpis=kpis,
            unknown_value=unknown_value,
            warehouse_chart=bar_chart(warehouse_pairs),
            warehouses_folded=warehouses_folded,
            folded_total=fmt(warehouses_folded.total),
            warehouse_rows=warehouse_rows,
            category_rows=category_rows,
            largest_header=[
                *("category", "material", *keys, "ERP", "WMS", "difference"),
                *(f"unit cost{unit}", f"value{unit}", "reasons"),
            ],
            value_unit=unit,
            largest_rows=largest_rows,
            largest_numeric=list(range(2 + len(keys), 7 + len(keys))),
            largest_ids=list(range(2, 2 + len(keys))),
            audit_after=audit.get("after_runs"),
            flagged_rows=[[f["item"], f["warehouse"], f["runs"]] for f in first_entries(flagged, config.report_top_n)],
            flagged_total=len(flagged),
            trend_chart=bar_chart(series),
            trend_rows=trend_rows,
            trend_message=TREND_MESSAGES[direction],
            trend_class={TrendDirection.FALLING: "good", TrendDirection.RISING: "bad"}.get(direction, ""),
            journal={
                "lines": int(journal.get("lines", 0)),
                "journals": journal.get("journals", 0),
                "mode": journal.get("mode"),
                "target": str(journal.get("target", "")),
            },
            journal_header=journal_header,
            journal_rows=journal_rows,
            journal_numeric=journal_numeric,
            journal_ids=journal_ids,
            approve_body=approve_body,
        )
    )


def render_error(run_id: str, errors: Sequence[str]) -> str:
    """A page that says plainly why there is no comparison for this run."""
    return _environment().get_template("error.html.j2").render(run_id=run_id, errors=list(errors))
