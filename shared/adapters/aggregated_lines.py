"""A ledger partition's aggregated lines (`A|id`, journal lines) and the open entries aggregation finishes.

Aggregation reads the open range (`D|`), writes aggregated lines together with their members'
stage in one partition transaction, then finishes the members' line records; sending and the
ERP's answers read and update the aggregated lines. Row keys are made here (ledger_keys.py).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from itertools import islice
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.finished_lines import FinishedLines, merged_page, whole_groups
from shared.adapters.ledger_base import (
    ConcurrencyConflict,
    _any_status,
    _decimal,
)
from shared.adapters.ledger_keys import AGGREGATED, LINE, OPEN, prefix_range
from shared.adapters.partition_ledger import OPEN_FIELDS
from shared.adapters.table_batches import BATCH, in_parallel, resilient
from shared.adapters.table_batches import chunks as _chunks
from shared.adapters.table_batches import etag as _etag
from shared.adapters.table_transactions import submit_transaction
from shared.domain.aggregation import AggregateGroup, DetailedLine
from shared.domain.identifiers import environment_range
from shared.domain.ledger_records import AggregatedLine, AggregatedUpdate, OffsetCandidate
from shared.domain.quantities import canonical

AGG_PREFIX = AGGREGATED
MERGE = {"mode": UpdateMode.MERGE}
UPDATE_COLUMNS = {
    "status": "Status",
    "status_at": "StatusAt",
    "journal_id": "JournalId",
    "journal_line_number": "JournalLineNumber",
    "sent_at": "SentAt",
    "attempts": "Attempts",
    "erp_journal_number": "ErpJournalNumber",
    "erp_line_number": "ErpLineNumber",
    "erp_onhand": "ErpOnHand",
    "on_hand": "OnHand",
    "message": "Message",
    "next_attempt_at": "NextAttemptAt",
    "waiting_for_person": "WaitingForPerson",
    "late_answers": "LateAnswers",
}
"""Where each field of an `AggregatedUpdate` is stored (a None field is not written: the SDK drops None)."""


def update_columns(update: AggregatedUpdate) -> dict[str, Any]:
    """The stored columns an update merges into its aggregated line."""
    values = {column: getattr(update, name) for name, column in UPDATE_COLUMNS.items()}
    return {column: value for column, value in values.items() if value is not None}


def aggregated_line(partition: str, entity: Any) -> AggregatedLine:
    """An aggregated line's entity as the domain sees it."""
    return AggregatedLine(
        partition=partition,
        aggregated_id=entity["AggregatedId"],
        status=entity["Status"],
        organization_id=entity["OrganizationId"],
        product_id=entity["ProductId"],
        journal_type=entity["JournalType"],
        journal_name_id=entity["JournalNameId"],
        target_status=entity["TargetStatus"],
        erp_key=entity["ErpKey"],
        quantity=entity["Quantity"],
        attempts=entity.get("Attempts") or 0,
        retries=entity.get("Retries") or 0,
        journal_id=entity.get("JournalId"),
        journal_line_number=entity.get("JournalLineNumber"),
        next_attempt_at=entity.get("NextAttemptAt"),
        late_answers=entity.get("LateAnswers"),
        erp_onhand=entity.get("ErpOnHand"),
        message=entity.get("Message"),
        waiting_for_person=bool(entity.get("WaitingForPerson")),
    )


def new_aggregated_columns(partition: str, group: AggregateGroup, at: datetime) -> dict[str, Any]:
    """The columns of a freshly aggregated line (the one place that shapes them; the test fake uses it too)."""
    _, org, product = partition.split("|", 2)
    return {
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
    }


