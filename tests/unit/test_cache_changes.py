"""The apply-once loop with an in-memory fake of the ledger port: conflicts re-read, persistent ones give up."""

from decimal import Decimal

import pytest

from shared.adapters.ledger_tables import ConcurrencyConflict
from shared.domain.cache import CacheChange, CacheRow, Edit
from shared.services.cache_changes import MAX_CONFLICT_RETRIES, TooMuchContention, apply_changes


class FakeLedger:
    """Rows and markers of one partition; `conflicts` commits fail first, as if another writer won."""

    def __init__(self, conflicts: int) -> None:
        self.conflicts = conflicts
        self.rows: dict[str, CacheRow] = {}
        self.markers: set[str] = set()
        self.commits = 0

    def cache_rows(self, partition: str) -> dict[str, CacheRow]:
        return dict(self.rows)

    def commit_changes(self, partition, rows, changes, at):
        if self.conflicts:
            self.conflicts -= 1
            raise ConcurrencyConflict("UpdateConditionNotSatisfied")
        self.commits += 1
        for row in rows:
            self.rows[row.row_key] = CacheRow(row.row_key, row.dim_key, row.dimensions, row.quantities, "etag")
        self.markers |= {c.marker_key for c in changes}
        return {row.row_key: "etag" for row in rows}


def change(n: int) -> CacheChange:
    return CacheChange(f"E|{n}", {}, None, (Edit({"siteId": "1"}, "fno", "availphysical", Decimal(n)),))


def test_a_lost_race_reloads_and_applies_only_what_is_still_due():
    ledger = FakeLedger(conflicts=2)
    loads = []

    def load():
        loads.append(1)
        return [c for c in (change(1), change(2)) if c.marker_key not in ledger.markers]

    applied = apply_changes(ledger, "p", load)  # type: ignore[arg-type]
    assert [c.marker_key for c in applied] == ["E|1", "E|2"]
    assert len(loads) == 3, "one load, then one after each conflict"
    (row,) = ledger.rows.values()
    assert row.quantities == {"fno": {"availphysical": "3"}}


def test_more_than_150_changes_take_several_transactions_and_each_applies_once():
    ledger = FakeLedger(conflicts=0)
    applied = apply_changes(ledger, "p", lambda: [change(n) for n in range(150)])  # type: ignore[arg-type]
    assert len(applied) == 150 and ledger.commits == 2
    (row,) = ledger.rows.values()
    assert Decimal(row.quantities["fno"]["availphysical"]) == sum(range(150))


def test_a_partition_that_never_settles_gives_up_with_a_clear_error():
    ledger = FakeLedger(conflicts=10_000)
    with pytest.raises(TooMuchContention):
        apply_changes(ledger, "p", lambda: [change(1)])  # type: ignore[arg-type]
    assert ledger.conflicts == 10_000 - (MAX_CONFLICT_RETRIES + 1)
    assert ledger.rows == {}


class FakeSyncStore(FakeLedger):
    """The ledger port of a partition visit: one partition with one `Created` line and a pending marker."""

    def __init__(self, conflicts: int) -> None:
        super().__init__(conflicts)
        self.cleared: list[str] = []
        self.queued: list[tuple[str, dict, int]] = []

    def _line(self):
        from shared.domain.cache import PendingLine

        return [] if "D|1" in self.markers else [PendingLine("D|1", "e", {"siteId": "1"}, "pos", "sold", Decimal(2))]

    def pending_markers(self, kind="ledger", touched_before=None, environment_id=None):
        from shared.adapters.pending_index import Marker

        return [Marker(kind, 0, "env|org|p", "marker-etag")]

    def clear_pending(self, marker):
        self.cleared.append(marker.partition)

    def open_entries(self, partition):
        from shared.adapters.ledger_tables import OpenEntries

        return OpenEntries(dict(self.rows), self._line(), 1 if "D|1" in self.markers else 0)

    def created_lines(self, partition, limit):
        return self._line()

    def moved_on(self, partition, line_ids):
        return set()  # the one line has not moved on

    def schedule_once(self, name, at):
        if name in getattr(self, "schedules", set()):
            return False
        self.schedules = getattr(self, "schedules", set()) | {name}
        return True

    def put(self, work, bodies, delay_s=0):
        self.queued += [(work, body, delay_s) for body in bodies]
        return len(self.queued)


