"""Approval: checked against the environment's own configuration (as ingest does), moving the non-master
side (ERP journals, or files in the WMS outbox when the ERP is master), and only within the run's environment."""

import json
import uuid

import azure.functions as func
import pytest

from functions.adjustments import list_adjustments
from functions.inventory_config import put_configuration
from functions.reconcile import (
    approve_reconciliation,
    get_reconciliation,
    get_reconciliation_outbox_file,
    list_reconciliation_outbox,
)
from shared.adapters.blob_reports import BlobReportSink
from shared.adapters.storage_clients import blob_service
from tests.http_requests import app_request

PROPOSED = {
    "journals": [
        {
            "lines": [
                {
                    "line_id": "L1",
                    "run_id": "R",
                    "item": "A0003",
                    "site": "1",
                    "warehouse": "13",
                    "quantity_delta": "1",
                    "unit_cost": "899.00",
                }
            ]
        }
    ]
}


def _request(env: str, body: object, **route) -> func.HttpRequest:
    return app_request(
        "POST",
        "http://localhost/api/x",
        body=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        route_params={"environmentId": env, **route},
    )


def _commit(environment: str, run: str, document: dict) -> None:
    sink = BlobReportSink(blob_service(), f"{environment}/{run}")
    sink.write("proposed_journal.json", json.dumps({**document, "run_id": run}).encode(), "application/json")
    sink.commit()


@pytest.fixture
def run_id(app_env, environment_id) -> str:
    run = "appr-" + uuid.uuid4().hex[:10]
    _commit(environment_id, run, PROPOSED)
    return run


def _stored(env: str) -> list:
    response = list_adjustments(
        app_request("GET", "http://localhost/api/x", body=b"", route_params={"environmentId": env})
    )
    return json.loads(response.get_body())["items"]


def test_approval_into_an_environment_without_the_measure_is_refused_and_stores_nothing(run_id, environment_id):
    configured = put_configuration(
        _request(environment_id, {"dataSources": [{"name": "pos", "physicalMeasures": ["sold"]}]})
    )
    assert configured.status_code == 200
    response = approve_reconciliation(_request(environment_id, {"organizationId": "usmf"}, runId=run_id))
    assert response.status_code == 400, response.get_body()
    error = json.loads(response.get_body())["error"]
    assert error["code"] == "InvalidLines"
    assert {d["field"] for d in error["details"]} == {"quantityDataSource", "physicalMeasure"}
    assert _stored(environment_id) == []


def test_approval_into_an_environment_with_the_measure_posts(run_id, environment_id):
    response = approve_reconciliation(_request(environment_id, {"organizationId": "usmf"}, runId=run_id))
    assert response.status_code == 200, response.get_body()
    assert [i["id"] for i in _stored(environment_id)] == ["recon-L1"]


def test_another_environment_can_neither_read_nor_approve_the_run(run_id, environment_id):
    other = "other-" + uuid.uuid4().hex[:8]
    response = approve_reconciliation(_request(other, {"organizationId": "usmf"}, runId=run_id))
    assert response.status_code == 404, response.get_body()
    assert _stored(other) == [] and _stored(environment_id) == []
    lookup = app_request(
        "GET", "http://localhost/api/x", body=b"", route_params={"environmentId": other, "runId": run_id}
    )
    assert get_reconciliation(lookup).status_code == 404


ERP_MASTER = {
    "target": "wms",
    "mode": "movement",
    "journals": [
        {
            "lines": [
                {
                    "line_id": "W1",
                    "item": "=HYPERLINK(1)",
                    "warehouse": "FO1",
                    "quantity_delta": "-5",
                    "counted_quantity": None,
                    "book_quantity": "0",
                },
                {"line_id": "W2", "item": "A0002", "warehouse": "FO1", "quantity_delta": "3", "book_quantity": "1"},
            ]
        }
    ],
}


