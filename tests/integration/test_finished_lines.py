"""Finished records leave the ledger for `finishedlines` and stay readable at every moment (real Azurite).

Lines stay in the ledger while their journal is in flight; once their aggregated line is posted in
the ERP with its offset and on-hand change applied (`finish_posted`, at the offset visit), the
aggregated line and its member lines move together. Lines no journal takes move when closed."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from shared.adapters.ledger_tables import LedgerStore
from shared.domain.adjustments import parse_lines
from shared.domain.aggregation import JournalMapping
from shared.services.aggregate import aggregate_pending
from shared.services.ingest import ingest
from shared.services.queries import LineFilters, get_line, list_lines
from shared.services.sync import sync_pending
from tests.faults import Crash

MAPPING = JournalMapping(targets={"pos/sold": {"journal_type": "adjustment", "target_status": "Created"}})


class CrashOn:
    """Crash at the first storage step of this name."""

    def __init__(self, name: str) -> None:
        self.name, self.fired = name, False

    def __call__(self, step: str) -> None:
        if step == self.name and not self.fired:
            self.fired = True
            raise Crash(step)


def _lines(prefix: str, count: int, *, source: str = "pos", measure: str = "sold", products: int = 2):
    raw = [
        {
            "id": f"{prefix}-{i:03d}",
            "organizationId": "usmf",
            "productId": f"P{i % products}",
            "quantityDataSource": source,
            "physicalMeasure": measure,
            "dimensions": {"siteId": "1", "locationId": str(i % 3)},
            "quantity": str(Decimal(i % 4 + 1)),
            "externalReferenceId": f"R{i}",
        }
        for i in range(count)
    ]
    lines, problems = parse_lines(raw, allowed_sources=(source,), allowed_measures=(measure,))
    assert not problems
    return lines


def _ledger_line_keys(store: LedgerStore, environment_id: str) -> list[str]:
    """Every line record the ledger tables themselves still hold for the environment, read from storage."""
    return [
        e["RowKey"]
        for table in store.ledgers
        for e in table.query_entities(
            "PartitionKey ge @lo and PartitionKey lt @hi and RowKey ge @rlo and RowKey lt @rhi",
            parameters={"lo": environment_id + "|", "hi": environment_id + "}", "rlo": "L|", "rhi": "L}"},
        )
    ]


def _all_pages(store: LedgerStore, environment_id: str, page_size: int, **filters: str) -> list[dict]:
    items: list[dict] = []
    token = None
    while True:
        page = list_lines(
            store,
            environment_id,
            LineFilters.model_validate({"pageSize": page_size, "continuationToken": token, **filters}),
        )
        items += page["items"]
        token = page["continuationToken"]
        if not token:
            return items


def _post_and_finish(store: LedgerStore, environment_id: str, fault=None) -> list[str]:
    """The ERP posted every aggregated line of the environment, offsets applied; then the offset
    visit's move (`finish_posted`) for each partition. The partitions, in order."""
    aggregated, _ = store.query_aggregated(environment_id, {}, 1000, None)
    store.update_aggregated(
        [
            {"PartitionKey": e["PartitionKey"], "RowKey": e["RowKey"], "Status": "FnOPosted", "Offset": "done"}
            for e in aggregated
        ]
    )
    partitions = sorted({e["PartitionKey"] for e in aggregated})
    mover = LedgerStore(fault=fault) if fault is not None else store
    for partition in partitions:
        mover.finish_posted(partition)
    return partitions


def test_aggregated_lines_leave_the_ledger_with_their_posted_journal_line_and_are_read_from_the_finished_lines(
    app_env, environment_id
):
    """The ledger keeps what is open; a finished line is still found by id and in the lines list,
    with its status and aggregated line, and its open entry is gone too."""
    lines = _lines("fin", 10)
    ingest(LedgerStore(), environment_id, lines)
    sync_pending(LedgerStore(), environment_id=environment_id)
    store = LedgerStore()
    assert len(_ledger_line_keys(store, environment_id)) == 10, "open lines are in the ledger"

    aggregate_pending(store, MAPPING, environment_id=environment_id)
    assert len(_ledger_line_keys(store, environment_id)) == 10, "aggregated, journal not posted: still in the ledger"
    assert list(store.finished.list_entities()) == []

    _post_and_finish(store, environment_id)

    assert _ledger_line_keys(store, environment_id) == []
    assert store.query_aggregated(environment_id, {}, 100, None)[0], "aggregated lines listed from finishedlines"
    finished = [e for e in store.finished.list_entities() if e["RowKey"].startswith("L|")]
    assert sorted(e["LineId"] for e in finished) == sorted(line.id for line in lines)
    for line in lines:
        view = get_line(store, environment_id, line.id)
        assert view is not None
        assert view["status"] == "Aggregated"
        assert view["aggregatedLineId"]
        assert Decimal(view["quantity"]) == line.quantity
    partition = store.find_id(environment_id, lines[0].id).ledger_partition
    assert not store.has_open_lines(partition)


