"""Helpers for ledger tests against Azurite: make lines, sum what the cache and the lines say."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

from shared.adapters.ledger_tables import LedgerStore
from shared.domain.adjustments import AdjustmentLine, parse_lines


def make_lines(prefix: str, count: int, products: int = 3, sync: bool = False, qty_step: str = "1.25"):
    raw = [
        {
            "id": f"{prefix}-{i}",
            "organizationId": "usmf",
            "productId": f"P{i % products}",
            "quantityDataSource": "pos",
            "physicalMeasure": "sold",
            "dimensions": {"siteId": "1", "locationId": str(i % 2)},
            "quantity": str(Decimal(qty_step) * (i % 7 - 3)),
            "createWithIVSync": sync,
        }
        for i in range(count)
    ]
    lines, problems = parse_lines(raw, allowed_sources=("pos",), allowed_measures=("sold",))
    assert problems == []
    return lines


def expected_totals(lines: list[AdjustmentLine]) -> dict[tuple[str, str], Decimal]:
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in lines:
        totals[(line.productId, line.dimensions["locationId"])] += line.quantity
    return dict(totals)


def cache_totals(store: LedgerStore, environment_id: str) -> dict[tuple[str, str], Decimal]:
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for entity in store.cache_rows_of_environment(environment_id, None):
        product = entity["PartitionKey"].split("|")[2]
        dims = json.loads(entity["Dimensions"])
        qty = json.loads(entity["Quantities"]).get("pos", {}).get("sold", "0")
        totals[(product, dims["locationId"])] += Decimal(qty)
    return dict(totals)


def statuses(store: LedgerStore, environment_id: str) -> dict[str, str]:
    out: dict[str, str] = {}
    token = None
    while True:
        items, token = store.query_lines(environment_id, {}, 1000, token)
        out.update({e["LineId"]: e["Status"] for e in items})
        if not token:
            return out