def test_erp_master_approval_writes_wms_outbox_files_and_never_touches_the_erp(app_env, environment_id):
    """The Field Service flow: ERP -5 vs WMS 0 must move the WMS by -5, not post -5 into the ERP."""
    document = json.loads(json.dumps(ERP_MASTER))
    document["journals"][0]["lines"][0]["item"] = "A0001"
    run = "fs-" + uuid.uuid4().hex[:8]
    _commit(environment_id, run, document)

    first = approve_reconciliation(_request(environment_id, {"organizationId": "usmf", "lineIds": ["W1"]}, runId=run))
    assert first.status_code == 200, first.get_body()
    body = json.loads(first.get_body())
    assert body["target"] == "wms" and body["posted"] == 1 and len(body["files"]) == 2
    assert _stored(environment_id) == []  # nothing for the ERP
    everything = json.loads(
        approve_reconciliation(_request(environment_id, {"organizationId": "usmf"}, runId=run)).get_body()
    )
    assert everything["posted"] == 1 and everything["alreadyWritten"] == ["W1"]  # W1 is not booked twice

    route = {"environmentId": environment_id, "runId": run}
    listed = json.loads(
        list_reconciliation_outbox(app_request("GET", "http://x/api/x", body=b"", route_params=route)).get_body()
    )
    names = [f["name"] for f in listed["files"]]
    assert len(names) == 4 and all(n.endswith((".csv", ".json")) for n in names)
    rows = []
    for name in names:
        got = get_reconciliation_outbox_file(
            app_request("GET", "http://x/api/x", body=b"", route_params={**route, "name": name})
        )
        assert got.status_code == 200
        if name.endswith(".json"):
            rows += json.loads(got.get_body())["lines"]
    assert sorted((r["LineId"], r["Quantity"], r["Movement"]) for r in rows) == [
        ("W1", "-5", "issue"),
        ("W2", "3", "receipt"),
    ]
    assert _stored(environment_id) == []


def test_erp_master_outbox_csv_neutralises_formulas(app_env, environment_id):
    run = "fs-" + uuid.uuid4().hex[:8]
    _commit(environment_id, run, ERP_MASTER)
    # A formula-looking item id never reaches a journal file: refused like any other journal value.
    refused = approve_reconciliation(_request(environment_id, {"organizationId": "usmf"}, runId=run))
    assert refused.status_code == 400
    assert json.loads(refused.get_body())["error"]["details"][0]["field"] == "item"
    from shared.domain.reconciliation.outbox_files import external_csv

    text = external_csv("movement", ERP_MASTER["journals"][0]["lines"]).decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text and ",-5," in text  # text neutralised, numbers stay numbers


def test_counting_approval_reaches_the_erp_as_a_counting_journal(app_env, environment_id, monkeypatch):
    """Counting mode: the ERP gets a counting journal that sets the counted quantity (outbox connector)."""
    from shared.config import reset_settings

    monkeypatch.setenv("ERP_CONNECTOR", "outbox")
    reset_settings()
    document = {
        "target": "erp",
        "mode": "counting",
        "journals": [
            {
                "lines": [
                    {
                        "line_id": "C1",
                        "item": "A0003",
                        "site": "1",
                        "warehouse": "13",
                        "quantity_delta": "2",
                        "counted_quantity": "100",
                        "book_quantity": "98",
                    }
                ]
            }
        ],
    }
    run = "cnt-" + uuid.uuid4().hex[:8]
    _commit(environment_id, run, document)
    response = approve_reconciliation(_request(environment_id, {"organizationId": "usmf"}, runId=run))
    assert response.status_code == 200, response.get_body()
    journal = json.loads(response.get_body())["journal"]
    assert journal["state"] == "sent"
    outbox = blob_service().get_container_client("journal-outbox")
    sent = json.loads(outbox.download_blob(f"{environment_id}/{journal['journalId']}.json").readall())
    assert sent["journalType"] == "counting"
    assert sent["lines"][0]["CountedQuantity"] == "100" and "InventoryQuantity" not in sent["lines"][0]
    assert _stored(environment_id) == []  # no delta adjustment line


