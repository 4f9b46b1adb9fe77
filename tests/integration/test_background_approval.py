"""Background approval against Azurite: a proposal of any size approved by one call, moved by the queue
worker a part at a time, every line once, resumable, and refused whole (nothing moved) when a line is bad."""

import base64
import json
import uuid
from typing import Any

import azure.functions as func
import pytest

from functions.inventory_config import put_configuration
from functions.partition_work import reconciliation_approve
from functions.reconcile import approve_reconciliation, get_background_approval
from shared.adapters.approval_jobs import BlobApprovalJobs
from shared.adapters.external_outbox import BlobExternalOutbox
from shared.adapters.journal_ranges import proposal_reader
from shared.adapters.ledger_tables import LedgerStore
from shared.adapters.storage_clients import blob_service
from shared.adapters.work_queues import WorkQueues, decode
from shared.services.approve import Destination
from shared.services.approve_background import APPROVE_WORK, approval_step
from tests.http_requests import app_request
from tests.integration.test_approval_configuration import _big_proposal, _commit, _request, _stored

ALLOWED = (("@iv",), ("adjustment",))
"""Data sources and physical measures of the default configuration that approvals post with."""


@pytest.fixture
def parts_of_5(app_env, monkeypatch):
    """A part (and a synchronous approval) moves at most 5 lines here (INGEST_MAX_LINES, 10,000 by default)."""
    from shared.config import reset_settings

    monkeypatch.setenv("INGEST_MAX_LINES", "5")
    reset_settings()


@pytest.fixture
def big_run(parts_of_5, environment_id) -> str:
    run = "bg-" + uuid.uuid4().hex[:8]
    _commit(environment_id, run, _big_proposal(run, journals=4, lines_each=3))  # 12 lines, 4 journals
    return run


def _queued() -> list[dict[str, Any]]:
    client = WorkQueues().client(APPROVE_WORK)
    return [decode(m.content) for m in client.peek_messages(max_messages=32)]


def _drain() -> list[dict[str, Any]]:
    client = WorkQueues().client(APPROVE_WORK)
    bodies = []
    for message in client.receive_messages(max_messages=32):
        bodies.append(decode(message.content))
        client.delete_message(message)
    return bodies


def _step(env: str, run: str, message: dict[str, Any], budget_s: float = 0.0) -> dict[str, Any] | None:
    """One worker step with the real adapters; budget 0: one part a step, the next one queued."""
    service = blob_service()

    to = Destination(LedgerStore(), env, *ALLOWED, external_outbox=BlobExternalOutbox(service))
    clock = iter(range(1_000_000)).__next__  # every part "takes" a second
    jobs, queues = BlobApprovalJobs(service), WorkQueues()
    return approval_step(jobs, queues, to, _opener(env, run), message, budget_s=budget_s, clock=clock)


def _counting_proposal(run: str) -> dict[str, Any]:
    """Two journals of two lines in counting mode, each line counted at 7."""
    proposal = _big_proposal(run, journals=2, lines_each=2)
    proposal["mode"] = "counting"
    for journal in proposal["journals"]:
        for line in journal["lines"]:
            line["counted_quantity"] = "7"
    return proposal


def _opener(env: str, run: str):
    """How the queue worker opens the run's proposal: named journals by byte range when it has an index."""
    reports = blob_service().get_container_client("reports")
    return lambda journal_ids: proposal_reader(reports, f"{env}/{run}", journal_ids)


def _run_queue(env: str, run: str) -> dict[str, Any]:
    """Deliver queued steps until none is left, as the host would."""
    job = None
    for _ in range(50):
        bodies = _drain()
        if not bodies:
            assert job is not None
            return job
        for body in bodies:
            job = _step(env, run, body)
    raise AssertionError("the approval never finished")


def _queue(env: str, run: str, body: dict[str, Any]) -> func.HttpResponse:
    return approve_reconciliation(_request(env, {"organizationId": "usmf", "background": True, **body}, runId=run))


