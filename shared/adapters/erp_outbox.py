"""File outbox ERP connector: each journal as JSON and CSV in container `journal-outbox`.

For ERPs without an API omnisync can call (or before one is set up): an import job picks the files
up under `{environmentId}/{journalId}.json|csv`, and drops result files into `journal-inbox`. Writing
is idempotent (fixed names, same content), so resending a journal never creates a second one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.adapters.storage_names import INBOX_CONTAINER, OUTBOX_CONTAINER
from shared.domain.journals import Journal, JournalOutcome, LineResult
from shared.domain.quantities import canonical
from shared.domain.spreadsheet import neutralise

OUTBOX, INBOX = OUTBOX_CONTAINER, INBOX_CONTAINER
CSV_COLUMNS = (
    "JournalId",
    "dataAreaId",
    "JournalNameId",
    "LineNumber",
    "ItemNumber",
    "InventorySiteId",
    "InventoryWarehouseId",
    "ProductColorId",
    "ProductSizeId",
    "ProductStyleId",
    "ProductConfigurationId",
    "ItemBatchNumber",
    "ItemSerialNumber",
    "InventoryStatusId",
    "WarehouseLocationId",
    "LicensePlateNumber",
    "InventoryQuantity",
    "TransactionDate",
    "UnitCost",
    "OmnisyncLineId",
)


def _quantity_column(journal: Journal) -> str:
    """A counting journal's file says what was counted (``CountedQuantity``, to set), never a delta."""
    return "CountedQuantity" if journal.journal_type == "counting" else "InventoryQuantity"


def csv_columns(journal: Journal) -> tuple[str, ...]:
    return tuple(_quantity_column(journal) if c == "InventoryQuantity" else c for c in CSV_COLUMNS)


def journal_rows(journal: Journal) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(journal.lines, start=1):
        rows.append(
            {
                "JournalId": journal.journal_id,
                "dataAreaId": journal.organization_id,
                "JournalNameId": journal.journal_name_id,
                "LineNumber": number,
                "ItemNumber": line.item_number,
                "InventorySiteId": line.site_id,
                "InventoryWarehouseId": line.warehouse_id,
                "ProductColorId": line.color_id,
                "ProductSizeId": line.size_id,
                "ProductStyleId": line.style_id,
                "ProductConfigurationId": line.config_id,
                "ItemBatchNumber": line.batch_id,
                "ItemSerialNumber": line.serial_id,
                "InventoryStatusId": line.status_id,
                "WarehouseLocationId": line.location_id,
                "LicensePlateNumber": line.license_plate_id,
                _quantity_column(journal): canonical(line.quantity),
                "TransactionDate": line.transaction_date.isoformat() if line.transaction_date else None,
                "UnitCost": None if line.unit_cost is None else canonical(line.unit_cost),
                "OmnisyncLineId": line.line_id,
            }
        )
    return rows


def journal_json(journal: Journal) -> bytes:
    document = {
        "journalId": journal.journal_id,
        "environmentId": journal.environment_id,
        "dataAreaId": journal.organization_id,
        "journalType": journal.journal_type,
        "journalNameId": journal.journal_name_id,
        "targetStatus": journal.target_status,
        "lines": journal_rows(journal),
    }
    return json.dumps(document, indent=2, ensure_ascii=False).encode()


def journal_csv(journal: Journal) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=csv_columns(journal), lineterminator="\r\n")
    writer.writeheader()
    numeric = {"LineNumber", "InventoryQuantity", "CountedQuantity", "UnitCost"}
    for row in journal_rows(journal):
        writer.writerow(
            {k: ("" if v is None else str(v) if k in numeric else neutralise(str(v))) for k, v in row.items()}
        )
    return buffer.getvalue().encode("utf-8-sig")


class BlobOutboxConnector:
    def __init__(self, service: BlobServiceClient) -> None:
        self._service = service
        for name in (OUTBOX, INBOX):
            with contextlib.suppress(ResourceExistsError):
                service.create_container(name)

    def send(self, journal: Journal) -> JournalOutcome:
        container = self._service.get_container_client(OUTBOX)
        base = f"{journal.environment_id}/{journal.journal_id}"
        container.upload_blob(
            f"{base}.csv",
            journal_csv(journal),
            overwrite=True,
            content_settings=ContentSettings(content_type="text/csv; charset=utf-8"),
        )
        # JSON last: an importer that waits for the .json sees a complete pair.
        container.upload_blob(
            f"{base}.json",
            journal_json(journal),
            overwrite=True,
            content_settings=ContentSettings(content_type="application/json"),
        )
        results = tuple(LineResult(line.line_id) for line in journal.lines)
        return JournalOutcome(journal.journal_id, "sent", lines=results)