def test_a_partition_sync_gives_up_on_keeps_its_marker_for_the_next_run():
    from shared.services.sync import sync_pending

    busy = FakeSyncStore(conflicts=10_000)
    assert sync_pending(busy).lines == 0  # type: ignore[arg-type]
    assert busy.cleared == [], "lines are still Created: the marker must stay"
    calm = FakeSyncStore(conflicts=0)
    assert sync_pending(calm).lines == 1  # type: ignore[arg-type]
    assert calm.cleared == [], "the line is IVPosted but not aggregated: the marker must stay"


def test_a_sync_message_on_a_busy_partition_comes_back_later_and_keeps_its_marker():
    from shared.services.partition_work import RETRY_DELAY_S, on_sync_message

    busy = FakeSyncStore(conflicts=10_000)
    body = {"kind": "ledger", "partition": "env|org|p", "shard": 0, "etag": "marker-etag"}
    on_sync_message(busy, busy, body)  # type: ignore[arg-type]
    assert busy.queued == [("sync", body, RETRY_DELAY_S)] and busy.cleared == []
    calm = FakeSyncStore(conflicts=0)
    on_sync_message(calm, calm, body)  # type: ignore[arg-type]
    assert calm.queued == [("aggregate", body, 0)], "posted lines go on to aggregation with the same marker"
    assert calm.cleared == []


@pytest.mark.parametrize("body", [{}, {"partition": "no-bars"}, {"partition": 7}])
def test_a_message_that_names_no_partition_is_refused_and_changes_nothing(body):
    from shared.services.partition_work import on_sync_message

    store = FakeSyncStore(conflicts=0)
    with pytest.raises(ValueError, match="partition"):
        on_sync_message(store, store, body)  # type: ignore[arg-type]
    assert store.commits == 0 and store.queued == [] and store.cleared == []


def test_a_duplicate_message_clears_its_marker_but_a_redelivery_hands_the_partition_to_aggregation():
    from shared.services.partition_work import on_sync_message

    body = {"kind": "ledger", "partition": "env|org|p", "shard": 0, "etag": "marker-etag"}
    duplicate = FakeSyncStore(conflicts=0)
    duplicate.markers.add("D|1")  # another visit applied the line (and queued its aggregation)
    on_sync_message(duplicate, duplicate, body)  # type: ignore[arg-type]
    assert (duplicate.queued, duplicate.cleared) == ([], ["env|org|p"])
    retried = FakeSyncStore(conflicts=0)
    retried.markers.add("D|1")  # this message's own visit committed, then crashed before queueing
    on_sync_message(retried, retried, body, redelivered=True, aggregate_delay_s=30)  # type: ignore[arg-type]
    assert (retried.queued, retried.cleared) == ([("aggregate", body, 30)], [])


def test_lines_posted_while_an_aggregation_waits_join_it_instead_of_queueing_another():
    from shared.services.partition_work import on_sync_message

    body = {"kind": "ledger", "partition": "env|org|p", "shard": 3, "etag": "marker-etag"}
    store = FakeSyncStore(conflicts=0)
    store.schedules = {"aggregate|env|org|p"}  # an aggregate message for this product is waiting
    report = on_sync_message(store, store, body, aggregate_delay_s=30)  # type: ignore[arg-type]
    assert report.lines == 1
    assert store.queued == [], "no second aggregate message for the same product"
    assert store.cleared == ["env|org|p"], "the waiting aggregation reads these lines; this marker is done"
    first = FakeSyncStore(conflicts=0)
    on_sync_message(first, first, body, aggregate_delay_s=30)  # type: ignore[arg-type]
    assert first.queued == [("aggregate", body, 30)] and first.cleared == []
