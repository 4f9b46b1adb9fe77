"""What each target was sent, and the delta batches on their way, in table `levels`.

PartitionKey `env|target|org|product` (one product for one target: everything a level visit or a
send must change together), so a commit is one entity group transaction:

| RowKey              | what                                                                      |
|---------------------|---------------------------------------------------------------------------|
| `S`                 | committed levels (what the target has once every batch is sent) and `Seq`  |
| `T`                 | levels the target was sent (confirmed), `Seq` of the last batch sent       |
| `B|seq|part`        | an open batch: delta lines of one change, `pending` or `sending` (in file) |
| `Z|seq|part`        | a sent batch (history; never read by a visit or a send)                   |

A visit commits `S` (ETag-guarded, created on the first sync) together with the new `B` rows, so a
change becomes lines exactly once even when visits crash or run at once. A send moves `B` rows to
`H` and updates `T` in one transaction. The cache rows are read from the ledger table (read only).
All queries pass values through `parameters=`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from azure.core import MatchConditions
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.ledger_keys import CACHE, ledger_shard
from shared.adapters.ledger_tables import (
    CONFLICT_CODES,
    PENDING,
    ConcurrencyConflict,
    _cache_row,
    _ensure_tables,
    ledger_clients,
)
from shared.adapters.ledger_tables import decode_token as _decode_token
from shared.adapters.ledger_tables import encode_token as _encode_token
from shared.adapters.pending_index import PendingIndex
from shared.adapters.storage_clients import table_client, table_name, table_service
from shared.adapters.storage_names import LEVELS_TABLE
from shared.adapters.table_batches import BATCH, resilient
from shared.adapters.table_batches import etag as _etag
from shared.adapters.table_transactions import submit_transaction
from shared.domain.cache import CacheRow
from shared.domain.level_deltas import DeltaLine, Levels

LEVELS = LEVELS_TABLE
STATE, SENT, OPEN_BATCH, SENT_BATCH = "S", "T", "B|", "Z|"
"""Key order B| < S < T < Z|: one range query returns the open batches with `S` and `T`, never the history."""
LINES_PER_PART = 100
"""Delta lines per batch entity (a string property holds 32K characters; a line is ~250)."""
LEVEL_WORK = "level"
"""A ledger partition whose levels may have changed (to compare with what each target was sent)."""
LEVEL_SEND_WORK = "levelsend"
"""A levels partition (`env|target|org|product`) with open batches to send."""

Fault = Callable[[str], None]


def levels_partition(environment_id: str, target: str, organization_id: str, product_id: str) -> str:
    return f"{environment_id}|{target}|{organization_id}|{product_id}"


def split_levels_partition(partition: str) -> tuple[str, str, str, str]:
    environment_id, target, organization_id, product_id = partition.split("|", 3)
    return environment_id, target, organization_id, product_id


def target_range(environment_id: str, target: str) -> tuple[str, str]:
    return f"{environment_id}|{target}|", f"{environment_id}|{target}}}"


def batch_key(prefix: str, sequence: int, part: int) -> str:
    return f"{prefix}{sequence:012d}|{part:03d}"


class LevelStore(PendingIndex):
    """Table operations of level sync; `fault` is a test hook called before every storage call."""

    def __init__(self, fault: Fault | None = None) -> None:
        service = table_service()
        self._fault = fault or (lambda step: None)
        self.levels = table_client(table_name(LEVELS))
        self.ledgers = ledger_clients()
        self.pending = table_client(table_name(PENDING))
        _ensure_tables(service, tuple(c.table_name for c in (self.levels, *self.ledgers, self.pending)))

    def _step(self, name: str) -> None:
        self._fault(name)

    # ---- the visit -----------------------------------------------------------------------------------
    def cache_rows(self, ledger_partition: str) -> tuple[list[CacheRow], dict[str, datetime]]:
        """A product's cache rows and when each last changed (the ERP timestamp of its levels)."""
        self._step("read_cache")
        rows, stamps = [], {}
        for e in self.ledgers[ledger_shard(ledger_partition)].query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": ledger_partition, "lo": CACHE, "hi": CACHE[:-1] + "}"},
        ):
            row = _cache_row(e)
            rows.append(row)
            if e.get("UpdatedAt") is not None:
                stamps[row.row_key] = e["UpdatedAt"]
        return rows, stamps

    def read_state(self, partition: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The committed state `S` (with `_etag`) and the sent state `T`, in one query."""
        self._step("read_state")
        found: dict[str, dict[str, Any]] = {}
        for e in self.levels.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": partition, "lo": STATE, "hi": "U"},
        ):
            found[e["RowKey"]] = dict(e) | {"_etag": _etag(e)}
        return found.get(STATE), found.get(SENT)

    def commit_batch(
        self,
        partition: str,
        state_etag: str | None,
        levels: Levels,
        sequence: int,
        lines: list[DeltaLine],
        at: datetime,
    ) -> None:
        """The new committed levels and the batch of lines that gets the target there, all or nothing."""
        _, target, org, product = split_levels_partition(partition)
        state = {
            "PartitionKey": partition,
            "RowKey": STATE,
            "Status": "state",
            "Levels": json.dumps(levels, sort_keys=True),
            "Seq": sequence,
            "UpdatedAt": at,
        }
        ops: list[Any] = []
        if state_etag is None:
            ops.append(("create", state))
        else:
            ops.append(
                (
                    "update",
                    state,
                    {"mode": UpdateMode.REPLACE, "etag": state_etag, "match_condition": MatchConditions.IfNotModified},
                )
            )
        parts = [lines[i : i + LINES_PER_PART] for i in range(0, len(lines), LINES_PER_PART)]
        if len(parts) >= BATCH:
            raise ValueError(f"{partition}: {len(lines)} delta lines in one change; at most {LINES_PER_PART * 99}")
        for number, part in enumerate(parts):
            ops.append(
                (
                    "create",
                    {
                        "PartitionKey": partition,
                        "RowKey": batch_key(OPEN_BATCH, sequence, number),
                        "Status": "pending",
                        "Target": target,
                        "OrganizationId": org,
                        "ProductId": product,
                        "Seq": sequence,
                        "Lines": json.dumps([line.as_dict() for line in part], sort_keys=True),
                        "LineCount": len(part),
                        "Attempts": 0,
                        "CreatedAt": at,
                    },
                )
            )
        self._commit(ops, "commit_levels")

    def _commit(self, ops: list[Any], step: str) -> list[Any]:
        try:
            self._step(step)
            return resilient(submit_transaction, self.levels, ops)
        except TableTransactionError as exc:
            code = getattr(exc, "error_code", None)  # set by the SDK's error decoder, not declared on the class
            if exc.status_code in (409, 412) or code in CONFLICT_CODES:
                raise ConcurrencyConflict(str(code)) from None
            raise

    # ---- the send --------------------------------------------------------------------------------------
    def open_batches(self, partition: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Open batches in sequence order (key order) and the sent state `T`, in one query; history left out."""
        self._step("read_batches")
        batches, sent = [], None
        for e in self.levels.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": partition, "lo": OPEN_BATCH, "hi": "U"},
        ):
            if e["RowKey"].startswith(OPEN_BATCH):
                batches.append(dict(e))
            elif e["RowKey"] == SENT:
                sent = dict(e)
        return batches, sent

    def sent_with_file(self, environment_id: str, target: str, file_id: str) -> list[tuple[str, dict[str, Any]]]:
        """Batches of `file_id` already moved to history (a crash stopped its finish half way): a resend
        of the file must carry them too, so it has the same lines as the first time."""
        lo, hi = target_range(environment_id, target)
        self._step("read_file_history")
        return [
            (e["PartitionKey"], dict(e))
            for e in self.levels.query_entities(
                "PartitionKey ge @pklo and PartitionKey lt @pkhi and RowKey ge @lo and RowKey lt @hi and FileId eq @f",
                parameters={"pklo": lo, "pkhi": hi, "lo": SENT_BATCH, "hi": SENT_BATCH[:-1] + "}", "f": file_id},
            )
        ]

    def mark_batches(self, partition: str, row_keys: list[str], values: dict[str, Any]) -> None:
        """Merge `values` into open batches (a file id before sending, a failure after)."""
        ops = [
            ("update", {"PartitionKey": partition, "RowKey": k, **values}, {"mode": UpdateMode.MERGE}) for k in row_keys
        ]
        for start in range(0, len(ops), BATCH):
            self._commit(ops[start : start + BATCH], "mark_batches")

    def finish_batches(self, partition: str, batches: list[dict[str, Any]], sent: dict[str, Any], at: datetime) -> None:
        """Sent batches move to history and `T` takes the levels they carried, in one transaction."""
        ops: list[Any] = [("upsert", {"PartitionKey": partition, "RowKey": SENT, **sent}, {"mode": UpdateMode.REPLACE})]
        for batch in batches:
            history = {k: v for k, v in batch.items() if k not in ("PartitionKey", "RowKey")}
            history |= {"Status": "sent", "SentAt": at}
            ops.append(("delete", {"PartitionKey": partition, "RowKey": batch["RowKey"]}))
            ops.append(
                (
                    "upsert",
                    {"PartitionKey": partition, "RowKey": SENT_BATCH + batch["RowKey"][len(OPEN_BATCH) :], **history},
                    {"mode": UpdateMode.REPLACE},
                )
            )
        if len(ops) > BATCH:
            raise ValueError(f"{partition}: too many batches to finish at once ({len(batches)})")
        try:
            self._commit(ops, "finish_batches")
        except ConcurrencyConflict:
            raise
        except TableTransactionError as exc:  # a batch already moved by an earlier, crashed finish
            if exc.status_code != 404:
                raise
            raise ConcurrencyConflict("ResourceNotFound") from None

    # ---- reads for the API -------------------------------------------------------------------------------
    def query_target(
        self, environment_id: str, target: str, rows: str, page_size: int, token: str | None, extra: str = ""
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a target's `T` rows (`rows="sent"`) or open batches (`rows="open"`)."""
        lo, hi = target_range(environment_id, target)
        params: dict[str, Any] = {"pklo": lo, "pkhi": hi}
        clauses = ["PartitionKey ge @pklo", "PartitionKey lt @pkhi"]
        if rows == "sent":
            clauses.append("RowKey eq @rk")
            params["rk"] = SENT
        else:
            clauses += ["RowKey ge @lo", "RowKey lt @hi"]
            params["lo"], params["hi"] = OPEN_BATCH, OPEN_BATCH[:-1] + "}"
        if extra == "failed":
            clauses.append("Attempts gt @zero")
            params["zero"] = 0
        pager = self.levels.query_entities(" and ".join(clauses), parameters=params, results_per_page=page_size)
        scope = f"{environment_id}|{target}"
        # Table Storage's token is a dict; azure-core's ItemPaged declares str, so the pager is used untyped.
        pages: Any = cast(Any, pager).by_page(continuation_token=_decode_token(token, scope) if token else None)
        page = list(next(iter(pages), []))
        return [dict(e) for e in page], _encode_token(pages.continuation_token, scope)
