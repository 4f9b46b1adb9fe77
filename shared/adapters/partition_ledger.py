"""A ledger partition's detailed lines and its cache rows (table `ledger`).

One partition per product (`env|org|product`): an open line's record (`D|id`) and the cache rows it
moves change together in one entity group transaction. Services pass domain objects (`NewLine`,
`CacheRow`, `CacheChange`); the entity shapes and row keys are made here (keys: ledger_keys.py).
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.finished_lines import FinishedLines
from shared.adapters.ledger_base import _decimal
from shared.adapters.ledger_keys import (
    CACHE,
    LINE,
    OPEN,
    hot_range,
    line_key,
    open_key,
    prefix_range,
    split_partition,
)
from shared.adapters.table_batches import BATCH, in_parallel, resilient
from shared.adapters.table_batches import chunks as _chunks
from shared.adapters.table_batches import etag as _etag
from shared.adapters.table_transactions import submit_transaction
from shared.domain.cache import CacheChange, CacheRow, PendingLine
from shared.domain.identifiers import environment_range
from shared.domain.ledger_records import NewLine, OpenEntries, ProductRow, StoredLine
from shared.domain.quantities import canonical

LINE_PREFIX, CACHE_PREFIX = LINE, CACHE
OPEN_FIELDS = (
    "Dimensions",
    "DataSource",
    "Measure",
    "Quantity",
    "JournalNameId",
    "TransDate",
    "CostPrice",
    "CreatedAt",
)
"""What sync and aggregation read of an open line (a query selects only these and the cache rows' columns)."""
CACHE_FIELDS = ("DimKey", "Dimensions", "Quantities")


def line_entity(new: NewLine) -> dict[str, Any]:
    """The stored record of a new line, open (`D|id`): its content as posted, and its status `Created`.

    One entity per line while it is open: its record is what sync and aggregation read and guard
    (`Stage`, by its ETag), so ingest and sync write one entity a line, not a record and an entry."""
    line = new.line
    return {
        "PartitionKey": new.partition,
        "RowKey": open_key(line.id),
        "LineId": line.id,
        "EnvironmentId": new.environment_id,
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
        "Fingerprint": new.fingerprint,
        "Payload": json.dumps(line.content(), sort_keys=True),
        "InstantSync": line.createWithIVSync,
        "Status": "Created",
        "Stage": "Created",
        "CreatedAt": new.created_at,
    }


def stored_line(entity: dict[str, Any]) -> StoredLine:
    return StoredLine(
        json.loads(entity["Payload"]),
        entity["Status"],
        entity.get("CreatedAt"),
        entity.get("IVPostedAt"),
        entity.get("AggregatedAt"),
        entity.get("AggregatedLineId") or None,
    )


class PartitionLedger(FinishedLines):
    """Implements `PartitionRepository` (shared/services/ports.py)."""

    def add_lines(self, lines: list[NewLine]) -> None:
        """Store new lines (open records); lines that already exist are left as they are."""
        self.create_lines([line_entity(new) for new in lines])

    def create_lines(self, entities: list[dict[str, Any]]) -> None:
        """Create each line's open record; lines that already exist are left as they are (the caller
        creates only lines it found nowhere: `line_status` looks in every place a record can be)."""
        by_partition: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entity in entities:
            by_partition[entity["PartitionKey"]].append(entity)

        def create(chunk: list[dict[str, Any]]) -> None:
            try:
                self._step("create_lines")
                resilient(
                    submit_transaction,
                    self.ledger,
                    [("create", line) for line in chunk],
                )
            except TableTransactionError as exc:
                if getattr(exc, "error_code", None) != "EntityAlreadyExists":
                    raise
                for line in chunk:  # a retried request: each line on its own
                    with contextlib.suppress(TableTransactionError):
                        resilient(submit_transaction, self.ledger, [("create", line)])

        list(in_parallel(create, [(chunk,) for group in by_partition.values() for chunk in _chunks(group, BATCH)]))

    def line_status(self, partition: str, line_id: str) -> str | None:
        """A stored line's status, None if the line is not stored."""
        line = self.get_line(partition, line_id)
        return None if line is None else str(line["Status"])

    def created_lines(self, partition: str, limit: int) -> list[PendingLine]:
        """`Created` lines, from the open range only: finished lines are never read."""
        self._step("read_lines")
        lo, hi = prefix_range(OPEN)
        pager = self.ledger.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and Stage eq @stage",
            parameters={"pk": partition, "lo": lo, "hi": hi, "stage": "Created"},
            results_per_page=limit,
            select=["RowKey", *OPEN_FIELDS],
        )
        return [_pending_line(e) for e in islice(pager, limit)]

    def moved_on(self, partition: str, line_ids: list[str]) -> set[str]:
        """The ids whose record is aggregated (`L|` in the ledger) or finished (`finishedlines`): point
        reads, served from the key index (also on Azurite), the lines side by side. Per line the
        ledger is read first: a record is copied to `finishedlines` before it leaves the ledger, so a
        record not in the ledger at the first read is in `finishedlines` at the second. One step for
        the crash tests: reads change nothing, so a crash between two is a crash before the first."""
        self._step("read_moved")

        def moved(line_id: str) -> str | None:
            for table in (self.ledger, self.finished):
                try:
                    table.get_entity(partition, line_key(line_id), select=["RowKey"])
                except ResourceNotFoundError:
                    continue
                return line_id
            return None

        return {line_id for line_id in in_parallel(moved, [(i,) for i in line_ids]) if line_id is not None}

    def discard_open(self, partition: str, lines: list[PendingLine]) -> None:
        for line in lines:
            self._step("discard_open")
            with contextlib.suppress(ResourceNotFoundError, ResourceModifiedError):
                self.ledger.delete_entity(
                    partition, line.row_key, etag=line.etag, match_condition=MatchConditions.IfNotModified
                )

    def open_entries(self, partition: str) -> OpenEntries:
        """Cache rows and open lines in one query (`C|` and `D|` are neighbours in key order), only
        the columns a visit uses (an open line's record also holds its content as posted)."""
        self._step("read_open")
        lo, hi = hot_range()
        rows: dict[str, CacheRow] = {}
        created: list[PendingLine] = []
        posted = 0
        for e in self.ledger.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": partition, "lo": lo, "hi": hi},
            select=["RowKey", "Stage", *CACHE_FIELDS, *OPEN_FIELDS],
        ):
            if e["RowKey"].startswith(CACHE):
                rows[e["RowKey"]] = _cache_row(e)
            elif e.get("Stage") == "Created":
                created.append(_pending_line(e))
            else:
                posted += 1
        return OpenEntries(rows, created, posted)

    def all_synced(self, partition: str, line_ids: list[str]) -> bool:
        """Whether none of these lines is still `Created`: point reads of their open records (served
        from the key index, also on Azurite, where any query scans the whole table)."""
        return all(entry.get("Stage") != "Created" for entry in self._open_entries_named(partition, line_ids))

    def all_closed(self, partition: str, line_ids: list[str]) -> bool:
        """Whether every one of these lines has left the open range (aggregated and finished, or
        closed unmapped), by the same point reads."""
        return next(self._open_entries_named(partition, line_ids), None) is None

    def _open_entries_named(self, partition: str, line_ids: list[str]) -> Iterator[dict[str, Any]]:
        """The open records (their stage) of those lines that still have one, read one at a time
        and only as far as the caller looks."""
        for line_id in line_ids:
            self._step("read_open_stage")
            try:
                yield dict(self.ledger.get_entity(partition, OPEN + line_id, select=["Stage"]))
            except ResourceNotFoundError:
                continue  # aggregated and closed: long past `Created`

    # ---- cache -----------------------------------------------------------------------------------
    def cache_rows(self, partition: str) -> dict[str, CacheRow]:
        self._step("read_cache")
        entities = self.ledger.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": partition, "lo": CACHE_PREFIX, "hi": "C}"},
        )
        return {e["RowKey"]: _cache_row(e) for e in entities}

    def commit_changes(
        self, partition: str, rows: list[CacheRow], changes: list[CacheChange], at: datetime
    ) -> dict[str, str]:
        """Edited cache rows and the markers of the changes behind them, all or nothing; the rows' new ETags."""
        ops = _row_ops(partition, rows, at)
        for change in changes:
            entity = {"PartitionKey": partition, "RowKey": change.marker_key, **change.marker}
            if change.marker_etag is None:
                ops.append(("create", entity))
            else:
                ops.append(
                    (
                        "update",
                        entity,
                        {
                            "mode": UpdateMode.MERGE,
                            "etag": change.marker_etag,
                            "match_condition": MatchConditions.IfNotModified,
                        },
                    )
                )
        results = self._commit(ops, "commit_changes")
        self._step("after_commit_changes")
        return {row.row_key: result["etag"] for row, result in zip(rows, results, strict=False)}

    def get_entity(self, partition: str, row_key: str) -> dict[str, Any] | None:
        """Any ledger entity by key, with its ETag under `_etag` (markers of applied-once changes)."""
        try:
            entity = self.ledger.get_entity(partition, row_key)
        except ResourceNotFoundError:
            return None
        return dict(entity) | {"_etag": _etag(entity)}

    def query_lines(
        self, environment_id: str, filters: dict[str, Any], page_size: int, token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the environment's line records, open (ledger) and finished (`finishedlines`) alike."""
        lo, hi = environment_range(environment_id)
        clauses = ["PartitionKey ge @envlo", "PartitionKey lt @envhi", "RowKey ge @lo", "RowKey lt @hi"]
        params: dict[str, Any] = {"envlo": lo, "envhi": hi, "lo": LINE_PREFIX, "hi": "L}"}
        columns = {
            "status": "Status",
            "productId": "ProductId",
            "organizationId": "OrganizationId",
            "externalReferenceId": "ExternalReferenceId",
        }
        for name, column in columns.items():
            if filters.get(name) is not None:
                clauses.append(f"{column} eq @{name}")
                params[name] = filters[name]
        if filters.get("createdFrom") is not None:
            clauses.append("CreatedAt ge @createdFrom")
            params["createdFrom"] = filters["createdFrom"]
        if filters.get("createdTo") is not None:
            clauses.append("CreatedAt lt @createdTo")
            params["createdTo"] = filters["createdTo"]
        return self.line_pages(" and ".join(clauses), params, page_size, token, environment_id)

    def stored_line(self, partition: str, line_id: str) -> StoredLine | None:
        line = self.get_line(partition, line_id)
        return None if line is None else stored_line(line)

    def stored_lines(
        self, environment_id: str, filters: dict[str, Any], page_size: int, token: str | None
    ) -> tuple[list[StoredLine], str | None]:
        """One page of the environment's lines matching `filters` (see `query_lines`), and the next page's token."""
        entities, next_token = self.query_lines(environment_id, filters, page_size, token)
        return [stored_line(e) for e in entities], next_token

    def product_rows(self, environment_id: str, partitions: list[str] | None) -> Iterator[ProductRow]:
        """The cache rows of `partitions` (of the whole environment when None), each with its product."""
        for entity in self.cache_rows_of_environment(environment_id, partitions):
            _, organization_id, product_id = split_partition(entity["PartitionKey"])
            yield ProductRow(
                organization_id, product_id, json.loads(entity["Dimensions"]), json.loads(entity["Quantities"])
            )

    def cache_rows_of_environment(self, environment_id: str, partitions: list[str] | None) -> Iterator[dict[str, Any]]:
        if partitions is not None:
            for partition in partitions:
                yield from self.ledger.query_entities(
                    "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                    parameters={"pk": partition, "lo": CACHE_PREFIX, "hi": "C}"},
                )
            return
        lo, hi = environment_range(environment_id)
        yield from self.ledger.query_entities(
            "PartitionKey ge @envlo and PartitionKey lt @envhi and RowKey ge @lo and RowKey lt @hi",
            parameters={"envlo": lo, "envhi": hi, "lo": CACHE_PREFIX, "hi": "C}"},
        )


