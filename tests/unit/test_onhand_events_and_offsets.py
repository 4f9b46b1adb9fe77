"""On-hand event validation and the offset rules, without storage."""

from decimal import Decimal

from shared.domain.offsets import offset_dimensions, parse_transactions, reached
from shared.domain.onhand_events import parse_events
from shared.services.inventory_config import parse_config

CONFIG = parse_config(
    {
        "dataSources": [
            {"name": "fno", "physicalMeasures": ["availphysical"]},
            {
                "name": "pos",
                "physicalMeasures": ["Outbound", "inbound"],
                "dimensionMappings": {
                    "PosSizeId": "SizeId",
                    "PosColorId": "ColorId",
                    "PosSiteId": "SiteId",
                    "PosLocationId": "LocationId",
                },
            },
        ],
        "calculatedMeasures": [
            {
                "dataSource": "iv",
                "name": "available",
                "modifiers": [
                    {"dataSource": "fno", "physicalMeasure": "availphysical", "calculationType": "Addition"},
                    {"dataSource": "pos", "physicalMeasure": "outbound", "calculationType": "Subtraction"},
                ],
            }
        ],
        "offsets": [
            {
                "transactionType": "salesOrder",
                "offsetDataSource": "pos",
                "offsetPhysicalMeasure": "outbound",
                "trigger": "Invoice",
                "checkedDimensions": ["siteId", "locationId"],
            }
        ],
    }
)


def test_source_dimensions_map_to_base_dimensions_and_keys_are_case_insensitive():
    events, problems = parse_events(
        [
            {
                "ID": "demo-test-00007",
                "OrganizationId": "usmf",
                "productid": "MyProduct",
                "quantities": {"POS": {"outbound": 1}},
                "dimensionDataSource": "pos",
                "dimensions": {"PosSizeId": "Large", "PosColorId": "Red", "PosSiteId": "2", "PosLocationId": "21"},
            }
        ],
        CONFIG,
        "add",
    )
    assert problems == []
    (event,) = events
    assert event.dimensions == {"colorId": "Red", "locationId": "21", "siteId": "2", "sizeId": "Large"}
    assert event.quantities == {"pos": {"Outbound": Decimal(1)}}


def test_without_a_dimension_data_source_only_base_dimensions_are_accepted():
    _, problems = parse_events(
        [
            {
                "id": "e1",
                "organizationId": "usmf",
                "productId": "P",
                "quantities": {"pos": {"outbound": 1}},
                "dimensions": {"PosSizeId": "L"},
            }
        ],
        CONFIG,
        "add",
    )
    assert [p.field for p in problems] == ["dimensions.PosSizeId"]


def test_every_problem_of_every_event_is_reported():
    raw = [
        {"id": "ok", "organizationId": "usmf", "productId": "P", "quantities": {"fno": {"availphysical": "5"}}},
        {"id": "bad/id", "organizationId": "usmf", "productId": "P", "quantities": {"iv": {"available": 1}}},
        {"id": "f", "organizationId": "usmf", "productId": "P", "quantities": {"fno": {"availphysical": 1.5}}},
        {
            "id": "g",
            "organizationId": "usmf",
            "productId": "P",
            "quantities": {"fno": {"availphysical": 1}},
            "extra": 1,
        },
        "not an object",
    ]
    events, problems = parse_events(raw, CONFIG, "add")
    assert [e.id for e in events] == ["ok"]
    found = {(p.index, p.field) for p in problems}
    assert {(1, "id"), (1, "quantities.iv"), (2, "quantities.fno.availphysical"), (3, "extra"), (4, "")} <= found


def test_setonhand_accepts_only_the_data_source_of_its_path():
    raw = [
        {
            "id": "s1",
            "organizationId": "usmf",
            "productId": "P",
            "quantities": {"fno": {"availphysical": 3}, "pos": {"inbound": 1}},
        }
    ]
    _, problems = parse_events(raw, CONFIG, "set", set_source="fno")
    assert [p.field for p in problems] == ["quantities.pos"]


def test_an_offset_keeps_product_and_checked_dimensions_only():
    rule = CONFIG.offsets[0]
    dims = {"siteId": "1", "locationId": "11", "batchId": "B42", "colorId": "Red", "posTill": "T3"}
    assert offset_dimensions(dims, rule) == {"colorId": "Red", "locationId": "11", "siteId": "1"}


def test_a_trigger_is_reached_at_its_status_and_after_it():
    rule = CONFIG.offsets[0]
    assert not reached(rule, "Create")
    assert reached(rule, "Invoice")


def test_erp_transactions_need_an_offset_rule_and_a_status_of_their_type():
    base = {
        "id": "SO-1",
        "organizationId": "usmf",
        "productId": "A0001",
        "quantity": 10,
        "OFFSETDATASOURCE": "pos",
        "OFFSETPHYSICALMEASURE": "outbound",
    }
    transactions, problems = parse_transactions(
        [
            {**base, "transactionType": "salesOrder", "status": "Invoiced"},
            {**base, "transactionType": "salesOrder", "status": "Posted"},
            {**base, "transactionType": "adjustmentJournal", "status": "Posted"},
        ],
        CONFIG,
    )
    assert [t.stage for t in transactions] == ["Invoice"]
    assert {(p.index, p.field) for p in problems} == {(1, "status"), (2, "offsetPhysicalMeasure")}
