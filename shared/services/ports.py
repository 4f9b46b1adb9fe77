"""The storage ports services depend on, as `typing.Protocol`s.

Each protocol is one concern: ids, a partition's lines and cache, its aggregated lines, and the
pending-work index; `LedgerPort` is what a partition visit needs of all of them. On Table Storage
each is its own repository (shared/adapters/line_ids.py, partition_ledger.py, aggregated_lines.py,
pending_index.py) and `shared.adapters.ledger_tables.LedgerStore` composes them; unit tests use
small in-memory fakes (tests/unit/fakes.py). Ports speak domain types
(shared/domain/ledger_records.py): services never build table entities or row keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.aggregation import AggregateGroup, DetailedLine
from shared.domain.cache import CacheChange, CacheRow, PendingLine
from shared.domain.ledger_records import (
    AggregatedLine,
    AggregatedUpdate,
    IdRecord,
    NewLine,
    OffsetCandidate,
    OpenEntries,
    ProductRow,
    StoredLine,
)

if TYPE_CHECKING:
    from shared.adapters.pending_index import Marker


class IdRepository(Protocol):
    def reserve_ids(self, environment_id: str, records: list[IdRecord]) -> dict[str, IdRecord]: ...
    def find_id(self, environment_id: str, line_id: str) -> IdRecord | None: ...


class PartitionRepository(Protocol):
    """A ledger partition's lines and cache rows."""

    def add_lines(self, lines: list[NewLine]) -> None:
        """Store new lines as `Created`; lines already stored (anywhere) are left as they are."""

    def line_status(self, partition: str, line_id: str) -> str | None:
        """A stored line's status; None if it is not stored."""

    def get_line(self, partition: str, line_id: str) -> dict[str, Any] | None: ...
    def open_entries(self, partition: str) -> OpenEntries: ...
    def all_synced(self, partition: str, line_ids: list[str]) -> bool: ...
    def created_lines(self, partition: str, limit: int) -> list[PendingLine]: ...
    def moved_on(self, partition: str, line_ids: list[str]) -> set[str]:
        """Those of the lines whose record has already left the open range (aggregated or finished)."""
        ...

    def discard_open(self, partition: str, lines: list[PendingLine]) -> None:
        """Delete these open records, each only if unchanged since read (a late copy of a line)."""
        ...

    def cache_rows(self, partition: str) -> dict[str, CacheRow]: ...
    def commit_changes(
        self, partition: str, rows: list[CacheRow], changes: list[CacheChange], at: datetime
    ) -> dict[str, str]: ...
    def get_entity(self, partition: str, row_key: str) -> dict[str, Any] | None: ...


class CacheIndex(Protocol):
    """The cache rows of an environment, for index queries."""

    def product_rows(self, environment_id: str, partitions: list[str] | None) -> Iterator[ProductRow]: ...


class LineReader(Protocol):
    """Stored lines for the read API: one by id (through its id record), or a page of an environment's."""

    def find_id(self, environment_id: str, line_id: str) -> IdRecord | None: ...
    def stored_line(self, partition: str, line_id: str) -> StoredLine | None: ...
    def stored_lines(
        self, environment_id: str, filters: dict[str, Any], page_size: int, token: str | None
    ) -> tuple[list[StoredLine], str | None]: ...


class AggregatedRepository(Protocol):
    def posted_lines(self, partition: str, limit: int) -> tuple[list[DetailedLine], list[tuple[str, str]]]: ...
    def all_closed(self, partition: str, line_ids: list[str]) -> bool: ...
    def finish_aggregated(self, partition: str, members: list[tuple[str, str]], at: datetime) -> None: ...
    def has_open_lines(self, partition: str) -> bool: ...
    def close_open(self, partition: str, lines: list[DetailedLine]) -> None: ...
    def commit_aggregation(self, partition: str, groups: list[AggregateGroup], at: datetime) -> bool:
        """True if the members' line records were finished in the same transaction (no
        `finish_aggregated` needed for them): a visit small enough for one transaction."""
        ...


