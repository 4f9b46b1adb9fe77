"""Queue-driven partition work, and the timers' safety sweep over the pending index.

Ingest (and every other writer of lines) marks a partition in the pending index, then puts one
`sync` message for it. A `sync` message syncs the partition and, when it has posted lines to
aggregate, passes the same marker on in an `aggregate` message; aggregation ends by clearing the
marker if no new work arrived meanwhile (its ETag is unchanged). Deliveries are at least once and
unordered: every step is an apply-once commit, so a duplicate, a late message or two consumers
on one partition at once change nothing twice.

The timer sweep visits markers no message took care of (older than `min_age`), oldest first,
within a time budget under the function timeout, so a lost message delays work but never loses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.adapters.ledger_keys import LEDGER_WORK, aggregate_schedule, split_partition
from shared.adapters.pending_index import Marker
from shared.adapters.table_batches import in_parallel
from shared.domain.aggregation import JournalMapping
from shared.services.aggregate import AggregateReport, aggregate_partition
from shared.services.ports import LedgerPort, WorkSink
from shared.services.sync import SyncReport, sync_partition

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
RETRY_DELAY_S = 5
"""A partition left unfinished by contention comes back after this delay (its marker stays too)."""
STALE_SCHEDULE_S = 1200
"""An aggregate schedule this old lost its message (the delay is at most 600 s)."""


def _now() -> datetime:
    return datetime.now(UTC)


def queue_markers(queues: WorkSink | None, markers: list[Marker]) -> None:
    """One `sync` message per marked partition; the markers are written first, so a lost message
    (or a queue that is down) is only a delay until the sweep."""
    if queues is None or not markers:
        return
    try:
        queues.put("sync", [m.as_message() for m in markers])
    except Exception:  # the sweep will find the markers; the request itself succeeded
        log.warning(
            "could not queue sync work for %d partitions; the timer sweep will pick them up",
            len(markers),
            exc_info=True,
        )


def _partition_of(body: dict[str, Any]) -> tuple[str, Marker | None]:
    partition = body.get("partition")
    if not isinstance(partition, str) or partition.count("|") < 2:
        raise ValueError(f"a work message names no ledger partition: {str(body)[:200]}")
    return partition, Marker.from_message(body)


def on_sync_message(
    store: LedgerPort,
    queues: WorkSink,
    body: dict[str, Any],
    clock: Clock = _now,
    *,
    redelivered: bool = False,
    aggregate_delay_s: int = 0,
) -> SyncReport:
    """Sync the message's partition, then hand it to aggregation (after `aggregate_delay_s`, so one
    aggregated line collects the lines of that window).

    A first delivery that found nothing to apply is a duplicate (requests touching a popular
    product each send a message): the visit that applied its lines queued their aggregation (or,
    if it crashed first, its own message comes back), so this one queues nothing and clears its
    marker. A redelivery always queues the aggregation: the crashed visit may have committed.
    """
    partition, marker = _partition_of(body)
    report = sync_partition(store, partition, clock)
    if not report.finished:
        queues.put("sync", [body], delay_s=RETRY_DELAY_S)
    elif report.posted_open and redelivered:
        queues.put("aggregate", [body], delay_s=aggregate_delay_s)  # its first attempt may have scheduled it
    elif report.posted_open and report.lines:
        if store.schedule_once(aggregate_schedule(partition), clock()):
            queues.put("aggregate", [body], delay_s=aggregate_delay_s)
        elif marker is not None:
            # An aggregate message is already waiting; it reads the lines after its schedule is
            # removed, so after this commit: this marker has nothing left to stand for.
            store.clear_pending(marker)
    elif marker is not None:
        store.clear_pending(marker)
    return report


def on_aggregate_message(
    store: LedgerPort,
    queues: WorkSink,
    body: dict[str, Any],
    mapping: JournalMapping,
    schedule_send: Callable[[str], None],
    clock: Clock = _now,
) -> AggregateReport:
    partition, marker = _partition_of(body)
    report = AggregateReport()
    store.unschedule(aggregate_schedule(partition))  # lines posted from now on schedule the next visit
    finished = aggregate_partition(store, partition, mapping, clock, report)
    if report.to_send:
        schedule_send(split_partition(partition)[0])
    if not finished:
        queues.put("aggregate", [body], delay_s=RETRY_DELAY_S)
    elif marker is not None:
        store.clear_pending(marker)  # refused (kept) if new lines arrived since: their message follows
    return report


@dataclass
class SweepReport:
    partitions: int = 0
    lines: int = 0
    aggregated: int = 0
    left: int = 0
    """Markers not visited because the time budget ran out (the next run takes them first)."""


def sweep_ledger(
    store: LedgerPort,
    mapping: JournalMapping,
    schedule_send: Callable[[str], None],
    *,
    budget_s: float,
    min_age_s: float = 0,
    clock: Clock = _now,
    monotonic: Callable[[], float] = time.monotonic,
) -> SweepReport:
    """Visit partitions whose marker is older than `min_age_s`: oldest first, until the budget is spent."""
    deadline = monotonic() + budget_s
    for name in store.stale_schedules(clock() - timedelta(seconds=STALE_SCHEDULE_S), prefix="aggregate|"):
        store.unschedule(name)  # its message was lost: the next sync schedules the aggregation again
    markers = store.pending_markers(LEDGER_WORK, touched_before=clock() - timedelta(seconds=min_age_s))
    report = SweepReport()

    def visit(marker: Marker) -> tuple[int, int, bool] | None:
        if monotonic() > deadline:
            return None
        synced = sync_partition(store, marker.partition, clock)
        aggregated = AggregateReport()
        finished = synced.finished and aggregate_partition(store, marker.partition, mapping, clock, aggregated)
        if aggregated.to_send:
            schedule_send(split_partition(marker.partition)[0])
        if finished:
            store.clear_pending(marker)
        return synced.lines, aggregated.lines, finished

    for result in in_parallel(visit, [(m,) for m in markers]):
        if result is None:
            report.left += 1
            continue
        report.partitions += 1
        report.lines += result[0]
        report.aggregated += result[1]
    log.info(
        "sweep: %d lines synced, %d aggregated in %d partitions; %d left for the next run",
        report.lines,
        report.aggregated,
        report.partitions,
        report.left,
    )
    return report
