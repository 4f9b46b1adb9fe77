"""Line ids, unique per environment across products (table `lineids`): the idempotency authority.

PartitionKey is a hash bucket of the id within its environment (ledger_keys.id_partition), so the
ids of one request spread over a few partitions and each is one transaction.
"""

from __future__ import annotations

from collections import defaultdict

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableTransactionError

from shared.adapters.ledger_base import LedgerTables
from shared.adapters.ledger_keys import id_partition
from shared.adapters.table_batches import chunks as _chunks
from shared.adapters.table_batches import in_parallel, resilient
from shared.adapters.table_transactions import submit_transaction
from shared.domain.identifiers import environment_range
from shared.domain.ledger_records import IdRecord


class IdTable(LedgerTables):
    """Implements `IdRepository` (shared/services/ports.py)."""

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
                resilient(submit_transaction, self.line_ids, ops)
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
