"""Walk-through: adjustments → cache → aggregated lines → journal in the outbox → ERP result → posted."""

import csv
import io
import json
import time
import uuid
from decimal import Decimal

import httpx
from azure.storage.blob import BlobServiceClient


def _post(app, env, lines):
    response = httpx.post(
        f"{app.base_url}/environment/{env}/transaction/adjustment/bulk", json=lines, headers=app.headers, timeout=60
    )
    assert response.status_code == 200, response.text


def _line(i, product, qty, location="13", **extra):
    return {
        "id": f"j-{i}",
        "organizationId": "usmf",
        "productId": product,
        "quantityDataSource": "@iv",
        "physicalMeasure": "adjustment",
        "dimensions": {"siteId": "1", "locationId": location, **extra.pop("dims", {})},
        "quantity": qty,
        "transDate": "2026-11-23",
        **extra,
    }


def _aggregated(app, env, **params):
    response = httpx.get(f"{app.base_url}/environment/{env}/transaction/aggregated", params=params, headers=app.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_adjustments_become_one_journal_and_a_result_file_posts_them(running_app, storage_connection):
    env = "jr-" + uuid.uuid4().hex[:8]
    _post(
        running_app,
        env,
        [
            _line(1, "D0001", 5, externalReferenceId="RCPT-1", dims={"colorId": "Red", "posTill": "T1"}),
            _line(2, "D0001", "-2.5", externalReferenceId="RCPT-2", dims={"colorId": "Red", "posTill": "T2"}),
            _line(3, "D0001", 1, location="14"),
            _line(4, "A0001", 3),
            _line(5, "A0001", -3),  # nets to zero: DoNotSync
            {**_line(6, "A0001", 7), "physicalMeasure": "sold"},  # no mapping: stays in omnisync
        ],
    )
    for timer in ("sync_to_cache", "send_journals"):
        running_app.run_timer(timer)

    items = _aggregated(running_app, env)
    by_key = {(i["productId"], i["key"]["dimensions"].get("locationId")): i for i in items}
    assert Decimal(by_key[("D0001", "13")]["quantity"]) == Decimal("2.5")
    assert "posTill" not in by_key[("D0001", "13")]["key"]["dimensions"], "external dimensions stay in omnisync"
    assert sorted(by_key[("D0001", "13")]["detailedLineIds"]) == ["j-1", "j-2"]
    assert by_key[("A0001", "13")]["status"] == "DoNotSync"
    sent = [i for i in items if i["status"] == "SCMSent"]
    assert len(sent) == 2 and len({i["journalId"] for i in sent}) == 1
    journal_id = sent[0]["journalId"]

    unmapped = httpx.get(
        f"{running_app.base_url}/environment/{env}/transaction/adjustment/j-6", headers=running_app.headers
    ).json()
    assert unmapped["status"] == "IVPosted"
    detailed = httpx.get(
        f"{running_app.base_url}/environment/{env}/transaction/adjustment/j-1", headers=running_app.headers
    ).json()
    assert detailed["status"] == "Aggregated" and detailed["aggregatedLineId"] == by_key[("D0001", "13")]["id"]

    service = BlobServiceClient.from_connection_string(storage_connection)
    outbox = service.get_container_client("journal-outbox")
    document = json.loads(outbox.download_blob(f"{env}/{journal_id}.json").readall())
    assert sorted(Decimal(line["InventoryQuantity"]) for line in document["lines"]) == [Decimal(1), Decimal("2.5")]
    text = outbox.download_blob(f"{env}/{journal_id}.csv").readall().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["ItemNumber"] for r in rows} == {"D0001"} and {r["InventoryWarehouseId"] for r in rows} == {"13", "14"}

    result = {
        "journalId": journal_id,
        "state": "posted",
        "erpJournalNumber": "USMF-000123",
        "lines": [
            {"lineId": line["OmnisyncLineId"], "erpLineNumber": str(line["LineNumber"])} for line in document["lines"]
        ],
    }
    service.get_blob_client("journal-inbox", f"{env}/{journal_id}-result.json").upload_blob(json.dumps(result))
    deadline = time.monotonic() + 30
    while True:
        posted = _aggregated(running_app, env, status="FnOPosted")
        if len(posted) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert {p["erpJournalNumber"] for p in posted} == {"USMF-000123"}
    assert sorted(p["erpLineNumber"] for p in posted) == ["1", "2"]


