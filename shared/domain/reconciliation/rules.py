"""Classification and materiality of one compared key: the business rules.

The engine only finds rows that differ; every decision about what a difference
*means* is taken here, in Decimal, so the rules are testable without files.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from .config import ReconcileConfig, Side, Thresholds

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class Category(StrEnum):
    MATCH = "match"
    QUANTITY_DIFFERS = "quantity_differs"
    ONLY_IN_ERP = "only_in_erp"
    ONLY_IN_WMS = "only_in_wms"
    MEASURE_DIFFERS = "measure_differs"
    """On-hand matches, another configured measure (on order, ordered ...) does not."""


def classify(erp_qty: Decimal | None, wms_qty: Decimal | None) -> Category:
    """None means the key is absent on that side.

    Absent on one side and zero on the other is a match: an export that lists a key at 0 and one
    that leaves it out say the same thing about the stock, and proposing a line of 0 helps nobody.
    """
    if erp_qty is None and wms_qty is None:
        raise ValueError("a key must exist on at least one side")
    if (erp_qty if erp_qty is not None else ZERO) == (wms_qty if wms_qty is not None else ZERO):
        return Category.MATCH
    if erp_qty is None:
        return Category.ONLY_IN_WMS
    if wms_qty is None:
        return Category.ONLY_IN_ERP
    return Category.MATCH if erp_qty == wms_qty else Category.QUANTITY_DIFFERS


# Not frozen: a frozen dataclass sets every field through object.__setattr__, which makes
# building one ~3x slower, and a run builds one per differing key. Nothing mutates it.
@dataclass(slots=True)
class Assessment:
    """Outcome for one key. difference = WMS - ERP (positive: WMS holds more)."""

    category: Category
    erp_qty: Decimal
    wms_qty: Decimal
    difference: Decimal
    value: Decimal | None
    percent: Decimal | None
    material: bool
    reasons: tuple[str, ...]


CENT = Decimal("0.01")


def fmt(d: Decimal) -> str:
    """Canonical exact text of a Decimal: no exponent, no trailing zeros.

    ``str()`` is ~5x cheaper than ``format(d, "f")`` and gives the same text unless it
    writes an exponent (NaN and Infinity read the same both ways). Not memoised: hashing a
    fresh Decimal costs more than formatting it, and reports mostly format fresh Decimals.
    """
    text = str(d)
    if "E" in text or "e" in text:  # "e" when the context has capitals=0
        text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")  # never empty: a digit precedes the point
    return "0" if text == "-0" else text


def _exceeded(
    t: Thresholds,
    diff_abs: Decimal,
    value_abs: Decimal | None,
    pct: Decimal | None,
    master_zero: bool,
    unknown_cost_is_material: bool,
) -> list[str]:
    reasons: list[str] = []
    if t.quantity is not None and diff_abs > t.quantity:
        reasons.append(f"quantity {fmt(diff_abs)} > {fmt(t.quantity)}")
    if t.percent is not None:
        if master_zero:
            reasons.append("percent: master quantity is 0")
        elif pct is not None and pct > t.percent:
            reasons.append(f"percent {fmt(pct.quantize(CENT))} > {fmt(t.percent)}")
    if t.value is not None:
        if value_abs is None:
            if unknown_cost_is_material:
                reasons.append("value unknown (no unit cost)")
        elif value_abs > t.value:
            reasons.append(f"value {fmt(value_abs)} > {fmt(t.value)}")
    return reasons


def assess(
    *,
    erp_qty: Decimal | None,
    wms_qty: Decimal | None,
    unit_cost: Decimal | None,
    item: str,
    item_class: str | None,
    config: ReconcileConfig,
) -> Assessment:
    """Classify a key and decide whether its difference is material.

    Percent is measured against the master quantity, because the journal moves
    the other side towards the master. A zero difference is never material.
    """
    category = classify(erp_qty, wms_qty)
    e = erp_qty if erp_qty is not None else ZERO
    w = wms_qty if wms_qty is not None else ZERO
    diff = w - e
    value = diff * unit_cost if unit_cost is not None else None
    master_qty = w if config.master is Side.WMS else e
    pct = abs(diff) * HUNDRED / abs(master_qty) if master_qty != 0 else None
    reasons: list[str] = []
    if diff != 0:
        m = config.thresholds_for(item, item_class)
        t = m.positive if diff > 0 else m.negative
        reasons = _exceeded(
            t,
            abs(diff),
            abs(value) if value is not None else None,
            pct,
            master_qty == 0,
            config.unknown_cost_is_material,
        )
        if config.negative_is_material and (e < 0 or w < 0):
            reasons.append("negative stock")
    return Assessment(
        category=category,
        erp_qty=e,
        wms_qty=w,
        difference=diff,
        value=value,
        percent=pct,
        material=bool(reasons),
        reasons=tuple(reasons),
    )


@dataclass(slots=True)
class MeasureAssessment:
    """One other measure of a key: difference = WMS - ERP, material against the measure's thresholds."""

    erp_qty: Decimal
    wms_qty: Decimal
    difference: Decimal
    material: bool
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "erp": fmt(self.erp_qty),
            "wms": fmt(self.wms_qty),
            "difference": fmt(self.difference),
            "material": self.material,
            "reasons": list(self.reasons),
        }


def assess_measure(
    *,
    name: str,
    erp_qty: Decimal,
    wms_qty: Decimal,
    unit_cost: Decimal | None,
    item: str,
    item_class: str | None,
    config: ReconcileConfig,
) -> MeasureAssessment:
    """Materiality of another measure: its own thresholds when configured, else the run's (with overrides)."""
    diff = wms_qty - erp_qty
    if diff == 0:
        return MeasureAssessment(erp_qty, wms_qty, diff, False, ())
    spec = config.measures.get(name)
    m = spec.materiality if spec is not None and spec.materiality is not None else None
    m = m or config.thresholds_for(item, item_class)
    t = m.positive if diff > 0 else m.negative
    master_qty = wms_qty if config.master is Side.WMS else erp_qty
    pct = abs(diff) * HUNDRED / abs(master_qty) if master_qty != 0 else None
    value = abs(diff * unit_cost) if unit_cost is not None else None
    reasons = _exceeded(t, abs(diff), value, pct, master_qty == 0, config.unknown_cost_is_material)
    return MeasureAssessment(erp_qty, wms_qty, diff, bool(reasons), tuple(f"{name}: {r}" for r in reasons))