def test_two_approvals_of_one_erp_master_run_at_once_write_each_line_once(app_env, environment_id, monkeypatch):
    """Two people approve overlapping selections in the same second: W2 must reach the WMS once.

    Each approval pauses after reading which lines earlier approvals wrote until the other one has
    read too (or 2 s passed): without a lock both read "nothing written yet" and both book W2.
    """
    import contextlib
    import threading

    from shared.adapters.external_outbox import BlobExternalOutbox

    document = json.loads(json.dumps(ERP_MASTER))
    document["journals"][0]["lines"][0]["item"] = "A0001"
    document["journals"][0]["lines"].append(
        {"line_id": "W3", "item": "A0003", "warehouse": "FO1", "quantity_delta": "2", "book_quantity": "4"}
    )
    run = "fs-" + uuid.uuid4().hex[:8]
    _commit(environment_id, run, document)
    both_read = threading.Barrier(2, timeout=2)
    read = BlobExternalOutbox.written_line_ids

    def read_then_wait(self, env, run_id):
        done = read(self, env, run_id)
        # broken after 2 s when the other approval waits for the lock: it reads after this one wrote
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()
        return done

    monkeypatch.setattr(BlobExternalOutbox, "written_line_ids", read_then_wait)
    answers: list = []

    def approve(lines: list[str]) -> None:
        body = {"organizationId": "usmf", "lineIds": lines}
        answers.append(approve_reconciliation(_request(environment_id, body, runId=run)))

    threads = [threading.Thread(target=approve, args=(ids,)) for ids in (["W1", "W2"], ["W2", "W3"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(a.status_code for a in answers) == [200, 200], [a.get_body() for a in answers]
    route = {"environmentId": environment_id, "runId": run}
    listed = json.loads(
        list_reconciliation_outbox(app_request("GET", "http://x/api/x", body=b"", route_params=route)).get_body()
    )
    booked = []
    for f in listed["files"]:
        if f["name"].endswith(".json"):
            got = get_reconciliation_outbox_file(
                app_request("GET", "http://x/api/x", body=b"", route_params={**route, "name": f["name"]})
            )
            booked += [row["LineId"] for row in json.loads(got.get_body())["lines"]]
    assert sorted(booked) == ["W1", "W2", "W3"]  # W2 once
    assert all(not f["name"].startswith(".") and "lock" not in f["name"] for f in listed["files"])
    bodies = [json.loads(a.get_body()) for a in answers]
    assert sorted(b["posted"] for b in bodies) == [1, 2]
    assert sorted(w for b in bodies for w in b["alreadyWritten"]) == ["W2"]


def _big_proposal(run: str, journals: int, lines_each: int) -> dict:
    """A proposal in the writer's own layout: header fields first, journals of numbered lines."""
    return {
        "schema": "omnisync.reconciliation.proposed_journal/1",
        "status": "proposed",
        "master": "wms",
        "target": "erp",
        "mode": "movement",
        "line_count": journals * lines_each,
        "journals": [
            {
                "journal_id": f"BIG-{j:03d}",
                "lines": [
                    {
                        "line_id": f"J{j}L{n}",
                        "run_id": run,
                        "journal_id": f"BIG-{j:03d}",
                        "line_number": n,
                        "item": f"P{j:03d}{n:03d}",
                        "site": "1",
                        "warehouse": "13",
                        "quantity_delta": "1",
                        "unit_cost": "2.50",
                    }
                    for n in range(1, lines_each + 1)
                ],
            }
            for j in range(1, journals + 1)
        ],
    }


@pytest.fixture
def approval_limit_5(app_env, monkeypatch):
    """One approval moves at most INGEST_MAX_LINES lines (what one bulk request may carry); 5 here."""
    from shared.config import reset_settings

    monkeypatch.setenv("INGEST_MAX_LINES", "5")
    reset_settings()


def test_approving_more_lines_than_one_approval_moves_is_refused_whole_and_names_the_journals(
    approval_limit_5, environment_id
):
    """A bad day proposes 300,000 lines: 'approve all' must not try to post them in one call (hours of
    ingest inside one HTTP request, the whole journal parsed in memory). Refused, nothing stored."""
    run = "big-" + uuid.uuid4().hex[:8]
    _commit(environment_id, run, _big_proposal(run, journals=3, lines_each=3))
    response = approve_reconciliation(_request(environment_id, {"organizationId": "usmf"}, runId=run))
    assert response.status_code == 413, response.get_body()
    error = json.loads(response.get_body())["error"]
    assert error["code"] == "TooManyLines"
    assert "9 proposed lines" in error["message"] and "at most 5" in error["message"]
    assert "journalIds" in error["message"] and "BIG-001" in error["message"] and "BIG-003" in error["message"]
    assert '"background": true' in error["message"], "the refusal names the one call that moves it all"
    assert _stored(environment_id) == []


def test_approval_by_journal_ids_posts_exactly_those_journals(approval_limit_5, environment_id):
    run = "big-" + uuid.uuid4().hex[:8]
    _commit(environment_id, run, _big_proposal(run, journals=3, lines_each=3))
    body = {"organizationId": "usmf", "journalIds": ["BIG-002"]}
    response = approve_reconciliation(_request(environment_id, body, runId=run))
    assert response.status_code == 200, response.get_body()
    assert json.loads(response.get_body())["posted"] == 3
    assert sorted(i["id"] for i in _stored(environment_id)) == ["recon-J2L1", "recon-J2L2", "recon-J2L3"]
    # two journals are 6 lines, over the limit of 5: refused whole, the first journal's lines stay unposted
    body = {"organizationId": "usmf", "journalIds": ["BIG-001", "BIG-003"]}
    response = approve_reconciliation(_request(environment_id, body, runId=run))
    assert response.status_code == 413, response.get_body()
    assert len(_stored(environment_id)) == 3


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"journalIds": ["NOPE-001"]}, 400, "UnknownJournalIds"),
        ({"journalIds": "BIG-001"}, 400, "InvalidBody"),
        ({"journalIds": ["BIG-001"], "lineIds": ["J2L1"]}, 400, "UnknownLineIds"),  # a line of another journal
        ({"journalIds": ["BIG 001;"]}, 400, "InvalidBody"),
        ({"lineIds": [f"J1L{n}" for n in range(1, 7)]}, 413, "TooManyLines"),
    ],
)
def test_bad_journal_selections_are_refused_and_store_nothing(approval_limit_5, environment_id, body, status, code):
    run = "big-" + uuid.uuid4().hex[:8]
    _commit(environment_id, run, _big_proposal(run, journals=2, lines_each=3))
    response = approve_reconciliation(_request(environment_id, {"organizationId": "usmf", **body}, runId=run))
    assert response.status_code == status, response.get_body()
    assert json.loads(response.get_body())["error"]["code"] == code
    assert _stored(environment_id) == []


