"""Aggregation conserves quantities under crashes; sending through D365 OData creates a journal once."""

import contextlib
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.adapters.erp_odata import ODataErpConnector
from shared.adapters.journal_records import JournalRecords
from shared.adapters.ledger_tables import ConcurrencyConflict, LedgerStore
from shared.domain.adjustments import parse_lines
from shared.domain.aggregation import JournalMapping, plan_aggregation
from shared.services.aggregate import aggregate_pending
from shared.services.ingest import ingest
from shared.services.send_journals import send_pending
from shared.services.sync import sync_pending
from tests.fakes.odata_server import running_fake_d365
from tests.faults import Crash, CrashAt
from tests.integration.test_erp_odata import FakeTokens, Sleeps

MAPPING = JournalMapping(targets={"pos/sold": {"journal_type": "adjustment", "target_status": "Created"}})


def _lines(prefix: str, count: int, items: tuple[str, ...] = ("A0001", "A0002")):
    raw = [
        {
            "id": f"{prefix}-{i}",
            "organizationId": "usmf",
            "productId": items[i % len(items)],
            "quantityDataSource": "pos",
            "physicalMeasure": "sold",
            "dimensions": {"siteId": "1", "locationId": str(i % 3), "posTill": f"T{i % 5}"},
            "quantity": str(Decimal("0.5") * (i % 6 + 1)),
            "externalReferenceId": f"R{i}",
        }
        for i in range(count)
    ]
    lines, problems = parse_lines(raw, allowed_sources=("pos",), allowed_measures=("sold",))
    assert not problems
    return lines


def _aggregated_totals(store: LedgerStore, env: str) -> dict[tuple[str, str], Decimal]:
    import json

    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    items, token = store.query_aggregated(env, {}, 1000, None)
    while True:
        for e in items:
            totals[(e["ProductId"], json.loads(e["ErpKey"])["dimensions"]["locationId"])] += Decimal(e["Quantity"])
        if not token:
            return dict(totals)
        items, token = store.query_aggregated(env, {}, 1000, token)


def _detailed_totals(lines) -> dict[tuple[str, str], Decimal]:
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in lines:
        totals[(line.productId, line.dimensions["locationId"])] += line.quantity
    return dict(totals)


@pytest.mark.parametrize(
    "count",
    [
        pytest.param(260, id="two-steps"),  # 130 lines a product: entries staged, then records finished
        pytest.param(12, id="one-transaction"),  # 6 a product: records finished in the aggregation's commit
    ],
)
def test_aggregation_conserves_quantities_when_it_crashes_at_every_step(app_env, count):
    lines = _lines("g", count)
    step = 1
    while True:
        env = f"agg-{uuid.uuid4().hex[:8]}"
        ingest(LedgerStore(), env, lines)
        sync_pending(LedgerStore(), environment_id=env)
        fault = CrashAt(step)
        with contextlib.suppress(Crash):
            aggregate_pending(LedgerStore(fault=fault), MAPPING, environment_id=env)
        aggregate_pending(LedgerStore(), MAPPING, environment_id=env)
        store = LedgerStore()
        assert _aggregated_totals(store, env) == _detailed_totals(lines), f"crash at step {step}"
        items, _ = store.query_lines(env, {"status": "IVPosted"}, 10, None)
        assert items == [], "every mapped line is aggregated after the rerun"
        if not fault.fired:
            break
        step += 1
    assert step > 4


def test_a_small_visit_finishes_its_lines_in_the_aggregations_own_transaction(app_env, environment_id):
    """Up to 49 lines a visit: aggregated lines created, line records `Aggregated` and open entries
    gone in one transaction, instead of a second transaction per visit for the records."""
    lines = _lines("s", 12, items=("A0001",))
    ingest(LedgerStore(), environment_id, lines)
    sync_pending(LedgerStore(), environment_id=environment_id)
    steps: list[str] = []
    aggregate_pending(LedgerStore(fault=steps.append), MAPPING, environment_id=environment_id)
    assert steps.count("commit_aggregation") == 1
    assert "finish_aggregated" not in steps
    store = LedgerStore()
    assert _aggregated_totals(store, environment_id) == _detailed_totals(lines)
    partition = store.find_id(environment_id, "s-0").ledger_partition
    assert not store.has_open_lines(partition)
    statuses = {store.line_status(partition, line.id) for line in lines}
    assert statuses == {"Aggregated"}