def test_lines_no_journal_takes_are_finished_as_they_are(app_env, environment_id):
    """No mapping for their source and measure: closed `IVPosted`, moved out all the same."""
    lines = _lines("unm", 4, source="ecom", measure="reserved")
    ingest(LedgerStore(), environment_id, lines)
    sync_pending(LedgerStore(), environment_id=environment_id)
    store = LedgerStore()
    aggregate_pending(store, MAPPING, environment_id=environment_id)
    assert _ledger_line_keys(store, environment_id) == []
    assert {get_line(store, environment_id, line.id)["status"] for line in lines} == {"IVPosted"}


def test_a_crash_between_the_copy_and_the_ledger_delete_loses_nothing_and_lists_each_line_once(app_env, environment_id):
    lines = _lines("cr", 6)
    ingest(LedgerStore(), environment_id, lines)
    sync_pending(LedgerStore(), environment_id=environment_id)
    aggregate_pending(LedgerStore(), MAPPING, environment_id=environment_id)
    store = LedgerStore()
    crash = CrashOn("finish_aggregated_lines")
    with contextlib.suppress(Crash):
        _post_and_finish(store, environment_id, fault=crash)
    assert crash.fired
    assert _ledger_line_keys(store, environment_id), "the crash left records in the ledger"
    assert list(store.finished.list_entities()), "and their copies in finishedlines"

    listed = _all_pages(store, environment_id, 4)
    assert sorted(item["id"] for item in listed) == sorted(line.id for line in lines)
    for line in lines:
        assert get_line(store, environment_id, line.id) is not None

    _post_and_finish(store, environment_id)  # the next offset visit
    assert _ledger_line_keys(store, environment_id) == []
    assert {item["status"] for item in _all_pages(store, environment_id, 4)} == {"Aggregated"}


def test_the_lines_list_pages_through_open_and_finished_lines_in_order_without_gaps_or_repeats(app_env, environment_id):
    finished = _lines("a", 7, products=3)
    ingest(LedgerStore(), environment_id, finished)
    sync_pending(LedgerStore(), environment_id=environment_id)
    aggregate_pending(LedgerStore(), MAPPING, environment_id=environment_id)
    _post_and_finish(LedgerStore(), environment_id)
    still_open = _lines("b", 5, products=3)
    ingest(LedgerStore(), environment_id, still_open)
    store = LedgerStore()

    for size in (1, 2, 3, 5, 100):
        listed = _all_pages(store, environment_id, size)
        ids = [item["id"] for item in listed]
        assert sorted(ids) == sorted(line.id for line in finished + still_open), f"page size {size}"
        assert len(set(ids)) == len(ids)
    by_status = {status: _all_pages(store, environment_id, 2, status=status) for status in ("Created", "Aggregated")}
    assert sorted(i["id"] for i in by_status["Created"]) == sorted(line.id for line in still_open)
    assert sorted(i["id"] for i in by_status["Aggregated"]) == sorted(line.id for line in finished)


def test_finished_lines_of_one_environment_are_not_listed_in_another(app_env, environment_id):
    lines = _lines("iso", 3)
    ingest(LedgerStore(), environment_id, lines)
    sync_pending(LedgerStore(), environment_id=environment_id)
    aggregate_pending(LedgerStore(), MAPPING, environment_id=environment_id)
    store = LedgerStore()
    _post_and_finish(store, environment_id)
    assert _ledger_line_keys(store, environment_id) == []
    other = environment_id + "x"
    assert _all_pages(store, other, 10) == []
    assert get_line(store, other, lines[0].id) is None
