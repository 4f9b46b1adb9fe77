"""Moving a ledger written before the shards (one table, `ledger`) into the shard tables.

Run with the app stopped (`omnisync ledger-reshard`): the app reads a partition only from its shard,
so until its entities are there it would see the product as new (no cache rows, no open lines).

Per partition: its entities are created in the shard that `ledger_shard` names, then deleted from the
old table. Creating (never upserting) means a partition the app already wrote in its shard is not
overwritten: it is refused and left where it is for an operator to look at. A run that stopped
between the copy and the delete finds the same entities in the shard and only deletes, so the
command can be run again until it reports nothing left (a partition whose copy stopped half-way gets the
rest of its entities).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from shared.adapters.ledger_base import LedgerTables
from shared.adapters.ledger_keys import ledger_shard
from shared.adapters.storage_clients import table_client, table_name
from shared.adapters.storage_names import UNSHARDED_LEDGER_TABLE
from shared.adapters.table_batches import chunks, resilient
from shared.adapters.table_transactions import submit_transaction


@dataclass
class Reshard:
    partitions_moved: int = 0
    entities_moved: int = 0
    refused: list[str] = field(default_factory=list)
    """Partitions whose shard already holds other entities (the app wrote there): left in the old table."""


def reshard_ledger() -> Reshard:
    old = table_client(table_name(UNSHARDED_LEDGER_TABLE))
    shards = LedgerTables().ledgers  # made if missing
    result = Reshard()
    try:
        next(iter(old.list_entities(results_per_page=1, select=["PartitionKey"])), None)
    except ResourceNotFoundError:
        return result  # never had the old table: nothing to move
    for partition, entities in _partitions(old):  # streamed: a retailer's cache rows run to millions
        shard = shards[ledger_shard(partition)]
        there = {e["RowKey"]: _values(e) for e in _partition(shard, partition)}
        ours = {e["RowKey"]: _values(e) for e in entities}
        if any(ours.get(key) != values for key, values in there.items()):
            result.refused.append(partition)  # not (only) what an earlier run copied: the app wrote here
            continue
        missing = [e for e in entities if e["RowKey"] not in there]
        for chunk in chunks(missing):
            resilient(submit_transaction, shard, [("create", e) for e in chunk])
        for chunk in chunks(entities):
            resilient(
                submit_transaction,
                old,
                [("delete", {"PartitionKey": e["PartitionKey"], "RowKey": e["RowKey"]}) for e in chunk],
            )
        result.partitions_moved += 1
        result.entities_moved += len(entities)
    return result


def _partitions(table: TableClient) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Every partition of the table with its entities, one partition in memory at a time (a table
    query returns them in key order; deleting a partition already read does not move the next page)."""
    for partition, entities in groupby((dict(e) for e in table.list_entities()), key=lambda e: e["PartitionKey"]):
        yield partition, list(entities)


def _partition(table: TableClient, partition: str) -> list[dict[str, Any]]:
    return [dict(e) for e in table.query_entities("PartitionKey eq @pk", parameters={"pk": partition})]


def _values(entity: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in entity.items() if name not in ("PartitionKey", "RowKey")}
