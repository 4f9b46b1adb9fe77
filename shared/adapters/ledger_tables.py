"""The inventory ledger in Table Storage: one facade over its focused repositories.

Layout (key prefixes in ledger_keys.py): tables `ledger00` … `ledger07` (a partition in the one
`ledger_keys.ledger_shard` names), PartitionKey `env|org|product`, holding the product's detailed
lines (`L|id`), open entries (`D|id`), cache rows (`C|hash`) and aggregated lines (`A|id`), so a sync is one entity
group transaction. Table `lineids` makes line ids unique per environment across products; table `pending` lists
partitions with work. Each concern is its own repository behind a `typing.Protocol` port (shared/services/ports.py):

- `IdTable` (line_ids.py): ids, the idempotency authority;
- `PartitionLedger` (partition_ledger.py): a partition's lines, open entries and cache rows;
- `AggregatedLines` (aggregated_lines.py): aggregated lines, aggregation's commits, sending's reads and updates;
- `PendingIndex` (pending_index.py): pending-work markers, leases and schedules.

`LedgerStore` is all of them over one set of table clients and one `fault` hook (tests/faults.py counts
every storage step, whichever repository takes it), for callers that need several.
"""

from __future__ import annotations

from azure.data.tables import TableClient

from shared.adapters.aggregated_lines import AGG_PREFIX, AggregatedLines
from shared.adapters.ledger_base import (
    CONFLICT_CODES,
    LINE_IDS,
    PENDING,
    ConcurrencyConflict,
    Fault,
    InvalidContinuationToken,
    LedgerTables,
    _any_status,
    _decimal,
    _ensure_tables,
    _first_page,
    decode_token,
    encode_token,
    ledger_clients,
)
from shared.adapters.ledger_keys import OFFSET_WORK, SEND_WORK, id_partition, ledger_partition
from shared.adapters.line_ids import IdTable
from shared.adapters.partition_ledger import (
    CACHE_PREFIX,
    LINE_PREFIX,
    OPEN_FIELDS,
    PartitionLedger,
    _cache_row,
    _open_entry,
    _pending_line,
    _row_ops,
    line_entity,
)
from shared.adapters.pending_index import Marker, PendingIndex
from shared.domain.ledger_records import IdRecord, NewLine, OpenEntries


class LedgerStore(IdTable, PartitionLedger, AggregatedLines, PendingIndex):
    """Every ledger repository over one set of table clients; `fault` is called before every storage call."""


__all__ = [
    "AGG_PREFIX",
    "CACHE_PREFIX",
    "CONFLICT_CODES",
    "LINE_IDS",
    "LINE_PREFIX",
    "OFFSET_WORK",
    "OPEN_FIELDS",
    "PENDING",
    "SEND_WORK",
    "AggregatedLines",
    "ConcurrencyConflict",
    "Fault",
    "IdRecord",
    "IdTable",
    "InvalidContinuationToken",
    "LedgerStore",
    "LedgerTables",
    "Marker",
    "NewLine",
    "OpenEntries",
    "PartitionLedger",
    "TableClient",
    "_any_status",
    "_cache_row",
    "_decimal",
    "_ensure_tables",
    "_first_page",
    "_open_entry",
    "_pending_line",
    "_row_ops",
    "decode_token",
    "encode_token",
    "id_partition",
    "ledger_clients",
    "ledger_partition",
    "line_entity",
]
