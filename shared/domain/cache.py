"""The on-hand cache: quantities per product, dimension combination, data source and measure.

Planning is pure: given changes (adjustment lines, on-hand events, offsets) and the current cache
rows, say what the rows become. The adapter commits a plan atomically (one partition transaction).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from shared.domain.adjustments import dimension_key
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
    dimensions: Mapping[str, str]
    data_source: str
    measure: str
    quantity: Decimal
    created_at: datetime | None = None
    """When the line was ingested (for the sync-lag metric); None for lines stored without it."""

    @property
    def line_id(self) -> str:
        """The line's own id (the row key less its kind prefix)."""
        return self.row_key.split("|", 1)[1]


@dataclass(frozen=True)
class CacheRow:
    row_key: str
    dim_key: str
    dimensions: Mapping[str, str]
    quantities: Quantities
    etag: str | None = None


def add_quantity(quantities: Quantities, data_source: str, measure: str, delta: Decimal) -> Quantities:
    updated = {ds: dict(measures) for ds, measures in quantities.items()}
    current = from_storage(updated.setdefault(data_source, {}).get(measure))
    updated[data_source][measure] = canonical(current + delta)
    return updated


def merge(into: Quantities, other: Quantities) -> Quantities:
    """Sum two quantity maps (index query grouping)."""
    out = {ds: dict(m) for ds, m in into.items()}
    for ds, measures in other.items():
        for measure, qty in measures.items():
            out = add_quantity(out, ds, measure, Decimal(qty))
    return out


@dataclass(frozen=True)
class Edit:
    """One quantity of one cache row: added to (a delta) or overwritten (a counting result)."""

    dimensions: Mapping[str, str]
    data_source: str
    measure: str
    value: Decimal
    mode: str = "add"


@dataclass(frozen=True)
class CacheChange:
    """A change that must reach the cache exactly once, with the marker entity that records it.

    The marker (an on-hand event, an ERP transaction, an aggregated line) is written in the same
    partition transaction as the edited rows: created when `marker_etag` is None (so a second
    writer fails), otherwise updated only if unchanged since it was read.
    """

    marker_key: str
    marker: Mapping[str, object]
    marker_etag: str | None
    edits: tuple[Edit, ...]

    @property
    def operations(self) -> int:
        return 1


@dataclass
class ChangePlan:
    rows: list[CacheRow] = field(default_factory=list)
    changes: list[CacheChange] = field(default_factory=list)

    @property
    def operations(self) -> int:
        return len(self.rows) + sum(change.operations for change in self.changes)


def marker_subject(change: CacheChange) -> str:
    """The id of what a change's marker records (a line's id, for a line's change): services report
    ids, and only the domain and the adapters know that marker keys carry a prefix."""
    return change.marker_key.split("|", 1)[1]


def line_change(line: PendingLine, posted_at: datetime) -> CacheChange:
    """A `Created` line as a change: its quantity; the marker is the line's open record (`D|id`,
    guarded by its ETag) moving to `IVPosted`."""
    return CacheChange(
        line.row_key,
        {"Stage": "IVPosted", "Status": "IVPosted", "IVPostedAt": posted_at},
        line.etag,
        (Edit(line.dimensions, line.data_source, line.measure, line.quantity),),
    )


def _edited(row: CacheRow, edit: Edit) -> CacheRow:
    if edit.mode == "set":
        quantities = {ds: dict(m) for ds, m in row.quantities.items()}
        quantities.setdefault(edit.data_source, {})[edit.measure] = canonical(edit.value)
    else:
        quantities = add_quantity(row.quantities, edit.data_source, edit.measure, edit.value)
    return CacheRow(row.row_key, row.dim_key, row.dimensions, quantities, row.etag)


def plan_changes(changes: list[CacheChange], rows: Mapping[str, CacheRow]) -> ChangePlan:
    """The next transaction: a prefix of `changes` (in order) and the rows they edit, within 100 operations."""
    plan = ChangePlan()
    touched: dict[str, CacheRow] = {}
    used = 0
    for change in changes:
        keys = {cache_row_key(dimension_key(dict(e.dimensions))) for e in change.edits}
        new_rows = len(keys - touched.keys())
        if used + len(touched) + change.operations + new_rows > MAX_OPERATIONS:
            break
        used += change.operations
        for edit in change.edits:
            key_text = dimension_key(dict(edit.dimensions))
            row_key = cache_row_key(key_text)
            base = touched.get(row_key) or rows.get(row_key) or CacheRow(row_key, key_text, dict(edit.dimensions), {})
            touched[row_key] = _edited(base, edit)
        plan.changes.append(change)
    plan.rows = list(touched.values())
    return plan