def test_one_call_approves_a_proposal_bigger_than_an_approval_moves_every_line_once(big_run, environment_id):
    _drain()
    refused = approve_reconciliation(_request(environment_id, {"organizationId": "usmf"}, runId=big_run))
    assert refused.status_code == 413  # 12 lines: too many for one synchronous approval of 5
    response = _queue(environment_id, big_run, {})
    assert response.status_code == 202, response.get_body()
    job = json.loads(response.get_body())
    assert job["state"] == "queued" and job["statusUrl"].endswith(f"/approvals/{job['approvalId']}")
    assert _queued() == [{"environmentId": environment_id, "runId": big_run, "approvalId": job["approvalId"]}]

    again = json.loads(_queue(environment_id, big_run, {}).get_body())
    assert again["approvalId"] == job["approvalId"] and len(_queued()) == 1, "asked twice: one job, one message"

    done = _run_queue(environment_id, big_run)
    assert done["state"] == "done", done
    assert (done["journalsTotal"], done["linesTotal"], done["linesDone"]) == (4, 12, 12)
    assert done["posted"] == 12 and done["duplicates"] == 0
    stored = _stored(environment_id)
    assert sorted(line["id"] for line in stored) == sorted(f"recon-J{j}L{n}" for j in range(1, 5) for n in range(1, 4))

    status = get_background_approval(
        app_request(
            "GET",
            "http://localhost/api/x",
            body=b"",
            route_params={"environmentId": environment_id, "runId": big_run, "approvalId": job["approvalId"]},
        )
    )
    assert status.status_code == 200 and json.loads(status.get_body())["state"] == "done"
    finished = json.loads(_queue(environment_id, big_run, {}).get_body())
    assert finished["state"] == "done" and _queued() == [], "a finished approval is not queued again"


def test_a_step_that_dies_half_way_is_resumed_and_moves_each_line_once(big_run, environment_id):
    _drain()
    job = json.loads(_queue(environment_id, big_run, {"journalIds": ["BIG-002", "BIG-003", "BIG-004"]}).get_body())
    [message] = _drain()
    checked = _step(environment_id, big_run, message)  # the first step checks every line and moves nothing
    assert checked is not None and checked["state"] == "running" and checked["journalsDone"] == []
    assert checked["linesTotal"] == 9 and _stored(environment_id) == []
    [message] = _drain()
    after_first = _step(environment_id, big_run, message)  # then the first part (one journal: 3 + 3 > 5)
    assert after_first is not None and after_first["journalsDone"] == ["BIG-002"]
    jobs = BlobApprovalJobs(blob_service())
    # the worker died after moving the part but before recording it: its record says nothing is done
    jobs.save(environment_id, big_run, job["approvalId"], {**after_first, "journalsDone": [], "linesDone": 0})
    done = _run_queue(environment_id, big_run)
    assert done["state"] == "done" and done["journalsDone"] == ["BIG-002", "BIG-003", "BIG-004"]
    assert done["duplicates"] == 3, "the part in flight was moved again and ingest kept it once"
    ids = [line["id"] for line in _stored(environment_id)]
    assert len(ids) == len(set(ids)) == 9 and not any(i.startswith("recon-J1L") for i in ids)


def test_a_bad_line_fails_the_whole_background_approval_and_moves_nothing(big_run, environment_id):
    _drain()
    configured = put_configuration(
        _request(environment_id, {"dataSources": [{"name": "pos", "physicalMeasures": ["sold"]}]})
    )
    assert configured.status_code == 200
    _queue(environment_id, big_run, {})
    [message] = _drain()
    service = blob_service()
    failed = approval_step(
        BlobApprovalJobs(service),
        WorkQueues(),
        Destination(LedgerStore(), environment_id, ("pos",), ("sold",)),  # what the environment now allows
        _opener(environment_id, big_run),
        message,
        budget_s=0,
        clock=lambda: 0.0,
    )
    assert failed is not None and failed["state"] == "failed"
    assert {p["field"] for p in failed["problems"]} == {"quantityDataSource", "physicalMeasure"}
    assert failed["problems"][0]["journalId"] == "BIG-001"
    assert _stored(environment_id) == [] and _queued() == []


