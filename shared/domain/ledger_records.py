"""What services hand to, and get back from, the ledger's repositories: domain shapes, no storage keys.

The repositories (shared/adapters/line_ids.py, partition_ledger.py, aggregated_lines.py) turn these
into table entities; only they and shared/adapters/ledger_keys.py know PartitionKey/RowKey layouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.adjustments import AdjustmentLine
from shared.domain.cache import CacheRow, PendingLine, Quantities
from shared.domain.journals import JournalType, TargetStatus


@dataclass(frozen=True)
class IdRecord:
    """An id's claim in its environment: which ledger partition holds it, and its content's fingerprint."""

    line_id: str
    ledger_partition: str
    fingerprint: str


@dataclass(frozen=True)
class OpenEntries:
    """A partition's cache rows and open lines, read in one query."""

    rows: dict[str, CacheRow]
    created: list[PendingLine]
    posted: int


@dataclass(frozen=True)
class StoredLine:
    """A stored adjustment line as the read API shows it: its content as posted, status and status times."""

    content: dict[str, Any]
    status: str
    created_at: datetime | None = None
    iv_posted_at: datetime | None = None
    aggregated_at: datetime | None = None
    aggregated_line_id: str | None = None


@dataclass(frozen=True)
class ProductRow:
    """One cache row with the product it belongs to (index queries sum these)."""

    organization_id: str
    product_id: str
    dimensions: dict[str, str]
    quantities: Quantities


@dataclass(frozen=True)
class NewLine:
    """An adjustment line to store as `Created` in `partition` (the adapter shapes its entity)."""

    environment_id: str
    partition: str
    line: AdjustmentLine
    fingerprint: str
    created_at: datetime


@dataclass(frozen=True)
class AggregatedLine:
    """An aggregated line (one journal line) as sending and the ERP's answers see it."""

    partition: str
    aggregated_id: str
    status: str
    organization_id: str
    product_id: str
    journal_type: JournalType
    journal_name_id: str
    target_status: TargetStatus
    erp_key: str
    """The journal key as JSON (dimensions, transDate, costPrice): shared/domain/aggregation.py."""
    quantity: str
    attempts: int = 0
    retries: int = 0
    journal_id: str | None = None
    journal_line_number: int | None = None
    next_attempt_at: datetime | None = None
    late_answers: str | None = None
    erp_onhand: str | None = None
    message: str | None = None
    waiting_for_person: bool = False


@dataclass(frozen=True)
class AggregatedUpdate:
    """What changes on an aggregated line; fields left None stay as stored (a merge)."""

    partition: str
    aggregated_id: str
    status: str | None = None
    status_at: datetime | None = None
    journal_id: str | None = None
    journal_line_number: int | None = None
    sent_at: datetime | None = None
    attempts: int | None = None
    erp_journal_number: str | None = None
    erp_line_number: str | None = None
    erp_onhand: str | None = None
    on_hand: str | None = None
    """`open` while the ERP's posted on-hand change still has to reach the cache."""
    message: str | None = None
    next_attempt_at: datetime | None = None
    waiting_for_person: bool | None = None
    late_answers: str | None = None


@dataclass(frozen=True)
class OffsetCandidate:
    """An aggregated line whose offset or ERP on-hand change may be due: what offsets read of it.

    `marker_key` is opaque to services: the change that applies the offset writes it back as its
    marker, guarded by `etag`, so a repeated answer or a concurrent run finds the offset done."""

    marker_key: str
    etag: str
    erp_key: dict[str, Any]
    status: str
    quantity: str
    offset: str | None
    on_hand: str | None
    erp_on_hand: dict[str, dict[str, str]] | None
