"""Small in-memory fakes of the storage ports (shared/services/ports.py), for unit tests of services.

`InMemoryLedger` keeps entities per partition with ETags, so the same guarantees the Table Storage
repositories give hold here: a commit is all or nothing, a create of an existing entity or an
update guarded by a stale ETag is a `ConcurrencyConflict`. It is the fake of the repositories, so
it knows their key layout (ledger_keys); the services under test do not.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.adapters.aggregated_lines import aggregated_line as _aggregated
from shared.adapters.aggregated_lines import new_aggregated_columns, update_columns
from shared.adapters.ledger_base import ConcurrencyConflict
from shared.adapters.ledger_keys import AGGREGATED, CACHE, LEDGER_WORK, LINE, OPEN
from shared.adapters.partition_ledger import line_entity, stored_line
from shared.adapters.pending_index import Marker
from shared.domain.aggregation import AggregateGroup, DetailedLine
from shared.domain.cache import CacheChange, CacheRow, PendingLine
from shared.domain.ledger_records import (
    AggregatedLine,
    AggregatedUpdate,
    IdRecord,
    NewLine,
    OpenEntries,
    ProductRow,
    StoredLine,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Entity = dict[str, Any]


class InMemoryLedger:
    """The ledger's ports in memory: IdRepository, PartitionRepository, LineReader, CacheIndex,
    AggregatedRepository, SendingRepository, PendingWork and Leases (shared/services/ports.py)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str], IdRecord] = {}
        self.partitions: dict[str, dict[str, Entity]] = defaultdict(dict)
        self.markers: dict[tuple[str, int, str], tuple[str, datetime]] = {}
        self.schedules: dict[str, datetime] = {}
        self.leases: dict[str, tuple[str, datetime]] = {}
        self.steps: list[str] = []
        self.finished: dict[tuple[str, str], Entity] = {}
        """Records of lines closed out of the ledger, by (partition, line id): the `finishedlines` table."""
        self._etags = itertools.count(1)

    def _etag(self) -> str:
        return f"W/{next(self._etags)}"

    # ---- IdRepository ------------------------------------------------------------------------
    def reserve_ids(self, environment_id: str, records: list[IdRecord]) -> dict[str, IdRecord]:
        self.steps.append("reserve_ids")
        existing: dict[str, IdRecord] = {}
        for record in records:
            stored = self.ids.setdefault((environment_id, record.line_id), record)
            if stored is not record:
                existing[record.line_id] = stored
        return existing

    def find_id(self, environment_id: str, line_id: str) -> IdRecord | None:
        return self.ids.get((environment_id, line_id))

    # ---- PartitionRepository -----------------------------------------------------------------
    def add_lines(self, lines: list[NewLine]) -> None:
        self.steps.append("create_lines")
        for new in lines:
            entity = line_entity(new)
            rows = self.partitions[new.partition]
            if self.get_line(new.partition, new.line.id) is not None:
                continue
            rows[entity["RowKey"]] = {**entity, "_etag": self._etag()}

    def line_status(self, partition: str, line_id: str) -> str | None:
        line = self.get_line(partition, line_id)
        return None if line is None else str(line["Status"])

    def get_line(self, partition: str, line_id: str) -> dict[str, Any] | None:
        rows = self.partitions[partition]
        found = rows.get(OPEN + line_id) or rows.get(LINE + line_id) or self.finished.get((partition, line_id))
        return None if found is None else dict(found)

    def stored_line(self, partition: str, line_id: str) -> StoredLine | None:
        found = self.get_line(partition, line_id)
        return None if found is None else stored_line(found)

    def stored_lines(
        self, environment_id: str, filters: dict[str, Any], page_size: int, token: str | None
    ) -> tuple[list[StoredLine], str | None]:
        """Every line of the environment matching `status`/`productId`, in one page (no paging in the fake)."""
        found = [
            stored_line(e)
            for partition, rows in sorted(self.partitions.items())
            if partition.startswith(environment_id + "|")
            for key, e in sorted(rows.items(), key=lambda item: item[0][2:])
            if key.startswith((LINE, OPEN))
            and all(filters.get(f) in (None, e[c]) for f, c in (("status", "Status"), ("productId", "ProductId")))
        ]
        return found, None

    def open_entries(self, partition: str) -> OpenEntries:
        self.steps.append("read_open")
        rows = self.cache_rows(partition, record=False)
        created = self.created_lines(partition, 100_000, record=False)
        posted = sum(1 for k, e in self.partitions[partition].items() if k.startswith(OPEN) and e["Stage"] != "Created")
        return OpenEntries(rows, created, posted)

    def created_lines(self, partition: str, limit: int, record: bool = True) -> list[PendingLine]:
        if record:
            self.steps.append("read_lines")
        return [
            PendingLine(
                key,
                e["_etag"],
                json.loads(e["Dimensions"]),
                e["DataSource"],
                e["Measure"],
                Decimal(e["Quantity"]),
                e.get("CreatedAt"),
            )
            for key, e in sorted(self.partitions[partition].items())
            if key.startswith(OPEN) and e["Stage"] == "Created"
        ][:limit]

    def moved_on(self, partition: str, line_ids: list[str]) -> set[str]:
        self.steps.append("read_moved")
        rows = self.partitions[partition]
        return {i for i in line_ids if LINE + i in rows or (partition, i) in self.finished}

    def discard_open(self, partition: str, lines: list[PendingLine]) -> None:
        rows = self.partitions[partition]
        for line in lines:
            if rows.get(line.row_key, {}).get("_etag") == line.etag:
                del rows[line.row_key]

    def cache_rows(self, partition: str, record: bool = True) -> dict[str, CacheRow]:
        if record:
            self.steps.append("read_cache")
        return {
            key: CacheRow(key, e["DimKey"], json.loads(e["Dimensions"]), json.loads(e["Quantities"]), e["_etag"])
            for key, e in self.partitions[partition].items()
            if key.startswith(CACHE)
        }

    def commit_changes(
        self, partition: str, rows: list[CacheRow], changes: list[CacheChange], at: datetime
    ) -> dict[str, str]:
        """All or nothing, like an entity group transaction: every guard is checked before anything is written."""
        self.steps.append("commit_changes")
        stored = self.partitions[partition]
        guards = [(row.row_key, row.etag) for row in rows] + [(c.marker_key, c.marker_etag) for c in changes]
        for key, etag in guards:
            current = stored.get(key)
            if (etag is None and current is not None) or (etag is not None and (current or {}).get("_etag") != etag):
                raise ConcurrencyConflict(key)
        etags: dict[str, str] = {}
        for row in rows:
            etags[row.row_key] = self._etag()
            stored[row.row_key] = {
                "RowKey": row.row_key,
                "DimKey": row.dim_key,
                "Dimensions": json.dumps(dict(row.dimensions), sort_keys=True),
                "Quantities": json.dumps(row.quantities, sort_keys=True),
                "UpdatedAt": at,
                "_etag": etags[row.row_key],
            }
        for change in changes:
            base = stored.get(change.marker_key, {"RowKey": change.marker_key})
            stored[change.marker_key] = base | dict(change.marker) | {"_etag": self._etag()}
        return etags

    def product_rows(self, environment_id: str, partitions: list[str] | None) -> Iterator[ProductRow]:
        for partition in sorted(self.partitions) if partitions is None else partitions:
            if partition.startswith(environment_id + "|"):
                _, organization_id, product_id = partition.split("|", 2)
                for row in self.cache_rows(partition, record=False).values():
                    yield ProductRow(organization_id, product_id, dict(row.dimensions), row.quantities)

    def get_entity(self, partition: str, row_key: str) -> dict[str, Any] | None:
        found = self.partitions[partition].get(row_key)
        return None if found is None else dict(found)

    # ---- AggregatedRepository ----------------------------------------------------------------
    def posted_lines(self, partition: str, limit: int) -> tuple[list[DetailedLine], list[tuple[str, str]]]:
        posted: list[DetailedLine] = []
        aggregated: list[tuple[str, str]] = []
        for key, e in sorted(self.partitions[partition].items()):
            if not key.startswith(OPEN) or e["Stage"] == "Created":
                continue
            line_id = key[len(OPEN) :]
            if e["Stage"] == "Aggregated":
                aggregated.append((line_id, e["AggregatedLineId"]))
                continue
            posted.append(
                DetailedLine(
                    LINE + line_id,
                    e["_etag"],
                    e["DataSource"],
                    e["Measure"],
                    json.loads(e["Dimensions"]),
                    Decimal(e["Quantity"]),
                    e.get("JournalNameId"),
                    e.get("TransDate"),
                    e.get("CostPrice"),
                    dict(e),
                )
            )
        return posted[:limit], aggregated

    def finish_aggregated(self, partition: str, members: list[tuple[str, str]], at: datetime) -> None:
        stored = self.partitions[partition]
        for line_id, aggregated_id in members:
            record = stored.pop(OPEN + line_id, None)
            if record is not None:
                stored[LINE + line_id] = {k: v for k, v in record.items() if k != "Stage"} | {
                    "RowKey": LINE + line_id,
                    "Status": "Aggregated",
                    "AggregatedLineId": aggregated_id,
                    "AggregatedAt": at,
                    "_etag": self._etag(),
                }

    def all_closed(self, partition: str, line_ids: list[str]) -> bool:
        return not any(OPEN + line_id in self.partitions[partition] for line_id in line_ids)

    def has_open_lines(self, partition: str) -> bool:
        return any(key.startswith(OPEN) for key in self.partitions[partition])

    def close_open(self, partition: str, lines: list[DetailedLine]) -> None:
        for line in lines:
            record = self.partitions[partition].pop(OPEN + line.line_id, None)
            if record is not None:
                self.finished[(partition, line.line_id)] = record

    def commit_aggregation(self, partition: str, groups: list[AggregateGroup], at: datetime) -> bool:
        """Two steps always (the adapter finishes small visits in one transaction): services must
        handle both answers, and the integration tests run the one-transaction path."""
        stored = self.partitions[partition]
        for group in groups:
            for line in group.lines:
                if stored.get(OPEN + line.line_id, {}).get("_etag") != line.etag:
                    raise ConcurrencyConflict(line.row_key)
        for group in groups:
            stored[AGGREGATED + group.aggregated_id] = new_aggregated_columns(partition, group, at) | {
                "_etag": self._etag()
            }
            for line in group.lines:
                key = OPEN + line.line_id
                stored[key] |= {"Stage": "Aggregated", "AggregatedLineId": group.aggregated_id, "_etag": self._etag()}
        return False

    # ---- SendingRepository -------------------------------------------------------------------
    def add_aggregated(self, line: AggregatedLine) -> None:
        """Test setup: an aggregated line as aggregation would have stored it."""
        self.partitions[line.partition][AGGREGATED + line.aggregated_id] = _columns(line) | {"_etag": self._etag()}

    def waiting_lines(self, partition: str, statuses: tuple[str, ...]) -> list[AggregatedLine]:
        return [
            _aggregated(partition, e)
            for key, e in sorted(self.partitions[partition].items())
            if key.startswith(AGGREGATED) and e["Status"] in statuses
        ]

    def aggregated_line(self, partition: str, aggregated_id: str) -> AggregatedLine | None:
        found = self.partitions[partition].get(AGGREGATED + aggregated_id)
        return None if found is None else _aggregated(partition, found)

    def lines_of_journal(self, environment_id: str, journal_id: str) -> list[AggregatedLine]:
        return [
            _aggregated(partition, e)
            for partition, rows in sorted(self.partitions.items())
            if partition.startswith(environment_id + "|")
            for key, e in sorted(rows.items())
            if key.startswith(AGGREGATED) and e.get("JournalId") == journal_id
        ]

    def find_aggregated_line(self, environment_id: str, aggregated_id: str) -> AggregatedLine | None:
        for partition, rows in sorted(self.partitions.items()):
            if partition.startswith(environment_id + "|") and AGGREGATED + aggregated_id in rows:
                return _aggregated(partition, rows[AGGREGATED + aggregated_id])
        return None

    def apply_updates(self, updates: list[AggregatedUpdate]) -> None:
        self.steps.append("update_aggregated")
        for update in updates:
            key = AGGREGATED + update.aggregated_id
            self.partitions[update.partition][key] |= update_columns(update) | {"_etag": self._etag()}

    # ---- PendingWork -------------------------------------------------------------------------
    def mark_pending(
        self, partitions: Iterable[str], at: datetime, kind: str = LEDGER_WORK, shard: int | None = None
    ) -> list[Marker]:
        self.steps.append("touch_pending")
        shard = 0 if shard is None else shard
        markers = []
        for partition in sorted(set(partitions)):
            etag = self._etag()
            self.markers[(kind, shard, partition)] = (etag, at)
            markers.append(Marker(kind, shard, partition, etag, at))
        return markers

    def touch_pending(self, partitions: Iterable[str], at: datetime, kind: str = LEDGER_WORK) -> None:
        self.mark_pending(partitions, at, kind)

    def pending_markers(
        self, kind: str = LEDGER_WORK, touched_before: datetime | None = None, environment_id: str | None = None
    ) -> list[Marker]:
        found = [
            Marker(k, shard, partition, etag, at)
            for (k, shard, partition), (etag, at) in self.markers.items()
            if k == kind
            and (touched_before is None or at < touched_before)
            and (environment_id is None or partition.startswith(environment_id + "|"))
        ]
        return sorted(found, key=lambda m: (m.touched_at or EPOCH, m.partition))

    def clear_pending(self, marker: Marker) -> bool:
        key = (marker.kind, marker.shard, marker.partition)
        if self.markers.get(key, ("",))[0] != marker.etag:
            return False
        del self.markers[key]
        return True

    def clear_pending_many(self, markers: Iterable[Marker]) -> None:
        for marker in markers:
            self.clear_pending(marker)

    def schedule_once(self, name: str, at: datetime) -> bool:
        if name in self.schedules:
            return False
        self.schedules[name] = at
        return True

    def unschedule(self, name: str) -> None:
        self.schedules.pop(name, None)

    def stale_schedules(self, before: datetime, prefix: str = "") -> list[str]:
        return [name for name, at in self.schedules.items() if at < before and name.startswith(prefix)]

    # ---- Leases ------------------------------------------------------------------------------
    def acquire_lease(self, name: str, holder: str, now: datetime, seconds: int) -> str | None:
        current = self.leases.get(name)
        if current is not None and current[1] > now:
            return None
        etag = self._etag()
        self.leases[name] = (etag, now + timedelta(seconds=seconds))
        return etag

    def release_lease(self, name: str, etag: str) -> None:
        if self.leases.get(name, ("",))[0] == etag:
            del self.leases[name]

    # ---- test helpers ------------------------------------------------------------------------
    def marked(self, kind: str = LEDGER_WORK) -> set[str]:
        return {partition for (k, _, partition) in self.markers if k == kind}

    def lines(self) -> dict[str, Entity]:
        """Every line record, open (`D|`) or aggregated (`L|`)."""
        return {
            e["LineId"]: e for rows in self.partitions.values() for k, e in rows.items() if k.startswith((LINE, OPEN))
        }