def test_unknown_journals_fail_the_job_and_bad_requests_are_refused(big_run, environment_id):
    _drain()
    _queue(environment_id, big_run, {"journalIds": ["BIG-001", "NOPE-9"]})
    [message] = _drain()
    failed = _step(environment_id, big_run, message)
    assert failed is not None and failed["state"] == "failed" and "NOPE-9" in failed["message"]
    assert _stored(environment_id) == []
    assert _queue(environment_id, big_run, {"lineIds": ["J1L1"]}).status_code == 400
    bad = _request(environment_id, {"organizationId": "usmf", "background": "yes"}, runId=big_run)
    assert approve_reconciliation(bad).status_code == 400
    assert _queue(environment_id, big_run + "x", {}).status_code == 404
    assert _queue("other-" + environment_id, big_run, {}).status_code == 404, "another environment's run"
    assert _queued() == []


def test_the_status_of_another_environment_or_a_bad_id_is_not_shown(big_run, environment_id):
    job = json.loads(_queue(environment_id, big_run, {}).get_body())
    _drain()

    def status(env: str, approval_id: str) -> int:
        params = {"environmentId": env, "runId": big_run, "approvalId": approval_id}
        return get_background_approval(
            app_request("GET", "http://localhost/api/x", body=b"", route_params=params)
        ).status_code

    assert status(environment_id, job["approvalId"]) == 200
    assert status("other-" + environment_id, job["approvalId"]) == 404
    assert status(environment_id, "../" + job["approvalId"]) == 400


def test_the_queue_function_runs_a_step(big_run, environment_id):
    """The thin queue trigger: one message, the real worker, the settings' budget (one step is enough here)."""
    _drain()
    _queue(environment_id, big_run, {})
    [body] = _drain()
    text = base64.b64encode(json.dumps(body).encode())
    reconciliation_approve(func.QueueMessage(id="m1", body=text))
    job = BlobApprovalJobs(blob_service()).load(environment_id, big_run, body["approvalId"])
    assert job is not None and job["state"] == "done" and job["posted"] == 12
    assert len(_stored(environment_id)) == 12


def test_an_erp_master_run_is_approved_in_the_background_into_the_outbox_once(parts_of_5, environment_id):
    run = "bgw-" + uuid.uuid4().hex[:8]
    proposal = _big_proposal(run, journals=3, lines_each=2)
    proposal.update(master="erp", target="wms")
    _commit(environment_id, run, proposal)
    _drain()
    assert _queue(environment_id, run, {}).status_code == 202
    done = _run_queue(environment_id, run)
    assert done["state"] == "done" and done["posted"] == 6 and len(done["files"]) == 4  # 2 parts × json + csv
    written = BlobExternalOutbox(blob_service()).written_line_ids(environment_id, run)
    assert written == {f"J{j}L{n}" for j in range(1, 4) for n in range(1, 3)}
    assert _stored(environment_id) == [], "the ERP side is never touched when the ERP is master"


def test_a_step_that_fails_on_its_last_delivery_marks_the_job_failed_and_asking_again_resumes(big_run, environment_id):
    """Without this the job would say "running" for ever once the host moved the message to -poison."""
    from azure.functions.queue import QueueMessage

    from functions.partition_work import MAX_DELIVERIES

    _drain()
    job = json.loads(_queue(environment_id, big_run, {}).get_body())
    [body] = _drain()
    jobs = BlobApprovalJobs(blob_service())
    broken = {**jobs.load(environment_id, big_run, job["approvalId"]), "request": {}}  # the step cannot read it
    jobs.save(environment_id, big_run, job["approvalId"], broken)
    text = base64.b64encode(json.dumps(body).encode())
    for delivery in range(1, MAX_DELIVERIES + 1):
        with pytest.raises(KeyError):
            reconciliation_approve(QueueMessage(id="m1", body=text, dequeue_count=delivery))
        state = jobs.load(environment_id, big_run, job["approvalId"])["state"]
        assert state == ("failed" if delivery == MAX_DELIVERIES else "queued"), delivery
    failed = jobs.load(environment_id, big_run, job["approvalId"])
    assert "KeyError" in failed["message"] and "ask again" in failed["message"]
    assert _stored(environment_id) == []

    again = json.loads(_queue(environment_id, big_run, {}).get_body())
    assert again["state"] == "queued" and len(_queued()) == 1
    assert _run_queue(environment_id, big_run)["posted"] == 12


