"""A ledger partition's detailed lines, their open entries and its cache rows (table `ledger`).

One partition per product (`env|org|product`): a line, its open entry and the cache rows it moves
change together in one entity group transaction. Services pass domain objects (`NewLine`,
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
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.finished_lines import FinishedLines, in_key_order
from shared.adapters.ledger_base import _decimal
from shared.adapters.ledger_keys import CACHE, LINE, OPEN, hot_range, line_key, prefix_range, split_partition
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
"""What sync and aggregation read of a line: copied into its open entry so they never read `L|` rows."""


def line_entity(new: NewLine) -> dict[str, Any]:
    """The stored record of a new line (`L|id`): its content as posted, and its status `Created`."""
    line = new.line
    return {
        "PartitionKey": new.partition,
        "RowKey": line_key(line.id),
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
        """Store new lines, each with its open entry; lines that already exist are left as they are."""
        self.create_lines([line_entity(new) for new in lines])

    def create_lines(self, entities: list[dict[str, Any]]) -> None:
        """Create each line with its open entry, together; lines that already exist are left as they are."""
        by_partition: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entity in entities:
            by_partition[entity["PartitionKey"]].append(entity)

        def create(chunk: list[dict[str, Any]]) -> None:
            table = self.ledger_of(chunk[0]["PartitionKey"])
            try:
                self._step("create_lines")
                resilient(
                    submit_transaction,
                    table,
                    [("create", e) for line in chunk for e in (line, _open_entry(line))],
                )
            except TableTransactionError as exc:
                if getattr(exc, "error_code", None) != "EntityAlreadyExists":
                    raise
                for line in chunk:  # a retried request: each line and its entry still only together
                    with contextlib.suppress(TableTransactionError):
                        resilient(submit_transaction, table, [("create", line), ("create", _open_entry(line))])

        list(in_parallel(create, [(chunk,) for group in by_partition.values() for chunk in _chunks(group, BATCH // 2)]))

    def line_status(self, partition: str, line_id: str) -> str | None:
        """A stored line's status, None if the line is not stored."""
        line = self.get_line(partition, line_id)
        return None if line is None else str(line["Status"])

    def created_lines(self, partition: str, limit: int) -> list[PendingLine]:
        """`Created` lines, from the open range only: finished lines are never read."""
        self._step("read_lines")
        lo, hi = prefix_range(OPEN)
        pager = self.ledger_of(partition).query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and Stage eq @stage",
            parameters={"pk": partition, "lo": lo, "hi": hi, "stage": "Created"},
            results_per_page=limit,
            select=["RowKey", *OPEN_FIELDS],
        )
        return [_pending_line(e) for e in islice(pager, limit)]

    def open_entries(self, partition: str) -> OpenEntries:
        """Cache rows and open lines in one query (`C|` and `D|` are neighbours in key order)."""
        self._step("read_open")
        lo, hi = hot_range()
        rows: dict[str, CacheRow] = {}
        created: list[PendingLine] = []
        posted = 0
        for e in self.ledger_of(partition).query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi", parameters={"pk": partition, "lo": lo, "hi": hi}
        ):
            if e["RowKey"].startswith(CACHE):
                rows[e["RowKey"]] = _cache_row(e)
            elif e.get("Stage") == "Created":
                created.append(_pending_line(e))
            else:
                posted += 1
        return OpenEntries(rows, created, posted)

    def all_synced(self, partition: str, line_ids: list[str]) -> bool:
        """Whether none of these lines is still `Created`: point reads of their open entries (served
        from the key index, also on Azurite, where any query scans the whole table)."""
        return all(entry.get("Stage") != "Created" for entry in self._open_entries_named(partition, line_ids))

    def all_closed(self, partition: str, line_ids: list[str]) -> bool:
        """Whether every one of these lines has left the open range (aggregated and finished, or
        closed unmapped), by the same point reads."""
        return next(self._open_entries_named(partition, line_ids), None) is None

    def _open_entries_named(self, partition: str, line_ids: list[str]) -> Iterator[dict[str, Any]]:
        """The open entries (their stage) of those lines that still have one, read one at a time
        and only as far as the caller looks."""
        for line_id in line_ids:
            self._step("read_open_stage")
            try:
                yield dict(self.ledger_of(partition).get_entity(partition, OPEN + line_id, select=["Stage"]))
            except ResourceNotFoundError:
                continue  # aggregated and closed: long past `Created`

    # ---- cache -----------------------------------------------------------------------------------
    def cache_rows(self, partition: str) -> dict[str, CacheRow]:
        self._step("read_cache")
        entities = self.ledger_of(partition).query_entities(
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
            ops += [
                ("update", {"PartitionKey": partition, "RowKey": key, **values}, {"mode": UpdateMode.MERGE})
                for key, values in change.companions
            ]
        results = self._commit(ops, "commit_changes")
        self._step("after_commit_changes")
        return {row.row_key: result["etag"] for row, result in zip(rows, results, strict=False)}

    def get_entity(self, partition: str, row_key: str) -> dict[str, Any] | None:
        """Any ledger entity by key, with its ETag under `_etag` (markers of applied-once changes)."""
        try:
            entity = self.ledger_of(partition).get_entity(partition, row_key)
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
                yield from self.ledger_of(partition).query_entities(
                    "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                    parameters={"pk": partition, "lo": CACHE_PREFIX, "hi": "C}"},
                )
            return
        lo, hi = environment_range(environment_id)
        yield from in_key_order(
            table.query_entities(
                "PartitionKey ge @envlo and PartitionKey lt @envhi and RowKey ge @lo and RowKey lt @hi",
                parameters={"envlo": lo, "envhi": hi, "lo": CACHE_PREFIX, "hi": "C}"},
            )
            for table in self.ledgers
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


def _open_entry(line: dict[str, Any]) -> dict[str, Any]:
    """The open entry of a new line: what sync and aggregation need, under `D|id`."""
    return {
        "PartitionKey": line["PartitionKey"],
        "RowKey": OPEN + line["RowKey"][len(LINE) :],
        "Stage": "Created",
        **{name: line.get(name) for name in OPEN_FIELDS},
    }


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