class AggregatedLines(FinishedLines):
    """Implements `AggregatedRepository` (shared/services/ports.py) and the reads/updates of sending."""

    def has_open_lines(self, partition: str) -> bool:
        lo, hi = prefix_range(OPEN)
        pager = self.ledger_of(partition).query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": partition, "lo": lo, "hi": hi},
            results_per_page=1,
            select=["RowKey"],
        )
        return next(iter(pager), None) is not None

    def offset_candidates(self, partition: str, statuses: tuple[str, ...]) -> list[OffsetCandidate]:
        """Aggregated lines whose offset is still open and whose status may have reached its trigger."""
        params: dict[str, Any] = {"pk": partition, "lo": AGG_PREFIX, "hi": "A}", "open": "open"}
        query = (
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and ( Offset eq @open or OnHand eq @open )"
            " and " + _any_status(statuses, params)
        )
        self._step("read_offsets")
        return [
            OffsetCandidate(
                e["RowKey"],
                _etag(e),
                json.loads(e["ErpKey"]),
                e["Status"],
                e["Quantity"],
                e.get("Offset"),
                e.get("OnHand"),
                json.loads(e["ErpOnHand"]) if e.get("ErpOnHand") else None,
            )
            for e in self.ledger_of(partition).query_entities(query, parameters=params)
        ]

    def posted_lines(self, partition: str, limit: int) -> tuple[list[DetailedLine], list[tuple[str, str]]]:
        """Open lines past `Created`, from the open range only.

        Returns the `IVPosted` lines (row key `L|id`, ETag of the open entry) and the lines already
        in an aggregated line whose record still has to say so (line id, aggregated id).
        """
        lo, hi = prefix_range(OPEN)
        self._step("read_posted")
        pager = self.ledger_of(partition).query_entities(
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
        """Lines no journal takes (no mapping for their source + measure) are finished as they are
        (`IVPosted`): each open entry goes, guarded by its ETag, and its record moves to `finishedlines`."""
        self.finish_lines(partition, [(line.row_key[len(LINE) :], {}, line.etag) for line in lines])

    def commit_aggregation(self, partition: str, groups: list[AggregateGroup], at: datetime) -> bool:
        """Aggregated lines and what becomes of their members, in one transaction; True if finished.

        A visit that fits one transaction (up to 49 lines: a create per group and two operations a
        line) finishes its members there: each line record says `Aggregated` and its open entry goes,
        the delete guarded by the entry's ETag, so a concurrent visit makes the whole of it fail. A
        bigger visit moves the open entries to `Aggregated` (one operation a member, up to ~97 lines
        of a key in one aggregated line) and `finish_aggregated` writes the records afterwards.
        """
        members = sum(len(group.lines) for group in groups)
        finish = len(groups) + 2 * members <= BATCH
        ops: list[Any] = []
        for group in groups:
            ops.append(
                (
                    "create",
                    {
                        "PartitionKey": partition,
                        "RowKey": AGG_PREFIX + group.aggregated_id,
                        **new_aggregated_columns(partition, group, at),
                    },
                )
            )
            for line in group.lines:
                guard = {"etag": line.etag, "match_condition": MatchConditions.IfNotModified}
                entry = {"PartitionKey": partition, "RowKey": OPEN + line.row_key[len(LINE) :]}
                if finish:
                    ops.append(("update", _aggregated_record(partition, line.line_id, group.aggregated_id, at), MERGE))
                    ops.append(("delete", entry, guard))
                else:
                    entry |= {"Stage": "Aggregated", "AggregatedLineId": group.aggregated_id}
                    ops.append(("update", entry, MERGE | guard))
        self._commit(ops, "commit_aggregation")
        return finish

    def finish_aggregated(self, partition: str, members: list[tuple[str, str]], at: datetime) -> None:
        """Line records say `Aggregated` and their open entries go, two operations a line.

        Repeatable: a crash in between leaves entries in stage `Aggregated`, which the next visit
        finishes; a concurrent finisher makes a chunk fail, and the caller re-reads.
        """
        ops: list[Any] = []
        for line_id, aggregated_id in members:
            ops.append(("update", _aggregated_record(partition, line_id, aggregated_id, at), MERGE))
            ops.append(("delete", {"PartitionKey": partition, "RowKey": OPEN + line_id}))
        for chunk in _chunks(ops):
            self._commit(chunk, "finish_aggregated")  # a concurrent finisher: a conflict, the caller re-reads

    def aggregated_lines(self, partition: str, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"pk": partition, "lo": AGG_PREFIX, "hi": "A}"}
        query = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and " + _any_status(statuses, params)
        entities = self.ledger_of(partition).query_entities(query, parameters=params)
        return [dict(e) | {"_etag": _etag(e)} for e in entities]

    def get_aggregated(self, partition: str, aggregated_id: str) -> dict[str, Any] | None:
        """An aggregated line from the ledger, or from `finishedlines` once finished (copied before it
        leaves the ledger, so always found)."""
        for table in (self.ledger_of(partition), self.finished):
            try:
                return dict(table.get_entity(partition, AGG_PREFIX + aggregated_id))
            except ResourceNotFoundError:
                continue
        return None

    def finish_posted(self, partition: str) -> int:
        """Aggregated lines the ERP has posted, whose offset and on-hand change are applied, leave the
        ledger for `finishedlines` together with the line records they were made of: nothing changes
        them any more but a late answer, recorded where they are.

        Done here, off the lines' hot path: the visits that sync and aggregate a store's lines keep
        their one transaction, and the ledger keeps only the work in flight (lines until their journal
        is posted), not the history. All of them are copied first (upserts: repeatable), then deleted
        in transactions that never split an aggregated line from its members, its own delete guarded
        by the ETag it was copied with: an answer recorded in between fails that transaction, those
        lines stay, and a later visit copies them again."""
        self._step("read_finished_aggregated")
        posted = [
            e
            for e in self.ledger_of(partition).query_entities(
                "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and Status eq @posted",
                parameters={"pk": partition, "lo": AGG_PREFIX, "hi": "A}", "posted": "FnOPosted"},
            )
            if e.get("Offset") != "open" and e.get("OnHand") != "open"
        ]
        wanted = [(partition, line_id) for aggregated in posted for line_id in _member_ids(aggregated)]
        records = {r["RowKey"]: r for r in in_parallel(self._ledger_line, wanted) if r is not None}
        self._step("copy_finished_aggregated")
        for chunk in _chunks([*(dict(a) for a in posted), *records.values()]):
            resilient(submit_transaction, self.finished, [("upsert", copy) for copy in chunk])
        groups: list[list[Any]] = []
        for aggregated in posted:  # an aggregated line's members, then itself (guarded), never split
            group: list[Any] = [
                ("delete", {"PartitionKey": partition, "RowKey": LINE + line_id})
                for line_id in _member_ids(aggregated)
                if LINE + line_id in records
            ]
            guard = {"etag": _etag(aggregated), "match_condition": MatchConditions.IfNotModified}
            groups.append([*group, ("delete", {"PartitionKey": partition, "RowKey": aggregated["RowKey"]}, guard)])
        moved = 0
        for chunk in whole_groups(groups):  # up to 100 operations (an aggregated line takes at most 99 members)
            try:
                self._commit(chunk, "finish_aggregated_lines")
            except ConcurrencyConflict:
                continue  # an answer was recorded meanwhile: a later visit of the partition moves these
            moved += sum(1 for op in chunk if op[1]["RowKey"].startswith(AGG_PREFIX))
        return moved

    def update_aggregated(self, updates: list[dict[str, Any]]) -> None:
        """Merge status changes into aggregated lines, one transaction per partition and chunk.

        A chunk naming a line that has left the ledger (finished, see `finish_posted`) is applied
        line by line, each where it is: only a late answer is ever recorded on a finished line."""
        by_partition: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for update in updates:
            by_partition[update["PartitionKey"]].append(update)
        for partition, group in by_partition.items():
            for chunk in _chunks(group):
                self._step("update_aggregated")
                try:
                    resilient(submit_transaction, self.ledger_of(partition), [("update", u, MERGE) for u in chunk])
                except TableTransactionError as exc:
                    if exc.status_code != 404:
                        raise
                    for update in chunk:
                        self._update_where_it_is(update)

    def _update_where_it_is(self, update: dict[str, Any]) -> None:
        try:
            self.ledger_of(update["PartitionKey"]).update_entity(update, mode=UpdateMode.MERGE)
        except ResourceNotFoundError:
            self.finished.update_entity(update, mode=UpdateMode.MERGE)  # copied before it left the ledger

    def find_aggregated(self, environment_id: str, aggregated_id: str) -> dict[str, Any] | None:
        """An aggregated line by id, anywhere in the environment (pages may be empty until it is found):
        a query a ledger table, then `finishedlines`."""
        lo, hi = environment_range(environment_id)
        for table in (*self.ledgers, self.finished):
            entities = table.query_entities(
                "PartitionKey ge @envlo and PartitionKey lt @envhi and RowKey eq @rk",
                parameters={"envlo": lo, "envhi": hi, "rk": AGG_PREFIX + aggregated_id},
            )
            found = next((dict(e) for e in entities), None)
            if found is not None:
                return found
        return None

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
        # An aggregated line being moved is taken from the ledger: a late answer may be newer there.
        query = " and ".join(clauses)
        return merged_page((*self.ledgers, self.finished), query, params, page_size, token, environment_id)

    # ---- sending: domain shapes (SendingRepository) --------------------------------------------
    def waiting_lines(self, partition: str, statuses: tuple[str, ...]) -> list[AggregatedLine]:
        """The partition's aggregated lines in one of `statuses` (to send, or to resend)."""
        return [aggregated_line(partition, e) for e in self.aggregated_lines(partition, statuses)]

    def aggregated_line(self, partition: str, aggregated_id: str) -> AggregatedLine | None:
        found = self.get_aggregated(partition, aggregated_id)
        return None if found is None else aggregated_line(partition, found)

    def lines_of_journal(self, environment_id: str, journal_id: str) -> list[AggregatedLine]:
        """Every aggregated line of a journal, over all pages."""
        items, token = self.query_aggregated(environment_id, {"journalId": journal_id}, 1000, None)
        while token:
            more, token = self.query_aggregated(environment_id, {"journalId": journal_id}, 1000, token)
            items += more
        return [aggregated_line(e["PartitionKey"], e) for e in items]

    def find_aggregated_line(self, environment_id: str, aggregated_id: str) -> AggregatedLine | None:
        found = self.find_aggregated(environment_id, aggregated_id)
        return None if found is None else aggregated_line(found["PartitionKey"], found)

    def apply_updates(self, updates: list[AggregatedUpdate]) -> None:
        """Merge the updates into their aggregated lines (one transaction per partition and chunk)."""
        self.update_aggregated(
            [
                {"PartitionKey": u.partition, "RowKey": AGG_PREFIX + u.aggregated_id, **update_columns(u)}
                for u in updates
            ]
        )


def _member_ids(aggregated: dict[str, Any]) -> list[str]:
    """The line ids an aggregated line was made of (none if the list was cut short: the lines stay)."""
    try:
        ids = json.loads(aggregated.get("DetailedLineIds") or "[]")
    except ValueError:
        return []
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def _aggregated_record(partition: str, line_id: str, aggregated_id: str, at: datetime) -> dict[str, Any]:
    """A line record's status once it is in an aggregated line (merged into the record)."""
    return {
        "PartitionKey": partition,
        "RowKey": LINE + line_id,
        "Status": "Aggregated",
        "AggregatedLineId": aggregated_id,
        "AggregatedAt": at,
    }
