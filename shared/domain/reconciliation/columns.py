"""Match a snapshot header to the logical fields the comparison needs.

Kept apart from the engine so a wrong or surprising header is explained in
plain words (which column is missing, what we looked for) before any data is
read.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import KEY_ORDER, KeyField, ReconcileConfig, Side, SourceMapping

# Candidate header names per logical field, most specific first. Matching is
# case-insensitive and ignores "_", "-" and spaces.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "item": ("ItemNumber", "ItemId", "item_id", "sku", "item", "product_id", "product"),
    "site": ("InventorySiteId", "site_id", "site"),
    "warehouse": ("InventoryWarehouseId", "warehouse_id", "warehouse", "wh", "whs"),
    "batch": ("ItemBatchNumber", "batch_number", "batch", "lot_number", "lot"),
    "status": ("InventoryStatusId", "inventory_status", "status"),
    "location": ("WarehouseLocationId", "location_id", "location", "bin"),
    "serial": ("ItemSerialNumber", "serial_number", "serial_no", "serial"),
    "quantity": (
        "OnHandQuantity",
        "PhysicalOnHandQuantity",
        "AvailableOnHandQuantity",
        "on_hand",
        "onhand",
        "qty",
        "quantity",
    ),
    "unit_cost": ("UnitCost", "unit_cost", "cost"),
    "item_class": ("ItemClass", "ItemGroupId", "item_class", "item_group", "class"),
    "as_of": ("AsOf", "as_of", "snapshot_time", "timestamp"),
}

# A WMS usually calls its warehouse a "site"; a D365 site (InventorySiteId) is a
# different, coarser thing. So on the WMS side a bare "site" column is read as the
# warehouse (when there is no warehouse column) and never as the D365 site.
WMS_OVERRIDES: dict[str, tuple[str, ...]] = {
    "warehouse": ("InventoryWarehouseId", "warehouse_id", "warehouse", "wh", "whs", "site"),
    "site": ("InventorySiteId", "site_id"),
}

REQUIRED = ("item", "quantity")

MEASURE_CANDIDATES: dict[str, tuple[str, ...]] = {
    "on_order": ("OnOrderQuantity", "on_order", "onorder", "on_order_quantity"),
    "ordered": ("OrderedQuantity", "ordered", "ordered_quantity", "ordered_in_total"),
    "available": ("AvailableOnHandQuantity", "AvailablePhysicalQuantity", "available", "avail", "available_quantity"),
    "reserved": ("ReservedOnHandQuantity", "ReservedPhysicalQuantity", "reserved", "reserved_quantity"),
    "in_transit": ("InTransitQuantity", "in_transit", "transit"),
}
"""Header names tried for a configured measure without an explicit column (D365 on-hand entity names first)."""


def resolve_measure(side: Side, header: list[str], name: str, explicit: str | None, taken: set[str]) -> str:
    """The column of one configured measure on one side, or a MappingError saying what was looked for."""
    by_norm: dict[str, str] = {}
    for h in header:
        by_norm.setdefault(_norm(h), h)
    candidates = (explicit,) if explicit is not None else MEASURE_CANDIDATES.get(name, (name,))
    for cand in candidates:
        actual = by_norm.get(_norm(cand))
        if actual is not None and actual not in taken:
            return actual
    raise MappingError(
        f"{side.value} file: no column for measure '{name}'; looked for {list(candidates)} in header {header}. "
        f"Set 'measures.{name}.{side.value}' in the config."
    )


class MappingError(ValueError):
    """The header cannot be mapped; the message is meant for the finance user."""


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "").replace("-", "").replace(" ", "")


@dataclass(frozen=True)
class ResolvedColumns:
    """Logical field -> actual header name, only for fields present in the file."""

    side: Side
    columns: dict[str, str]

    def keys(self) -> list[KeyField]:
        return [k for k in KEY_ORDER if k.value in self.columns]


def resolve_columns(side: Side, header: list[str], mapping: SourceMapping) -> ResolvedColumns:
    """Map a header to logical fields: explicit mapping first, then candidates."""
    by_norm: dict[str, str] = {}
    for h in header:
        by_norm.setdefault(_norm(h), h)
    found: dict[str, str] = {}
    used: set[str] = set()
    for field, default_candidates in CANDIDATES.items():
        candidates = WMS_OVERRIDES.get(field, default_candidates) if side is Side.WMS else default_candidates
        explicit = getattr(mapping, field)
        if explicit is not None:
            actual = by_norm.get(_norm(explicit))
            if actual is None:
                raise MappingError(
                    f"{side.value} file: configured column '{explicit}' for {field} not found; header is {header}"
                )
            found[field] = actual
            used.add(actual)
            continue
        for cand in candidates:
            actual = by_norm.get(_norm(cand))
            if actual is not None and actual not in used:
                found[field] = actual
                used.add(actual)
                break
    for field in REQUIRED:
        if field not in found:
            raise MappingError(
                f"{side.value} file: no {field} column; looked for {list(CANDIDATES[field])} "
                f"in header {header}. Set '{side.value}.{field}' in the config."
            )
    return ResolvedColumns(side=side, columns=found)


def choose_level(config: ReconcileConfig, erp: ResolvedColumns, wms: ResolvedColumns) -> list[KeyField]:
    """The configured level, or every key field both sides carry.

    Defaulting to the common fields is what lets an ERP export by batch meet a
    WMS export by lot without configuration; a finer field present on one side
    only is summed away.
    """
    erp_keys, wms_keys = set(erp.keys()), set(wms.keys())
    if config.level is None:
        return [k for k in KEY_ORDER if k in erp_keys and k in wms_keys]
    for res, keys in ((erp, erp_keys), (wms, wms_keys)):
        missing = [k.value for k in config.level if k not in keys]
        if missing:
            raise MappingError(f"{res.side.value} file has no column for level field(s) {missing}")
    return list(config.level)
