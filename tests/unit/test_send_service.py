"""Sending journals and applying the ERP's answers, against in-memory fakes of the ports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from shared.adapters.ledger_keys import OFFSET_WORK, SEND_WORK, ledger_partition
from shared.domain.journals import Journal, JournalOutcome, LineResult
from shared.domain.ledger_records import AggregatedLine
from shared.services.send_journals import apply_outcome, send_environment
from tests.unit.fakes import InMemoryJournalLog, InMemoryLedger

ENV = "env-send"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
P1, P2 = ledger_partition(ENV, "usmf", "P1"), ledger_partition(ENV, "usmf", "P2")


def clock() -> datetime:
    return NOW


def aggregated(partition: str, aggregated_id: str, quantity: str = "4", **fields: object) -> AggregatedLine:
    key = {"dimensions": {"siteId": "1", "locationId": "11"}, "transDate": None, "costPrice": None}
    values: dict = {
        "partition": partition,
        "aggregated_id": aggregated_id,
        "status": "Created",
        "organization_id": "usmf",
        "product_id": partition.rsplit("|", 1)[1],
        "journal_type": "adjustment",
        "journal_name_id": "IVAdj",
        "target_status": "Posted",
        "erp_key": json.dumps(key),
        "quantity": quantity,
    }
    return AggregatedLine(**(values | fields))


class Connector:
    """An ERP that answers each journal with `state` (or raises), and remembers what it was sent."""

    def __init__(self, state: str = "posted", fail: bool = False) -> None:
        self.state, self.fail, self.sent = state, fail, []

    def send(self, journal: Journal) -> JournalOutcome:
        self.sent.append(journal)
        if self.fail:
            raise ConnectionError("ERP unreachable")
        lines = tuple(LineResult(line.line_id, str(n)) for n, line in enumerate(journal.lines, start=1))
        return JournalOutcome(journal.journal_id, self.state, "USMF-7", None, lines)


def ledger_with_two_lines() -> InMemoryLedger:
    store = InMemoryLedger()
    store.add_aggregated(aggregated(P1, "a" * 24, "4"))
    store.add_aggregated(aggregated(P2, "b" * 24, "-2"))
    store.mark_pending([P1, P2], NOW, SEND_WORK)
    return store


def test_due_lines_go_out_as_one_journal_and_take_the_erps_answer() -> None:
    store, journals, erp = ledger_with_two_lines(), InMemoryJournalLog(), Connector("posted")

    report = send_environment(store, journals, erp, ENV, max_lines=100, max_attempts=3, clock=clock)

    assert report.journals == 1 and report.lines == 2 and report.errors == 0
    (journal,) = erp.sent
    assert [(line.item_number, str(line.quantity)) for line in journal.lines] == [("P1", "4"), ("P2", "-2")]
    for partition, line_id in ((P1, "a" * 24), (P2, "b" * 24)):
        line = store.aggregated_line(partition, line_id)
        assert line is not None
        assert (line.status, line.journal_id, line.attempts) == ("FnOPosted", journal.journal_id, 1)
    assert store.marked(SEND_WORK) == set(), "nothing is left to send"
    assert store.marked(OFFSET_WORK) == {P1, P2}, "a posted line may reach its offset trigger"
    assert journals.get(ENV, journal.journal_id)["State"] == "posted" and journals.inflight() == []


def test_a_failed_send_keeps_the_error_backs_off_and_stays_on_the_send_index() -> None:
    store, journals = ledger_with_two_lines(), InMemoryJournalLog()

    report = send_environment(store, journals, Connector(fail=True), ENV, max_lines=100, max_attempts=3, clock=clock)

    assert report.errors == 1
    line = store.aggregated_line(P1, "a" * 24)
    assert line is not None and line.status == "FnOCreateError"
    assert "ERP unreachable" in (line.message or "")
    assert line.next_attempt_at == NOW + timedelta(minutes=1) and not line.waiting_for_person
    assert store.marked(SEND_WORK) == {P1, P2}, "the failed lines are resent when their backoff ends"


def test_an_answer_for_an_older_send_is_recorded_on_the_line_not_applied() -> None:
    store = InMemoryLedger()
    store.add_aggregated(aggregated(P1, "c" * 24, status="SCMSent", journal_id="OS-second", attempts=2))
    copy_read_before_sending = aggregated(P1, "c" * 24)  # the caller's copy predates both sends: it is re-read

    apply_outcome(
        store,
        InMemoryJournalLog(),
        ENV,
        JournalOutcome("OS-first", "created"),
        [copy_read_before_sending],
        NOW,
        max_attempts=3,
    )

    line = store.aggregated_line(P1, "c" * 24)
    assert line is not None and line.status == "SCMSent" and line.journal_id == "OS-second"
    (late,) = json.loads(line.late_answers or "[]")
    assert late["journalId"] == "OS-first" and late["state"] == "created"
