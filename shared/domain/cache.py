"""The on-hand cache: quantities per product, dimension combination, data source and measure.

Planning a sync is pure: given pending lines and the current cache rows, say what the rows become
and which lines are now posted. The adapter commits the plan atomically (one partition transaction).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from shared.domain.quantities import canonical, from_storage

Quantities = dict[str, dict[str, str]]
"""{dataSource: {physicalMeasure: canonical decimal string}}"""

MAX_OPERATIONS = 100
"""Table Storage's limit of operations in one entity group transaction."""


def cache_row_key(dim_key: str) -> str:
    """Row key of a cache row: a hash, because a dimension combination can exceed key length limits."""
    return "C|" + hashlib.sha256(dim_key.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class PendingLine:
    row_key: str
    etag: str
    dim_key: str
    dimensions: Mapping[str, str]
    data_source: str
    measure: str
    quantity: Decimal


@dataclass(frozen=True)
class CacheRow:
    row_key: str
    dim_key: str
    dimensions: Mapping[str, str]
    quantities: Quantities
    etag: str | None = None


@dataclass
class SyncPlan:
    rows: list[CacheRow] = field(default_factory=list)
    lines: list[PendingLine] = field(default_factory=list)

    @property
    def operations(self) -> int:
        return len(self.rows) + len(self.lines)


def add_quantity(quantities: Quantities, data_source: str, measure: str, delta: Decimal) -> Quantities:
    updated = {ds: dict(measures) for ds, measures in quantities.items()}
    current = from_storage(updated.setdefault(data_source, {}).get(measure))
    updated[data_source][measure] = canonical(current + delta)
    return updated


def plan_next(lines: list[PendingLine], rows: Mapping[str, CacheRow]) -> SyncPlan:
    """The next transaction: a prefix of `lines` plus the cache rows they touch, at most 100 operations.

    One transaction at a time, because committing it changes the rows' ETags that the next one needs.
    """
    plan = SyncPlan()
    touched: dict[str, CacheRow] = {}
    for line in lines:
        row_key = cache_row_key(line.dim_key)
        if len(plan.lines) + len(touched) + 1 + (row_key not in touched) > MAX_OPERATIONS:
            break
        base = touched.get(row_key) or rows.get(row_key) or CacheRow(row_key, line.dim_key, dict(line.dimensions), {})
        touched[row_key] = CacheRow(
            base.row_key, base.dim_key, base.dimensions,
            add_quantity(base.quantities, line.data_source, line.measure, line.quantity), base.etag,
        )
        plan.lines.append(line)
    plan.rows = list(touched.values())
    return plan


def merge(into: Quantities, other: Quantities) -> Quantities:
    """Sum two quantity maps (index query grouping)."""
    out = {ds: dict(m) for ds, m in into.items()}
    for ds, measures in other.items():
        for measure, qty in measures.items():
            out = add_quantity(out, ds, measure, Decimal(qty))
    return out
