"""Finished records leave the ledger for their own table (`finishedlines`), so the ledger keeps the work in flight.

A line's record is finished when its aggregated line is posted in the ERP with its offset and on-hand
change applied (the offset visit moves the two together: `AggregatedLines.finish_posted`), or when
the line is closed because no journal takes its source and measure (`finish_lines`, here). From then
on nothing changes it but a late ERP answer; it is read (one line, or pages of the environment's
lines) but no visit needs it. Kept in the ledger, finished records are the bulk of every busy
partition and of the table, for ever: on Azure Table Storage a visit's range queries skip them by
key, but the emulator, Azurite, evaluates every query against every entity of the table, so there
each visit paid for the whole history (`bench/scale.py`, `history_ratio`). Moved out, they also get
a table of their own that an operator can export or expire without touching open work. The move is
off the path a store's line takes into the cache: sync and aggregation keep their one transaction.

The move keeps a record readable at every moment, whatever crashes:

1. the record is copied into `finishedlines` (an upsert: repeatable);
2. one ledger transaction deletes it (with its open entry, or with its aggregated line).

A reader looks in the ledger first and in `finishedlines` second: a record deleted from the ledger
was copied before, so it is always found. A crash between 1 and 2 leaves it in the ledger, and the
next visit moves it again.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity

from shared.adapters.ledger_base import LedgerTables, decode_token, encode_token
from shared.adapters.ledger_keys import LINE, OPEN
from shared.adapters.table_batches import BATCH, in_parallel, resilient
from shared.adapters.table_batches import chunks as _chunks
from shared.adapters.table_transactions import submit_transaction

Finish = tuple[str, dict[str, Any], str | None]
"""A line to finish: its id, the columns of its final status, and the ETag its open entry must still have (or None)."""


class FinishedLines(LedgerTables):
    """Moves finished line records out of the ledger and reads a line wherever it is."""

    def finish_lines(self, partition: str, lines: list[Finish]) -> None:
        """Copy each line's record with its final columns to `finishedlines`, then delete the record and
        its open entry from the ledger, a line's two deletes always in one transaction.

        A concurrent visit that finished the same lines first makes the ledger transaction fail with a
        conflict (the entries are gone, or their ETag changed); the caller re-reads. Its copies were the
        same lines with the same final status, so nothing is lost by writing them twice.
        """
        if not lines:
            return
        self._step("read_finishing")
        records = list(in_parallel(self._ledger_line, [(partition, line_id) for line_id, _, _ in lines]))
        copies = [
            _finished_copy(record, final)
            for record, (_, final, _) in zip(records, lines, strict=True)
            if record is not None
        ]
        for chunk in _chunks(copies):
            self._step("copy_finished")
            resilient(submit_transaction, self.finished, [("upsert", copy) for copy in chunk])
        groups: list[list[Any]] = []
        for record, (line_id, _, guard) in zip(records, lines, strict=True):
            entry = {"PartitionKey": partition, "RowKey": OPEN + line_id}
            group: list[Any] = [
                ("delete", entry, {"etag": guard, "match_condition": MatchConditions.IfNotModified})
                if guard
                else ("delete", entry)
            ]
            if record is not None:
                group.append(("delete", {"PartitionKey": partition, "RowKey": LINE + line_id}))
            groups.append(group)
        for chunk in whole_groups(groups):
            self._commit(chunk, "finish_lines")

    def get_line(self, partition: str, line_id: str) -> dict[str, Any] | None:
        """A line's record: from the ledger while it is open, from `finishedlines` once finished."""
        record = self._ledger_line(partition, line_id)
        if record is not None:
            return record
        try:
            return dict(self.finished.get_entity(partition, LINE + line_id))
        except ResourceNotFoundError:
            return None

    def _ledger_line(self, partition: str, line_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.ledger_of(partition).get_entity(partition, LINE + line_id))
        except ResourceNotFoundError:
            return None

    def line_pages(
        self, query: str, params: dict[str, Any], page_size: int, token: str | None, environment_id: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of line records matching `query` from the ledger tables and `finishedlines` together.

        A line being moved can be in both places for a moment: it is listed once, as its finished copy
        (written only after the line was aggregated or closed, so never ahead of the truth).
        """
        return merged_page((self.finished, *self.ledgers), query, params, page_size, token, environment_id)


def merged_page(
    tables: Sequence[TableClient],
    query: str,
    params: dict[str, Any],
    page_size: int,
    token: str | None,
    environment_id: str,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the entities matching `query` in tables with the same keys (the ledger's shards and
    `finishedlines`), merged in key order, and the token of the next page (the key it starts at, bound
    to the environment). An entity in several tables is taken from the first of `tables` that has it.

    Each table is asked for one page at most `page_size + 1` long, all at once (a page costs a query a
    table, and takes about as long as one)."""
    if token:
        start = decode_token(token, environment_id)
        query += " and ( PartitionKey gt @startpk or ( PartitionKey eq @startpk and RowKey ge @startrk ) )"
        params = params | {"startpk": start.get("PartitionKey", ""), "startrk": start.get("RowKey", "")}
    firsts = in_parallel(_first_and_rest, [(table, query, params, page_size + 1) for table in tables])
    streams = [_tagged(chain(first, rest), order) for order, (first, rest) in enumerate(firsts)]
    page = list(islice(_unique(heapq.merge(*streams)), page_size + 1))
    following = page[page_size] if len(page) > page_size else None
    next_token = (
        encode_token({"PartitionKey": following["PartitionKey"], "RowKey": following["RowKey"]}, environment_id)
        if following is not None
        else None
    )
    return page[:page_size], next_token


def _first_and_rest(
    table: TableClient, query: str, params: dict[str, Any], size: int
) -> tuple[list[TableEntity], Iterator[TableEntity]]:
    """A query's first page, fetched now, and the rest, fetched as they are read."""
    pages: Any = table.query_entities(query, parameters=params, results_per_page=size).by_page()
    first = list(next(pages, []))
    return first, chain.from_iterable(pages)


def in_key_order(streams: Iterable[Iterable[TableEntity]]) -> Iterator[TableEntity]:
    """Entities of several tables (each in key order, as Table Storage returns them) in one key order."""
    return heapq.merge(*streams, key=lambda e: (e["PartitionKey"], e["RowKey"]))


def _finished_copy(record: dict[str, Any], final: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in record.items() if value is not None} | final


def whole_groups(groups: list[list[Any]]) -> Iterator[list[Any]]:
    """Transactions of up to 100 operations that never split a group (a line's record and its open
    entry; an aggregated line and its members)."""
    chunk: list[Any] = []
    for group in groups:
        if len(chunk) + len(group) > BATCH:
            yield chunk
            chunk = []
        chunk += group
    if chunk:
        yield chunk


def _tagged(entities: Iterable[TableEntity], order: int) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    for entity in entities:
        yield entity["PartitionKey"], entity["RowKey"], order, dict(entity)


def _unique(merged: Iterable[tuple[str, str, int, dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """The first of each key (the entity of the first table sorts first: its tag is 0)."""
    last: tuple[str, str] | None = None
    for partition, row_key, _, entity in merged:
        if (partition, row_key) != last:
            last = (partition, row_key)
            yield entity