def test_max_deliveries_is_what_host_json_says():
    from pathlib import Path

    from functions.partition_work import MAX_DELIVERIES

    host = json.loads((Path(__file__).resolve().parents[2] / "host.json").read_text())
    assert host["extensions"]["queues"]["maxDequeueCount"] == MAX_DELIVERIES


class _RefusingQueue:
    def put(self, work, bodies, delay_s=0):
        raise ConnectionError("the queue did not answer")


def test_a_job_whose_message_could_not_be_queued_is_not_left_queued(big_run, environment_id):
    from shared.services.approve import ApprovalRequest
    from shared.services.approve_background import approval_id_of, queue_approval

    _drain()
    request = ApprovalRequest(organization_id="usmf", max_lines=5)
    jobs = BlobApprovalJobs(blob_service())
    with pytest.raises(ConnectionError):
        queue_approval(jobs, _RefusingQueue(), environment_id, big_run, request)
    assert jobs.load(environment_id, big_run, approval_id_of(environment_id, big_run, request)) is None
    response = _queue(environment_id, big_run, {})
    assert response.status_code == 202 and len(_queued()) == 1, "asking again queues it"


def test_a_job_that_lost_its_message_is_queued_again_when_asked_after_a_while(big_run, environment_id):
    _drain()
    job = json.loads(_queue(environment_id, big_run, {}).get_body())
    _drain()  # the message is lost (a host that died with it, a poison queue nobody replayed)
    assert json.loads(_queue(environment_id, big_run, {}).get_body())["state"] == "queued"
    assert _queued() == [], "a job queued moments ago is left to its message"
    jobs = BlobApprovalJobs(blob_service())
    old = {**jobs.load(environment_id, big_run, job["approvalId"]), "updatedOn": "2026-01-01T00:00:00+00:00"}
    jobs.save(environment_id, big_run, job["approvalId"], old)
    assert _queue(environment_id, big_run, {}).status_code == 202
    assert len(_queued()) == 1, "a stale job is queued again"
    assert _run_queue(environment_id, big_run)["posted"] == 12


def test_of_two_callers_re_queuing_one_job_only_one_wins(big_run, environment_id):
    job = json.loads(_queue(environment_id, big_run, {}).get_body())
    jobs = BlobApprovalJobs(blob_service())
    doc, etag = jobs.load_versioned(environment_id, big_run, job["approvalId"])
    assert doc is not None and etag
    assert jobs.replace(environment_id, big_run, job["approvalId"], {**doc, "state": "queued"}, etag)
    assert not jobs.replace(environment_id, big_run, job["approvalId"], {**doc, "state": "queued"}, etag)


class _DownErp:
    """An ERP connector (our port) whose ERP answers an error state, as the OData connector does."""

    def send(self, journal):
        from shared.domain.journals import JournalOutcome

        return JournalOutcome(journal.journal_id, "create_error", message="503 from the ERP", retryable=True)


def test_a_counting_part_the_erp_refused_is_retried_and_never_marked_done(parts_of_5, environment_id, monkeypatch):
    from shared.config import reset_settings
    from shared.services.approve_background import PartNotMoved

    monkeypatch.setenv("ERP_CONNECTOR", "outbox")
    reset_settings()
    run = "bgc-" + uuid.uuid4().hex[:8]
    _commit(environment_id, run, _counting_proposal(run))
    _drain()
    approval_id = json.loads(_queue(environment_id, run, {}).get_body())["approvalId"]
    service = blob_service()

    def step(connector) -> dict | None:
        [body] = _drain()
        to = Destination(LedgerStore(), environment_id, *ALLOWED, erp_connector=lambda: connector)
        opened = _opener(environment_id, run)
        return approval_step(BlobApprovalJobs(service), WorkQueues(), to, opened, body, budget_s=0, clock=lambda: 0.0)

    assert step(_DownErp())["journalsDone"] == []  # the check; the moving is the next step's
    assert len(_queued()) == 1
    with pytest.raises(PartNotMoved, match="create_error"):
        step(_DownErp())
    job = BlobApprovalJobs(service).load(environment_id, run, approval_id)
    assert job["journalsDone"] == [] and job["posted"] == 0, "the refused part is not recorded as done"


