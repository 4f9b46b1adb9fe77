"""A late copy of a line that has moved on never reaches the cache twice (sync against in-memory fakes).

An open line is one entity (its record under `D|`), which the aggregation moves out of the open
range; a write that lands after that move (an ingest attempt storage applied but whose answer was
lost, retried after a backoff) finds the key free and creates the record again. Sync must find such
copies before it applies anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from shared.adapters.ledger_keys import ledger_partition
from shared.adapters.partition_ledger import line_entity
from shared.domain.aggregation import JournalMapping
from shared.domain.ledger_records import NewLine
from shared.services.aggregate import aggregate_pending
from shared.services.ingest import ingest
from shared.services.sync import sync_pending
from tests.unit.fakes import InMemoryLedger
from tests.unit.test_ingest_service import lines

ENV = "env-unit"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
MAPPING = JournalMapping(targets={"pos/sold": {"journal_type": "adjustment", "target_status": "Posted"}})
UNMAPPED = JournalMapping(targets={})


def clock() -> datetime:
    return NOW


def _late_copy(store: InMemoryLedger, line_id: str, product: str, quantity: str) -> str:
    """The record an ingest attempt wrote again after the line moved on (what `add_lines` stores)."""
    (line,) = lines((line_id, product, quantity))
    partition = ledger_partition(ENV, "usmf", product)
    entity = line_entity(NewLine(ENV, partition, line, line.fingerprint(), NOW))
    store.partitions[partition][entity["RowKey"]] = entity | {"_etag": "late"}
    store.mark_pending([partition], NOW)
    return partition


def _onhand(store: InMemoryLedger, partition: str) -> Decimal:
    return sum(
        (Decimal(row.quantities["pos"]["sold"]) for row in store.cache_rows(partition, record=False).values()),
        Decimal(0),
    )


def test_a_late_copy_of_an_aggregated_line_is_discarded_unapplied() -> None:
    store = InMemoryLedger()
    ingest(store, ENV, lines(("a", "P1", "2"), ("b", "P1", "3")), clock)
    sync_pending(store, clock)
    aggregate_pending(store, MAPPING, clock)
    partition = _late_copy(store, "a", "P1", "2")

    report = sync_pending(store, clock)

    assert report.lines == 0
    assert _onhand(store, partition) == 5, "each line once in the cache"
    assert not store.has_open_lines(partition), "the copy is gone"
    assert store.get_line(partition, "a")["Status"] == "Aggregated", "the line itself is untouched"


def test_a_late_copy_of_a_line_closed_without_a_journal_is_discarded_too() -> None:
    store = InMemoryLedger()
    ingest(store, ENV, lines(("a", "P1", "2")), clock)
    sync_pending(store, clock)
    aggregate_pending(store, UNMAPPED, clock)  # no journal takes pos/sold: the line is closed as it is
    partition = _late_copy(store, "a", "P1", "2")

    sync_pending(store, clock)

    assert _onhand(store, partition) == 2
    assert not store.has_open_lines(partition)


def test_new_lines_beside_a_late_copy_are_applied() -> None:
    store = InMemoryLedger()
    ingest(store, ENV, lines(("a", "P1", "2")), clock)
    sync_pending(store, clock)
    aggregate_pending(store, MAPPING, clock)
    partition = _late_copy(store, "a", "P1", "2")
    ingest(store, ENV, lines(("c", "P1", "7")), clock)

    report = sync_pending(store, clock)

    assert report.lines == 1 and report.synced_ids == {"c"}
    assert _onhand(store, partition) == 9
