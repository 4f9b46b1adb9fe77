"""`IVPosted` lines with the same ERP key become one aggregated line.

Each transaction creates the aggregated lines and moves their members' open records out of the
open range (or, for a visit too big for one transaction, marks them `Aggregated`), in one
partition, so the sum of detailed lines always equals the sum of aggregated lines (conservation),
whatever crashes: either the whole transaction happened or none. Marked records move afterwards
(repeatable, finished by any later visit).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.adapters.ledger_keys import LEDGER_WORK, SEND_WORK
from shared.adapters.ledger_tables import ConcurrencyConflict
from shared.domain.aggregation import JournalMapping, plan_aggregation
from shared.services.ports import AggregatePort
from shared.telemetry import stage

log = logging.getLogger(__name__)
MAX_CONFLICTS = 20
PAGE = 200


@dataclass
class AggregateReport:
    partitions: int = 0
    lines: int = 0
    aggregated: int = 0
    to_send: int = 0
    """Aggregated lines created with status `Created`: a journal must be sent."""


def aggregate_partition(
    store: AggregatePort,
    partition: str,
    mapping: JournalMapping,
    clock: Callable[[], datetime],
    report: AggregateReport,
    *,
    send_marked: bool = False,
) -> bool:
    """Aggregate every `IVPosted` line of the partition; False if contention left some to a retry.

    `send_marked`: the caller has already marked the partition for sending (a batch marks all its
    partitions in one transaction)."""
    with stage("aggregate", partition=partition):
        report.partitions += 1
        conflicts = 0
        while True:
            lines, members = store.posted_lines(partition, limit=PAGE)
            if not lines and not members:
                return True
            groups, unmapped = plan_aggregation(lines, mapping)
            try:
                if unmapped:
                    store.close_open(partition, unmapped)
                if any(g.status == "Created" for g in groups) and not send_marked:
                    # Before the aggregated lines exist: a crash after the commit still leaves them to a send.
                    store.mark_pending([partition], clock(), SEND_WORK)
                    send_marked = True
                finished = bool(groups) and store.commit_aggregation(partition, groups, clock())
                if not finished:
                    members += [(line.line_id, group.aggregated_id) for group in groups for line in group.lines]
                if members:
                    store.finish_aggregated(partition, members, clock())
            except ConcurrencyConflict:
                conflicts += 1
                if conflicts > MAX_CONFLICTS:
                    log.warning("aggregation of %s left to a retry after %d conflicts", partition, conflicts)
                    return False
                continue
            report.lines += sum(len(g.lines) for g in groups)
            report.aggregated += len(groups)
            report.to_send += sum(1 for g in groups if g.status == "Created")
            if sum(len(g.lines) for g in groups) + len(unmapped) == len(lines) and len(lines) + len(members) < PAGE:
                return True  # a short page, all handled: nothing left to read


def aggregate_pending(
    store: AggregatePort,
    mapping: JournalMapping,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    environment_id: str | None = None,
) -> AggregateReport:
    """Aggregate every marked partition now (tests, tools). A marker is cleared only when the
    partition has no open line left: one given up on after conflicts, or with lines still to sync, keeps it."""
    report = AggregateReport()
    for marker in store.pending_markers(LEDGER_WORK, environment_id=environment_id):
        if aggregate_partition(store, marker.partition, mapping, clock, report) and not store.has_open_lines(
            marker.partition
        ):
            store.clear_pending(marker)
    log.info(
        "aggregate: %d lines into %d aggregated lines in %d partitions",
        report.lines,
        report.aggregated,
        report.partitions,
    )
    return report
