"""Move `Created` lines into the on-hand cache exactly once.

Each transaction changes the cache rows (guarded by their ETags) and flips the lines it applies to
`IVPosted` (guarded by theirs) in one partition, so a crash leaves either all of it or none, and a
concurrent run that lost the race re-reads and finds those lines already posted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.adapters.ledger_tables import AGGREGATE_WORK, ConcurrencyConflict, LedgerStore
from shared.domain.cache import MAX_OPERATIONS, plan_next

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
MAX_CONFLICT_RETRIES = 20


@dataclass
class SyncReport:
    partitions: int = 0
    lines: int = 0
    conflicts: int = 0
    synced_ids: set[str] = field(default_factory=set)


def _now() -> datetime:
    return datetime.now(UTC)


def sync_partition(
    store: LedgerStore, partition: str, clock: Clock = _now, report: SyncReport | None = None
) -> SyncReport:
    report = report or SyncReport()
    conflicts = 0
    rows = store.cache_rows(partition)
    marked = False
    while True:
        lines = store.created_lines(partition, limit=MAX_OPERATIONS - 1)
        if not lines:
            return report
        if not marked:
            # Mark aggregation work before the lines become IVPosted: a crash after the commit must
            # not leave posted lines that no aggregation run will visit.
            store.touch_pending([partition], clock(), AGGREGATE_WORK)
            marked = True
        plan = plan_next(lines, rows)
        try:
            etags = store.commit_sync(partition, plan.rows, plan.lines, clock())
        except ConcurrencyConflict:
            conflicts += 1
            report.conflicts += 1
            if conflicts > MAX_CONFLICT_RETRIES:
                log.warning("sync of %s gave up after %d conflicts; the next run continues", partition, conflicts)
                return report
            rows = store.cache_rows(partition)
            continue
        for row in plan.rows:
            rows[row.row_key] = type(row)(row.row_key, row.dim_key, row.dimensions, row.quantities, etags[row.row_key])
        report.lines += len(plan.lines)
        report.synced_ids.update(line.row_key[2:] for line in plan.lines)
        if len(plan.lines) == len(lines) < MAX_OPERATIONS - 1:
            return report  # a short page, all applied: nothing left to read (saves a query per partition)


def sync_pending(store: LedgerStore, clock: Clock = _now) -> SyncReport:
    """Visit only partitions marked as having work; clear a marker only if no work arrived meanwhile."""
    report = SyncReport()
    for partition, etag in store.pending_partitions():
        sync_partition(store, partition, clock, report)
        report.partitions += 1
        store.clear_pending(partition, etag)
    log.info("sync_to_cache: %d lines in %d partitions (%d conflicts)", report.lines, report.partitions,
             report.conflicts)
    return report
