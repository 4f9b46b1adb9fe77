"""Each environment's inventory configuration, one entity per environment in table `config`."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.adapters.ledger_tables import _ensure_tables
from shared.adapters.storage_clients import table_client, table_name, table_service
from shared.adapters.storage_names import CONFIG_TABLE

CONFIG = CONFIG_TABLE
ROW = "inventory"


class ConfigStore:
    def __init__(self) -> None:
        service = table_service()
        self.table = table_client(table_name(CONFIG))
        _ensure_tables(service, (self.table.table_name,))

    def get(self, environment_id: str) -> dict[str, Any] | None:
        """The stored configuration as JSON data, or None when the environment uses the default."""
        try:
            entity = self.table.get_entity(environment_id, ROW)
        except ResourceNotFoundError:
            return None
        return json.loads(entity["Config"])

    def put(self, environment_id: str, config: dict[str, Any], at: datetime) -> None:
        self.table.upsert_entity(
            {
                "PartitionKey": environment_id,
                "RowKey": ROW,
                "Config": json.dumps(config, sort_keys=True),
                "UpdatedAt": at,
            },
            mode=UpdateMode.REPLACE,
        )

    def delete(self, environment_id: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.table.delete_entity(environment_id, ROW)
