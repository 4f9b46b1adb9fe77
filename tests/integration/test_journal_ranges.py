"""A page of proposed lines, or the approval of named journals, reads only the journals it needs.

Before the journal index both downloaded and sha256-checked the run's whole proposed journal (132 MB on
a bad day) and walked it to the page. The proof that they now read ranges: a journal corrupted behind
the manifest's back breaks only the pages and approvals that touch it, and those fail loudly.
"""

import json
import uuid
from pathlib import Path

import pytest

from functions.reconcile import approve_reconciliation, list_proposed_lines
from shared.adapters.blob_reports import BlobReportSink, read_manifest
from shared.adapters.journal_ranges import load_index, read_span
from shared.adapters.proposed_journal_file import ProposedJournalFile
from shared.adapters.snapshot_engine import SnapshotSource
from shared.adapters.storage_clients import blob_service
from shared.domain.reconciliation.config import ReconcileConfig
from shared.services.reconcile import run_reconciliation
from shared.services.reconcile_reports import lines_at, proposed_page
from tests.http_requests import app_request

KEYS = 23  # differing keys: journals of 4 lines, the last one short
PER_JOURNAL = 4


def _item(i: int) -> str:
    """The first journal's items are not ASCII (they sort first): later ranges start after multibyte text."""
    return f"0Ä{i:02d}" if i < PER_JOURNAL else f"A{i:03d}"


@pytest.fixture
def run(app_env, environment_id, tmp_path: Path) -> str:
    erp, wms = tmp_path / "erp.csv", tmp_path / "wms.csv"
    erp.write_text(
        "ItemNumber,InventorySiteId,InventoryWarehouseId,OnHandQuantity,UnitCost\n"
        + "".join(f"{_item(i)},1,13,{10 + i},2.5\n" for i in range(KEYS)),
        encoding="utf-8",
    )
    wms.write_text(
        "item_id;warehouse;on_hand\n" + "".join(f"{_item(i)};13;{11 + 2 * i}\n" for i in range(KEYS)), encoding="utf-8"
    )
    run_id = "ranges-" + uuid.uuid4().hex[:8]
    run_reconciliation(
        SnapshotSource(erp),
        SnapshotSource(wms),
        ReconcileConfig(journal_max_lines=PER_JOURNAL),
        [],
        BlobReportSink(blob_service(), f"{environment_id}/{run_id}"),
        run_id=run_id,
    )
    return run_id


def _reports():
    return blob_service().get_container_client("reports")


def _whole(environment_id: str, run: str) -> dict:
    return json.loads(_reports().download_blob(f"{environment_id}/{run}/proposed_journal.json").readall())


def _page(environment_id: str, run: str, size: int, token: str | None = None, journal: str | None = None):
    params = {"pageSize": str(size), **({"continuationToken": token} if token else {})}
    params.update({"journalId": journal} if journal else {})
    request = app_request(
        "GET",
        "http://localhost/api/x",
        body=b"",
        params=params,
        route_params={"environmentId": environment_id, "runId": run},
    )
    return list_proposed_lines(request)


def _approve(environment_id: str, run: str, body: dict):
    request = app_request(
        "POST",
        "http://localhost/api/x",
        body=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        route_params={"environmentId": environment_id, "runId": run},
    )
    return approve_reconciliation(request)


def _corrupt(environment_id: str, run: str, journal_number: int) -> None:
    """Rewrite one journal's bytes (same length) behind the manifest's back."""
    name = f"{environment_id}/{run}/proposed_journal.json"
    data = bytearray(_reports().download_blob(name).readall())
    journal_id = f'"{run}-{journal_number:03d}"'.encode()
    at = data.index(b'"quantity_delta":"', data.index(journal_id)) + len(b'"quantity_delta":"')
    data[at] = ord("9") if data[at] != ord("9") else ord("8")
    _reports().upload_blob(name, bytes(data), overwrite=True)


