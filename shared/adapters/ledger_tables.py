"""The inventory ledger in Table Storage (the pending index is mixed in from `pending_index`).

Layout (key prefixes in ledger_keys.py): table `ledger`, PartitionKey `env|org|product`, holding the product's detailed
lines (`L|id`) and cache rows (`C|hash`), so a sync is one entity group transaction. Table `lineids`
makes line ids unique per environment across products; table `pending` lists partitions with work.
All queries pass values through `parameters=`.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import islice
from typing import Any, cast

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, TableTransactionError, UpdateMode

from shared.adapters.ledger_keys import (
    AGGREGATED,
    CACHE,
    LINE,
    OFFSET_WORK,
    OPEN,
    SEND_WORK,
    hot_range,
    id_partition,
    ledger_partition,
    prefix_range,
)
from shared.adapters.pending_index import Marker, PendingIndex
from shared.adapters.storage_clients import table_name, table_service
from shared.adapters.storage_names import LEDGER_TABLE, LINE_IDS_TABLE, PENDING_TABLE
from shared.adapters.table_batches import BATCH, in_parallel, resilient
from shared.adapters.table_batches import chunks as _chunks
from shared.adapters.table_batches import etag as _etag
from shared.domain.aggregation import AggregateGroup, DetailedLine
from shared.domain.cache import CacheChange, CacheRow, PendingLine
from shared.domain.identifiers import environment_range
from shared.domain.quantities import canonical

LEDGER, LINE_IDS, PENDING = LEDGER_TABLE, LINE_IDS_TABLE, PENDING_TABLE
LINE_PREFIX, CACHE_PREFIX, AGG_PREFIX = LINE, CACHE, AGGREGATED
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

Fault = Callable[[str], None]
CONFLICT_CODES = ("UpdateConditionNotSatisfied", "EntityAlreadyExists")


class ConcurrencyConflict(RuntimeError):
    """Another writer changed an entity first; re-read and try again."""


class InvalidContinuationToken(ValueError):
    pass


@dataclass(frozen=True)
class OpenEntries:
    """A partition's cache rows and open lines, read in one query."""

    rows: dict[str, CacheRow]
    created: list[PendingLine]
    posted: int


@dataclass(frozen=True)
class IdRecord:
    line_id: str
    ledger_partition: str
    fingerprint: str


