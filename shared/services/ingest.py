"""Store bulk adjustment lines once, with their source reference and status.

Order of writes: id records (the environment-wide idempotency authority), then the lines (one open
record each), then the pending-work markers, then `sync` messages naming every touched partition. A
crash after the id records leaves ids without lines; the client's retry of the same request sees
`duplicate`, finds the line missing and writes it (repair), and re-marks the partition — so a
retried request always ends with every line stored and queued once. A lost message only delays a
partition until the timer sweep finds its marker.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.adapters import partition_ledger
from shared.adapters.ledger_keys import LEDGER_WORK, ledger_partition
from shared.domain.adjustments import AdjustmentLine
from shared.domain.ledger_records import IdRecord, NewLine
from shared.services.outcomes import LineOutcome, split_repeats
from shared.services.partition_work import queue_markers
from shared.services.ports import IngestPort, WorkSink
from shared.services.sync import sync_partition
from shared.telemetry import stage


def line_entity(environment_id: str, line: AdjustmentLine, fingerprint: str, now: datetime) -> dict[str, Any]:
    """The entity ingest stores for a new line, shaped by the adapter (bench/ scripts write it raw to compare)."""
    partition = ledger_partition(environment_id, line.organizationId, line.productId)
    return partition_ledger.line_entity(NewLine(environment_id, partition, line, fingerprint, now))


def ingest(
    store: IngestPort,
    environment_id: str,
    lines: list[AdjustmentLine],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    queues: WorkSink | None = None,
) -> list[LineOutcome]:
    with stage("ingest", environment=environment_id, lines=len(lines)):
        now = clock()
        outcomes, fresh = split_repeats(lines, lambda line: line.id, lambda line: line.fingerprint())

        def partition_of(line: AdjustmentLine) -> str:
            return ledger_partition(environment_id, line.organizationId, line.productId)

        records = [IdRecord(line.id, partition_of(line), fp) for _, line, fp in fresh]
        existing = store.reserve_ids(environment_id, records)

        to_create: list[NewLine] = []
        repair_candidates: list[tuple[int, AdjustmentLine, str]] = []
        for index, line, fingerprint in fresh:
            stored = existing.get(line.id)
            if stored is None:
                to_create.append(NewLine(environment_id, partition_of(line), line, fingerprint, now))
                outcomes[index] = LineOutcome(index, line.id, "created", "Created")
            elif stored.fingerprint != fingerprint:
                outcomes[index] = LineOutcome(
                    index,
                    line.id,
                    "conflict",
                    store.line_status(stored.ledger_partition, line.id),
                    "this id was stored earlier with other content; it was not applied",
                )
            else:
                repair_candidates.append((index, line, fingerprint))

        touched: set[str] = {new.partition for new in to_create}
        named: dict[str, list[str]] = {}
        for index, line, fingerprint in repair_candidates:
            partition = partition_of(line)
            status = store.line_status(partition, line.id)
            if status is None:  # the id was reserved by a request that died before storing the line
                to_create.append(NewLine(environment_id, partition, line, fingerprint, now))
                status = "Created"
            elif status == "Created":  # stored by an earlier attempt, still waiting for its sync
                named.setdefault(partition, []).append(line.id)
            if status == "Created":
                touched.add(partition)
            outcomes[index] = LineOutcome(index, line.id, "duplicate", status)

        for new_line in to_create:
            named.setdefault(new_line.partition, []).append(new_line.line.id)
        store.add_lines(to_create)
        markers = store.mark_pending(touched, now, LEDGER_WORK) if touched else []

        instant = {partition_of(line) for line in lines if line.createWithIVSync}
        synced: set[str] = set()
        for partition in sorted(instant):
            synced |= sync_partition(store, partition, clock).synced_ids
        queue_markers(queues, markers, named)
        for index, outcome in outcomes.items():
            if outcome.id in synced and outcome.outcome != "conflict":
                outcomes[index] = LineOutcome(index, outcome.id, outcome.outcome, "IVPosted", outcome.message)
        return [outcomes[i] for i in range(len(lines))]
