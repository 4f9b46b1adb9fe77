"""The storage ports services depend on, as `typing.Protocol`s.

`shared.adapters.ledger_tables.LedgerStore` implements them on Table Storage; unit tests use small
in-memory fakes. Each protocol is one concern: ids, a partition's lines and cache, its aggregated
lines, and the pending-work index; `LedgerPort` is what a partition visit needs of all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.aggregation import AggregateGroup, DetailedLine
from shared.domain.cache import CacheChange, CacheRow, PendingLine

if TYPE_CHECKING:
    from shared.adapters.ledger_tables import IdRecord, Marker, OpenEntries


class IdRepository(Protocol):
    def reserve_ids(self, environment_id: str, records: list[IdRecord]) -> dict[str, IdRecord]: ...
    def find_id(self, environment_id: str, line_id: str) -> IdRecord | None: ...


class PartitionRepository(Protocol):
    """A ledger partition's lines, open entries and cache rows."""

    def create_lines(self, entities: list[dict[str, Any]]) -> None: ...
    def get_line(self, partition: str, line_id: str) -> dict[str, Any] | None: ...
    def open_entries(self, partition: str) -> OpenEntries: ...
    def created_lines(self, partition: str, limit: int) -> list[PendingLine]: ...
    def cache_rows(self, partition: str) -> dict[str, CacheRow]: ...
    def commit_changes(self, partition: str, rows: list[CacheRow], changes: list[CacheChange],
                       at: datetime) -> dict[str, str]: ...
    def get_entity(self, partition: str, row_key: str) -> dict[str, Any] | None: ...


class AggregatedRepository(Protocol):
    def posted_lines(self, partition: str, limit: int) -> tuple[list[DetailedLine], list[tuple[str, str]]]: ...
    def finish_aggregated(self, partition: str, members: list[tuple[str, str]], at: datetime) -> None: ...
    def has_open_lines(self, partition: str) -> bool: ...
    def close_open(self, partition: str, lines: list[DetailedLine]) -> None: ...
    def commit_aggregation(self, partition: str, groups: list[AggregateGroup], at: datetime) -> None: ...


class PendingWork(Protocol):
    def mark_pending(self, partitions: Iterable[str], at: datetime, kind: str = ...,
                     shard: int | None = None) -> list[Marker]: ...
    def pending_markers(self, kind: str = ..., touched_before: datetime | None = None,
                        environment_id: str | None = None) -> list[Marker]: ...
    def clear_pending(self, marker: Marker) -> bool: ...


class LedgerPort(IdRepository, PartitionRepository, AggregatedRepository, PendingWork, Protocol):
    """Everything a partition visit touches (one Table Storage adapter implements it)."""


class WorkSink(Protocol):
    """Where work messages go (Azure Storage queues in the app)."""

    def put(self, work: str, bodies: Iterable[dict[str, Any]], delay_s: int = 0) -> int: ...