class LedgerStore(PendingIndex):
    """Table operations of the ledger; `fault` is a test hook called before every storage call."""

    def __init__(self, fault: Fault | None = None) -> None:
        service = table_service()
        self._fault = fault or (lambda step: None)
        self.ledger = service.get_table_client(table_name(LEDGER))
        self.line_ids = service.get_table_client(table_name(LINE_IDS))
        self.pending = service.get_table_client(table_name(PENDING))
        _ensure_tables(service, tuple(c.table_name for c in (self.ledger, self.line_ids, self.pending)))

    def _step(self, name: str) -> None:
        self._fault(name)

    # ---- ids (idempotency) -------------------------------------------------------------------
    def reserve_ids(self, environment_id: str, records: list[IdRecord]) -> dict[str, IdRecord]:
        """Create id records; for ids that already exist, return what is stored instead."""
        existing: dict[str, IdRecord] = {}
        by_partition: dict[str, list[IdRecord]] = defaultdict(list)
        for record in records:
            by_partition[id_partition(environment_id, record.line_id)].append(record)

        def reserve(partition: str, chunk: list[IdRecord]) -> dict[str, IdRecord]:
            ops = [
                (
                    "create",
                    {
                        "PartitionKey": partition,
                        "RowKey": r.line_id,
                        "LedgerPartition": r.ledger_partition,
                        "Fingerprint": r.fingerprint,
                    },
                )
                for r in chunk
            ]
            try:
                self._step("reserve_ids")
                resilient(self.line_ids.submit_transaction, ops)
                return {}
            except TableTransactionError as exc:
                if getattr(exc, "error_code", None) != "EntityAlreadyExists":
                    raise
                return self._reserve_one_by_one(partition, chunk)

        work = [(p, chunk) for p, group in by_partition.items() for chunk in _chunks(group)]
        for found in in_parallel(reserve, work):
            existing.update(found)
        return existing

    def _reserve_one_by_one(self, partition: str, chunk: list[IdRecord]) -> dict[str, IdRecord]:
        found: dict[str, IdRecord] = {}
        for record in chunk:
            try:
                self._step("reserve_id")
                self.line_ids.create_entity(
                    {
                        "PartitionKey": partition,
                        "RowKey": record.line_id,
                        "LedgerPartition": record.ledger_partition,
                        "Fingerprint": record.fingerprint,
                    }
                )
            except ResourceExistsError:
                stored = self.line_ids.get_entity(partition, record.line_id)
                found[record.line_id] = IdRecord(record.line_id, stored["LedgerPartition"], stored["Fingerprint"])
        return found

    def find_id(self, environment_id: str, line_id: str) -> IdRecord | None:
        try:
            stored = self.line_ids.get_entity(id_partition(environment_id, line_id), line_id)
        except ResourceNotFoundError:
            return None
        return IdRecord(line_id, stored["LedgerPartition"], stored["Fingerprint"])

    def has_data(self, environment_id: str) -> bool:
        """Whether anything was ever posted to the environment (every line, event and transaction has an id
        record): one read that stops at the first record, and finds an empty range at once."""
        lo, hi = environment_range(environment_id)
        pages = self.line_ids.query_entities(
            "PartitionKey ge @lo and PartitionKey lt @hi",
            parameters={"lo": lo, "hi": hi},
            results_per_page=1,
            select=["PartitionKey"],
        ).by_page()
        return any(True for page in pages for _ in page)

    # ---- detailed lines ------------------------------------------------------------------------
    def create_lines(self, entities: list[dict[str, Any]]) -> None:
        """Create each line with its open entry, together; lines that already exist are left as they are."""
        by_partition: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entity in entities:
            by_partition[entity["PartitionKey"]].append(entity)

        def create(chunk: list[dict[str, Any]]) -> None:
            try:
                self._step("create_lines")
                resilient(
                    self.ledger.submit_transaction, [("create", e) for line in chunk for e in (line, _open_entry(line))]
                )
            except TableTransactionError as exc:
                if getattr(exc, "error_code", None) != "EntityAlreadyExists":
                    raise
                for line in chunk:  # a retried request: each line and its entry still only together
                    with contextlib.suppress(TableTransactionError):
                        resilient(self.ledger.submit_transaction, [("create", line), ("create", _open_entry(line))])

        list(in_parallel(create, [(chunk,) for group in by_partition.values() for chunk in _chunks(group, BATCH // 2)]))

    def get_line(self, partition: str, line_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.ledger.get_entity(partition, LINE_PREFIX + line_id))
        except ResourceNotFoundError:
            return None

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

    def open_entries(self, partition: str) -> OpenEntries:
        """Cache rows and open lines in one query (`C|` and `D|` are neighbours in key order)."""
        self._step("read_open")
        lo, hi = hot_range()
        rows: dict[str, CacheRow] = {}
        created: list[PendingLine] = []
        posted = 0
        for e in self.ledger.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi", parameters={"pk": partition, "lo": lo, "hi": hi}
        ):
            if e["RowKey"].startswith(CACHE):
                rows[e["RowKey"]] = _cache_row(e)
            elif e.get("Stage") == "Created":
                created.append(_pending_line(e))
            else:
                posted += 1
        return OpenEntries(rows, created, posted)

    # ---- cache -----------------------------------------------------------------------------------
    def cache_rows(self, partition: str) -> dict[str, CacheRow]:
        self._step("read_cache")
        entities = self.ledger.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": partition, "lo": CACHE_PREFIX, "hi": "C}"},
        )
        return {e["RowKey"]: _cache_row(e) for e in entities}

    def has_open_lines(self, partition: str) -> bool:
        lo, hi = prefix_range(OPEN)
        pager = self.ledger.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": partition, "lo": lo, "hi": hi},
            results_per_page=1,
            select=["RowKey"],
        )
        return next(iter(pager), None) is not None

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

    def _commit(self, ops: list[Any], step: str) -> list[Any]:
        try:
            self._step(step)
            return resilient(self.ledger.submit_transaction, ops)
        except TableTransactionError as exc:
            code = getattr(exc, "error_code", None)  # set by the SDK's error decoder, not declared on the class
            if exc.status_code in (409, 412) or code in CONFLICT_CODES:
                raise ConcurrencyConflict(str(code)) from None
            raise

    def get_entity(self, partition: str, row_key: str) -> dict[str, Any] | None:
        """Any ledger entity by key, with its ETag under `_etag` (markers of applied-once changes)."""
        try:
            entity = self.ledger.get_entity(partition, row_key)
        except ResourceNotFoundError:
            return None
        return dict(entity) | {"_etag": _etag(entity)}

    def offset_candidates(self, partition: str, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        """Aggregated lines whose offset is still open and whose status may have reached its trigger."""
        params: dict[str, Any] = {"pk": partition, "lo": AGG_PREFIX, "hi": "A}", "open": "open"}
        query = (
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and ( Offset eq @open or OnHand eq @open )"
            " and " + _any_status(statuses, params)
        )
        self._step("read_offsets")
        return [dict(e) | {"_etag": _etag(e)} for e in self.ledger.query_entities(query, parameters=params)]

    # ---- aggregation ---------------------------------------------------------------------------
    def posted_lines(self, partition: str, limit: int) -> tuple[list[DetailedLine], list[tuple[str, str]]]:
        """Open lines past `Created`, from the open range only.

        Returns the `IVPosted` lines (row key `L|id`, ETag of the open entry) and the lines already
        in an aggregated line whose record still has to say so (line id, aggregated id).
        """
        lo, hi = prefix_range(OPEN)
        self._step("read_posted")
        pager = self.ledger.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and Stage ne @stage",
            parameters={"pk": partition, "lo": lo, "hi": hi, "stage": "Created"},
            results_per_page=limit,
            select=["RowKey", "Stage", "AggregatedLineId", *OPEN_FIELDS],
        )
        posted: list[DetailedLine] = []
        aggregated: list[tuple[str, str]] = []
        for e in islice(pager, limit):
            line_id = e["RowKey"][len(OPEN) :]
            if e["Stage"] == "Aggregated":
                aggregated.append((line_id, e["AggregatedLineId"]))
                continue
            posted.append(
                DetailedLine(
                    LINE + line_id,
                    _etag(e),
                    e["DataSource"],
                    e["Measure"],
                    json.loads(e["Dimensions"]),
                    _decimal(e["Quantity"]),
                    e.get("JournalNameId"),
                    e.get("TransDate"),
                    e.get("CostPrice"),
                )
            )
        return posted, aggregated

    def close_open(self, partition: str, lines: list[DetailedLine]) -> None:
        """Lines no journal takes (no mapping for their source + measure) leave the open range."""
        ops = [
            (
                "delete",
                {"PartitionKey": partition, "RowKey": OPEN + line.row_key[len(LINE) :]},
                {"etag": line.etag, "match_condition": MatchConditions.IfNotModified},
            )
            for line in lines
        ]
        for chunk in _chunks(ops):
            self._commit(chunk, "close_open")

    def commit_aggregation(self, partition: str, groups: list[AggregateGroup], at: datetime) -> None:
        """Aggregated lines and their members' open entries moved to `Aggregated`, in one transaction.

        One operation per member (its open entry, guarded by its ETag) keeps up to ~97 lines of a
        key in one aggregated line; `finish_aggregated` then writes the status into the line records.
        """
        ops: list[Any] = []
        _, org, product = partition.split("|", 2)
        for group in groups:
            ops.append(
                (
                    "create",
                    {
                        "PartitionKey": partition,
                        "RowKey": AGG_PREFIX + group.aggregated_id,
                        "AggregatedId": group.aggregated_id,
                        "OrganizationId": org,
                        "ProductId": product,
                        "ErpKey": group.key.as_json(),
                        "Quantity": canonical(group.quantity),
                        "Status": group.status,
                        "JournalType": group.key.journal_type,
                        "JournalNameId": group.key.journal_name_id,
                        "TargetStatus": group.key.target_status,
                        "LineCount": len(group.lines),
                        "DetailedLineIds": json.dumps([line.row_key[2:] for line in group.lines])[:30000],
                        "CreatedAt": at,
                        "Attempts": 0,
                        "Offset": "open",
                    },
                )
            )
            for line in group.lines:
                ops.append(
                    (
                        "update",
                        {
                            "PartitionKey": partition,
                            "RowKey": OPEN + line.row_key[len(LINE) :],
                            "Stage": "Aggregated",
                            "AggregatedLineId": group.aggregated_id,
                        },
                        {"mode": UpdateMode.MERGE, "etag": line.etag, "match_condition": MatchConditions.IfNotModified},
                    )
                )
        self._commit(ops, "commit_aggregation")

    def finish_aggregated(self, partition: str, members: list[tuple[str, str]], at: datetime) -> None:
        """Line records say `Aggregated` and their open entries go, two operations a line.

        Repeatable: a crash in between leaves entries in stage `Aggregated`, which the next visit
        finishes; a concurrent finisher makes a chunk fail, and the caller re-reads.
        """
        ops: list[Any] = []
        for line_id, aggregated_id in members:
            ops.append(
                (
                    "update",
                    {
                        "PartitionKey": partition,
                        "RowKey": LINE + line_id,
                        "Status": "Aggregated",
                        "AggregatedLineId": aggregated_id,
                        "AggregatedAt": at,
                    },
                    {"mode": UpdateMode.MERGE},
                )
            )
            ops.append(("delete", {"PartitionKey": partition, "RowKey": OPEN + line_id}))
        for chunk in _chunks(ops):
            try:
                self._commit(chunk, "finish_aggregated")
            except TableTransactionError as exc:
                if exc.status_code != 404:
                    raise
                raise ConcurrencyConflict("ResourceNotFound") from None

    def aggregated_lines(self, partition: str, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"pk": partition, "lo": AGG_PREFIX, "hi": "A}"}
        query = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and " + _any_status(statuses, params)
        return [dict(e) | {"_etag": _etag(e)} for e in self.ledger.query_entities(query, parameters=params)]

    def get_aggregated(self, partition: str, aggregated_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.ledger.get_entity(partition, AGG_PREFIX + aggregated_id))
        except ResourceNotFoundError:
            return None

    def update_aggregated(self, updates: list[dict[str, Any]]) -> None:
        """Merge status changes into aggregated lines, one transaction per partition and chunk."""
        by_partition: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for update in updates:
            by_partition[update["PartitionKey"]].append(update)
        for group in by_partition.values():
            for chunk in _chunks(group):
                self._step("update_aggregated")
                resilient(self.ledger.submit_transaction, [("update", u, {"mode": UpdateMode.MERGE}) for u in chunk])

    def find_aggregated(self, environment_id: str, aggregated_id: str) -> dict[str, Any] | None:
        """An aggregated line by id, anywhere in the environment (pages may be empty until it is found)."""
        lo, hi = environment_range(environment_id)
        entities = self.ledger.query_entities(
            "PartitionKey ge @envlo and PartitionKey lt @envhi and RowKey eq @rk",
            parameters={"envlo": lo, "envhi": hi, "rk": AGG_PREFIX + aggregated_id},
        )
        return next((dict(e) for e in entities), None)

    def query_aggregated(
        self, environment_id: str, filters: dict[str, Any], page_size: int, token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        lo, hi = environment_range(environment_id)
        clauses = ["PartitionKey ge @envlo", "PartitionKey lt @envhi", "RowKey ge @lo", "RowKey lt @hi"]
        params: dict[str, Any] = {"envlo": lo, "envhi": hi, "lo": AGG_PREFIX, "hi": "A}"}
        for name, column in {"status": "Status", "productId": "ProductId", "journalId": "JournalId"}.items():
            if filters.get(name) is not None:
                clauses.append(f"{column} eq @{name}")
                params[name] = filters[name]
        pager = self.ledger.query_entities(" and ".join(clauses), parameters=params, results_per_page=page_size)
        return _first_page(pager, decode_token(token, environment_id) if token else None, environment_id)

    # ---- reads for the API -------------------------------------------------------------------------
    def query_lines(
        self, environment_id: str, filters: dict[str, Any], page_size: int, token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
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
        pager = self.ledger.query_entities(" and ".join(clauses), parameters=params, results_per_page=page_size)
        return _first_page(pager, decode_token(token, environment_id) if token else None, environment_id)

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


def _first_page(
    pager: Iterable[TableEntity], token: dict[str, str] | None, environment_id: str
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a query and the client token for the next.

    Table Storage's continuation token is a dict (next partition and row key); azure-core's
    ``ItemPaged`` declares ``str``, so the pager is used untyped here.
    """
    pages: Any = cast(Any, pager).by_page(continuation_token=token)
    page = list(next(iter(pages), []))
    return [dict(e) for e in page], encode_token(pages.continuation_token, environment_id)


def encode_token(token: Any, environment_id: str) -> str | None:
    if not token:
        return None
    wrapped = {"env": environment_id, "next": token}
    return base64.urlsafe_b64encode(json.dumps(wrapped, sort_keys=True).encode()).decode()


def decode_token(token: str, environment_id: str) -> dict[str, str]:
    """Continuation tokens are opaque to clients and bound to their environment.

    Isolation does not rest on the token: every query is also bounded to the environment's partition
    range, so a forged token can only move where a page starts, never widen what it may contain.
    """
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError):
        raise InvalidContinuationToken("continuationToken is not valid") from None
    inner = value.get("next") if isinstance(value, dict) else None
    if (
        not isinstance(inner, dict)
        or value.get("env") != environment_id
        or set(inner) - {"PartitionKey", "RowKey"}
        or not all(isinstance(v, str) for v in inner.values())
    ):
        raise InvalidContinuationToken("continuationToken is not valid for this environment")
    return inner


def _any_status(statuses: tuple[str, ...], params: dict[str, Any]) -> str:
    """`( Status eq @s0 or ... )`, values added to `params` (the SDK substitutes `@name` only between spaces)."""
    params.update({f"s{i}": status for i, status in enumerate(statuses)})
    return "( " + " or ".join(f"Status eq @s{i}" for i in range(len(statuses))) + " )"


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


def _decimal(text: str) -> Decimal:
    return Decimal(text)


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


_created: set[tuple[str, ...]] = set()


def _ensure_tables(service: Any, names: tuple[str, ...]) -> None:
    """Create missing tables once per process (Bicep creates them in Azure; Azurite starts empty)."""
    key = (service.url, *names)
    if key in _created:
        return
    for name in names:
        with contextlib.suppress(ResourceExistsError):
            service.create_table(name)
    _created.add(key)


__all__ = [
    "OFFSET_WORK",
    "SEND_WORK",
    "ConcurrencyConflict",
    "IdRecord",
    "InvalidContinuationToken",
    "LedgerStore",
    "Marker",
    "TableClient",
    "id_partition",
    "ledger_partition",
]