def test_an_error_result_keeps_the_message_and_a_person_can_retry(running_app, storage_connection):
    env = "je-" + uuid.uuid4().hex[:8]
    _post(running_app, env, [_line(1, "B0001", 4)])
    for timer in ("sync_to_cache", "send_journals"):
        running_app.run_timer(timer)
    (item,) = _aggregated(running_app, env)
    journal_id = item["journalId"]
    service = BlobServiceClient.from_connection_string(storage_connection)
    result = {
        "journalId": journal_id,
        "state": "create_error",
        "message": "Item B0001 is blocked",
        "lines": [{"lineId": item["id"], "error": "Item B0001 is blocked for inventory transactions"}],
    }
    service.get_blob_client("journal-inbox", f"{env}/{journal_id}-result.json").upload_blob(json.dumps(result))
    deadline = time.monotonic() + 30
    while not (failed := _aggregated(running_app, env, status="FnOCreateError")) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert failed[0]["message"] == "Item B0001 is blocked for inventory transactions"

    url = f"{running_app.base_url}/environment/{env}/transaction/aggregated/{item['id']}/retry"
    assert httpx.post(url, headers=running_app.headers).status_code == 202
    assert httpx.post(url, headers=running_app.headers).status_code == 409, "only failed lines can be retried"
    running_app.run_timer("send_journals")
    (again,) = _aggregated(running_app, env)
    assert again["status"] == "SCMSent" and again["journalId"] != journal_id
    other_env = httpx.get(
        f"{running_app.base_url}/environment/{env}x/transaction/aggregated/{item['id']}", headers=running_app.headers
    )
    assert other_env.status_code == 404


def test_late_result_files_never_move_a_posted_line_back_and_it_is_never_resent(running_app, storage_connection):
    """Posted, then a late created and a late create_error: the line stays FnOPosted."""
    env = "jl-" + uuid.uuid4().hex[:8]
    _post(running_app, env, [_line(1, "C0001", 2)])
    timers = httpx.get(f"{running_app.admin_url}/functions", headers=running_app.headers).json()["functions"]
    deadline = time.monotonic() + 60
    while True:  # the pipeline's timers (and its queues, where it has them) until the line is sent
        for timer in ("sync_to_cache", "send_journals"):
            if timer in timers:
                running_app.run_timer(timer)
        sent = _aggregated(running_app, env, status="SCMSent")
        if sent or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    (item,) = sent
    journal_id = item["journalId"]
    inbox = BlobServiceClient.from_connection_string(storage_connection).get_container_client("journal-inbox")
    for n, (state, extra) in enumerate(
        (("posted", {"erpLineNumber": "1"}), ("created", {}), ("create_error", {"error": "Item C0001 is blocked"}))
    ):
        result = {"journalId": journal_id, "state": state, "lines": [{"lineId": item["id"], **extra}]}
        inbox.upload_blob(f"{env}/{journal_id}-{n}-{state}.json", json.dumps(result))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            (line,) = _aggregated(running_app, env)
            if line["status"] == "FnOPosted" and len(line["lateAnswers"]) == n:
                break
            time.sleep(0.3)
    assert line["status"] == "FnOPosted" and [a["state"] for a in line["lateAnswers"]] == ["created", "create_error"]
    url = f"{running_app.base_url}/environment/{env}/transaction/aggregated/{item['id']}/retry"
    retry = httpx.post(url, headers=running_app.headers)
    assert retry.status_code == 409 and retry.json()["error"]["code"] == "NotResendable"
    running_app.run_timer("send_journals")
    (after,) = _aggregated(running_app, env)
    assert after["status"] == "FnOPosted" and after["journalId"] == journal_id, "never sent again"
