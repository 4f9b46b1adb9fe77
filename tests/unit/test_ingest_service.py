"""The ingest use case against in-memory fakes of its ports: idempotency, conflicts, repair, work markers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.adapters.ledger_keys import LEDGER_WORK, ledger_partition
from shared.domain.adjustments import AdjustmentLine, parse_lines
from shared.services.ingest import ingest
from shared.services.queries import LineFilters, get_line, list_lines
from tests.unit.fakes import InMemoryLedger, RecordingQueues

ENV = "env-unit"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def lines(*specs: tuple[str, str, str], sync: bool = False) -> list[AdjustmentLine]:
    """Lines from (id, product, quantity)."""
    raw = [
        {
            "id": line_id,
            "organizationId": "usmf",
            "productId": product,
            "quantityDataSource": "pos",
            "physicalMeasure": "sold",
            "dimensions": {"siteId": "1", "locationId": "11"},
            "quantity": quantity,
            "createWithIVSync": sync,
        }
        for line_id, product, quantity in specs
    ]
    parsed, problems = parse_lines(raw, allowed_sources=("pos",), allowed_measures=("sold",))
    assert problems == []
    return parsed


def queued(queues: RecordingQueues) -> list[str]:
    """The partitions named in `sync` messages (a message names one partition, or a batch of them)."""
    return sorted(
        item["partition"]
        for work, body, _ in queues.messages
        if work == "sync"
        for item in body.get("partitions", [body])
    )


def outcomes(result: list) -> list[tuple[str, str, str | None]]:
    return [(o.id, o.outcome, o.status) for o in result]


def test_a_repeated_request_stores_each_line_once_and_says_duplicate() -> None:
    store, queues = InMemoryLedger(), RecordingQueues()
    request = lines(("a", "P1", "2"), ("b", "P2", "-1.5"))

    first = ingest(store, ENV, request, clock, queues)
    second = ingest(store, ENV, request, clock, queues)

    assert outcomes(first) == [("a", "created", "Created"), ("b", "created", "Created")]
    assert outcomes(second) == [("a", "duplicate", "Created"), ("b", "duplicate", "Created")]
    stored = store.lines()
    assert set(stored) == {"a", "b"} and stored["b"]["Quantity"] == "-1.5"
    assert store.marked(LEDGER_WORK) == {ledger_partition(ENV, "usmf", "P1"), ledger_partition(ENV, "usmf", "P2")}
    assert queued(queues) == sorted(2 * [ledger_partition(ENV, "usmf", "P1"), ledger_partition(ENV, "usmf", "P2")])


def test_an_id_stored_with_other_content_is_a_conflict_for_that_line_only() -> None:
    store = InMemoryLedger()
    ingest(store, ENV, lines(("a", "P1", "2")), clock)

    result = ingest(store, ENV, lines(("a", "P1", "3"), ("c", "P1", "1")), clock)

    assert outcomes(result)[0][:3] == ("a", "conflict", "Created")
    assert "other content" in (result[0].message or "")
    assert outcomes(result)[1] == ("c", "created", "Created")
    assert store.lines()["a"]["Quantity"] == "2", "the stored line is not changed by the conflicting one"


def test_repeats_inside_one_request_are_duplicate_or_conflict_and_stored_once() -> None:
    store = InMemoryLedger()
    result = ingest(store, ENV, lines(("a", "P1", "2"), ("a", "P1", "2"), ("a", "P1", "9")), clock)

    assert [o.outcome for o in result] == ["created", "duplicate", "conflict"]
    assert list(store.lines()) == ["a"]


class DiesAfterReservingIds(InMemoryLedger):
    """The process dies between the id records and the lines (the first request's crash)."""

    dead = True

    def add_lines(self, new_lines: list) -> None:
        if self.dead:
            self.dead = False
            raise RuntimeError("process died")
        super().add_lines(new_lines)


def test_a_retry_after_a_crash_between_ids_and_lines_repairs_the_missing_line() -> None:
    store, queues = DiesAfterReservingIds(), RecordingQueues()
    request = lines(("a", "P1", "2"), ("b", "P2", "1"))
    with pytest.raises(RuntimeError):
        ingest(store, ENV, request, clock, queues)
    assert store.lines() == {} and store.find_id(ENV, "a") is not None

    result = ingest(store, ENV, request, clock, queues)

    assert outcomes(result) == [("a", "duplicate", "Created"), ("b", "duplicate", "Created")]
    assert set(store.lines()) == {"a", "b"}, "the retried request stored the lines the crash lost"
    assert store.marked(LEDGER_WORK) == {ledger_partition(ENV, "usmf", "P1"), ledger_partition(ENV, "usmf", "P2")}
    assert queued(queues) == [ledger_partition(ENV, "usmf", "P1"), ledger_partition(ENV, "usmf", "P2")]


def test_instant_sync_posts_the_lines_into_the_cache_before_answering() -> None:
    store = InMemoryLedger()
    result = ingest(store, ENV, lines(("a", "P1", "2"), ("b", "P1", "0.5"), sync=True), clock)

    assert [o.status for o in result] == ["IVPosted", "IVPosted"]
    partition = ledger_partition(ENV, "usmf", "P1")
    (row,) = store.cache_rows(partition).values()
    assert Decimal(row.quantities["pos"]["sold"]) == Decimal("2.5")
    assert store.line_status(partition, "a") == "IVPosted"


def test_a_line_already_posted_answers_duplicate_with_its_status_and_marks_nothing_new() -> None:
    store = InMemoryLedger()
    ingest(store, ENV, lines(("a", "P1", "2"), sync=True), clock)
    store.markers.clear()

    result = ingest(store, ENV, lines(("a", "P1", "2"), sync=False), clock)

    assert outcomes(result) == [("a", "duplicate", "IVPosted")]
    assert store.marked(LEDGER_WORK) == set(), "a posted line is no work for sync"


def test_the_read_api_shows_a_line_as_posted_with_its_status_times() -> None:
    store = InMemoryLedger()
    ingest(store, ENV, lines(("a", "P1", "2"), ("b", "P2", "1"), sync=True), clock)

    view = get_line(store, ENV, "a")

    assert view is not None and view["quantity"] == "2" and view["productId"] == "P1"
    assert view["status"] == "IVPosted" and view["statusTimes"]["Created"] == NOW
    assert get_line(store, ENV, "missing") is None
    page = list_lines(store, ENV, LineFilters(productId="P2"))
    assert [item["id"] for item in page["items"]] == ["b"]
