"""What the ledger's repositories share: one set of table clients, the fault hook, conflicts, page tokens.

Every repository (ids, partition lines + cache, aggregated lines, pending work) is a `LedgerTables`;
`LedgerStore` composes them over one `TableServiceClient`, so the `fault` test hook sees every
storage step of a use case, in order, whichever repository takes it. All queries pass values
through `parameters=`.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, cast

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient, TableEntity, TableTransactionError

from shared.adapters.ledger_keys import ledger_shard
from shared.adapters.storage_clients import table_client, table_name, table_service
from shared.adapters.storage_names import FINISHED_LINES_TABLE, LEDGER_TABLES, LINE_IDS_TABLE, PENDING_TABLE
from shared.adapters.table_batches import resilient
from shared.adapters.table_transactions import submit_transaction

LINE_IDS, PENDING = LINE_IDS_TABLE, PENDING_TABLE
Fault = Callable[[str], None]
CONFLICT_CODES = ("UpdateConditionNotSatisfied", "EntityAlreadyExists")


class ConcurrencyConflict(RuntimeError):
    """Another writer changed an entity first; re-read and try again."""


class InvalidContinuationToken(ValueError):
    pass


class LedgerTables:
    """The ledger's tables and the test hook; `fault` is called before every storage call."""

    def __init__(self, fault: Fault | None = None) -> None:
        service = table_service()
        self._fault = fault or (lambda step: None)
        self.ledgers = ledger_clients()
        self.line_ids = table_client(table_name(LINE_IDS))
        self.pending = table_client(table_name(PENDING))
        self.finished = table_client(table_name(FINISHED_LINES_TABLE))
        _ensure_tables(
            service, tuple(c.table_name for c in (*self.ledgers, self.line_ids, self.pending, self.finished))
        )

    def ledger_of(self, partition: str) -> TableClient:
        """The ledger table that holds `partition` (every entity of a partition is in one table)."""
        return self.ledgers[ledger_shard(partition)]

    def _step(self, name: str) -> None:
        self._fault(name)

    def _commit(self, ops: list[Any], step: str) -> list[Any]:
        """One partition transaction; a lost race is a `ConcurrencyConflict`, whichever way it shows:
        a changed ETag (412), an entity created first (409), or one another visit deleted first
        (404: an open entry whose guarded update or delete comes after the visit that closed it)."""
        try:
            self._step(step)
            return resilient(submit_transaction, self.ledger_of(ops[0][1]["PartitionKey"]), ops)
        except TableTransactionError as exc:
            code = getattr(exc, "error_code", None)  # set by the SDK's error decoder, not declared on the class
            if exc.status_code in (404, 409, 412) or code in CONFLICT_CODES:
                raise ConcurrencyConflict(str(code)) from None
            raise


def ledger_clients() -> tuple[TableClient, ...]:
    """The process's clients of every ledger table, in shard order (`ledger_keys.ledger_shard`)."""
    return tuple(table_client(table_name(name)) for name in LEDGER_TABLES)


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


def _decimal(text: str) -> Decimal:
    return Decimal(text)


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
