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

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.adapters.ledger_keys import LEDGER_WORK, SEND_WORK, aggregate_schedule, split_partition
from shared.adapters.pending_index import Marker
from shared.adapters.table_batches import in_parallel
from shared.domain.aggregation import JournalMapping
from shared.services.aggregate import AggregateReport, aggregate_partition
from shared.services.ports import WorkPort, WorkSink
from shared.services.sync import SyncReport, sync_partition

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
RETRY_DELAY_S = 5
"""A partition left unfinished by contention comes back after this delay (its marker stays too)."""
STALE_SCHEDULE_S = 1200
"""An aggregate schedule this old lost its message (the delay is at most 600 s)."""


def _now() -> datetime:
    return datetime.now(UTC)


BATCH_PARTITIONS = 100
"""Most partitions one work message names (a request touching more sends several messages)."""
MAX_NAMED_LINES = 10_000
"""Most line ids a batch entry names (a request's lines of one product; INGEST_MAX_LINES caps a request)."""
MAX_ID_LENGTH = 256
BATCH_BYTES = 40_000
"""Most JSON bytes of one message's partition list (Azure queue messages hold 64 KiB once base64-encoded)."""
Action = str | None
"""What a visit leaves to do: "retry", "aggregate", "clear" (the marker), "alone" (failed in a batch) or None."""


