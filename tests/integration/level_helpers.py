"""Shared set-up of the level sync tests: a configuration with one target, ERP levels in, files out."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from shared.adapters.ledger_tables import LedgerStore
from shared.adapters.level_connectors import LEVEL_OUTBOX, LevelOutbox
from shared.adapters.level_tables import LEVEL_WORK, LevelStore
from shared.adapters.storage_clients import blob_service
from shared.domain.inventory_config import InventoryConfig
from shared.domain.onhand_events import OnHandEvent
from shared.services.level_sync import level_partitions, queue_level_work, send_target, visit_levels
from shared.services.onhand_events import post_events

TARGET = "fieldservice"
CONFIG = InventoryConfig.model_validate(
    {
        "dataSources": [
            {"name": "fno", "physicalMeasures": ["onhand", "onorder", "ordered", "availphysical"]},
            {"name": "@iv", "physicalMeasures": ["adjustment"]},
        ],
        "targets": [
            {
                "name": TARGET,
                "connector": {"type": "outbox"},
                "products": ["A*", "B0001"],
                "warehouses": ["11", "12", "13"],
                "warehouseMapping": {"11": ["FS-11"], "13": ["VAN-1", "VAN-2"]},
            }
        ],
    }
)


def config_of(environment_id: str) -> InventoryConfig:
    return CONFIG


def set_levels(environment_id: str, levels: dict[tuple[str, str], dict[str, Any]], mode: str = "set") -> list[str]:
    """ERP levels (`setonhand`, or deltas with mode `add`) per (product, warehouse); returns the marked partitions."""
    events = [
        OnHandEvent(
            "ev-" + uuid.uuid4().hex[:12],
            "usmf",
            product,
            {"locationId": warehouse},
            {"fno": {m: Decimal(str(q)) for m, q in measures.items()}},
            mode,  # type: ignore[arg-type]
        )
        for (product, warehouse), measures in levels.items()
    ]
    store = LedgerStore()
    post_events(store, environment_id, events)
    changes = [(e.organization_id, e.product_id, e.quantities) for e in events]
    partitions = level_partitions(environment_id, CONFIG, changes)
    from datetime import UTC, datetime

    queue_level_work(store, None, partitions, datetime.now(UTC))
    return partitions


def run_levels(environment_id: str, store: LevelStore | None = None) -> None:
    """What the queue functions do: visit every marked product, then send the target."""
    store = store or LevelStore()
    for marker in store.pending_markers(LEVEL_WORK, environment_id=environment_id):
        visit_levels(store, CONFIG, marker.partition)
        store.clear_pending(marker)
    send_target(store, LevelOutbox(blob_service()), environment_id, TARGET)


def files(environment_id: str) -> list[dict[str, Any]]:
    """Every delta file of the target, as JSON, in the order they were written."""
    container = blob_service().get_container_client(LEVEL_OUTBOX)
    found = []
    for blob in container.list_blobs(name_starts_with=f"{environment_id}/{TARGET}/"):
        if blob.name.endswith(".json"):
            doc = json.loads(container.download_blob(blob.name).readall())
            first = min((line["sequence"] for line in doc["lines"]), default=0)
            found.append((blob.last_modified, first, blob.name, doc))
    # last_modified has whole seconds: within one second, the file with the older changes came first
    return [doc for *_, doc in sorted(found, key=lambda item: item[:3])]


def lines(environment_id: str) -> list[dict[str, Any]]:
    return [line for doc in files(environment_id) for line in doc["lines"]]


def target_view(environment_id: str) -> dict[tuple[str, str, str], Decimal]:
    """What the target holds after booking every line once: full lines set, delta lines add."""
    held: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for line in lines(environment_id):
        held[(line["productId"], line["targetWarehouse"], line["measure"])] += Decimal(line["delta"])
    return {k: v for k, v in held.items()}
