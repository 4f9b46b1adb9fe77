"""Move `Created` lines into the on-hand cache exactly once.

Each line is a cache change whose marker is its open record (`D|id`): the cache rows (guarded by
their ETags) and the record's move to `IVPosted` (guarded by its own) commit in one partition
transaction (`apply_changes`), so a crash leaves either all of it or none, and a concurrent run
that lost the race re-reads and finds those lines already posted. A visit reads the partition's
cache rows and open lines in one query, never its history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.adapters.ledger_keys import LEDGER_WORK
from shared.domain.cache import CacheChange, PendingLine, line_change, marker_subject
from shared.services.cache_changes import TooMuchContention, apply_changes
from shared.services.ports import PartitionRepository, SyncPort
from shared.telemetry import lag_seconds, record_lines_synced, stage

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
RELOAD = 100_000
"""Lines re-read after a conflict: all of them (a partition's backlog is what a visit applies)."""


@dataclass
class SyncReport:
    partitions: int = 0
    lines: int = 0
    posted_open: int = 0
    """Lines `IVPosted` and not yet aggregated after the visit: the partition needs aggregation."""
    finished: bool = True
    synced_ids: set[str] = field(default_factory=set)


def _now() -> datetime:
    return datetime.now(UTC)


def sync_partition(
    store: PartitionRepository, partition: str, clock: Clock = _now, report: SyncReport | None = None
) -> SyncReport:
    """Apply the partition's `Created` lines; `finished` is False if contention left some to a retry."""
    with stage("partition_sync", partition=partition) as span:
        report = report or SyncReport()
        report.partitions += 1
        entries = store.open_entries(partition)
        report.posted_open += entries.posted
        if not entries.created:
            return report
        unread: list[list[PendingLine]] = [entries.created]
        created_at: dict[str, datetime | None] = {}

        def load() -> list[CacheChange]:
            lines = unread.pop() if unread else store.created_lines(partition, limit=RELOAD)  # fresh after a conflict
            lines = _without_late_copies(store, partition, lines)
            created_at.update((line.row_key, line.created_at) for line in lines)
            return [line_change(line, clock()) for line in lines]

        try:
            applied = apply_changes(store, partition, load, clock, dict(entries.rows))
        except TooMuchContention as exc:
            log.warning("sync left %s to a retry: %s", partition, exc)
            report.finished = False
            return report
        report.lines += len(applied)
        report.posted_open += len(applied)
        report.synced_ids.update(marker_subject(change) for change in applied)
        span.set_attribute("omnisync.lines", len(applied))
        now = clock()
        lags = [lag_seconds(created_at.get(change.marker_key), now) for change in applied]
        record_lines_synced(len(applied), [lag for lag in lags if lag is not None])
        return report


def _without_late_copies(store: PartitionRepository, partition: str, lines: list[PendingLine]) -> list[PendingLine]:
    """The lines less late copies of lines that have moved on, which are deleted unapplied.

    An open line is one entity, which the aggregation moves out of the open range; its key is then
    free. An ingest write that storage applied but whose answer was lost (the SDK retries it after a
    backoff), or a request still running while its client's retry stored the line, could create the
    record again after that move. Such a copy carries a line that is already in the cache: it is
    found here, before anything is applied, by point reads of the places a record moves to."""
    if not lines:
        return lines
    moved = store.moved_on(partition, [line.line_id for line in lines])
    if not moved:
        return lines
    late = [line for line in lines if line.line_id in moved]
    log.warning("sync of %s: %d late copies of lines already synced were discarded", partition, len(late))
    store.discard_open(partition, late)
    return [line for line in lines if line.line_id not in moved]


def sync_pending(store: SyncPort, clock: Clock = _now, environment_id: str | None = None) -> SyncReport:
    """Sync every marked partition (of one environment) now, for tests and tools; a marker stays
    while the partition still needs aggregation."""
    report = SyncReport()
    for marker in store.pending_markers(LEDGER_WORK, environment_id=environment_id):
        visit = sync_partition(store, marker.partition, clock)
        report.partitions += visit.partitions
        report.lines += visit.lines
        report.synced_ids |= visit.synced_ids
        if visit.finished and not visit.posted_open:
            store.clear_pending(marker)
    log.info("sync: %d lines in %d partitions", report.lines, report.partitions)
    return report
