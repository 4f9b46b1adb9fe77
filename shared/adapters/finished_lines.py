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
2. one ledger transaction deletes it (an open line's record, or an aggregated line with its members).

A reader looks in the ledger first and in `finishedlines` second: a record deleted from the ledger
was copied before, so it is always found. A crash between 1 and 2 leaves it in the ledger, and the
next visit moves it again.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from itertools import islice
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
"""A line to finish: its id, the columns of its final status, and the ETag its open record must still have (or None)."""


class FinishedLines(LedgerTables):
    """Moves finished line records out of the ledger and reads a line wherever it is."""

    def finish_lines(self, partition: str, lines: list[Finish]) -> None:
        """Copy each open line's record with its final columns to `finishedlines`, then delete it from
        the ledger (guarded by the ETag the caller read it with).

        A concurrent visit that finished the same lines first makes the ledger transaction fail with a
        conflict (the records are gone, or their ETag changed); the caller re-reads. Its copies were the
        same lines with the same final status, so nothing is lost by writing them twice.
        """
        if not lines:
            return
        self._step("read_finishing")
        records = list(in_parallel(self._ledger_record, [(partition, OPEN + line_id) for line_id, _, _ in lines]))
        copies = [
            _finished_copy(record, final, line_id)
            for record, (line_id, final, _) in zip(records, lines, strict=True)
            if record is not None
        ]
        for chunk in _chunks(copies):
            self._step("copy_finished")
            resilient(submit_transaction, self.finished, [("upsert", copy) for copy in chunk])
        ops: list[Any] = []
        for line_id, _, guard in lines:
            entry = {"PartitionKey": partition, "RowKey": OPEN + line_id}
            ops.append(
                ("delete", entry, {"etag": guard, "match_condition": MatchConditions.IfNotModified})
                if guard
                else ("delete", entry)
            )
        for chunk in _chunks(ops):
            self._commit(chunk, "finish_lines")

    def get_line(self, partition: str, line_id: str) -> dict[str, Any] | None:
        """A line's record wherever it is: open (`D|`), aggregated (`L|`), or in `finishedlines`.

        Read in the order a record moves (each move writes the new place before, or in the same
        transaction as, it deletes the old), so a record moving meanwhile is still found."""
        for key in (OPEN + line_id, LINE + line_id):
            record = self._ledger_record(partition, key)
            if record is not None:
                return record
        try:
            return dict(self.finished.get_entity(partition, LINE + line_id))
        except ResourceNotFoundError:
            return None

    def _ledger_record(self, partition: str, row_key: str) -> dict[str, Any] | None:
        try:
            return dict(self.ledger.get_entity(partition, row_key))
        except ResourceNotFoundError:
            return None

    def _ledger_line(self, partition: str, line_id: str) -> dict[str, Any] | None:
        """An aggregated line's member record (`L|id`) in the ledger."""
        return self._ledger_record(partition, LINE + line_id)

    def line_pages(
        self, query: str, params: dict[str, Any], page_size: int, token: str | None, environment_id: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of line records matching `query` (which bounds `RowKey` by `@lo` and `@hi`) from
        the ledger's open and aggregated records and `finishedlines` together, in (partition, line id)
        order.

        A line being moved to `finishedlines` can be in both tables for a moment: it is listed once, as
        its finished copy (written only after the line was aggregated or closed, so never ahead of the
        truth). The move from open to aggregated is one transaction: never in both places."""
        return merged_page(
            [(self.finished, LINE), (self.ledger, LINE), (self.ledger, OPEN)],
            query,
            params,
            page_size,
            token,
            environment_id,
        )


Source = tuple[TableClient, str]
"""A table and the row-key prefix (`X|`) of the records it adds to a merged page."""


def merged_page(
    sources: list[Source],
    query: str,
    params: dict[str, Any],
    page_size: int,
    token: str | None,
    environment_id: str,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the entities matching `query` in every source, merged in (partition, id) order (the
    row key less its prefix), and the token of the next page (where it starts, bound to the
    environment). Each source is queried over its own prefix (`@lo` ≤ RowKey < `@hi`); a record
    found in two sources is taken from the first of `sources`."""
    start: dict[str, Any] = decode_token(token, environment_id) if token else {}
    streams = []
    for order, (table, prefix) in enumerate(sources):
        source_query = query
        source_params = params | {"lo": prefix, "hi": prefix[:-1] + "}"}
        if token:
            source_query += " and ( PartitionKey gt @startpk or ( PartitionKey eq @startpk and RowKey ge @startrk ) )"
            source_params |= {"startpk": start.get("PartitionKey", ""), "startrk": prefix + _id_of(start)}
        pager = table.query_entities(source_query, parameters=source_params, results_per_page=page_size + 1)
        streams.append(_tagged(pager, order))
    page = list(islice(_unique(heapq.merge(*streams)), page_size + 1))
    following = page[page_size] if len(page) > page_size else None
    next_token = (
        encode_token({"PartitionKey": following["PartitionKey"], "RowKey": following["RowKey"]}, environment_id)
        if following is not None
        else None
    )
    return page[:page_size], next_token


def _id_of(key: dict[str, Any]) -> str:
    """A record's id (its row key less the prefix) from a page token or an entity: a page that ends
    on an open line (`D|id`) goes on at that id in every source."""
    row_key = str(key.get("RowKey", ""))
    return row_key.split("|", 1)[1] if "|" in row_key else row_key


def _finished_copy(record: dict[str, Any], final: dict[str, Any], line_id: str) -> dict[str, Any]:
    """A record as `finishedlines` keeps it: under `L|id`, without the open record's stage."""
    kept = {name: value for name, value in record.items() if value is not None and name != "Stage"}
    return kept | {"RowKey": LINE + line_id} | final


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
        yield entity["PartitionKey"], entity["RowKey"].split("|", 1)[1], order, dict(entity)


def _unique(merged: Iterable[tuple[str, str, int, dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """The first of each (partition, id) (the entity of the first source sorts first: its tag is lowest)."""
    last: tuple[str, str] | None = None
    for partition, row_key, _, entity in merged:
        if (partition, row_key) != last:
            last = (partition, row_key)
            yield entity