def test_a_visit_that_lost_the_race_for_its_lines_gets_a_conflict_and_commits_nothing(app_env, environment_id):
    """Two visits of one product read its posted lines at different moments; the later one took all
    of them (and deleted their open entries) before the earlier one commits a different member set (one line):
    its guarded delete finds no entry (404, not 412). That is the same race as a changed ETag: a
    conflict the visit re-reads after, not an error that sends its message to the poison queue."""
    lines = _lines("race", 6, items=("A0001",))
    ingest(LedgerStore(), environment_id, lines)
    sync_pending(LedgerStore(), environment_id=environment_id)
    store = LedgerStore()
    partition = store.find_id(environment_id, "race-0").ledger_partition
    stale = store.posted_lines(partition, limit=200)[0][:1]
    groups, _ = plan_aggregation(stale, MAPPING)
    aggregate_pending(LedgerStore(), MAPPING, environment_id=environment_id)  # the other visit takes all six
    with pytest.raises(ConcurrencyConflict):
        store.commit_aggregation(partition, groups, datetime.now(UTC))
    assert _aggregated_totals(store, environment_id) == _detailed_totals(lines), "nothing of it was committed"


def test_external_references_and_dimensions_do_not_split_aggregated_lines(app_env, environment_id):
    store = LedgerStore()
    lines = _lines("x", 60, items=("A0001",))
    ingest(store, environment_id, lines)
    sync_pending(store)
    aggregate_pending(store, MAPPING)
    items, _ = store.query_aggregated(environment_id, {}, 1000, None)
    assert len(items) == 3, "one aggregated line per ERP key (3 warehouses), whatever the till or receipt"


def test_a_lost_odata_response_still_creates_one_journal_with_every_line_once(app_env, environment_id):
    store, records = LedgerStore(), JournalRecords()
    lines = _lines("o", 40)
    ingest(store, environment_id, lines)
    sync_pending(store)
    aggregate_pending(store, MAPPING)
    with running_fake_d365(hang_seconds=1.2) as fake:
        connector = ODataErpConnector(
            fake.base_url, FakeTokens(fake), timeout=0.6, max_retries=3, sleep=Sleeps(), backoff_base_s=0.1
        )
        fake.lose_response("batch", mode="drop")
        report = send_pending(store, records, connector, max_lines=1000, max_attempts=5)
        assert report.journals == 1
        (header,) = fake.journals()
        erp_lines = fake.journal_lines("InventoryAdjustmentJournalEntriesV2", "usmf", header["JournalNumber"])
        sent = {
            (line["ItemNumber"], line["InventoryWarehouseId"]): Decimal(str(line["InventoryQuantity"]))
            for line in erp_lines
        }
        assert sent == _detailed_totals(lines), "conservation: ERP lines equal the detailed lines per key"
        send_pending(store, records, connector, max_lines=1000, max_attempts=5)
        assert len(fake.journals()) == 1, "a second run sends nothing again"
    items, _ = store.query_aggregated(environment_id, {}, 1000, None)
    assert {i["Status"] for i in items} == {"FnOCreated"}
    assert {i["ErpJournalNumber"] for i in items} == {header["JournalNumber"]}
    assert all(i.get("ErpLineNumber") for i in items)


def test_a_crash_after_sending_resends_under_the_same_id_and_the_erp_keeps_one_journal(app_env, environment_id):
    store, records = LedgerStore(), JournalRecords()
    ingest(store, environment_id, _lines("k", 10))
    sync_pending(store)
    aggregate_pending(store, MAPPING)
    with running_fake_d365() as fake:
        connector = ODataErpConnector(fake.base_url, FakeTokens(fake), timeout=2, max_retries=2, sleep=Sleeps())

        class CrashAfterSend:
            def send(self, journal):
                connector.send(journal)
                raise Crash("the process died after the ERP accepted the journal")

        with contextlib.suppress(Crash):
            send_pending(store, records, CrashAfterSend(), max_lines=1000, max_attempts=5)
        send_pending(LedgerStore(), JournalRecords(), connector, max_lines=1000, max_attempts=5)
        assert len(fake.journals()) == 1
    items, _ = store.query_aggregated(environment_id, {}, 1000, None)
    assert {i["Status"] for i in items} == {"FnOCreated"}


