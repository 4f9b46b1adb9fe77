"""The DuckDB engine agrees with a plain-Python reference on random snapshots.

The reference sums with Decimal in dicts and classifies with the domain rules;
any drift in the engine's SQL (filter, join, sums, missing keys) shows up here.
"""

from __future__ import annotations

import random
from collections import defaultdict
from decimal import Decimal as D
from pathlib import Path

import pytest

from shared.domain.reconciliation.rules import Category, classify

from .conftest import discrepancy_rows, run, write_csv


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_engine_matches_reference(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    items = [f"{rnd.randint(0, 300):05d}" for _ in range(150)]
    erp_rows, wms_rows = [], []
    for _ in range(600):
        it, wh, lot = rnd.choice(items), rnd.choice(["1", "01", "2"]), rnd.choice(["", "L1", "L2"])
        q = D(rnd.randint(-5, 50)) / rnd.choice([D(1), D(4), D(100)])
        if rnd.random() < 0.6:
            erp_rows.append([it, wh, lot, str(q), "2.5"])
        if rnd.random() < 0.6:
            wms_rows.append([it, wh, lot, str(q + rnd.choice([D(0), D(0), D(0), D("0.25"), D(-1)]))])
    erp = write_csv(
        tmp_path / "e.csv",
        ["ItemNumber", "InventoryWarehouseId", "ItemBatchNumber", "OnHandQuantity", "UnitCost"],
        erp_rows,
    )
    wms = write_csv(tmp_path / "w.csv", ["sku", "warehouse", "lot", "qty"], wms_rows, delimiter="|")

    e: dict[tuple, D] = defaultdict(D)
    w: dict[tuple, D] = defaultdict(D)
    for it, wh, lot, q, _ in erp_rows:
        e[(it, wh, lot)] += D(q)
    for it, wh, lot, q in wms_rows:
        w[(it, wh, lot)] += D(q)
    expected = {}
    for k in set(e) | set(w):
        cat = classify(e.get(k), w.get(k))
        if cat is not Category.MATCH:
            expected[k] = (cat.value, w.get(k, D(0)) - e.get(k, D(0)))

    result = run(erp, wms)
    got = {
        (r["item"], r["warehouse"], r["batch"]): (r["category"], D(r["difference"])) for r in discrepancy_rows(result)
    }
    assert got == expected
    assert result.summary["counts"]["keys"] == len(set(e) | set(w))
    assert D(result.summary["totals"]["erp_quantity"]) == sum(e.values(), D(0))
    assert D(result.summary["totals"]["wms_quantity"]) == sum(w.values(), D(0))