def test_the_index_describes_every_journal_of_the_file(run, environment_id):
    folder = f"{environment_id}/{run}"
    files = read_manifest(_reports(), folder)["files"]
    assert "journal_index.json" in files
    index = load_index(_reports(), folder, files)
    whole = _whole(environment_id, run)
    assert index is not None and index.line_count == KEYS == whole["line_count"]
    blob = _reports().get_blob_client(f"{folder}/proposed_journal.json")
    assert [read_span(blob, span) for span in index.spans] == whole["journals"]
    assert [s.journal_id for s in index.spans] == [f"{run}-{n:03d}" for n in range(1, 7)]
    assert whole["journals"][0]["lines"][0]["item"] == "0Ä00"
    assert index.header["run_id"] == run and index.header["line_count"] == KEYS


@pytest.mark.parametrize("size", [1, 3, 4, 5, 22, 23, 100])
def test_ranged_pages_are_the_pages_the_walk_gives(run, environment_id, size):
    whole = _whole(environment_id, run)
    reader = ProposedJournalFile.of_bytes(json.dumps(whole).encode())
    token, offset = None, 0
    while True:
        page = proposed_page(blob_service(), environment_id, run, size, token)
        assert page is not None
        expected, more = lines_at(reader, offset, size)
        assert page["items"] == expected and page["lineCount"] == KEYS
        assert (page["continuationToken"] is not None) == more
        offset += len(expected)
        token = page["continuationToken"]
        if token is None:
            break
    assert offset == KEYS


def test_a_page_reads_only_its_journals(run, environment_id):
    _corrupt(environment_id, run, 5)
    first = _page(environment_id, run, 8)  # journals 1 and 2
    assert first.status_code == 200, first.get_body()
    assert [line["line_id"] for line in json.loads(first.get_body())["items"]] == [
        line["line_id"] for journal in _whole(environment_id, run)["journals"][:2] for line in journal["lines"]
    ]
    broken = _page(environment_id, run, 4, _token(16))  # journal 5
    assert broken.status_code == 404
    assert "do not match the run's journal index" in json.loads(broken.get_body())["error"]["message"]


def _token(offset: int) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def test_approving_a_journal_reads_only_that_journal(run, environment_id):
    _corrupt(environment_id, run, 6)
    approved = _approve(environment_id, run, {"organizationId": "usmf", "journalIds": [f"{run}-002"]})
    assert approved.status_code == 200, approved.get_body()
    assert json.loads(approved.get_body())["posted"] == PER_JOURNAL

    refused = _approve(environment_id, run, {"organizationId": "usmf", "journalIds": [f"{run}-006"]})
    assert refused.status_code == 404
    assert "do not match the run's journal index" in json.loads(refused.get_body())["error"]["message"]

    unknown = _approve(environment_id, run, {"organizationId": "usmf", "journalIds": [f"{run}-009"]})
    assert unknown.status_code == 400 and json.loads(unknown.get_body())["error"]["code"] == "UnknownJournalIds"


def test_line_ids_alone_are_read_from_the_journals_holding_them(run, environment_id):
    """A line id names no journal: before the line index the approval downloaded and walked the whole
    proposal (132 MB on a bad day), so a journal corrupted anywhere refused every approval by line."""
    whole = _whole(environment_id, run)
    wanted = [whole["journals"][1]["lines"][0]["line_id"], whole["journals"][2]["lines"][3]["line_id"]]
    in_corrupted = whole["journals"][5]["lines"][0]["line_id"]
    _corrupt(environment_id, run, 6)
    approved = _approve(environment_id, run, {"organizationId": "usmf", "lineIds": wanted})
    assert approved.status_code == 200, approved.get_body()
    body = json.loads(approved.get_body())
    assert body["posted"] == 2 and [line["id"] for line in body["lines"]] == [f"recon-{i}" for i in wanted]

    refused = _approve(environment_id, run, {"organizationId": "usmf", "lineIds": [in_corrupted]})
    assert refused.status_code == 404
    assert "do not match the run's journal index" in json.loads(refused.get_body())["error"]["message"]

    absent = "0" * 24  # a line id no line has (its prefix matching journal 6's would take 2^-30 odds)
    unknown = _approve(environment_id, run, {"organizationId": "usmf", "lineIds": [wanted[0], absent]})
    assert unknown.status_code == 400 and json.loads(unknown.get_body())["error"]["code"] == "UnknownLineIds"