def work_batches(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One message per ~100 partitions: a request touching 45 products costs one put, one receive and
    one delete instead of 45 of each (queue calls were most of the per-line cost)."""
    batches: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for body in bodies:
        length = len(json.dumps(body)) + 2
        if current and (len(current) >= BATCH_PARTITIONS or size + length > BATCH_BYTES):
            batches.append({"partitions": current})
            current, size = [], 0
        current.append(body)
        size += length
    if current:
        batches.append({"partitions": current})
    return batches


def queue_markers(queues: WorkSink | None, markers: list[Marker], lines: Mapping[str, list[str]] | None = None) -> None:
    """`sync` messages for the marked partitions, batched; the markers are written first, so a lost
    message (or a queue that is down) is only a delay until the sweep. `lines`: the ids of the
    request's `Created` lines per partition, so a visit can tell it has nothing to do without a query."""
    if queues is None or not markers:
        return
    lines = lines or {}
    bodies = [m.as_message() | ({"lines": lines[m.partition]} if lines.get(m.partition) else {}) for m in markers]
    try:
        queues.put("sync", work_batches(bodies))
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
    _named_lines(body)
    return partition, Marker.from_message(body)


def _named_lines(body: dict[str, Any]) -> list[str] | None:
    """The line ids a batch entry names (its request's `Created` lines), or None."""
    lines = body.get("lines")
    if lines is None:
        return None
    if (
        not isinstance(lines, list)
        or not 1 <= len(lines) <= MAX_NAMED_LINES
        or not all(isinstance(i, str) and 0 < len(i) <= MAX_ID_LENGTH for i in lines)
    ):
        raise ValueError(f"a work message names its lines wrongly: {str(lines)[:200]}")
    return lines


def _batch_items(body: dict[str, Any]) -> list[tuple[dict[str, Any], str, Marker | None]]:
    """The partitions a batch message names, each checked like a single message (all or none)."""
    items = body.get("partitions")
    if not isinstance(items, list) or not 1 <= len(items) <= BATCH_PARTITIONS:
        raise ValueError(f"a work batch names 1 to {BATCH_PARTITIONS} partitions: {str(body)[:200]}")
    parsed = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError(f"a work batch entry is not an object: {str(item)[:200]}")
        parsed.append((item, *_partition_of(item)))
    return parsed


def is_batch(body: dict[str, Any]) -> bool:
    return "partitions" in body


def describe(body: dict[str, Any]) -> str:
    """What a work message is about, for logs (a batch by its size and first partition)."""
    items = body.get("partitions")
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return f"{len(items)} partitions from {items[0].get('partition')}"
    return str(body.get("partition") or body.get("environment"))


def _sync_one(
    store: WorkPort,
    partition: str,
    marker: Marker | None,
    clock: Clock,
    redelivered: bool,
    *,
    scheduled: bool = True,
    item: dict[str, Any] | None = None,
) -> tuple[SyncReport, Action]:
    """Sync one partition and say what is left: a first delivery that found nothing to apply is a
    duplicate (requests touching a popular product each name it): the visit that applied its lines
    queued their aggregation (or, if it crashed first, its own message comes back), so this one only
    clears its marker. A redelivery always queues the aggregation: the crashed visit may have committed.

    `scheduled`: a single message keeps one aggregate message per partition waiting (its schedule);
    a batch does not: its partitions share one aggregate message, and a partition named by two
    batches in one window costs its second aggregate visit a read, less than a schedule's insert
    and delete on every visit."""
    lines = _named_lines(item) if item is not None else None
    if lines is not None and not redelivered and store.all_synced(partition, lines):
        # The request's lines were synced by an earlier message's visit, which queued their
        # aggregation. No query: a visit's one read scans the whole table on Azurite, and after a
        # burst most batch entries of a popular product are such duplicates. The marker stays: it
        # may also stand for lines of a request whose message was lost; that visit's aggregation or
        # the sweep clears it.
        return SyncReport(partitions=1), None
    report = sync_partition(store, partition, clock)
    if not report.finished:
        return report, "retry"
    if report.posted_open and redelivered:
        return report, "aggregate"  # its first attempt may have scheduled it
    if (
        report.posted_open
        and report.lines
        and (not scheduled or store.schedule_once(aggregate_schedule(partition), clock()))
    ):
        return report, "aggregate"
    # Otherwise an aggregate message is already waiting (it reads the lines after its schedule is
    # removed, so after this commit), or there was nothing to apply: the marker stands for nothing.
    return report, "clear" if marker is not None else None


def on_sync_message(
    store: WorkPort,
    queues: WorkSink,
    body: dict[str, Any],
    clock: Clock = _now,
    *,
    redelivered: bool = False,
    aggregate_delay_s: int = 0,
) -> SyncReport:
    """Sync the message's partition(s), then hand them to aggregation (after `aggregate_delay_s`, so
    one aggregated line collects the lines of that window)."""
    if is_batch(body):
        return _on_sync_batch(store, queues, body, clock, redelivered, aggregate_delay_s)
    partition, marker = _partition_of(body)
    report, action = _sync_one(store, partition, marker, clock, redelivered)
    if action == "retry":
        queues.put("sync", [body], delay_s=RETRY_DELAY_S)
    elif action == "aggregate":
        queues.put("aggregate", [body], delay_s=aggregate_delay_s)
    elif action == "clear" and marker is not None:
        store.clear_pending(marker)
    return report


def _visit_all(
    items: list[tuple[dict[str, Any], str, Marker | None]],
    visit: Callable[[str, Marker | None, dict[str, Any]], tuple[Any, Action]],
    work: str,
) -> list[tuple[dict[str, Any], Marker | None, Any, Action]]:
    """Visit a batch's partitions side by side; one that fails is split off ("alone") so the rest go on."""

    def one(item: dict[str, Any], partition: str, marker: Marker | None) -> tuple[Any, ...]:
        try:
            return (item, marker, *visit(partition, marker, item))
        except Exception:
            log.warning("%s of %s failed in a batch; it is queued again on its own", work, partition, exc_info=True)
            return item, marker, None, "alone"

    return list(in_parallel(one, list(items)))


def _finish_batch(
    store: WorkPort,
    queues: WorkSink,
    work: str,
    results: list[tuple[dict[str, Any], Marker | None, Any, Action]],
    next_work: tuple[str, int] | None = None,
) -> None:
    """Queue what the visits left, a message per kind, then clear the finished markers together.

    A partition that failed goes back as a message of its own: it fails alone from then on, reaches
    the poison queue alone after `maxDequeueCount`, and blocks nothing else. A crash in between is
    harmless: the host redelivers the whole batch, and every visit is an apply-once commit."""
    by_action: dict[Action, list[dict[str, Any]]] = {}
    for item, _, _, action in results:
        by_action.setdefault(action, []).append(item)
    if "alone" in by_action:
        queues.put(work, by_action["alone"])  # its own failures are then spaced by the host's visibilityTimeout
    if "retry" in by_action:
        queues.put(work, work_batches(by_action["retry"]), delay_s=RETRY_DELAY_S)
    if next_work is not None and "aggregate" in by_action:
        queues.put(next_work[0], work_batches(by_action["aggregate"]), delay_s=next_work[1])
    store.clear_pending_many([m for _, m, _, action in results if action == "clear" and m is not None])


def _on_sync_batch(
    store: WorkPort, queues: WorkSink, body: dict[str, Any], clock: Clock, redelivered: bool, aggregate_delay_s: int
) -> SyncReport:
    results = _visit_all(
        _batch_items(body),
        lambda partition, marker, item: _sync_one(
            store, partition, marker, clock, redelivered, scheduled=False, item=item
        ),
        "sync",
    )
    _finish_batch(store, queues, "sync", results, next_work=("aggregate", aggregate_delay_s))
    total = SyncReport()
    for _, _, report, _ in results:
        if report is not None:
            total.partitions += report.partitions
            total.lines += report.lines
            total.posted_open += report.posted_open
            total.finished &= report.finished
            total.synced_ids |= report.synced_ids
    return total


CLOSED_CHECK_LINES = 20
"""A batch entry naming at most this many lines checks them by point reads before its aggregate visit."""


def _aggregate_one(
    store: WorkPort,
    partition: str,
    marker: Marker | None,
    mapping: JournalMapping,
    clock: Clock,
    *,
    batch: bool = False,
    item: dict[str, Any] | None = None,
) -> tuple[AggregateReport, Action]:
    """`batch`: the partition came in a batch, which marked it for sending already and whose sync
    scheduled nothing to remove.

    A batch entry whose lines an earlier aggregate visit already took (a popular product is named
    by many requests; the first visit after the delay aggregates all of their posted lines) costs
    point reads, not the visit's query, which scans the whole table on Azurite. Its marker stays, as
    for a sync duplicate: a sync visit commits 48 lines a transaction, so the visit that took these
    lines may have run before the rest of that sync was posted; the marker keeps those lines with a
    later visit (the visit of a newer entry, or the minute sweep)."""
    report = AggregateReport()
    lines = _named_lines(item) if item is not None else None
    if batch and lines is not None and len(lines) <= CLOSED_CHECK_LINES and store.all_closed(partition, lines):
        report.partitions += 1
        return report, None
    if not batch:
        store.unschedule(aggregate_schedule(partition))  # lines posted from now on schedule the next visit
    finished = aggregate_partition(store, partition, mapping, clock, report, send_marked=batch)
    if not finished:
        return report, "retry"
    return report, "clear" if marker is not None else None  # refused (kept) if new lines arrived since


def on_aggregate_message(
    store: WorkPort,
    queues: WorkSink,
    body: dict[str, Any],
    mapping: JournalMapping,
    schedule_send: Callable[[str], None],
    clock: Clock = _now,
) -> AggregateReport:
    if is_batch(body):
        return _on_aggregate_batch(store, queues, body, mapping, schedule_send, clock)
    partition, marker = _partition_of(body)
    report, action = _aggregate_one(store, partition, marker, mapping, clock)
    if report.to_send:
        schedule_send(split_partition(partition)[0])
    if action == "retry":
        queues.put("aggregate", [body], delay_s=RETRY_DELAY_S)
    elif action == "clear" and marker is not None:
        store.clear_pending(marker)
    return report


def _on_aggregate_batch(
    store: WorkPort,
    queues: WorkSink,
    body: dict[str, Any],
    mapping: JournalMapping,
    schedule_send: Callable[[str], None],
    clock: Clock,
) -> AggregateReport:
    items = _batch_items(body)
    # Marked before any aggregated line exists (as a single visit does), in one transaction for the batch.
    store.mark_pending([partition for _, partition, _ in items], clock(), SEND_WORK)
    results = _visit_all(
        items,
        lambda partition, marker, item: _aggregate_one(store, partition, marker, mapping, clock, batch=True, item=item),
        "aggregate",
    )
    total = AggregateReport()
    environments: set[str] = set()
    for item, _, report, _ in results:
        if report is not None:
            total.partitions += report.partitions
            total.lines += report.lines
            total.aggregated += report.aggregated
            total.to_send += report.to_send
            if report.to_send:
                environments.add(split_partition(item["partition"])[0])
    for environment_id in sorted(environments):
        schedule_send(environment_id)
    _finish_batch(store, queues, "aggregate", results)
    return total


@dataclass
class SweepReport:
    partitions: int = 0
    lines: int = 0
    aggregated: int = 0
    left: int = 0
    """Markers not visited because the time budget ran out (the next run takes them first)."""


def sweep_ledger(
    store: WorkPort,
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
    # A product marked in several shards (a popular one: each request marks its own shard) is
    # visited once for all of them: one visit sees every line their requests wrote, since each line
    # is stored before its marker, and two visits side by side would only collide.
    by_partition: dict[str, list[Marker]] = {}
    for marker in markers:  # oldest first, and so are the groups
        by_partition.setdefault(marker.partition, []).append(marker)
    report = SweepReport()

    def visit(partition: str, group: list[Marker]) -> tuple[int, int, bool] | None:
        if monotonic() > deadline:
            return None
        synced = sync_partition(store, partition, clock)
        aggregated = AggregateReport()
        # The sync visit's one query also counted the posted lines: with none open there is nothing to
        # aggregate, and most markers the messages leave (duplicates keep theirs) are such.
        finished = synced.finished and (
            not synced.posted_open or aggregate_partition(store, partition, mapping, clock, aggregated)
        )
        if aggregated.to_send:
            schedule_send(split_partition(partition)[0])
        if finished:
            store.clear_pending_many(group)
        return synced.lines, aggregated.lines, finished

    groups = list(by_partition.items())
    for (_, group), result in zip(groups, in_parallel(visit, groups), strict=True):
        if result is None:
            report.left += len(group)
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
