"""The D365 OData connector against the loopback fake D365 (tests/fakes/odata_server.py).

Expected values come from the fake's own state (what the "ERP" holds) or from the test's
inputs, never from the connector's code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from shared.adapters.erp_odata import ODataErpConnector
from shared.domain.journals import Journal, JournalLine
from tests.fakes.odata_server import (
    ADJ_HEADERS,
    ADJ_LINES,
    CNT_HEADERS,
    CNT_LINES,
    MOV_HEADERS,
    MOV_LINES,
    FakeD365,
    ODataError,
    parse_filter,
    running_fake_d365,
)

KNOWN_ITEMS = {f"A{i:04d}" for i in range(1, 1000)}


class FakeTokens:
    """A ``TokenCredential`` backed by the fake's token issuer (what Entra ID would be); records each
    request for a token. Caching and renewal are the connector's (azure-core's token policy)."""

    def __init__(self, fake: FakeD365) -> None:
        self.fake = fake
        self.scopes: list[tuple[str, ...]] = []
        self.issued: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        token = self.fake.issue_token()
        self.issued.append(token)
        return AccessToken(token, int(time.time()) + 3600)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def fake_d365() -> Iterator[FakeD365]:
    with running_fake_d365(known_items=set(KNOWN_ITEMS), hang_seconds=1.2) as fake:
        yield fake


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_connector(fake: FakeD365, sleeps: Sleeps, **options: Any) -> tuple[ODataErpConnector, FakeTokens]:
    tokens = options.pop("tokens", None) or FakeTokens(fake)
    settings: dict[str, Any] = {"timeout": 0.6, "max_retries": 3, "sleep": sleeps, "backoff_base_s": 0.5}
    settings.update(options)
    return ODataErpConnector(fake.base_url, tokens, **settings), tokens


def make_journal(
    items: list[str],
    *,
    journal_id: str = "OS-dev-0001",
    journal_type: str = "adjustment",
    target_status: str = "Created",
    quantities: list[Decimal] | None = None,
) -> Journal:
    quantities = quantities or [Decimal(i + 1) for i in range(len(items))]
    lines = tuple(
        JournalLine(line_id=f"agg-{i + 1}", item_number=item, quantity=qty, site_id="1", warehouse_id="11")
        for i, (item, qty) in enumerate(zip(items, quantities, strict=True))
    )
    return Journal(
        journal_id=journal_id,
        environment_id="dev",
        organization_id="usmf",
        journal_type=journal_type,  # type: ignore[arg-type]
        journal_name_id="IAdj",
        target_status=target_status,  # type: ignore[arg-type]
        lines=lines,
    )


def line_numbers(fake: FakeD365, number: str, line_set: str = ADJ_LINES) -> list[Decimal]:
    return sorted(Decimal(r["LineNumber"]) for r in fake.journal_lines(line_set, "usmf", number))


# ----- happy path -----------------------------------------------------------------------------
def test_happy_path_creates_header_and_lines_and_reports_erp_numbers(
    fake_d365: FakeD365, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    full = JournalLine(
        line_id="agg-full",
        item_number="A0007",
        quantity=Decimal("-3.14159265358979323846"),
        site_id="2",
        warehouse_id="21",
        color_id="Red",
        size_id="L",
        style_id="Slim",
        config_id="C1",
        batch_id="B-9",
        serial_id="S-1",
        status_id="Available",
        location_id="BULK-001",
        license_plate_id="LP-77",
        transaction_date=date(2024, 3, 1),
        unit_cost=Decimal("19.990000000000000001"),
    )
    base = make_journal(["A0001", "A0002"])
    journal = Journal(**{**base.__dict__, "lines": (*base.lines, full)})
    connector, tokens = make_connector(fake_d365, sleeps, chunk_size=2)

    outcome = connector.send(journal)

    headers = fake_d365.journals(ADJ_HEADERS)
    assert len(headers) == 1
    header = headers[0]
    assert header["Description"] == "OS-dev-0001"
    assert header["JournalNameId"] == "IAdj"
    assert outcome.state == "created"
    assert outcome.retryable is False
    assert outcome.erp_journal_number == header["JournalNumber"]
    stored = {r["ItemNumber"]: r for r in fake_d365.journal_lines(ADJ_LINES, "usmf", header["JournalNumber"])}
    assert set(stored) == {"A0001", "A0002", "A0007"}
    by_line = {r.line_id: r for r in outcome.lines}
    assert [r.line_id for r in outcome.lines] == ["agg-1", "agg-2", "agg-full"]
    for line in journal.lines:
        assert by_line[line.line_id].error is None
        assert Decimal(by_line[line.line_id].erp_line_number or "nan") == stored[line.item_number]["LineNumber"]
    # every field made it across, decimals exactly
    rec = stored["A0007"]
    assert rec["InventoryQuantity"] == Decimal("-3.14159265358979323846")
    assert rec["UnitCost"] == Decimal("19.990000000000000001")
    assert rec["TransactionDate"].startswith("2024-03-01")
    expected = {
        "InventorySiteId": "2",
        "InventoryWarehouseId": "21",
        "ProductColorId": "Red",
        "ProductSizeId": "L",
        "ProductStyleId": "Slim",
        "ProductConfigurationId": "C1",
        "ItemBatchNumber": "B-9",
        "ItemSerialNumber": "S-1",
        "InventoryStatusId": "Available",
        "WarehouseLocationId": "BULK-001",
        "LicensePlateNumber": "LP-77",
        "JournalNameId": "IAdj",
    }
    assert {k: rec.get(k) for k in expected} == expected
    # three lines in chunks of two: two $batch requests, no sleeping
    assert fake_d365.count("POST", "/$batch") == 2
    assert sleeps.calls == []
    # tokens are never logged
    assert tokens.issued
    for token in tokens.issued:
        assert token not in caplog.text


def test_movement_journal_goes_to_the_movement_entities(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    connector, _ = make_connector(fake_d365, sleeps)

    outcome = connector.send(make_journal(["A0001", "A0002"], journal_type="movement"))

    assert outcome.state == "created"
    assert fake_d365.journals(ADJ_HEADERS) == []
    [header] = fake_d365.journals(MOV_HEADERS)
    assert outcome.erp_journal_number == header["JournalNumber"]
    assert line_numbers(fake_d365, header["JournalNumber"], MOV_LINES) == [Decimal(1), Decimal(2)]


def test_counting_journal_sets_the_counted_quantity_in_the_counting_entities(
    fake_d365: FakeD365, sleeps: Sleeps
) -> None:
    """Reconciliation in counting mode: the ERP line says "counted 100", not "+2"."""
    connector, _ = make_connector(fake_d365, sleeps)

    outcome = connector.send(make_journal(["A0001"], journal_type="counting", quantities=[Decimal(100)]))
    again = connector.send(make_journal(["A0001"], journal_type="counting", quantities=[Decimal(100)]))

    assert outcome.state == "created" and again.state == "created"
    assert fake_d365.journals(ADJ_HEADERS) == [] and fake_d365.journals(MOV_HEADERS) == []
    [header] = fake_d365.journals(CNT_HEADERS)
    [line] = fake_d365.journal_lines(CNT_LINES, "usmf", header["JournalNumber"])
    assert Decimal(line["CountedQuantity"]) == 100 and "InventoryQuantity" not in line
    assert line["WarehouseId"] == "11" and line["ItemNumber"] == "A0001"


# ----- throttling -----------------------------------------------------------------------------
def test_throttling_waits_the_retry_after_seconds(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    fake_d365.throttle_next(2, retry_after="3")
    connector, _ = make_connector(fake_d365, sleeps)

    outcome = connector.send(make_journal(["A0001"]))

    assert outcome.state == "created"
    assert sleeps.calls == [3.0, 3.0]
    assert sum(1 for r in fake_d365.requests if r.status == 429) == 2
    assert len(fake_d365.journals()) == 1


def test_throttling_waits_until_the_retry_after_http_date(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    fake_d365.throttle_next(1, retry_after="Wed, 21 Oct 2015 07:28:07 GMT")
    connector, _ = make_connector(fake_d365, sleeps, now=lambda: datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC))

    outcome = connector.send(make_journal(["A0001"]))

    assert outcome.state == "created"
    assert sleeps.calls == [7.0]


def test_throttling_that_outlasts_the_retries_is_a_retryable_outcome(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    fake_d365.throttle_next(50, retry_after="2")
    connector, _ = make_connector(fake_d365, sleeps, max_retries=2)

    outcome = connector.send(make_journal(["A0001"]))

    assert outcome.state == "create_error"
    assert outcome.retryable is True
    assert "429" in (outcome.message or "")
    assert sleeps.calls == [2.0, 2.0]
    assert fake_d365.journals() == []


# ----- rejected lines -------------------------------------------------------------------------
def test_rejected_line_keeps_the_erps_message_and_names_the_line(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    erp_text = "Item A0002 is stopped for inventory transactions in site 1 (Stopped = Yes)."
    fake_d365.reject_item("A0002", erp_text)
    connector, _ = make_connector(fake_d365, sleeps, chunk_size=2)

    outcome = connector.send(make_journal(["A0001", "A0002", "A0003"]))

    assert outcome.state == "create_error"
    assert outcome.retryable is False
    assert erp_text in (outcome.message or "")
    first, rejected, third = outcome.lines
    assert erp_text in (rejected.error or "")
    assert rejected.erp_line_number is None
    # A0001 shared the atomic change set with A0002: rolled back, not created, and says why
    assert first.erp_line_number is None
    assert "agg-2" in (first.error or "")
    # the next change set went in
    [header] = fake_d365.journals()
    assert outcome.erp_journal_number == header["JournalNumber"]
    assert line_numbers(fake_d365, header["JournalNumber"]) == [Decimal(3)]
    assert third.erp_line_number == "3" and third.error is None


def test_unknown_item_is_reported_with_the_erps_text(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    connector, _ = make_connector(fake_d365, sleeps)

    outcome = connector.send(make_journal(["A0001", "NOPE-1"]))

    assert outcome.state == "create_error"
    assert "Item number NOPE-1 does not exist." in (outcome.message or "")
    assert "Item number NOPE-1 does not exist." in (outcome.lines[1].error or "")
    [header] = fake_d365.journals()
    assert line_numbers(fake_d365, header["JournalNumber"]) == []


def test_a_long_erp_message_is_trimmed_to_2000_characters(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    fake_d365.reject_item("A0001", "x" * 5000)
    connector, _ = make_connector(fake_d365, sleeps)

    outcome = connector.send(make_journal(["A0001"]))

    assert outcome.state == "create_error"
    assert len(outcome.message or "") == 2000
    assert len(outcome.lines[0].error or "") == 2000


# ----- auth -----------------------------------------------------------------------------------
def test_the_token_is_cached_and_asked_for_the_erp_scope(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    connector, tokens = make_connector(fake_d365, sleeps)

    connector.send(make_journal(["A0001"], journal_id="OS-dev-0001"))
    connector.send(make_journal(["A0002"], journal_id="OS-dev-0002"))

    assert tokens.scopes == [(fake_d365.base_url.rstrip("/") + "/.default",)]  # one token for many requests


def test_expired_token_is_refreshed_once(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    connector, tokens = make_connector(fake_d365, sleeps)
    connector.send(make_journal(["A0001"], journal_id="OS-dev-0001"))  # the connector caches a token ...
    assert len(tokens.issued) == 1
    fake_d365.revoke_tokens()  # ... which then expires

    outcome = connector.send(make_journal(["A0002"], journal_id="OS-dev-0002"))

    assert outcome.state == "created"
    assert len(tokens.issued) == 2  # renewed once
    assert sum(1 for r in fake_d365.requests if r.status == 401) == 1
    assert len(fake_d365.journals()) == 2


def test_a_token_refused_after_refresh_is_an_error_not_a_loop(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    calls: list[tuple[str, ...]] = []

    class BadTokens:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            calls.append(scopes)
            return AccessToken("never-valid", int(time.time()) + 3600)

    connector, _ = make_connector(fake_d365, sleeps, tokens=BadTokens())

    outcome = connector.send(make_journal(["A0001"]))

    assert outcome.state == "create_error"
    assert outcome.retryable is False
    assert "401" in (outcome.message or "")
    assert len(calls) == 2  # the first token, and one renewal after the 401
    assert fake_d365.journals() == []


# ----- 5xx and timeouts -----------------------------------------------------------------------
def test_5xx_until_retries_run_out_is_a_retryable_outcome(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    fake_d365.fail_next(100, status=503)
    connector, _ = make_connector(fake_d365, sleeps, max_retries=3, backoff_base_s=0.5)

    outcome = connector.send(make_journal(["A0001"]))

    assert outcome.state == "create_error"
    assert outcome.retryable is True
    assert "503" in (outcome.message or "")
    assert sleeps.calls == [0.5, 1.0, 2.0]  # exponential backoff
    assert fake_d365.journals() == []


def test_a_single_5xx_is_retried_and_succeeds(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    fake_d365.fail_next(1, status=502)
    connector, _ = make_connector(fake_d365, sleeps, backoff_base_s=0.25)

    outcome = connector.send(make_journal(["A0001", "A0002"]))

    assert outcome.state == "created"
    assert sleeps.calls == [0.25]
    [header] = fake_d365.journals()
    assert line_numbers(fake_d365, header["JournalNumber"]) == [Decimal(1), Decimal(2)]


# ----- lost responses: at most once -----------------------------------------------------------
def test_lost_response_after_create_second_send_finds_the_journal(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    fake_d365.lose_response("header_create", mode="drop")
    connector, _ = make_connector(fake_d365, sleeps, max_retries=0)
    journal = make_journal(["A0001", "A0002", "A0003"])

    first = connector.send(journal)

    assert first.state == "create_error"
    assert first.retryable is True
    [header] = fake_d365.journals()  # the ERP did create it
    assert line_numbers(fake_d365, header["JournalNumber"]) == []
    creates_before = fake_d365.count("POST", "/" + ADJ_HEADERS)

    second = connector.send(journal)

    assert second.state == "created"
    assert second.erp_journal_number == header["JournalNumber"]
    assert fake_d365.count("POST", "/" + ADJ_HEADERS) == creates_before  # not created again
    assert len(fake_d365.journals()) == 1
    assert line_numbers(fake_d365, header["JournalNumber"]) == [Decimal(1), Decimal(2), Decimal(3)]


def test_response_hanging_past_the_timeout_is_recovered_in_one_send(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    fake_d365.lose_response("header_create", mode="hang")
    connector, _ = make_connector(fake_d365, sleeps, timeout=0.4, max_retries=2)

    outcome = connector.send(make_journal(["A0001", "A0002"]))

    assert outcome.state == "created"
    assert len(sleeps.calls) == 1
    [header] = fake_d365.journals()
    assert outcome.erp_journal_number == header["JournalNumber"]
    assert line_numbers(fake_d365, header["JournalNumber"]) == [Decimal(1), Decimal(2)]


def test_lost_batch_response_does_not_duplicate_lines(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    fake_d365.lose_response("batch", mode="drop")
    connector, _ = make_connector(fake_d365, sleeps, chunk_size=2)

    outcome = connector.send(make_journal(["A0001", "A0002", "A0003"]))

    assert outcome.state == "created"
    [header] = fake_d365.journals()
    assert line_numbers(fake_d365, header["JournalNumber"]) == [Decimal(1), Decimal(2), Decimal(3)]
    assert [r.erp_line_number for r in outcome.lines] == ["1", "2", "3"]
    # nothing was refused as a duplicate either: every change set that reached the fake committed
    assert all(r.status != 400 for r in fake_d365.requests)


def test_resend_of_a_complete_journal_sends_nothing_new(sleeps: Sleeps) -> None:
    with running_fake_d365(known_items=set(KNOWN_ITEMS), page_size=2) as fake:  # forces @odata.nextLink
        connector, _ = make_connector(fake, sleeps)
        journal = make_journal([f"A000{i}" for i in range(1, 6)])
        first = connector.send(journal)
        batches = fake.count("POST", "/$batch")

        second = connector.send(journal)

        assert first.state == second.state == "created"
        assert second.lines == first.lines
        assert fake.count("POST", "/$batch") == batches
        assert len(fake.journals()) == 1
        [header] = fake.journals()
        assert len(fake.journal_lines(ADJ_LINES, "usmf", header["JournalNumber"])) == 5


def test_a_line_changed_in_the_erp_is_not_overwritten_or_duplicated(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    connector, _ = make_connector(fake_d365, sleeps)
    journal = make_journal(["A0001", "A0002"])
    connector.send(journal)
    with fake_d365.lock:
        fake_d365.lines[ADJ_LINES][0]["InventoryQuantity"] = Decimal("99")

    outcome = connector.send(journal)

    assert outcome.state == "create_error"
    assert outcome.retryable is False
    assert len(fake_d365.lines[ADJ_LINES]) == 2


# ----- escaping -------------------------------------------------------------------------------
def test_fake_refuses_an_unescaped_quote() -> None:
    """Guards the next test: an unescaped id would not be found, it would be a syntax error."""
    with pytest.raises(ODataError):
        parse_filter("Description eq 'OS-dev-O'Brien'")
    assert parse_filter("Description eq 'OS-dev-O''Brien'") == [("Description", "OS-dev-O'Brien")]


def test_journal_id_with_a_quote_is_escaped_and_found_again(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    journal = make_journal(["A0001"], journal_id="OS-dev-O'Brien's")
    connector, _ = make_connector(fake_d365, sleeps)

    first = connector.send(journal)
    second = connector.send(journal)

    assert first.state == second.state == "created"
    [header] = fake_d365.journals()
    assert header["Description"] == "OS-dev-O'Brien's"
    assert fake_d365.count("POST", "/" + ADJ_HEADERS) == 1
    filters = [r.query["$filter"][0] for r in fake_d365.requests if "$filter" in r.query]
    assert any("'OS-dev-O''Brien''s'" in f for f in filters)


def test_ids_differing_only_in_case_are_different_journals(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    connector, _ = make_connector(fake_d365, sleeps)

    a = connector.send(make_journal(["A0001"], journal_id="OS-dev-abc"))
    b = connector.send(make_journal(["A0001"], journal_id="OS-dev-ABC"))

    assert a.erp_journal_number != b.erp_journal_number
    assert sorted(h["Description"] for h in fake_d365.journals()) == ["OS-dev-ABC", "OS-dev-abc"]


def test_journal_id_longer_than_60_is_refused_before_any_request(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    connector, _ = make_connector(fake_d365, sleeps)

    outcome = connector.send(make_journal(["A0001"], journal_id="OS-" + "x" * 58))

    assert outcome.state == "create_error"
    assert fake_d365.requests == []


# ----- posting --------------------------------------------------------------------------------
def test_posting_without_a_post_action_is_left_to_the_erp(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    connector, _ = make_connector(fake_d365, sleeps)

    outcome = connector.send(make_journal(["A0001"], target_status="Posted"))

    assert outcome.state == "created"
    assert "left to the ERP" in (outcome.message or "")
    [header] = fake_d365.journals()
    assert header["IsPosted"] == "No"


def test_posting_through_a_configured_action(sleeps: Sleeps) -> None:
    with running_fake_d365(known_items=set(KNOWN_ITEMS), post_action="postJournal") as fake:
        connector, _ = make_connector(fake, sleeps, post_action="postJournal")
        journal = make_journal(["A0001", "A0002"], target_status="Posted")

        outcome = connector.send(journal)
        again = connector.send(journal)

        [header] = fake.journals()
        assert header["IsPosted"] == "Yes"
        assert outcome.state == again.state == "posted"
        assert outcome.erp_journal_number == header["JournalNumber"]
        assert fake.count("POST", ".postJournal") == 1  # already posted: not posted twice


def test_a_refused_post_is_a_post_error_with_the_erps_message(sleeps: Sleeps) -> None:
    with running_fake_d365(known_items=set(KNOWN_ITEMS), post_action="postJournal") as fake:
        connector, _ = make_connector(fake, sleeps, post_action="doesNotExist")

        outcome = connector.send(make_journal(["A0001"], target_status="Posted"))

        assert outcome.state == "post_error"
        assert outcome.retryable is False
        assert "Resource not found" in (outcome.message or "")
        [header] = fake.journals()
        assert outcome.erp_journal_number == header["JournalNumber"]
        assert outcome.lines[0].erp_line_number == "1"


def test_a_journal_posted_in_the_erp_is_reported_posted_on_the_next_send(fake_d365: FakeD365, sleeps: Sleeps) -> None:
    connector, _ = make_connector(fake_d365, sleeps)
    journal = make_journal(["A0001"], target_status="Posted")
    assert connector.send(journal).state == "created"
    with fake_d365.lock:  # a person or batch job posts it in D365
        for header in fake_d365.headers[ADJ_HEADERS].values():
            header["IsPosted"] = "Yes"

    outcome = connector.send(journal)

    assert outcome.state == "posted"
    assert outcome.lines[0].erp_line_number == "1"
    assert len(fake_d365.journals()) == 1