def _columns(line: AggregatedLine) -> Entity:
    return {
        "AggregatedId": line.aggregated_id,
        "OrganizationId": line.organization_id,
        "ProductId": line.product_id,
        "ErpKey": line.erp_key,
        "Quantity": line.quantity,
        "Status": line.status,
        "JournalType": line.journal_type,
        "JournalNameId": line.journal_name_id,
        "TargetStatus": line.target_status,
        "Attempts": line.attempts,
        "Retries": line.retries,
        "JournalId": line.journal_id,
        "JournalLineNumber": line.journal_line_number,
        "NextAttemptAt": line.next_attempt_at,
        "LateAnswers": line.late_answers,
        "ErpOnHand": line.erp_onhand,
    }


@dataclass
class RecordingQueues:
    """A `WorkSink` that keeps what was put."""

    messages: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)

    def put(self, work: str, bodies: Iterable[dict[str, Any]], delay_s: int = 0) -> int:
        items = [(work, body, delay_s) for body in bodies]
        self.messages += items
        return len(items)


@dataclass
class InMemoryJournalLog:
    """A `JournalLog`: journals by (environment, id), and which are in flight."""

    journals: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    in_flight: set[tuple[str, str]] = field(default_factory=set)

    def start(self, environment_id: str, journal_id: str, properties: dict[str, Any], at: datetime) -> None:
        self.journals[(environment_id, journal_id)] = {"State": "sending", "StartedAt": at, **properties}
        self.in_flight.add((environment_id, journal_id))

    def finish(
        self,
        environment_id: str,
        journal_id: str,
        state: str,
        erp_number: str | None,
        message: str | None,
        at: datetime,
    ) -> None:
        record = self.journals.setdefault((environment_id, journal_id), {})
        record.update({"State": state, "ErpJournalNumber": erp_number, "Message": message, "UpdatedAt": at})
        self.in_flight.discard((environment_id, journal_id))

    def inflight(self) -> list[tuple[str, str]]:
        return sorted(self.in_flight)

    def get(self, environment_id: str, journal_id: str) -> dict[str, Any] | None:
        return self.journals.get((environment_id, journal_id))
