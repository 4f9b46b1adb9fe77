"""The one place that knows how the ledger and the pending-work index are keyed.

Ledger tables (`ledger00` … `ledger07`: a partition lives in the one `ledger_shard` names), PartitionKey
`env|org|product` (everything that must change together):

| RowKey      | what                                                                 |
|-------------|----------------------------------------------------------------------|
| `A|id`      | aggregated line (journal line) until posted and offset; then in table `finishedlines` |
| `C|hash`    | cache row: quantities of one dimension combination                    |
| `D|lineid`  | open-line entry: a line not yet `IVPosted`, or posted and not yet aggregated |
| `E|id`      | on-hand event marker                                                  |
| `L|lineid`  | detailed line (the full record); leaves with its aggregated line (see above) |
| `T|id`      | ERP transaction record                                                |

`C|` and `D|` sort next to each other, so one range query (`C|` ≤ RowKey < `D}`) returns a
partition's cache rows and its open lines, and nothing of its history: a visit costs what is
new, not what is old (the *log tail* pattern of the Table design guide). Aggregated lines posted
in the ERP and offset leave the ledger with their member lines, so the table holds the work in
flight and the cache rows, not the history.

Pending table: PartitionKey `kind|shard`, RowKey = ledger partition. A request writes all its
markers into one shard (one transaction), and shards spread the index over many partitions, so
no single partition holds the whole deployment's pending work.
"""

from __future__ import annotations

import hashlib
import random

AGGREGATED, CACHE, OPEN, EVENT, LINE, TRANSACTION = "A|", "C|", "D|", "E|", "L|", "T|"
PENDING_SHARDS = 16
LEDGER_SHARDS = 8
"""Tables the ledger's partitions are spread over (see `ledger_shard`); changing it moves partitions."""

LEDGER_WORK = "ledger"
"""A partition has open lines (to sync, then to aggregate)."""
SEND_WORK = "send"
"""A partition has aggregated lines waiting to be sent (or retried)."""
OFFSET_WORK = "offset"
"""A partition has aggregated lines whose ERP status may have reached their offset trigger."""
ID_BUCKETS = 16


def ledger_partition(environment_id: str, organization_id: str, product_id: str) -> str:
    return f"{environment_id}|{organization_id}|{product_id}"


def ledger_shard(partition: str) -> int:
    """Which ledger table holds a partition: a stable hash (the same in every process and release).

    A partition's entities stay together, so its one-transaction commits are untouched; what the
    shards change is how many entities share a table. On Azure Table Storage that changes no
    visit's cost (a partition's key range is read from the index); on Azurite, which evaluates
    every query against every entity of the table, it divides each visit's scan by the shard count.
    """
    return int(hashlib.sha256(partition.encode()).hexdigest()[:4], 16) % LEDGER_SHARDS


def split_partition(partition: str) -> tuple[str, str, str]:
    environment_id, organization_id, product_id = partition.split("|", 2)
    return environment_id, organization_id, product_id


def id_partition(environment_id: str, line_id: str) -> str:
    bucket = int(hashlib.sha256(line_id.encode()).hexdigest()[:4], 16) % ID_BUCKETS
    return f"{environment_id}|{bucket:x}"


def prefix_range(prefix: str) -> tuple[str, str]:
    """Bounds of every row key that starts with `prefix` (`X|` ≤ key < `X}`)."""
    return prefix, prefix[:-1] + "}"


def hot_range() -> tuple[str, str]:
    """Cache rows and open lines together: `C|` ≤ key < `D}` (nothing sorts between them)."""
    return CACHE, OPEN[:-1] + "}"


def line_key(line_id: str) -> str:
    return LINE + line_id


def event_key(event_id: str) -> str:
    """The marker of an on-hand event applied once (an opaque key to services)."""
    return EVENT + event_id


def transaction_key(transaction_id: str) -> str:
    """The record of an ERP transaction, which is also the marker of its changes (opaque to services)."""
    return TRANSACTION + transaction_id


def transaction_of(key: str) -> str:
    """The ERP transaction id a `transaction_key` names."""
    return key[len(TRANSACTION) :]


def pending_shard(kind: str, shard: int) -> str:
    return f"{kind}|{shard:02d}"


def schedule_shard(name: str) -> str:
    """Pending-table partition of a named schedule (one per product's aggregation, per environment's send)."""
    return pending_shard("schedule", int(hashlib.sha256(name.encode()).hexdigest()[:4], 16) % PENDING_SHARDS)


def aggregate_schedule(partition: str) -> str:
    return f"aggregate|{partition}"


def any_shard() -> int:
    """Where one request's markers go: spread at random, so no shard is hot."""
    return random.randrange(PENDING_SHARDS)  # noqa: S311 - load spreading, not security
