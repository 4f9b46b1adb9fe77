"""Finished records leave the ledger for `finishedlines` and stay readable at every moment (real Azurite).

Lines stay in the ledger while their journal is in flight; once their aggregated line is posted in
the ERP with its offset and on-hand change applied (`finish_posted`, at the offset visit), the
aggregated line and its member lines move together. Lines no journal takes move when closed."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal

from shared.adapters.ledger_tables import LedgerStore
from shared.domain.adjustments import parse_lines
from shared.domain.aggregation import JournalMapping
from shared.domain.ledger_records import NewLine
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
    """Every line record the ledger table itself still holds for the environment (open under `D|`,
    aggregated under `L|`), read from storage."""
    query = "PartitionKey ge @lo and PartitionKey lt @hi and RowKey ge @rlo and RowKey lt @rhi"
    bounds = {"lo": environment_id + "|", "hi": environment_id + "}"}
    return [
        e["RowKey"]
        for prefix in ("D", "L")
        for e in store.ledger.query_entities(query, parameters=bounds | {"rlo": prefix + "|", "rhi": prefix + "}"})
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


def _finished_then_aggregated(environment_id: str, first: tuple[str, int], then: tuple[str, int], products: int):
    """Lines in two of the places a record can be: `first` synced, aggregated, posted and moved to
    `finishedlines`; `then` synced and aggregated (under `L|` in the ledger)."""
    groups = []
    for prefix, count in (first, then):
        lines = _lines(prefix, count, products=products)
        ingest(LedgerStore(), environment_id, lines)
        sync_pending(LedgerStore(), environment_id=environment_id)
        aggregate_pending(LedgerStore(), MAPPING, environment_id=environment_id)
        if not groups:
            _post_and_finish(LedgerStore(), environment_id)
        groups.append(lines)
    return groups


def test_the_lines_list_pages_through_open_aggregated_and_finished_lines_in_order_without_gaps_or_repeats(
    app_env, environment_id
):
    """Three places a record can be: open (`D|`), aggregated (`L|`) in the ledger, `finishedlines`."""
    finished, aggregated = _finished_then_aggregated(environment_id, ("a", 7), ("c", 4), products=3)
    still_open = _lines("b", 5, products=3)
    ingest(LedgerStore(), environment_id, still_open)
    store = LedgerStore()

    for size in (1, 2, 3, 5, 100):
        listed = _all_pages(store, environment_id, size)
        ids = [item["id"] for item in listed]
        assert sorted(ids) == sorted(line.id for line in finished + aggregated + still_open), f"page size {size}"
        assert len(set(ids)) == len(ids)
        keys = [(item["productId"], item["id"]) for item in listed]
        assert keys == sorted(keys), f"page size {size}: in (product, id) order across the three places"
    by_status = {status: _all_pages(store, environment_id, 2, status=status) for status in ("Created", "Aggregated")}
    assert sorted(i["id"] for i in by_status["Created"]) == sorted(line.id for line in still_open)
    assert sorted(i["id"] for i in by_status["Aggregated"]) == sorted(line.id for line in finished + aggregated)


def test_an_open_line_is_one_entity_of_the_ledger_from_ingest_to_aggregation(app_env, environment_id):
    """Ingest and sync write one entity a line (the per-partition ceiling is counted in entities), and
    aggregation moves the record out of the open range in the transaction that aggregates it."""
    lines = _lines("one", 6, products=1)
    ingest(LedgerStore(), environment_id, lines)
    store = LedgerStore()
    partition = store.find_id(environment_id, lines[0].id).ledger_partition

    def keys() -> list[str]:
        return [e["RowKey"] for e in store.ledger.query_entities("PartitionKey eq @pk", parameters={"pk": partition})]

    assert sorted(keys()) == sorted("D|" + line.id for line in lines), "one open record a line, nothing else"
    sync_pending(LedgerStore(), environment_id=environment_id)
    after_sync = keys()
    assert sorted(k for k in after_sync if not k.startswith("C|")) == sorted("D|" + line.id for line in lines)
    assert {get_line(store, environment_id, line.id)["status"] for line in lines} == {"IVPosted"}
    aggregate_pending(store, MAPPING, environment_id=environment_id)
    moved = [k for k in keys() if k[:2] in ("D|", "L|")]
    assert sorted(moved) == sorted("L|" + line.id for line in lines), "aggregated: out of the open range"
    assert {get_line(store, environment_id, line.id)["status"] for line in lines} == {"Aggregated"}
    assert not store.has_open_lines(partition)


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


def _onhand(store: LedgerStore, partition: str) -> Decimal:
    rows = store.cache_rows(partition).values()
    return sum((Decimal(row.quantities.get("pos", {}).get("sold", "0")) for row in rows), Decimal(0))


def test_a_late_write_of_a_line_that_moved_on_never_reaches_the_cache_twice(app_env, environment_id):
    """An ingest write storage applied but whose answer was lost is retried after a backoff; by then
    the line may be finished (in `finishedlines`) or aggregated (under `L|`, out of the open range).
    The retry creates the open record again, and the next sync discards it unapplied."""
    finished, aggregated = _finished_then_aggregated(environment_id, ("gone", 2), ("late", 2), products=1)
    store = LedgerStore()
    partition = store.find_id(environment_id, aggregated[0].id).ledger_partition
    before = _onhand(store, partition)
    assert before == sum(line.quantity for line in finished + aggregated)
    retried = [finished[0], aggregated[1]]

    now = datetime.now(UTC)
    store.add_lines([NewLine(environment_id, partition, line, line.fingerprint(), now) for line in retried])
    store.mark_pending([partition], now)  # as the retried request goes on to do
    assert store.has_open_lines(partition), "the retried write stored open records again"
    report = sync_pending(LedgerStore(), environment_id=environment_id)

    assert report.lines == 0
    assert _onhand(store, partition) == before, "each line once in the cache"
    assert not store.has_open_lines(partition), "the late copies are gone"
    assert {get_line(store, environment_id, line.id)["status"] for line in retried} == {"Aggregated"}