def _ids(journal: dict) -> list[str]:
    return [line["line_id"] for line in journal["lines"]]


def test_the_line_index_points_every_line_at_its_journal(run, environment_id):
    from shared.adapters.journal_ranges import load_line_index

    folder = f"{environment_id}/{run}"
    files = read_manifest(_reports(), folder)["files"]
    assert "line_index.json" in files
    index = load_index(_reports(), folder, files)
    assert index is not None
    lines = load_line_index(_reports(), folder, files, index)
    assert lines is not None
    for journal in _whole(environment_id, run)["journals"]:
        for line_id in _ids(journal):
            assert journal["journal_id"] in lines.journals_holding([line_id])


def test_lines_spread_over_most_journals_are_read_in_one_download(run, environment_id):
    """Ranges of more than half the file cost more requests than one download: the walk takes over (and,
    as before the line index, a journal corrupted anywhere then refuses the approval)."""
    whole = _whole(environment_id, run)
    few = [whole["journals"][1]["lines"][0]["line_id"]]
    spread = [whole["journals"][j]["lines"][0]["line_id"] for j in (1, 2, 3, 4)]  # 4 of 6 journals
    _corrupt(environment_id, run, 6)
    assert _approve(environment_id, run, {"organizationId": "usmf", "lineIds": few}).status_code == 200
    assert _approve(environment_id, run, {"organizationId": "usmf", "lineIds": spread}).status_code == 404


def test_without_a_usable_line_index_line_ids_walk_the_whole_file(run, environment_id):
    """A line index that fails its sha256 (or a run written before line indexes) is not used: the whole
    file is read and checked as before, so a corrupted journal anywhere refuses the approval."""
    from shared.adapters.journal_ranges import load_line_index

    folder = f"{environment_id}/{run}"
    line_id = _whole(environment_id, run)["journals"][1]["lines"][0]["line_id"]
    _reports().upload_blob(f"{folder}/line_index.json", b'{"schema": "tampered"}', overwrite=True)
    files = read_manifest(_reports(), folder)["files"]
    index = load_index(_reports(), folder, files)
    assert index is not None and load_line_index(_reports(), folder, files, index) is None
    walked = _approve(environment_id, run, {"organizationId": "usmf", "lineIds": [line_id]})
    assert walked.status_code == 200 and json.loads(walked.get_body())["posted"] == 1
    _corrupt(environment_id, run, 6)
    refused = _approve(environment_id, run, {"organizationId": "usmf", "lineIds": [line_id]})
    assert refused.status_code == 404


def test_a_run_without_an_index_is_walked_as_before(app_env, environment_id):
    """Runs written before indexes (or by hand) list no journal_index.json: pages and approvals walk the file."""
    run = "old-" + uuid.uuid4().hex[:8]
    lines = [
        {"line_id": f"L{i}", "run_id": run, "item": f"I{i}", "site": "1", "warehouse": "13", "quantity_delta": "1"}
        for i in range(5)
    ]
    document = {"run_id": run, "line_count": 5, "journals": [{"journal_id": f"{run}-001", "lines": lines}]}
    sink = BlobReportSink(blob_service(), f"{environment_id}/{run}")
    sink.write("proposed_journal.json", json.dumps(document).encode(), "application/json")
    sink.commit()
    page = _page(environment_id, run, 2, _token(2))
    assert page.status_code == 200
    assert [line["line_id"] for line in json.loads(page.get_body())["items"]] == ["L2", "L3"]
    approved = _approve(environment_id, run, {"organizationId": "usmf", "journalIds": [f"{run}-001"]})
    assert approved.status_code == 200 and json.loads(approved.get_body())["posted"] == 5


def test_an_index_of_another_file_is_not_used(run, environment_id):
    """An index whose byte count differs from the listed journal's is ignored: the whole file is read."""
    folder = f"{environment_id}/{run}"
    files = read_manifest(_reports(), folder)["files"]
    wrong = {**files, "proposed_journal.json": {**files["proposed_journal.json"], "bytes": 1}}
    assert load_index(_reports(), folder, wrong) is None
    _reports().upload_blob(f"{folder}/journal_index.json", b'{"schema": "tampered"}', overwrite=True)
    assert load_index(_reports(), folder, files) is None, "an index that fails its sha256 is not read"
    page = _page(environment_id, run, 3)
    assert page.status_code == 200 and len(json.loads(page.get_body())["items"]) == 3


