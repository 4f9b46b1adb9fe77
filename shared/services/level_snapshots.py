"""An ERP level snapshot file: absolute levels per product and warehouse, applied like `setonhand`.

`level-snapshots/{environmentId}/{name}.csv`, columns `organizationId, productId, warehouse` and any
of `onhand, onorder, ordered` (plus an optional `dataSource`, default `fno`). Each row becomes a
counting event whose id is derived from the blob name, the file's content and the row's key: the
same file delivered twice changes nothing twice, a new version of the file applies its rows once.
The whole file is checked first with the on-hand event rules (configured data source and measures,
allowed characters, exact decimals); one bad row refuses the file and nothing is applied.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.adapters.storage_names import LEVEL_SNAPSHOTS_CONTAINER
from shared.domain.identifiers import check_environment_id
from shared.domain.inventory_config import InventoryConfig
from shared.domain.level_targets import LEVEL_MEASURES
from shared.domain.onhand_events import parse_events
from shared.services.level_sync import level_partitions, queue_level_work
from shared.services.onhand_events import post_events
from shared.services.ports import SnapshotPort, WorkSink

LEVEL_SNAPSHOTS = LEVEL_SNAPSHOTS_CONTAINER
MAX_SNAPSHOT_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
KEY_COLUMNS = ("organizationId", "productId", "warehouse")


class SnapshotRefused(ValueError):
    """The file is not applied; the message says why (logged, never raised to the host)."""


@dataclass(frozen=True)
class SnapshotReport:
    environment_id: str
    rows: int
    applied: int


def _environment(blob_name: str) -> str:
    name = blob_name.removeprefix(LEVEL_SNAPSHOTS + "/")
    environment_id, _, rest = name.partition("/")
    if not rest.lower().endswith(".csv"):
        raise SnapshotRefused(f"{blob_name}: expected {LEVEL_SNAPSHOTS}/{{environmentId}}/{{name}}.csv")
    try:
        return check_environment_id(environment_id)
    except ValueError as exc:
        raise SnapshotRefused(f"{blob_name}: {exc}") from None


def snapshot_events(blob_name: str, content: bytes) -> list[dict[str, Any]]:
    """The rows as raw `setonhand` events (checked afterwards by the on-hand event rules)."""
    if len(content) > MAX_SNAPSHOT_BYTES:
        raise SnapshotRefused(f"{blob_name}: larger than {MAX_SNAPSHOT_BYTES} bytes")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SnapshotRefused(f"{blob_name}: not UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = {name.strip().lower(): name for name in reader.fieldnames or []}
    missing = [c for c in KEY_COLUMNS if c.lower() not in columns]
    measures = [m for m in LEVEL_MEASURES if m in columns]
    if missing or not measures:
        raise SnapshotRefused(f"{blob_name}: needs columns {list(KEY_COLUMNS)} and at least one of {LEVEL_MEASURES}")
    digest = hashlib.sha256(blob_name.encode() + b"\0" + content).hexdigest()[:16]
    events = []
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            raise SnapshotRefused(f"{blob_name}: more than {MAX_ROWS} rows")
        if None in row:
            raise SnapshotRefused(f"{blob_name}: line {number}: more values than columns")
        org, product, warehouse = (row[columns[c.lower()]] or "" for c in KEY_COLUMNS)
        source = (row.get(columns.get("datasource", ""), "") or "fno").strip()
        key = hashlib.sha256(f"{org}\0{product}\0{warehouse}\0{source}".encode()).hexdigest()[:16]
        quantities = {m: row[columns[m]].strip() for m in measures if (row[columns[m]] or "").strip()}
        if not quantities:
            continue
        events.append(
            {
                "id": f"ls-{digest}-{key}",
                "organizationId": org,
                "productId": product,
                "dimensions": {"locationId": warehouse},
                "quantities": {source: quantities},
            }
        )
    return events


def apply_level_snapshot(
    store: SnapshotPort,
    queues: WorkSink | None,
    blob_name: str,
    content: bytes,
    config_of: Callable[[str], InventoryConfig],
) -> SnapshotReport:
    environment_id = _environment(blob_name)
    raw = snapshot_events(blob_name, content)
    config = config_of(environment_id)
    by_source: dict[str, list[dict[str, Any]]] = {}
    for event in raw:
        by_source.setdefault(next(iter(event["quantities"])), []).append(event)
    parsed = []
    for source, events in by_source.items():
        if config.source(source) is None:
            raise SnapshotRefused(f"{blob_name}: {source[:40]!r} is not a configured data source")
        found, problems = parse_events(events, config, "set", source)
        if problems:
            first = problems[0]
            raise SnapshotRefused(
                f"{blob_name}: {len(problems)} problem(s), first: {source} row {(first.index or 0) + 1}, "
                f"{first.field}: {first.message}"
            )
        parsed += found
    outcomes = post_events(store, environment_id, parsed)
    changes = [(e.organization_id, e.product_id, e.quantities) for e in parsed]
    queue_level_work(store, queues, level_partitions(environment_id, config, changes), datetime.now(UTC))
    return SnapshotReport(environment_id, len(parsed), sum(1 for o in outcomes if o.outcome == "created"))
