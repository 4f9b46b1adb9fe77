"""The ledger over eight tables: environment-wide reads see every shard, in key order (real Azurite)."""

from __future__ import annotations

from shared.adapters.ledger_keys import LEDGER_SHARDS, ledger_partition, ledger_shard
from shared.adapters.ledger_tables import LedgerStore
from shared.domain.adjustments import parse_lines
from shared.services.ingest import ingest
from shared.services.queries import LineFilters, list_lines
from shared.services.sync import sync_pending


def _products_on_every_shard(environment_id: str) -> list[str]:
    """One product per shard (found by trying names), so every table holds a partition."""
    chosen: dict[int, str] = {}
    n = 0
    while len(chosen) < LEDGER_SHARDS:
        product = f"P{n}"
        chosen.setdefault(ledger_shard(ledger_partition(environment_id, "usmf", product)), product)
        n += 1
    return list(chosen.values())


def _ingest_two_lines_each(store: LedgerStore, environment_id: str, products: list[str]) -> None:
    raw = [
        {
            "id": f"{product}-{k}",
            "organizationId": "usmf",
            "productId": product,
            "quantityDataSource": "pos",
            "physicalMeasure": "sold",
            "dimensions": {"siteId": str(k)},
            "quantity": "2",
        }
        for product in products
        for k in range(2)
    ]
    lines, problems = parse_lines(raw, allowed_sources=("pos",), allowed_measures=("sold",))
    assert not problems
    ingest(store, environment_id, lines)


def test_the_lines_list_pages_through_every_shard_in_key_order(app_env, environment_id):
    products = _products_on_every_shard(environment_id)
    store = LedgerStore()
    _ingest_two_lines_each(store, environment_id, products)
    expected = sorted((ledger_partition(environment_id, "usmf", p), f"{p}-{k}") for p in products for k in range(2))

    for size in (1, 3, 100):
        listed, token = [], None
        while True:
            page = list_lines(
                store, environment_id, LineFilters.model_validate({"pageSize": size, "continuationToken": token})
            )
            listed += page["items"]
            token = page["continuationToken"]
            if not token:
                break
        keys = [(ledger_partition(environment_id, i["organizationId"], i["productId"]), i["id"]) for i in listed]
        assert keys == expected, f"page size {size}"


def test_an_environments_cache_rows_come_from_every_shard_in_key_order(app_env, environment_id):
    products = _products_on_every_shard(environment_id)
    store = LedgerStore()
    _ingest_two_lines_each(store, environment_id, products)
    sync_pending(store, environment_id=environment_id)

    rows = list(store.cache_rows_of_environment(environment_id, None))

    assert {r["PartitionKey"] for r in rows} == {ledger_partition(environment_id, "usmf", p) for p in products}
    assert len(rows) == 2 * len(products)
    keys = [(r["PartitionKey"], r["RowKey"]) for r in rows]
    assert keys == sorted(keys)
