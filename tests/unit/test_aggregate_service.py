"""Aggregation and the index query against in-memory fakes of their ports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from shared.adapters.ledger_keys import LEDGER_WORK, SEND_WORK, ledger_partition
from shared.domain.aggregation import JournalMapping
from shared.domain.inventory_config import InventoryConfig
from shared.services.aggregate import aggregate_pending
from shared.services.ingest import ingest
from shared.services.queries import IndexQuery, index_query
from shared.services.send_journals import send_environment
from tests.unit.fakes import InMemoryJournalLog, InMemoryLedger
from tests.unit.test_ingest_service import lines
from tests.unit.test_send_service import Connector

ENV = "env-unit"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
MAPPING = JournalMapping(targets={"pos/sold": {"journal_type": "adjustment", "target_status": "Posted"}})


def clock() -> datetime:
    return NOW


def test_posted_lines_become_one_aggregated_line_per_key_and_are_sent_once() -> None:
    store = InMemoryLedger()
    ingest(store, ENV, lines(("a", "P1", "2"), ("b", "P1", "0.5"), ("c", "P2", "-1"), sync=True), clock)

    report = aggregate_pending(store, MAPPING, clock)

    assert (report.lines, report.aggregated, report.to_send) == (3, 2, 2)
    assert {e["Status"] for e in store.lines().values()} == {"Aggregated"}
    assert store.marked(LEDGER_WORK) == set(), "nothing is open: the markers go"
    p1, p2 = ledger_partition(ENV, "usmf", "P1"), ledger_partition(ENV, "usmf", "P2")
    assert store.marked(SEND_WORK) == {p1, p2}
    (first,) = store.waiting_lines(p1, ("Created",))
    assert Decimal(first.quantity) == Decimal("2.5")

    erp = Connector("posted")
    send_environment(store, InMemoryJournalLog(), erp, ENV, max_lines=100, max_attempts=3, clock=clock)
    send_environment(store, InMemoryJournalLog(), erp, ENV, max_lines=100, max_attempts=3, clock=clock)

    assert len(erp.sent) == 1, "a second run finds nothing due"
    assert sorted(str(line.quantity) for line in erp.sent[0].lines) == ["-1", "2.5"]


def test_the_index_query_sums_cache_rows_per_product_through_the_cache_port() -> None:
    config = InventoryConfig.model_validate(
        json.loads((Path(__file__).resolve().parents[2] / "samples" / "configuration.json").read_text())
    )
    store = InMemoryLedger()
    ingest(store, ENV, lines(("a", "P1", "2"), ("b", "P1", "0.5"), ("c", "P2", "-1"), sync=True), clock)
    ingest(store, "other-env", lines(("a", "P1", "100"), sync=True), clock)

    items = index_query(store, ENV, IndexQuery(filters={"organizationId": ["usmf"]}), config)

    assert [(i["productId"], i["quantities"]["pos"]["sold"]) for i in items] == [("P1", "2.5"), ("P2", "-1")]