def test_a_page_can_start_at_a_journal_and_the_first_page_lists_them(run, environment_id):
    whole = _whole(environment_id, run)
    first = json.loads(_page(environment_id, run, 3).get_body())
    assert [(j["journalId"], j["lines"], j["firstLine"]) for j in first["journals"]] == [
        (j["journal_id"], len(j["lines"]), sum(len(k["lines"]) for k in whole["journals"][:n]))
        for n, j in enumerate(whole["journals"])
    ]
    assert first["firstLine"] == 0
    jumped = json.loads(_page(environment_id, run, 6, journal=f"{run}-004").get_body())
    every = [line for journal in whole["journals"] for line in journal["lines"]]
    assert jumped["firstLine"] == 12 and jumped["items"] == every[12:18]
    following = json.loads(_page(environment_id, run, 6, jumped["continuationToken"]).get_body())
    assert following["firstLine"] == 18 and following["items"] == every[18:23] and following["journals"] is None
    assert following["continuationToken"] is None


def test_a_jump_to_a_journal_the_run_lacks_or_with_a_token_is_refused(run, environment_id):
    missing = _page(environment_id, run, 5, journal=f"{run}-099")
    assert missing.status_code == 404 and "no journal" in json.loads(missing.get_body())["error"]["message"]
    both = _page(environment_id, run, 5, _token(4), journal=f"{run}-002")
    assert both.status_code == 400 and json.loads(both.get_body())["error"]["code"] == "InvalidQuery"
    bad = _page(environment_id, run, 5, journal="../other-run")
    assert bad.status_code == 400 and json.loads(bad.get_body())["error"]["code"] == "InvalidQuery"


def test_a_jump_in_a_run_without_an_index_walks_to_the_journal(app_env, environment_id):
    run = "old-" + uuid.uuid4().hex[:8]
    journals = [
        {"journal_id": f"{run}-{n:03d}", "lines": [{"line_id": f"L{n}-{i}", "item": f"I{i}"} for i in range(3)]}
        for n in (1, 2, 3)
    ]
    sink = BlobReportSink(blob_service(), f"{environment_id}/{run}")
    document = {"line_count": 9, "journals": journals}
    sink.write("proposed_journal.json", json.dumps(document).encode(), "application/json")
    sink.commit()
    page = json.loads(_page(environment_id, run, 4, journal=f"{run}-002").get_body())
    assert page["firstLine"] == 3 and [line["line_id"] for line in page["items"]] == ["L2-0", "L2-1", "L2-2", "L3-0"]
    assert page["journals"] is None
    assert _page(environment_id, run, 4, journal=f"{run}-004").status_code == 404


def test_a_background_approval_of_named_journals_reads_only_those(run, environment_id):
    """The queue worker opens the proposal as the synchronous route does: named journals by byte range."""
    import base64

    import azure.functions as func

    from functions.partition_work import reconciliation_approve
    from shared.adapters.approval_jobs import BlobApprovalJobs
    from shared.adapters.work_queues import WorkQueues, decode
    from shared.services.approve_background import APPROVE_WORK

    queue = WorkQueues().client(APPROVE_WORK)
    for message in queue.receive_messages(max_messages=32):  # other tests' steps
        queue.delete_message(message)
    _corrupt(environment_id, run, 6)
    body = {"organizationId": "usmf", "background": True, "journalIds": [f"{run}-002", f"{run}-003"]}
    queued = _approve(environment_id, run, body)
    assert queued.status_code == 202, queued.get_body()
    approval_id = json.loads(queued.get_body())["approvalId"]
    for _ in range(10):  # deliver steps as the host would, until none is queued
        messages = list(queue.receive_messages(max_messages=32))
        if not messages:
            break
        for message in messages:
            text = base64.b64encode(json.dumps(decode(message.content)).encode())
            reconciliation_approve(func.QueueMessage(id=message.id, body=text))
            queue.delete_message(message)
    job = BlobApprovalJobs(blob_service()).load(environment_id, run, approval_id)
    assert job is not None and job["state"] == "done", job
    assert job["posted"] == 2 * PER_JOURNAL and sorted(job["journalsDone"]) == [f"{run}-002", f"{run}-003"]