def test_a_rejected_line_keeps_the_erps_message_and_is_retried_with_backoff(app_env, environment_id):
    store, records = LedgerStore(), JournalRecords()
    ingest(store, environment_id, _lines("e", 6, items=("A0001", "BAD01")))
    sync_pending(store)
    aggregate_pending(store, MAPPING)
    with running_fake_d365() as fake:
        fake.reject_item("BAD01", "Item number BAD01 does not exist.")
        connector = ODataErpConnector(fake.base_url, FakeTokens(fake), timeout=2, max_retries=2, sleep=Sleeps())
        send_pending(store, records, connector, max_lines=1000, max_attempts=5)
        items, _ = store.query_aggregated(environment_id, {"productId": "BAD01"}, 100, None)
        assert items and all(i["Status"] == "FnOCreateError" for i in items)
        assert any("BAD01 does not exist" in (i.get("Message") or "") for i in items)
        assert all(i["NextAttemptAt"] > i["SentAt"] for i in items), "a failed line waits before its retry"
        journals_before = len(fake.journals())
        send_pending(store, records, connector, max_lines=1000, max_attempts=5)
        assert len(fake.journals()) == journals_before, "not retried before its backoff ends"


def _sent_through_the_outbox(environment_id: str, prefix: str, count: int):
    """Lines ingested, synced, aggregated and sent as one outbox journal; the parts and the journal id."""
    from shared.adapters.erp_outbox import BlobOutboxConnector
    from shared.adapters.storage_clients import blob_service

    store, records, outbox = LedgerStore(), JournalRecords(), BlobOutboxConnector(blob_service())
    ingest(store, environment_id, _lines(prefix, count, items=("A0001",)))
    sync_pending(store)
    aggregate_pending(store, MAPPING)
    send_pending(store, records, outbox, max_lines=1000, max_attempts=5)
    sent, _ = store.query_aggregated(environment_id, {}, 100, None)
    assert {i["Status"] for i in sent} == {"SCMSent"}
    (journal_id,) = {i["JournalId"] for i in sent}
    return store, records, outbox, sent, journal_id


def test_outbox_lines_the_erp_refused_in_a_result_file_are_resent_by_themselves_after_their_backoff(
    app_env, environment_id
):
    import json
    from datetime import UTC, datetime, timedelta

    from shared.services.journal_results import apply_result_file

    store, records, outbox, sent, journal_id = _sent_through_the_outbox(environment_id, "ob", 4)
    answer = {
        "journalId": journal_id,
        "state": "create_error",
        "message": "Journal name IAdj is blocked.",
        "lines": [{"lineId": i["AggregatedId"], "error": "Journal name IAdj is blocked."} for i in sent],
    }
    apply_result_file(store, records, f"journal-inbox/{environment_id}/r1.json", json.dumps(answer).encode(), 5)

    send_pending(store, records, outbox, max_lines=1000, max_attempts=5)
    waiting, _ = store.query_aggregated(environment_id, {}, 100, None)
    assert {i["Status"] for i in waiting} == {"FnOCreateError"}, "not resent before its backoff ends"
    later = datetime.now(UTC) + timedelta(minutes=2)
    send_pending(store, records, outbox, max_lines=1000, max_attempts=5, clock=lambda: later)
    resent, _ = store.query_aggregated(environment_id, {}, 100, None)
    assert {i["Status"] for i in resent} == {"SCMSent"}, "the failed lines were sent again, without a person"
    assert {i["JournalId"] for i in resent} != {journal_id} and {i["Attempts"] for i in resent} == {2}


def test_a_line_whose_posting_failed_is_never_resent_by_itself(app_env, environment_id):
    import json
    from datetime import UTC, datetime, timedelta

    from shared.services.journal_results import apply_result_file

    store, records, outbox, _, journal_id = _sent_through_the_outbox(environment_id, "pe", 2)
    answer = {
        "journalId": journal_id,
        "state": "post_error",
        "erpJournalNumber": "USMF-7",
        "message": "Posting failed: period closed.",
    }
    apply_result_file(store, records, f"journal-inbox/{environment_id}/r1.json", json.dumps(answer).encode(), 5)
    later = datetime.now(UTC) + timedelta(hours=2)
    send_pending(store, records, outbox, max_lines=1000, max_attempts=5, clock=lambda: later)
    items, _ = store.query_aggregated(environment_id, {}, 100, None)
    assert {i["Status"] for i in items} == {"FnOPostError"} and {i["JournalId"] for i in items} == {journal_id}
    assert all(i["WaitingForPerson"] for i in items), "the ERP has the journal: a person posts it there"
