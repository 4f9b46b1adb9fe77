"""Excel-safe discrepancy rows.

A finance user opens the CSV in Excel; a text cell such as ``=HYPERLINK(...)``
or ``-2+3`` coming from a WMS item name would run as a formula. Text cells get
a leading apostrophe; numeric cells are ours (exact Decimals) and are written
untouched so ``-4`` stays a number.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from shared.domain.spreadsheet import neutralise

from .config import KeyField
from .journal import NumberTexts
from .model import Discrepancy
from .rules import CENT, fmt


def _num(d: Decimal | None) -> str:
    return "" if d is None else fmt(d)


def _csv_keys(level: list[KeyField]) -> list[str]:
    """Key columns of the CSV: the level's fields, plus site second when the level lacks it."""
    keys = [k.value for k in level]
    if "site" not in keys:
        keys.insert(1, "site")
    return keys


def csv_header(level: list[KeyField]) -> list[str]:
    return [
        "category",
        "material",
        *_csv_keys(level),
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


def csv_row_maker(level: list[KeyField]) -> Callable[[Discrepancy, NumberTexts | None], list[str]]:
    """The function that turns a discrepancy into its CSV row at this level.

    The level's column layout is worked out here, once: a run writes one row per
    differing key (tens of thousands), so per row only the cells are formatted.
    """
    level_keys = [k.value for k in level]
    site_added = "site" not in level_keys

    def row(d: Discrepancy, texts: NumberTexts | None = None) -> list[str]:
        """``texts``: the numbers already formatted (``fmt``) by the caller, who needs them again."""
        a = d.assessment
        if texts is None:
            texts = (
                fmt(a.erp_qty),
                fmt(a.wms_qty),
                fmt(a.difference),
                None if d.unit_cost is None else fmt(d.unit_cost),
            )
        erp_text, wms_text, diff_text, cost_text = texts
        key = d.key
        key_cells = [neutralise(key.get(k, "")) for k in level_keys]
        if site_added:
            key_cells.insert(1, neutralise(d.site or ""))
        pct = a.percent
        return [
            a.category,  # StrEnum: writes as its value
            "yes" if a.material else "no",
            *key_cells,
            neutralise(d.item_class or ""),
            erp_text,
            wms_text,
            diff_text,
            "" if cost_text is None else cost_text,
            _num(a.value),
            "" if pct is None else fmt(pct.quantize(CENT)),
            str(d.consecutive_runs),
            "yes" if d.audit else "no",
            neutralise("; ".join(a.reasons)),
        ]

    return row
