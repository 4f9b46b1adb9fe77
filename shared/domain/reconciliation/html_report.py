"""Self-contained HTML report for finance: one file, no scripts, no external assets.

Every value that came from a snapshot goes through ``html.escape``: item ids
and warehouse names are attacker-controlled text as far as a browser is concerned.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

from .config import KeyField
from .model import Discrepancy
from .rules import fmt

_CSS = """
body{font-family:system-ui,Segoe UI,Arial,sans-serif;margin:2rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ccc;padding:.25rem .5rem}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f2f2f2}
.warn{background:#fff3cd;border:1px solid #e0c060;padding:.6rem;margin:1rem 0}
.err{background:#f8d7da;border:1px solid #d08080;padding:.6rem;margin:1rem 0}
.kpi{display:inline-block;margin-right:2rem}.kpi b{display:block;font-size:1.3rem}
"""


def _e(v: Any) -> str:
    return escape("" if v is None else str(v), quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def _bar_chart(pairs: list[tuple[str, Decimal]], label: str) -> str:
    """Horizontal bars around a zero line; negative values extend left, in red."""
    if not pairs:
        return "<p>No differences.</p>"
    width, row_h, label_w = 640, 22, 140
    half = (width - label_w) // 2
    peak = max((abs(v) for _, v in pairs), default=Decimal(0)) or Decimal(1)
    zero_x = label_w + half
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_e(label)}" '
        f'width="{width}" height="{row_h * len(pairs) + 10}">'
    ]
    for i, (name, v) in enumerate(pairs):
        y = 5 + i * row_h
        length = int(abs(v) / peak * (half - 10))
        x = zero_x if v >= 0 else zero_x - length
        color = "#2e7d32" if v >= 0 else "#c62828"
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{_e(name)}</text>')
        parts.append(
            f'<rect x="{x}" y="{y + 3}" width="{max(length, 1)}" height="{row_h - 8}" '
            f'fill="{color}">'
            f"<title>{_e(name)}: {_e(fmt(v))}</title></rect>"
        )
        tx = zero_x + length + 4 if v >= 0 else max(zero_x - length - 4, label_w)
        anchor = "start" if v >= 0 else "end"
        parts.append(f'<text x="{tx}" y="{y + 15}" font-size="11" text-anchor="{anchor}">{_e(fmt(v))}</text>')
    parts.append(f'<line x1="{zero_x}" x2="{zero_x}" y1="0" y2="{row_h * len(pairs) + 10}" stroke="#555"/>')
    parts.append("</svg>")
    return "".join(parts)


def _table(header: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_report(
    summary: dict[str, Any],
    largest: list[Discrepancy],
    level: list[KeyField],
    trend: list[dict[str, Any]],
) -> str:
    """Render the finance report from the summary JSON and the top differences."""
    run_id = summary.get("run_id", "")
    out: list[str] = [f"<h1>Inventory reconciliation ERP vs WMS — run {_e(run_id)}</h1>"]
    for w in summary.get("warnings", []):
        out.append(f'<div class="warn">{_e(w)}</div>')
    c, t = summary["counts"], summary["totals"]
    kpis = [
        ("keys compared", c["keys"]),
        ("match", c["match"]),
        ("quantity differs", c["quantity_differs"]),
        ("only in ERP", c["only_in_erp"]),
        ("only in WMS", c["only_in_wms"]),
        ("material", c["material"]),
        ("value difference", t["value_difference"]),
        ("|value difference|", t["abs_value_difference"]),
    ]
    out.append("".join(f'<div class="kpi">{_e(k)}<b>{_e(v)}</b></div>' for k, v in kpis))
    out.append(
        f"<p>Master: <b>{_e(summary.get('master'))}</b>; level: {_e(', '.join(k.value for k in level))}; "
        f"ERP as of {_e(summary['as_of'].get('erp'))}, WMS as of {_e(summary['as_of'].get('wms'))}.</p>"
    )

    out.append("<h2>Value difference by warehouse (WMS − ERP)</h2>")
    by_wh = summary.get("by_warehouse", {})
    pairs = [(wh or "(none)", Decimal(v["value_difference"])) for wh, v in by_wh.items() if v["count"]]
    out.append(_bar_chart(pairs, "value difference by warehouse"))
    out.append(
        _table(
            ["warehouse", "keys", "matches", "differences", "material", "qty difference", "value difference"],
            [
                [
                    wh,
                    str(v["keys"]),
                    str(v["matches"]),
                    str(v["differences"]),
                    str(v["material"]),
                    v["quantity_difference"],
                    v["value_difference"],
                ]
                for wh, v in by_wh.items()
            ],
            {1, 2, 3, 4, 5, 6},
        )
    )

    out.append("<h2>By category</h2>")
    out.append(
        _table(
            ["category", "count", "material", "qty difference", "value difference"],
            [
                [k, str(v["count"]), str(v["material"]), v["quantity_difference"], v["value_difference"]]
                for k, v in summary.get("by_category", {}).items()
            ],
            {1, 2, 3, 4},
        )
    )

    keys = [k.value for k in level]
    out.append(f"<h2>Largest differences by value (top {len(largest)})</h2>")
    out.append(
        _table(
            ["category", "material", *keys, "ERP", "WMS", "difference", "unit cost", "value", "reasons"],
            [
                [
                    d.assessment.category.value,
                    "yes" if d.assessment.material else "no",
                    *(d.key.get(k, "") for k in keys),
                    fmt(d.assessment.erp_qty),
                    fmt(d.assessment.wms_qty),
                    fmt(d.assessment.difference),
                    "" if d.unit_cost is None else fmt(d.unit_cost),
                    "" if d.assessment.value is None else fmt(d.assessment.value),
                    "; ".join(d.assessment.reasons),
                ]
                for d in largest
            ],
            set(range(2 + len(keys), 7 + len(keys))),
        )
    )

    audit = summary.get("audit", {})
    flagged = audit.get("flagged", [])
    after = _e(audit.get("after_runs"))
    out.append(f"<h2>Flagged for transaction audit (out of balance ≥ {after} runs)</h2>")
    if flagged:
        out.append(
            _table(
                ["item", "warehouse", "consecutive runs"],
                [[f["item"], f["warehouse"], str(f["runs"])] for f in flagged],
                {2},
            )
        )
    else:
        out.append("<p>None.</p>")

    out.append("<h2>Trend over earlier runs</h2>")
    rows = [
        *trend,
        {
            "run_id": run_id,
            "material": c["material"],
            "differences": c["differences"],
            "abs_value_difference": t["abs_value_difference"],
        },
    ]
    out.append(
        _bar_chart(
            [(r["run_id"], Decimal(r["abs_value_difference"])) for r in rows],
            "absolute value difference per run",
        )
    )
    out.append(
        _table(
            ["run", "differences", "material", "|value difference|"],
            [[r["run_id"], str(r["differences"]), str(r["material"]), r["abs_value_difference"]] for r in rows],
            {1, 2, 3},
        )
    )
    j = summary.get("journal", {})
    out.append(
        f"<h2>Proposed journal</h2><p>{_e(j.get('lines', 0))} line(s) in {_e(j.get('journals', 0))} "
        f"journal(s), mode {_e(j.get('mode'))}, adjusting the {_e(j.get('target'))}. "
        "Nothing is posted until approved.</p>"
    )
    return _page(f"Reconciliation {run_id}", "".join(out))


def render_error(run_id: str, errors: list[str]) -> str:
    """A report that says plainly why there is no comparison for this run."""
    items = "".join(f"<li>{_e(e)}</li>" for e in errors)
    body = (
        f"<h1>Inventory reconciliation — run {_e(run_id)}</h1>"
        f'<div class="err"><b>The run could not be compared.</b><ul>{items}</ul></div>'
    )
    return _page(f"Reconciliation {run_id} — error", body)
