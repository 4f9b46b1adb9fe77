"""Journal records: what was sent to the ERP under which of our ids, and journals still in flight."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.adapters.storage_clients import table_client, table_name, table_service
from shared.adapters.storage_names import JOURNALS_TABLE

JOURNALS = JOURNALS_TABLE
INFLIGHT = "inflight"


class JournalRecords:
    def __init__(self) -> None:
        service = table_service()
        self.table = table_client(table_name(JOURNALS))
        from shared.adapters.ledger_tables import _ensure_tables

        _ensure_tables(service, (self.table.table_name,))

    def start(self, environment_id: str, journal_id: str, properties: dict[str, Any], at: datetime) -> None:
        """Record the journal and mark it in flight before any line or the ERP hears of it."""
        self.table.upsert_entity(
            {"PartitionKey": environment_id, "RowKey": journal_id, "State": "sending", "StartedAt": at, **properties},
            mode=UpdateMode.MERGE,
        )
        self.table.upsert_entity(
            {"PartitionKey": INFLIGHT, "RowKey": f"{environment_id}|{journal_id}", "StartedAt": at},
            mode=UpdateMode.REPLACE,
        )

    def finish(
        self,
        environment_id: str,
        journal_id: str,
        state: str,
        erp_number: str | None,
        message: str | None,
        at: datetime,
    ) -> None:
        self.table.upsert_entity(
            {
                "PartitionKey": environment_id,
                "RowKey": journal_id,
                "State": state,
                "ErpJournalNumber": erp_number,
                "Message": message,
                "UpdatedAt": at,
            },
            mode=UpdateMode.MERGE,
        )
        with contextlib.suppress(ResourceNotFoundError):
            self.table.delete_entity(INFLIGHT, f"{environment_id}|{journal_id}")

    def inflight(self) -> list[tuple[str, str]]:
        entities = self.table.query_entities("PartitionKey eq @pk", parameters={"pk": INFLIGHT})
        pairs = (str(e["RowKey"]).split("|", 1) for e in entities)
        return [(environment_id, journal_id) for environment_id, journal_id in pairs]

    def get(self, environment_id: str, journal_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.table.get_entity(environment_id, journal_id))
        except ResourceNotFoundError:
            return None