def test_lines_refused_after_the_check_fail_the_job_and_say_how_many_moved_before(big_run, environment_id):
    _drain()
    _queue(environment_id, big_run, {})
    [body] = _drain()
    assert _step(environment_id, big_run, body)["state"] == "running"  # checked against @iv / adjustment
    [body] = _drain()
    service = blob_service()
    opened = _opener(environment_id, big_run)
    narrowed = Destination(LedgerStore(), environment_id, ("pos",), ("sold",))  # the configuration changed since
    failed = approval_step(
        BlobApprovalJobs(service), WorkQueues(), narrowed, opened, body, budget_s=0, clock=lambda: 0.0
    )
    assert failed["state"] == "failed" and "after 0 had been moved" in failed["message"]
    assert {p["field"] for p in failed["problems"]} == {"quantityDataSource", "physicalMeasure"}
    assert _stored(environment_id) == []


def test_lines_stored_earlier_under_other_values_are_counted_as_conflicts(big_run, environment_id):
    first = approve_reconciliation(
        _request(environment_id, {"organizationId": "other", "journalIds": ["BIG-001"]}, runId=big_run)
    )
    assert first.status_code == 200 and json.loads(first.get_body())["posted"] == 3
    _drain()
    _queue(environment_id, big_run, {})
    done = _run_queue(environment_id, big_run)
    assert done["state"] == "done" and done["conflicts"] == 3 and done["posted"] == 9
    assert "3 line(s) were not moved" in done["message"]


def test_a_runs_background_approvals_are_listed_newest_first_and_only_in_its_environment(big_run, environment_id):
    from functions.reconcile import list_background_approvals

    def listed(env: str) -> dict:
        request = app_request(
            "GET", "http://localhost/api/x", body=b"", route_params={"environmentId": env, "runId": big_run}
        )
        response = list_background_approvals(request)
        assert response.status_code == 200, response.get_body()
        return json.loads(response.get_body())

    assert listed(environment_id)["items"] == []
    everything = json.loads(_queue(environment_id, big_run, {}).get_body())
    one = json.loads(_queue(environment_id, big_run, {"journalIds": ["BIG-002"]}).get_body())
    items = listed(environment_id)["items"]
    assert [i["approvalId"] for i in items] == [one["approvalId"], everything["approvalId"]]
    assert items[0]["request"]["journalIds"] == ["BIG-002"] and items[0]["statusUrl"].endswith(one["approvalId"])
    assert listed("other-" + environment_id)["items"] == []
    _drain()


def test_a_counting_line_without_its_count_fails_the_check_and_nothing_reaches_the_erp(parts_of_5, environment_id):
    run = "bgn-" + uuid.uuid4().hex[:8]
    proposal = _counting_proposal(run)
    del proposal["journals"][1]["lines"][1]["counted_quantity"]
    _commit(environment_id, run, proposal)
    _drain()
    _queue(environment_id, run, {})
    [body] = _drain()
    sent: list = []

    class Recording:
        def send(self, journal):
            sent.append(journal)
            raise AssertionError("nothing may be sent")

    service = blob_service()
    opened = _opener(environment_id, run)
    to = Destination(LedgerStore(), environment_id, *ALLOWED, erp_connector=Recording)
    jobs, queues = BlobApprovalJobs(service), WorkQueues()
    failed = approval_step(jobs, queues, to, opened, body, budget_s=9, clock=lambda: 0.0)
    assert failed["state"] == "failed" and sent == []
    assert [(p["journalId"], p["field"]) for p in failed["problems"]] == [("BIG-002", "counted_quantity")]
