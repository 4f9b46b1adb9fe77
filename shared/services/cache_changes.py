"""Apply changes that must reach the cache exactly once: on-hand events, offsets.

Each transaction writes the edited cache rows (guarded by their ETags) and the changes' markers
(created, or updated only if unchanged) in one partition. A writer that loses a race re-reads
both, and its loader leaves out what the winner already applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from shared.adapters.ledger_tables import ConcurrencyConflict
from shared.domain.cache import CacheChange, CacheRow, plan_changes
from shared.services.ports import PartitionRepository

log = logging.getLogger(__name__)
Loader = Callable[[], list[CacheChange]]
"""Returns the changes still to apply, read fresh (called again after every conflict)."""
MAX_CONFLICT_RETRIES = 20


class TooMuchContention(RuntimeError):
    """A partition kept changing under us; nothing more was applied, and a retry is safe."""


def apply_changes(
    store: PartitionRepository,
    partition: str,
    load: Loader,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    rows: dict[str, CacheRow] | None = None,
) -> list[CacheChange]:
    """Apply every change `load` returns; returns the changes this call applied.

    `rows`, when given, are the partition's cache rows as last read; they are kept current in place,
    so a caller applying page after page (the sync timer) reads them once.
    """
    applied: list[CacheChange] = []
    if rows is None:
        rows = store.cache_rows(partition)
    changes = load()
    conflicts = 0
    while changes:
        plan = plan_changes(changes, rows)
        try:
            etags = store.commit_changes(partition, plan.rows, plan.changes, clock())
        except ConcurrencyConflict:
            conflicts += 1
            if conflicts > MAX_CONFLICT_RETRIES:
                raise TooMuchContention(f"{partition}: gave up after {conflicts} conflicts") from None
            rows.clear()
            rows.update(store.cache_rows(partition))
            changes = load()
            continue
        for row in plan.rows:
            rows[row.row_key] = CacheRow(row.row_key, row.dim_key, row.dimensions, row.quantities, etags[row.row_key])
        applied += plan.changes
        done = {c.marker_key for c in plan.changes}
        changes = [c for c in changes if c.marker_key not in done]
    return applied
