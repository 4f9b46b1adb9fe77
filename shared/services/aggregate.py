"""Timer use case: `IVPosted` lines with the same ERP key become one aggregated line.

Each transaction creates the aggregated lines and flips their members to `Aggregated` in one
partition, so the sum of detailed lines always equals the sum of aggregated lines (conservation),
whatever crashes: either the whole transaction happened or none of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.adapters.ledger_tables import AGGREGATE_WORK, ConcurrencyConflict, LedgerStore
from shared.domain.aggregation import JournalMapping, plan_aggregation

log = logging.getLogger(__name__)
MAX_CONFLICTS = 20
PAGE = 99


@dataclass
class AggregateReport:
    partitions: int = 0
    lines: int = 0
    aggregated: int = 0


def aggregate_partition(store: LedgerStore, partition: str, mapping: JournalMapping,
                        clock: Callable[[], datetime], report: AggregateReport) -> None:
    mapped = sorted(tuple(k.split("/", 1)) for k in mapping.targets)  # type: ignore[misc]
    conflicts = 0
    while True:
        lines = store.posted_lines(partition, mapped, limit=PAGE)
        if not lines:
            return
        groups, _ = plan_aggregation(lines, mapping)
        try:
            store.commit_aggregation(partition, groups, clock())
        except ConcurrencyConflict:
            conflicts += 1
            if conflicts > MAX_CONFLICTS:
                log.warning("aggregation of %s gave up after %d conflicts", partition, conflicts)
                return
            continue
        report.lines += sum(len(g.lines) for g in groups)
        report.aggregated += len(groups)
        if sum(len(g.lines) for g in groups) == len(lines) < PAGE:
            return  # a short page, all aggregated: nothing left to read


def aggregate_pending(store: LedgerStore, mapping: JournalMapping,
                      clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> AggregateReport:
    report = AggregateReport()
    for partition, etag in store.pending_partitions(AGGREGATE_WORK):
        aggregate_partition(store, partition, mapping, clock, report)
        report.partitions += 1
        store.clear_pending(partition, etag, AGGREGATE_WORK)
    log.info("aggregate: %d lines into %d aggregated lines in %d partitions", report.lines, report.aggregated,
             report.partitions)
    return report
