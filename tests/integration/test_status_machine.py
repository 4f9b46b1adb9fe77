"""Statuses only move forward: late, repeated or stale ERP answers are recorded, never applied."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import azure.functions as func

from functions.journals import get_aggregated, retry_aggregated
from shared.adapters.aggregated_lines import aggregated_line as as_aggregated_line
from shared.adapters.journal_records import JournalRecords
from shared.adapters.ledger_tables import LedgerStore
from shared.domain.aggregation import AggregateGroup, DetailedLine, ErpKey
from shared.domain.journals import JournalOutcome
from shared.domain.quantities import canonical
from shared.services.journal_results import apply_result_file
from shared.services.send_journals import apply_outcome
from tests.http_requests import app_request


def _aggregated_line(env: str) -> dict:
    """An aggregated line as aggregation leaves it (written directly: this is about what comes after)."""
    key = ErpKey("pos", "sold", (("siteId", "1"),), "adjustment", "Posted", "IAdj", None, None)
    group = AggregateGroup(
        key, [DetailedLine("L|s-1", "", "pos", "sold", {"siteId": "1"}, Decimal(4), None, None, None)]
    )
    partition = f"{env}|usmf|A0001"
    store = LedgerStore()
    store.ledger_of(partition).create_entity(
        {
            "PartitionKey": partition,
            "RowKey": "A|" + group.aggregated_id,
            "AggregatedId": group.aggregated_id,
            "OrganizationId": "usmf",
            "ProductId": "A0001",
            "ErpKey": key.as_json(),
            "Quantity": canonical(group.quantity),
            "Status": "Created",
            "JournalType": "adjustment",
            "JournalNameId": "IAdj",
            "TargetStatus": "Posted",
            "LineCount": 1,
            "DetailedLineIds": '["s-1"]',
            "Attempts": 0,
            "Offset": "open",
        }
    )
    return store.get_aggregated(partition, group.aggregated_id)


def _send(env: str, line: dict, journal_id: str) -> dict:
    """What a send does before the ERP hears of the journal: record it, mark the line SCMSent in it."""
    store = LedgerStore()
    JournalRecords().start(env, journal_id, {"LineCount": 1}, datetime.now(UTC))
    store.update_aggregated(
        [
            {
                "PartitionKey": line["PartitionKey"],
                "RowKey": line["RowKey"],
                "Status": "SCMSent",
                "JournalId": journal_id,
                "Attempts": line.get("Attempts", 0) + 1,
            }
        ]
    )
    return store.get_aggregated(line["PartitionKey"], line["AggregatedId"])


def _sent_line(env: str) -> dict:
    return _send(env, _aggregated_line(env), "OS-first")


def _result(env: str, line: dict, state: str, journal_id: str | None = None, **extra) -> int:
    body = {
        "journalId": journal_id or line["JournalId"],
        "state": state,
        "erpJournalNumber": "USMF-9",
        "lines": [{"lineId": line["AggregatedId"], "erpLineNumber": "1", **extra}],
    }
    return apply_result_file(
        LedgerStore(), JournalRecords(), f"journal-inbox/{env}/r.json", json.dumps(body).encode(), 5
    )


def _request(env: str, line: dict, method: str = "GET") -> func.HttpRequest:
    return app_request(
        method, "http://localhost/api/x", body=b"", route_params={"environmentId": env, "id": line["AggregatedId"]}
    )


def _view(env: str, line: dict) -> dict:
    return json.loads(get_aggregated(_request(env, line)).get_body())


def test_late_created_and_create_error_after_posted_leave_the_line_posted_and_unretryable(app_env, environment_id):
    line = _sent_line(environment_id)
    _result(environment_id, line, "posted")
    _result(environment_id, line, "created")
    _result(environment_id, line, "create_error", error="Item blocked")
    view = _view(environment_id, line)
    assert view["status"] == "FnOPosted" and view["erpJournalNumber"] == "USMF-9"
    assert [a["state"] for a in view["lateAnswers"]] == ["created", "create_error"]
    assert "back from FnOPosted" in view["lateAnswers"][1]["reason"]
    assert view["lateAnswers"][1]["message"] == "Item blocked"
    assert JournalRecords().get(environment_id, line["JournalId"])["State"] == "posted"

    retry = retry_aggregated(_request(environment_id, line, "POST"))
    assert retry.status_code == 409, "a posted line is never sent again"
    assert _view(environment_id, line)["status"] == "FnOPosted"


def test_a_line_the_erp_created_but_could_not_post_is_not_resent(app_env, environment_id):
    line = _sent_line(environment_id)
    _result(environment_id, line, "post_error", error="Period closed")
    _result(environment_id, line, "create_error")  # late: the create had succeeded
    assert _view(environment_id, line)["status"] == "FnOPostError"
    response = retry_aggregated(_request(environment_id, line, "POST"))
    assert response.status_code == 409 and "book it twice" in response.get_body().decode()


def test_an_answer_for_an_older_send_is_recorded_on_the_line_and_not_applied(app_env, environment_id):
    line = _sent_line(environment_id)
    _result(environment_id, line, "create_error", error="Item blocked")
    assert retry_aggregated(_request(environment_id, line, "POST")).status_code == 202
    assert _view(environment_id, line)["status"] == "Created"
    _result(environment_id, line, "create_error", journal_id="OS-first")  # the same error, again
    assert _view(environment_id, line)["status"] == "Created", "an old error does not undo a person's retry"
    _send(environment_id, LedgerStore().get_aggregated(line["PartitionKey"], line["AggregatedId"]), "OS-second")
    _result(environment_id, line, "posted", journal_id="OS-first")  # the first journal's late answer
    view = _view(environment_id, line)
    assert view["status"] == "SCMSent" and view["journalId"] == "OS-second"
    assert view["lateAnswers"][-1]["journalId"] == "OS-first" and "older send" in view["lateAnswers"][-1]["reason"]
    _result(environment_id, line, "created", journal_id="OS-second")
    assert _view(environment_id, line)["status"] == "FnOCreated", "the current send's answer applies"


def test_a_result_that_beats_the_senders_own_outcome_is_not_undone_by_it(app_env, environment_id):
    """The importer answers while the send is still finishing: the sender's "sent" must not move the line back."""
    before_send = _aggregated_line(environment_id)  # the sender's copy, read before it sent
    line = _send(environment_id, before_send, "OS-first")
    _result(environment_id, line, "posted")
    apply_outcome(
        LedgerStore(),
        JournalRecords(),
        environment_id,
        JournalOutcome("OS-first", "sent"),
        [as_aggregated_line(before_send["PartitionKey"], before_send)],
        datetime.now(UTC),
        5,
    )
    view = _view(environment_id, line)
    assert view["status"] == "FnOPosted" and view["lateAnswers"][-1]["state"] == "sent"
    assert (
        "OS-first" not in {j for _, j in JournalRecords().inflight()}
        and JournalRecords().get(environment_id, "OS-first")["State"] == "posted"
    )
