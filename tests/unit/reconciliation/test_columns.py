"""Header mapping: D365 and WMS names out of the box, explicit mapping, clear errors."""

from __future__ import annotations

import pytest

from shared.domain.reconciliation.columns import MappingError, choose_level, resolve_columns
from shared.domain.reconciliation.config import KeyField, ReconcileConfig, Side, SourceMapping


def test_d365_names_are_recognised() -> None:
    header = [
        "ItemNumber",
        "InventorySiteId",
        "InventoryWarehouseId",
        "ItemBatchNumber",
        "InventoryStatusId",
        "WarehouseLocationId",
        "PhysicalOnHandQuantity",
        "UnitCost",
        "ItemGroupId",
        "AsOf",
    ]
    r = resolve_columns(Side.ERP, header, SourceMapping())
    assert r.columns == {
        "item": "ItemNumber",
        "site": "InventorySiteId",
        "warehouse": "InventoryWarehouseId",
        "batch": "ItemBatchNumber",
        "status": "InventoryStatusId",
        "location": "WarehouseLocationId",
        "quantity": "PhysicalOnHandQuantity",
        "unit_cost": "UnitCost",
        "item_class": "ItemGroupId",
        "as_of": "AsOf",
    }


def test_onhand_quantity_preferred_over_available() -> None:
    r = resolve_columns(Side.ERP, ["ItemNumber", "AvailableOnHandQuantity", "OnHandQuantity"], SourceMapping())
    assert r.columns["quantity"] == "OnHandQuantity"


@pytest.mark.parametrize(
    ("header", "item", "wh", "qty"),
    [
        (["sku", "wh", "qty"], "sku", "wh", "qty"),
        (["Item", "Warehouse", "Quantity"], "Item", "Warehouse", "Quantity"),
        (["item_id", "site", "on_hand"], "item_id", "site", "on_hand"),
        (["item_id", "warehouse", "site", "on_hand"], "item_id", "warehouse", "on_hand"),
    ],
)
def test_wms_names_are_recognised(header: list[str], item: str, wh: str | None, qty: str) -> None:
    r = resolve_columns(Side.WMS, header, SourceMapping())
    assert r.columns["item"] == item and r.columns.get("warehouse") == wh and r.columns["quantity"] == qty


def test_explicit_mapping_wins_and_missing_explicit_column_is_an_error() -> None:
    r = resolve_columns(Side.WMS, ["article", "qty", "free_qty"], SourceMapping(item="article", quantity="free_qty"))
    assert r.columns["quantity"] == "free_qty"
    with pytest.raises(MappingError, match="'nope'"):
        resolve_columns(Side.WMS, ["article", "qty"], SourceMapping(item="nope"))


def test_missing_quantity_column_names_what_was_looked_for() -> None:
    with pytest.raises(MappingError, match="no quantity column"):
        resolve_columns(Side.WMS, ["item_id", "warehouse"], SourceMapping())


def test_default_level_is_common_keys() -> None:
    erp = resolve_columns(
        Side.ERP,
        ["ItemNumber", "InventorySiteId", "InventoryWarehouseId", "ItemBatchNumber", "OnHandQuantity"],
        SourceMapping(),
    )
    wms = resolve_columns(Side.WMS, ["item_id", "warehouse", "lot", "location", "on_hand"], SourceMapping())
    assert choose_level(ReconcileConfig(), erp, wms) == [KeyField.ITEM, KeyField.WAREHOUSE, KeyField.BATCH]
    with pytest.raises(MappingError, match="location"):
        choose_level(ReconcileConfig(level=[KeyField.ITEM, KeyField.LOCATION]), erp, wms)


def test_wms_site_is_never_the_d365_site() -> None:
    r = resolve_columns(Side.WMS, ["sku", "site", "qty"], SourceMapping())
    assert r.columns["warehouse"] == "site" and "site" not in r.columns
    erp = resolve_columns(Side.ERP, ["ItemNumber", "site", "OnHandQuantity"], SourceMapping())
    assert erp.columns["site"] == "site" and "warehouse" not in erp.columns
