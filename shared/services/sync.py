"""Move `Created` lines into the on-hand cache exactly once.

Each line is a cache change whose marker is the line itself: the cache rows (guarded by their
ETags) and the line's flip to `IVPosted` (guarded by its own) commit in one partition transaction
(`apply_changes`), so a crash leaves either all of it or none, and a concurrent run that lost the
race re-reads and finds those lines already posted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.adapters.ledger_tables import AGGREGATE_WORK, LedgerStore
from shared.domain.cache import MAX_OPERATIONS, CacheChange, PendingLine, line_change
from shared.services.cache_changes import TooMuchContention, apply_changes

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
PAGE = MAX_OPERATIONS - 1
"""Lines read at a time: at least one operation is left for the cache row they touch."""


@dataclass
class SyncReport:
    partitions: int = 0
    lines: int = 0
    synced_ids: set[str] = field(default_factory=set)


def _now() -> datetime:
    return datetime.now(UTC)


def sync_partition(
    store: LedgerStore, partition: str, clock: Clock = _now, report: SyncReport | None = None
) -> SyncReport:
    report = report or SyncReport()
    _sync(store, partition, clock, report)
    return report


def _sync(store: LedgerStore, partition: str, clock: Clock, report: SyncReport) -> bool:
    """Apply the partition's `Created` lines; False if it was left unfinished to the next run."""
    rows = store.cache_rows(partition)
    marked = False
    while True:
        page = store.created_lines(partition, limit=PAGE)
        if not page:
            return True
        if not marked:
            # Mark aggregation work before the lines become IVPosted: a crash after the commit must
            # not leave posted lines that no aggregation run will visit.
            store.touch_pending([partition], clock(), AGGREGATE_WORK)
            marked = True
        unread: list[list[PendingLine]] = [page]

        def load(unread: list[list[PendingLine]] = unread) -> list[CacheChange]:
            lines = unread.pop() if unread else store.created_lines(partition, limit=PAGE)  # fresh after a conflict
            return [line_change(line, clock()) for line in lines]

        try:
            applied = apply_changes(store, partition, load, clock, rows)
        except TooMuchContention as exc:
            log.warning("sync left %s to the next run: %s", partition, exc)
            return False
        report.lines += len(applied)
        report.synced_ids.update(change.marker_key[2:] for change in applied)
        if len(applied) == len(page) < PAGE:
            return True  # a short page, all applied: nothing left to read (saves a query per partition)


def sync_pending(store: LedgerStore, clock: Clock = _now) -> SyncReport:
    """Visit only partitions marked as having work; clear a marker only if no work arrived meanwhile."""
    report = SyncReport()
    for partition, etag in store.pending_partitions():
        report.partitions += 1
        if _sync(store, partition, clock, report):
            store.clear_pending(partition, etag)  # an unfinished partition keeps its marker
    log.info("sync_to_cache: %d lines in %d partitions", report.lines, report.partitions)
    return report