def _page(env: str, run: str, **query) -> func.HttpResponse:
    from functions.reconcile import list_proposed_lines

    return list_proposed_lines(
        app_request(
            "GET", "http://localhost/api/x", body=b"", params=query, route_params={"environmentId": env, "runId": run}
        )
    )


def test_proposed_lines_come_a_page_at_a_time_in_journal_order(approval_limit_5, environment_id):
    """The console lists what to approve from these pages instead of downloading the whole journal."""
    run = "big-" + uuid.uuid4().hex[:8]
    document = _big_proposal(run, journals=3, lines_each=3)
    _commit(environment_id, run, document)
    expected = [line["line_id"] for j in document["journals"] for line in j["lines"]]
    got, token, pages = [], None, 0
    while True:
        response = _page(environment_id, run, pageSize="4", **({"continuationToken": token} if token else {}))
        assert response.status_code == 200, response.get_body()
        page = json.loads(response.get_body())
        assert page["lineCount"] == 9 and page["maxLinesPerApproval"] == 5
        got += [line["line_id"] for line in page["items"]]
        pages += 1
        token = page["continuationToken"]
        if token is None:
            break
    assert got == expected and pages == 3
    assert [page["items"][0]["journal_id"]] == ["BIG-003"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"continuationToken": "not-a-token"}, "InvalidContinuationToken"),
        ({"continuationToken": "eyJvZmZzZXQiOiAtMX0="}, "InvalidContinuationToken"),  # {"offset": -1}
        ({"pageSize": "0"}, "InvalidQuery"),
        ({"pageSize": "1001"}, "InvalidQuery"),
        ({"colour": "red"}, "InvalidQuery"),
    ],
)
def test_a_bad_page_request_is_refused(app_env, environment_id, run_id, query, code):
    response = _page(environment_id, run_id, **query)
    assert response.status_code == 400, response.get_body()
    assert json.loads(response.get_body())["error"]["code"] == code


def test_another_environment_gets_no_page_of_the_run(app_env, environment_id, run_id):
    assert _page(environment_id, run_id).status_code == 200
    response = _page("other-" + uuid.uuid4().hex[:8], run_id)
    assert response.status_code == 404
    assert _page(environment_id, "no-such-run").status_code == 404
