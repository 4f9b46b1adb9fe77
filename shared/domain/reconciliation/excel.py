"""Excel-safe discrepancy rows.

A finance user opens the CSV in Excel; a text cell such as ``=HYPERLINK(...)``
or ``-2+3`` coming from a WMS item name would run as a formula. Text cells get
a leading apostrophe; numeric cells are ours (exact Decimals) and are written
untouched so ``-4`` stays a number.
"""

from __future__ import annotations

from decimal import Decimal

from shared.domain.spreadsheet import neutralise

from .config import KeyField
from .model import Discrepancy
from .rules import fmt


def _num(d: Decimal | None) -> str:
    return "" if d is None else fmt(d)


def csv_header(level: list[KeyField]) -> list[str]:
    keys = [k.value for k in level]
    if "site" not in keys:
        keys.insert(1, "site")
    return [
        "category",
        "material",
        *keys,
        "item_class",
        "erp_quantity",
        "wms_quantity",
        "difference",
        "unit_cost",
        "value_difference",
        "percent_of_master",
        "consecutive_runs",
        "audit",
        "reasons",
    ]


def csv_row(d: Discrepancy, level: list[KeyField]) -> list[str]:
    a = d.assessment
    keys = [k.value for k in level]
    key_cells = [d.key.get(k, "") for k in keys]
    if "site" not in keys:
        key_cells.insert(1, d.site or "")
    pct = a.percent.quantize(Decimal("0.01")) if a.percent is not None else None
    return [
        a.category,  # StrEnum: writes as its value
        "yes" if a.material else "no",
        *(neutralise(c) for c in key_cells),
        neutralise(d.item_class or ""),
        _num(a.erp_qty),
        _num(a.wms_qty),
        _num(a.difference),
        _num(d.unit_cost),
        _num(a.value),
        _num(pct),
        str(d.consecutive_runs),
        "yes" if d.audit else "no",
        neutralise("; ".join(a.reasons)),
    ]