def _row_ops(partition: str, rows: list[CacheRow], at: datetime) -> list[Any]:
    ops: list[Any] = []
    for row in rows:
        entity = {
            "PartitionKey": partition,
            "RowKey": row.row_key,
            "DimKey": row.dim_key,
            "Dimensions": json.dumps(dict(row.dimensions), sort_keys=True),
            "Quantities": json.dumps(row.quantities, sort_keys=True),
            "UpdatedAt": at,
        }
        if row.etag is None:
            ops.append(("create", entity))
        else:
            ops.append(
                (
                    "update",
                    entity,
                    {"mode": UpdateMode.REPLACE, "etag": row.etag, "match_condition": MatchConditions.IfNotModified},
                )
            )
    return ops


def _pending_line(entity: Any) -> PendingLine:
    return PendingLine(
        entity["RowKey"],
        _etag(entity),
        json.loads(entity["Dimensions"]),
        entity["DataSource"],
        entity["Measure"],
        _decimal(entity["Quantity"]),
        entity.get("CreatedAt"),
    )


def _cache_row(entity: Any) -> CacheRow:
    return CacheRow(
        entity["RowKey"],
        entity["DimKey"],
        json.loads(entity["Dimensions"]),
        json.loads(entity["Quantities"]),
        _etag(entity),
    )
