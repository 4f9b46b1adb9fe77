"""Summary figures, built incrementally so millions of rows never sit in a list.

The engine streams discrepancies in; matches arrive as per-warehouse counts
(they have no difference to add). All sums are Decimal and leave as strings.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .model import Discrepancy
from .rules import ZERO, Category, fmt


@dataclass(slots=True)
class _Bucket:
    count: int = 0
    material: int = 0
    quantity_difference: Decimal = ZERO
    abs_quantity_difference: Decimal = ZERO
    value_difference: Decimal = ZERO
    abs_value_difference: Decimal = ZERO
    unknown_value: int = 0

    def add(
        self, material: bool, diff: Decimal, abs_diff: Decimal, value: Decimal | None, abs_value: Decimal | None
    ) -> None:
        """One discrepancy's figures; the caller works out the absolute values once for all buckets."""
        self.count += 1
        self.material += material
        self.quantity_difference += diff
        self.abs_quantity_difference += abs_diff
        if value is None or abs_value is None:
            self.unknown_value += diff != 0
        else:
            self.value_difference += value
            self.abs_value_difference += abs_value

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "material": self.material,
            "quantity_difference": fmt(self.quantity_difference),
            "abs_quantity_difference": fmt(self.abs_quantity_difference),
            "value_difference": fmt(self.value_difference),
            "abs_value_difference": fmt(self.abs_value_difference),
            "unknown_value": self.unknown_value,
        }


@dataclass
class WarehouseTotals:
    """What only the engine can count cheaply: all keys, matches, book quantities."""

    keys: int
    matches: int
    erp_quantity: Decimal
    wms_quantity: Decimal


@dataclass
class SummaryBuilder:
    top_n: int = 50
    total: _Bucket = field(default_factory=_Bucket)
    by_category: dict[str, _Bucket] = field(default_factory=lambda: defaultdict(_Bucket))
    by_warehouse: dict[str, _Bucket] = field(default_factory=lambda: defaultdict(_Bucket))
    warehouse_totals: dict[str, WarehouseTotals] = field(default_factory=dict)
    _top: list[tuple[Decimal, int, Discrepancy]] = field(default_factory=list)
    _seq: int = 0

    def add(self, d: Discrepancy) -> None:
        a = d.assessment
        value = a.value
        abs_value = None if value is None else abs(value)
        figures = (a.material, a.difference, abs(a.difference), value, abs_value)
        self.total.add(*figures)
        self.by_category[a.category.value].add(*figures)
        self.by_warehouse[d.warehouse].add(*figures)
        # Largest by absolute value; unknown value ranks by quantity after all valued ones.
        rank = abs_value if abs_value is not None else ZERO
        self._seq += 1
        item = (rank, -self._seq, d)
        if len(self._top) < self.top_n:
            heapq.heappush(self._top, item)
        elif item[:2] > self._top[0][:2]:
            heapq.heapreplace(self._top, item)

    def set_warehouse_totals(self, warehouse: str, totals: WarehouseTotals) -> None:
        self.warehouse_totals[warehouse] = totals

    def largest(self) -> list[Discrepancy]:
        return [d for _, _, d in sorted(self._top, key=lambda t: (-t[0], -t[1]))]

    def counts(self) -> dict[str, int]:
        matches = sum(t.matches for t in self.warehouse_totals.values())
        out = {c.value: 0 for c in Category if c is not Category.MEASURE_DIFFERS}  # only when measures are set
        out[Category.MATCH.value] = matches
        for cat, b in self.by_category.items():
            out[cat] = out.get(cat, 0) + b.count
        out["keys"] = matches + self.total.count
        out["differences"] = sum(b.count for c, b in self.by_category.items() if c != Category.MATCH.value)
        out["material"] = self.total.material
        return out

    def to_json(self) -> dict[str, Any]:
        erp_total = sum((t.erp_quantity for t in self.warehouse_totals.values()), ZERO)
        wms_total = sum((t.wms_quantity for t in self.warehouse_totals.values()), ZERO)
        warehouses: dict[str, Any] = {}
        for wh in sorted(set(self.warehouse_totals) | set(self.by_warehouse)):
            t = self.warehouse_totals.get(wh)
            b = self.by_warehouse.get(wh, _Bucket())
            warehouses[wh] = {
                **b.to_json(),
                "differences": b.count,
                "keys": t.keys if t else b.count,
                "matches": t.matches if t else 0,
                "erp_quantity": fmt(t.erp_quantity) if t else "0",
                "wms_quantity": fmt(t.wms_quantity) if t else "0",
            }
        cats = {c.value: _Bucket().to_json() for c in Category if c not in (Category.MATCH, Category.MEASURE_DIFFERS)}
        cats.update({c: b.to_json() for c, b in sorted(self.by_category.items())})
        return {
            "counts": self.counts(),
            "totals": {
                "erp_quantity": fmt(erp_total),
                "wms_quantity": fmt(wms_total),
                **{k: v for k, v in self.total.to_json().items() if k not in ("count", "material")},
            },
            "by_warehouse": warehouses,
            "by_category": cats,
        }


WIDE_DIFFERENCE_MIN_KEYS = 1000
"""Below this many compared keys (a store's shelf, a demo) a few differences are already a large share."""


def differing_share_warning(counts: Mapping[str, int], limit: Decimal | None) -> str | None:
    """The warning of a run where more than ``limit`` percent of the compared keys differ, else None.

    Stock rarely moves on a third of all keys between two snapshots; a share that large is nearly
    always the files: a partial or wrong export, another unit, a warehouse mapping that does not
    match. The proposal then balances the files' mistake, so the run says so before anyone approves.
    """
    keys, differing = counts.get("keys", 0), counts.get("differences", 0)
    if limit is None or keys < WIDE_DIFFERENCE_MIN_KEYS:
        return None
    share = Decimal(differing) * 100 / Decimal(keys)
    if share <= limit:
        return None
    shown = share.quantize(Decimal("0.1")).normalize()
    return (
        f"{shown:f} % of the compared keys differ ({differing:,} of {keys:,}), more than the {limit.normalize():f} % "
        "set in warn_differing_percent: this usually means a wrong or partial export, another unit or a warehouse "
        "mapping that does not match, not stock. Check the snapshots before approving the proposed journal."
    )
