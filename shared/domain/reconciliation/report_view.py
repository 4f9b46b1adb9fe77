"""What every finance-facing report says, worked out once from the run's data (pure, no I/O).

The HTML page, the differences CSV and the workbook must never disagree on the
sign rule, the thresholds, the as-of times or the trend direction, so each of
those texts is made here and the renderers only lay them out. Everything reads
``summary.json`` as it is written today and prefers a key the data side may add
later (``run_time``, ``currency``, ``sign_rule``, ``trend.direction``) when present.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Any

from .config import Materiality, ReconcileConfig, Thresholds
from .rules import fmt

NOT_GIVEN = "not given"
DEFAULT_SIGN_RULE = "difference = WMS − ERP"

CATEGORY_LABELS: dict[str, str] = {
    "match": "Match",
    "quantity_differs": "Quantity differs",
    "only_in_erp": "Only in ERP",
    "only_in_wms": "Only in WMS",
}

# Technical CSV column -> the name a finance reader sees (differences.csv, workbook).
PLAIN_COLUMNS: dict[str, str] = {
    "category": "Status",
    "material": "Over threshold",
    "item": "Item",
    "site": "Site",
    "warehouse": "Warehouse",
    "batch": "Batch",
    "status": "Inventory status",
    "location": "Location",
    "item_class": "Item class",
    "erp_quantity": "ERP quantity",
    "wms_quantity": "WMS quantity",
    "difference": "Difference (WMS − ERP)",
    "unit_cost": "Unit cost",
    "value_difference": "Value difference",
    "percent_of_master": "% of master quantity",
    "consecutive_runs": "Runs out of balance in a row",
    "audit": "Flagged for audit",
    "reasons": "Why",
}


def plain_header_names(technical: Sequence[str]) -> list[str]:
    """Plain names for machine columns; an unknown column (the data side may add some) is tidied, not dropped."""
    return [PLAIN_COLUMNS.get(name, name.replace("_", " ").capitalize()) for name in technical]


ID_COLUMNS = frozenset({"item", "site", "warehouse", "batch", "status", "location", "item_class"})
"""Columns holding identifiers: text that a spreadsheet must not turn into a number or a date."""

QUANTITY_COLUMNS = frozenset({"erp_quantity", "wms_quantity", "difference"})
MONEY_COLUMNS = frozenset({"unit_cost", "value_difference"})
PERCENT_COLUMNS = frozenset({"percent_of_master"})
COUNT_COLUMNS = frozenset({"consecutive_runs"})

# What Excel (and LibreOffice) convert on opening a CSV: numbers with or without leading zeros,
# thousands separators, exponents, percentages, fractions, dates, times and booleans.
_SPREADSHEET_CONVERTS = re.compile(
    r"""^\s*(
        [+-]?(\d[\d,]*\.?\d*|\.\d+)([eE][+-]?\d+)?%?      # 00417, 1,234, 1E5, 12%
      | \d+\s+\d+/\d+ | \d+/\d+                          # fractions, 3/4
      | \d{1,4}[-/.]\d{1,2}([-/.]\d{1,4})?                # dates 2026-11-26, 3-4, 1.2.2026
      | \d{1,2}[-\s]?(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*([-\s]?\d{2,4})?  # 1-Jan
      | (jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[-\s]?\d{1,4}                  # Jan-12
      | \d{1,2}:\d{2}(:\d{2})?(\s*[AaPp][Mm]?)?           # 10:30, 9:15 PM
      | \d{1,2}\s*[AaPp][Mm]                               # 9 AM
      | true | false
    )\s*$""",
    re.VERBOSE | re.IGNORECASE,
)


# A plain integer of up to 15 digits without a leading zero reads back exactly the same.
DIGITS_KEPT_AS_NUMBER = 15
"""A spreadsheet keeps 15 significant digits: a longer integer id reads back changed."""
_SAME_AS_NUMBER = re.compile(rf"^(0|[1-9]\d{{0,{DIGITS_KEPT_AS_NUMBER - 1}}})$")


def spreadsheet_would_convert(text: str) -> bool:
    """True when a spreadsheet opening a CSV would show this text differently (00417 -> 417, 3-4 -> a date).

    Plain integers such as warehouse ``24`` become numbers too but read back unchanged,
    so they are left alone rather than marked on every row.
    """
    return bool(text) and _SPREADSHEET_CONVERTS.match(text) is not None and not _SAME_AS_NUMBER.match(text)


@lru_cache(maxsize=1 << 16)  # warehouses, sites, batches and classes repeat on every row
def id_cell(text: str) -> str:
    """An id for a CSV a person opens: text that would be converted gets a leading apostrophe.

    The apostrophe is the same marker the formula neutralisation uses, it is not a
    formula and cannot start one (unlike ``="00417"``), and Excel shows it rather than
    dropping the zeros. Cells already neutralised keep their single apostrophe.
    """
    if text.startswith("'") or not spreadsheet_would_convert(text):
        return text
    return "'" + text


class TrendDirection(StrEnum):
    """Direction of the absolute value difference over runs: falling is good, rising is a red flag."""

    FALLING = "falling"
    RISING = "rising"
    FLAT = "flat"
    UNKNOWN = "not enough runs"


TREND_MESSAGES: dict[TrendDirection, str] = {
    TrendDirection.FALLING: "falling — differences are shrinking (good)",
    TrendDirection.RISING: "rising — differences are growing (red flag: look for a systematic cause)",
    TrendDirection.FLAT: "flat — about the same as the earlier runs",
    TrendDirection.UNKNOWN: "not enough runs yet to tell a direction",
}

_FLAT_BAND = Decimal("0.05")
_TREND_WINDOW = 3


def trend_direction(series: Sequence[Decimal]) -> TrendDirection:
    """Latest run's |value difference| against the mean of up to three runs before it.

    A change within ±5 % of that mean is flat: one noisy run is no trend, and the
    mean of a few runs keeps a single outlier from flipping the direction.
    """
    if len(series) < 2:
        return TrendDirection.UNKNOWN
    *earlier, latest = series
    window = earlier[-_TREND_WINDOW:]
    base = sum(window, Decimal(0)) / len(window)
    if base == 0:
        return TrendDirection.FLAT if latest == 0 else TrendDirection.RISING
    change = (latest - base) / base
    if change > _FLAT_BAND:
        return TrendDirection.RISING
    if change < -_FLAT_BAND:
        return TrendDirection.FALLING
    return TrendDirection.FLAT


def as_of_text(value: object) -> str:
    """An ISO time as ``2026-11-26 08:00:00 UTC`` (or as given), or "not given" — never an empty string."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return NOT_GIVEN
    text = str(value).strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return text
    stamp = dt.strftime("%Y-%m-%d %H:%M:%S")
    if dt.tzinfo is None:
        return stamp + " (no time zone given)"
    offset = dt.utcoffset()
    return stamp + (" UTC" if offset is not None and not offset else dt.strftime(" UTC%z"))


def decimal_or_none(text: object) -> Decimal | None:
    """A summary figure (always an exact string) as Decimal; None for blanks or garbage."""
    if text is None or text == "":
        return None
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


def _threshold_text(t: Thresholds) -> str:
    parts = []
    if t.quantity is not None:
        parts.append(f"|quantity| > {fmt(t.quantity)}")
    if t.percent is not None:
        parts.append(f"percent of master > {fmt(t.percent)} %")
    if t.value is not None:
        parts.append(f"|value| > {fmt(t.value)}")
    return " or ".join(parts) if parts else "none (every difference is material)"


def threshold_lines(materiality: Materiality) -> list[tuple[str, str]]:
    """(direction, rule) rows; one row when both directions are the same."""
    pos, neg = _threshold_text(materiality.positive), _threshold_text(materiality.negative)
    if pos == neg:
        return [("both directions", pos)]
    return [("WMS holds more (positive)", pos), ("WMS holds less (negative)", neg)]


@dataclass(frozen=True)
class ReportHeader:
    """The facts every report starts with: which run, when, which rule, which limits."""

    run_id: str
    run_time: str
    erp_as_of: str
    wms_as_of: str
    sign_rule: str
    master: str
    thresholds: list[tuple[str, str]]
    overrides: str
    unknown_cost_rule: str
    currency: str
    warnings: tuple[str, ...] = ()

    def rows(self) -> list[tuple[str, str]]:
        """Label/value rows, in the order the CSV header block and the workbook show them."""
        rows = [
            ("Run", self.run_id),
            ("Run date/time", self.run_time),
            ("ERP as of", self.erp_as_of),
            ("WMS as of", self.wms_as_of),
        ]
        rows += [("Warning", text) for text in self.warnings]  # next to the as-of times they mostly concern
        rows += [("Sign rule", self.sign_rule), ("Master side", self.master)]
        rows += [(f"Threshold, {direction}", rule) for direction, rule in self.thresholds]
        rows += [
            ("Threshold overrides", self.overrides),
            ("Unknown unit cost", self.unknown_cost_rule),
            ("Currency", self.currency),
        ]
        return rows


def report_header(summary: Mapping[str, Any], config: ReconcileConfig) -> ReportHeader:
    """The header facts from summary.json plus the thresholds of the run's configuration."""
    as_of = summary.get("as_of") or {}
    overrides = []
    if config.item_overrides:
        overrides.append(f"{len(config.item_overrides)} item(s)")
    if config.class_overrides:
        overrides.append(f"{len(config.class_overrides)} item class(es)")
    run_time = summary.get("run_time")
    return ReportHeader(
        run_id=str(summary.get("run_id", "")),
        run_time=as_of_text(run_time) if run_time else "not recorded in this run's data",
        erp_as_of=as_of_text(as_of.get("erp")),
        wms_as_of=as_of_text(as_of.get("wms")),
        sign_rule=str(summary.get("sign_rule") or DEFAULT_SIGN_RULE),
        master=str(summary.get("master") or config.master.value).upper(),
        thresholds=threshold_lines(config.materiality),
        overrides=", ".join(overrides) if overrides else "none",
        unknown_cost_rule=(
            "a difference without unit cost is material"
            if config.unknown_cost_is_material
            else "a difference without unit cost is not material"
        ),
        currency=str(summary.get("currency") or "not configured (values are in the ERP unit-cost currency)"),
        warnings=tuple(str(w) for w in summary.get("warnings") or ()),
    )


def trend_series(trend: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> list[tuple[str, Decimal]]:
    """(run id, |value difference|) for earlier runs, oldest first, then this run."""
    rows = [(str(r.get("run_id", "")), decimal_or_none(r.get("abs_value_difference")) or Decimal(0)) for r in trend]
    current = decimal_or_none((summary.get("totals") or {}).get("abs_value_difference")) or Decimal(0)
    rows.append((str(summary.get("run_id", "")), current))
    return rows


def direction_of(summary: Mapping[str, Any], series: Sequence[Decimal]) -> TrendDirection:
    """The data side's ``trend.direction`` when summary.json carries one, else derived from the series."""
    given = (summary.get("trend") or {}).get("direction") if isinstance(summary.get("trend"), dict) else None
    if isinstance(given, str):
        for d in TrendDirection:
            if d.value == given:
                return d
    return trend_direction(series)
