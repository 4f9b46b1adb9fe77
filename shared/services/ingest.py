"""Store bulk adjustment lines once, with their source reference and status.

Order of writes: id records (the environment-wide idempotency authority), then the lines (each with
its open entry), then the pending-work markers, then one `sync` message per touched partition. A
crash after the id records leaves ids without lines; the client's retry of the same request sees
`duplicate`, finds the line missing and writes it (repair), and re-marks the partition — so a
retried request always ends with every line stored and queued once. A lost message only delays a
partition until the timer sweep finds its marker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.adapters.ledger_keys import LEDGER_WORK, ledger_partition, line_key
from shared.adapters.ledger_tables import IdRecord
from shared.domain.adjustments import AdjustmentLine
from shared.domain.quantities import canonical
from shared.services.outcomes import LineOutcome, split_repeats
from shared.services.partition_work import queue_markers
from shared.services.ports import LedgerPort, WorkSink
from shared.services.sync import sync_partition
from shared.telemetry import stage


def line_entity(environment_id: str, line: AdjustmentLine, fingerprint: str, now: datetime) -> dict[str, Any]:
    content = line.content()
    return {
        "PartitionKey": ledger_partition(environment_id, line.organizationId, line.productId),
        "RowKey": line_key(line.id),
        "LineId": line.id,
        "EnvironmentId": environment_id,
        "OrganizationId": line.organizationId,
        "ProductId": line.productId,
        "DataSource": line.quantityDataSource,
        "Measure": line.physicalMeasure,
        "Dimensions": json.dumps(line.dimensions, sort_keys=True),
        "Quantity": canonical(line.quantity),
        "ExternalReferenceCategory": line.externalReferenceCategory,
        "ExternalReferenceId": line.externalReferenceId,
        "JournalNameId": line.fnoJournalNameId,
        "CostPrice": None if line.costPrice is None else canonical(line.costPrice),
        "TransDate": None if line.transDate is None else line.transDate.isoformat(),
        "Fingerprint": fingerprint,
        "Payload": json.dumps(content, sort_keys=True),
        "InstantSync": line.createWithIVSync,
        "Status": "Created",
        "CreatedAt": now,
    }


def ingest(
    store: LedgerPort,
    environment_id: str,
    lines: list[AdjustmentLine],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    queues: WorkSink | None = None,
) -> list[LineOutcome]:
    with stage("ingest", environment=environment_id, lines=len(lines)):
        now = clock()
        outcomes, fresh = split_repeats(lines, lambda line: line.id, lambda line: line.fingerprint())

        records = [
            IdRecord(line.id, ledger_partition(environment_id, line.organizationId, line.productId), fp)
            for _, line, fp in fresh
        ]
        existing = store.reserve_ids(environment_id, records)

        to_create: list[dict[str, Any]] = []
        repair_candidates: list[tuple[int, AdjustmentLine, str]] = []
        for index, line, fingerprint in fresh:
            stored = existing.get(line.id)
            if stored is None:
                to_create.append(line_entity(environment_id, line, fingerprint, now))
                outcomes[index] = LineOutcome(index, line.id, "created", "Created")
            elif stored.fingerprint != fingerprint:
                current = store.get_line(stored.ledger_partition, line.id)
                outcomes[index] = LineOutcome(
                    index,
                    line.id,
                    "conflict",
                    current["Status"] if current else None,
                    "this id was stored earlier with other content; it was not applied",
                )
            else:
                repair_candidates.append((index, line, fingerprint))

        touched: set[str] = {e["PartitionKey"] for e in to_create}
        for index, line, fingerprint in repair_candidates:
            entity = line_entity(environment_id, line, fingerprint, now)
            current = store.get_line(entity["PartitionKey"], line.id)
            if current is None:
                to_create.append(entity)
                status = "Created"
            else:
                status = current["Status"]
            if status == "Created":
                touched.add(entity["PartitionKey"])
            outcomes[index] = LineOutcome(index, line.id, "duplicate", status)

        store.create_lines(to_create)
        markers = store.mark_pending(touched, now, LEDGER_WORK) if touched else []

        instant = {
            ledger_partition(environment_id, line.organizationId, line.productId)
            for line in lines
            if line.createWithIVSync
        }
        synced: set[str] = set()
        for partition in sorted(instant):
            synced |= sync_partition(store, partition, clock).synced_ids
        queue_markers(queues, markers)
        for index, outcome in outcomes.items():
            if outcome.id in synced and outcome.outcome != "conflict":
                outcomes[index] = LineOutcome(index, outcome.id, outcome.outcome, "IVPosted", outcome.message)
        return [outcomes[i] for i in range(len(lines))]