class SendingRepository(Protocol):
    """Aggregated lines as sending and the ERP's answers read and change them."""

    def waiting_lines(self, partition: str, statuses: tuple[str, ...]) -> list[AggregatedLine]: ...
    def aggregated_line(self, partition: str, aggregated_id: str) -> AggregatedLine | None: ...
    def lines_of_journal(self, environment_id: str, journal_id: str) -> list[AggregatedLine]: ...
    def find_aggregated_line(self, environment_id: str, aggregated_id: str) -> AggregatedLine | None: ...
    def apply_updates(self, updates: list[AggregatedUpdate]) -> None: ...


class PendingWork(Protocol):
    def mark_pending(
        self, partitions: Iterable[str], at: datetime, kind: str = ..., shard: int | None = None
    ) -> list[Marker]: ...
    def pending_markers(
        self, kind: str = ..., touched_before: datetime | None = None, environment_id: str | None = None
    ) -> list[Marker]: ...
    def clear_pending(self, marker: Marker) -> bool: ...
    def clear_pending_many(self, markers: Iterable[Marker]) -> None: ...
    def schedule_once(self, name: str, at: datetime) -> bool: ...
    def unschedule(self, name: str) -> None: ...
    def stale_schedules(self, before: datetime, prefix: str = "") -> list[str]: ...


class Leases(Protocol):
    """One holder at a time for work that must not overlap (sending an environment)."""

    def acquire_lease(self, name: str, holder: str, now: datetime, seconds: int) -> str | None: ...
    def release_lease(self, name: str, etag: str) -> None: ...


class JournalLog(Protocol):
    """The record of each journal sent (and which are still in flight)."""

    def start(self, environment_id: str, journal_id: str, properties: dict[str, Any], at: datetime) -> None: ...
    def finish(
        self,
        environment_id: str,
        journal_id: str,
        state: str,
        erp_number: str | None,
        message: str | None,
        at: datetime,
    ) -> None: ...
    def inflight(self) -> list[tuple[str, str]]: ...
    def get(self, environment_id: str, journal_id: str) -> dict[str, Any] | None: ...


class OffsetCandidates(Protocol):
    """Aggregated lines whose offset or ERP on-hand change is still open (stored columns, with `_etag`)."""

    def offset_candidates(self, partition: str, statuses: tuple[str, ...]) -> list[OffsetCandidate]: ...
    def finish_posted(self, partition: str) -> int:
        """Aggregated lines posted, with nothing left to apply, leave the open ledger; how many did."""
        ...


class OffsetPort(IdRepository, PartitionRepository, OffsetCandidates, PendingWork, Protocol):
    """What offsets and ERP transactions need: ids, the partitions' cache, open offsets, work markers."""


class AnswerPort(SendingRepository, PendingWork, Protocol):
    """What applying the ERP's answer needs: the aggregated lines, and markers for the work it makes."""


class SendPort(SendingRepository, PendingWork, Leases, Protocol):
    """What sending an environment needs: its aggregated lines, its markers and its lease."""


class ChangePort(IdRepository, PartitionRepository, Protocol):
    """What recording changes once needs (on-hand events): their ids, and the partitions' cache rows."""


class SnapshotPort(IdRepository, PartitionRepository, PendingWork, Protocol):
    """What a level snapshot needs: its events recorded once, and level work marked."""


class SyncPort(PartitionRepository, PendingWork, Protocol):
    """What syncing marked partitions needs: their lines and cache rows, and their markers."""


class IngestPort(IdRepository, PartitionRepository, PendingWork, Protocol):
    """What ingest needs: each id once, the lines stored, markers for the work."""


class AggregatePort(AggregatedRepository, PendingWork, Protocol):
    """What aggregation needs: the posted lines and their aggregated lines, and send markers."""


class WorkPort(PartitionRepository, AggregatedRepository, PendingWork, Protocol):
    """What queue-driven work and the sweep need: sync, aggregation and the markers, no ids."""


class LedgerPort(IdRepository, PartitionRepository, AggregatedRepository, PendingWork, Protocol):
    """Everything of the ledger (one Table Storage adapter implements it): approval ingests and syncs."""


class WorkSink(Protocol):
    """Where work messages go (Azure Storage queues in the app)."""

    def put(self, work: str, bodies: Iterable[dict[str, Any]], delay_s: int = 0) -> int: ...