def test_a_proposal_of_too_many_journals_is_not_indexed_and_still_served(
    app_env, environment_id, tmp_path, monkeypatch
):
    from shared.domain.reconciliation import journal

    monkeypatch.setattr(journal, "INDEXED_JOURNALS_MAX", 3)
    erp, wms = tmp_path / "erp.csv", tmp_path / "wms.csv"
    erp.write_text(
        "ItemNumber,InventorySiteId,InventoryWarehouseId,OnHandQuantity\n"
        + "".join(f"A{i:03d},1,13,{i}\n" for i in range(10))
    )
    wms.write_text("item_id;warehouse;on_hand\n" + "".join(f"A{i:03d};13;{i + 1}\n" for i in range(10)))
    run = "many-" + uuid.uuid4().hex[:8]
    run_reconciliation(
        SnapshotSource(erp),
        SnapshotSource(wms),
        ReconcileConfig(journal_max_lines=2),  # 5 journals
        [],
        BlobReportSink(blob_service(), f"{environment_id}/{run}"),
        run_id=run,
    )
    assert "journal_index.json" not in read_manifest(_reports(), f"{environment_id}/{run}")["files"]
    page = json.loads(_page(environment_id, run, 3, journal=f"{run}-004").get_body())
    assert page["firstLine"] == 6 and [line["item"] for line in page["items"]] == ["A006", "A007", "A008"]
    assert page["journals"] is None
    approved = _approve(environment_id, run, {"organizationId": "usmf", "journalIds": [f"{run}-005"]})
    assert approved.status_code == 200 and json.loads(approved.get_body())["posted"] == 2


def test_the_first_page_lists_journals_only_up_to_a_limit(run, environment_id, monkeypatch):
    from shared.services import reconcile_reports

    monkeypatch.setattr(reconcile_reports, "LISTED_JOURNALS_MAX", 5)  # the run has 6
    first = json.loads(_page(environment_id, run, 3).get_body())
    assert first["journals"] is None and len(first["items"]) == 3
    jumped = json.loads(_page(environment_id, run, 3, journal=f"{run}-006").get_body())
    assert jumped["firstLine"] == 20


def test_a_journal_file_cut_short_behind_the_manifest_is_refused_not_a_server_error(run, environment_id):
    _reports().upload_blob(f"{environment_id}/{run}/proposed_journal.json", b'{"journals":[]}', overwrite=True)
    late = _page(environment_id, run, 4, journal=f"{run}-006")
    assert late.status_code == 404
    assert "do not match the run's journal index" in json.loads(late.get_body())["error"]["message"]
    approval = _approve(environment_id, run, {"organizationId": "usmf", "journalIds": [f"{run}-006"]})
    assert approval.status_code == 404


def test_lines_named_with_their_journals_are_read_from_those_journals_only(run, environment_id):
    """The console names the journals of the lines ticked: the approval reads those journals' ranges only."""
    whole = _whole(environment_id, run)
    wanted = [whole["journals"][1]["lines"][0]["line_id"], whole["journals"][2]["lines"][3]["line_id"]]
    elsewhere = whole["journals"][3]["lines"][0]["line_id"]
    _corrupt(environment_id, run, 6)
    journals = [f"{run}-002", f"{run}-003"]
    outside = _approve(environment_id, run, {"organizationId": "usmf", "lineIds": [elsewhere], "journalIds": journals})
    assert outside.status_code == 400 and json.loads(outside.get_body())["error"]["code"] == "UnknownLineIds"
    approved = _approve(environment_id, run, {"organizationId": "usmf", "lineIds": wanted, "journalIds": journals})
    assert approved.status_code == 200, approved.get_body()
    body = json.loads(approved.get_body())
    assert body["posted"] == 2 and [line["id"] for line in body["lines"]] == [f"recon-{i}" for i in wanted]
