"""The README's try-it commands, request for request: same routes, same bodies (read from samples/), same answers.

Where the README has a timer run (`curl -X POST .../admin/functions/<timer>`), the test runs that timer; the
app runs with queues off, so every step is the README's own.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from devtools import drop_samples

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _headers(app) -> dict[str, str]:
    return {**app.headers, "content-type": "application/json"}


def _url(app, env: str, path: str) -> str:
    return f"{app.base_url}/environment/{env}/{path}"


def _ok(response: httpx.Response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _wait(what, timeout_s: float = 30):
    deadline = time.monotonic() + timeout_s
    while not (found := what()):
        if time.monotonic() > deadline:
            raise AssertionError("did not happen within the time the README promises")
        time.sleep(0.3)
    return found


def test_the_readme_uses_only_files_in_the_repository():
    assert "/".join(["..", "shared"]) not in README  # a path outside the clone (spelt so a grep finds none)
    for name in re.findall(r"@samples/([\w.]+)", README):
        assert (SAMPLES / name).is_file(), f"README posts samples/{name}, which is missing"
    assert {"adjustments.json", "onhand_events.json", "erp_transactions.json", "configuration.json"} <= set(
        re.findall(r"@samples/([\w.]+)", README)
    )


def test_adjustment_walkthrough(running_app, storage_connection):
    env = "demo-" + uuid.uuid4().hex[:8]  # the README's ENV=demo, fresh for each test run
    posted = _ok(
        httpx.post(
            _url(running_app, env, "transaction/adjustment/bulk"),
            content=_sample("adjustments.json"),
            headers=_headers(running_app),
            timeout=60,
        )
    )
    assert posted["summary"] == {"created": 3, "duplicate": 0, "conflict": 0}
    assert {line["status"] for line in posted["lines"]} == {"Created"}

    listed = _ok(httpx.get(_url(running_app, env, "transaction/adjustment"), headers=running_app.headers))
    assert sorted(item["id"] for item in listed["items"]) == [
        "count-wh24-20261123-A0001",
        "ecom-web-20261123-000417",
        "pos-store13-20261123-000001",
    ]
    created = _ok(
        httpx.get(
            _url(running_app, env, "transaction/adjustment"), params={"status": "Created"}, headers=running_app.headers
        )
    )
    assert len(created["items"]) == 3  # queues are off here: nothing has synced them yet
    again = _ok(
        httpx.post(
            _url(running_app, env, "transaction/adjustment/bulk"),
            content=_sample("adjustments.json"),
            headers=_headers(running_app),
            timeout=60,
        )
    )
    assert again["summary"] == {"created": 0, "duplicate": 3, "conflict": 0}

    running_app.run_timer("sync_to_cache")  # README: curl -X POST .../admin/functions/sync_to_cache
    line = _ok(
        httpx.get(
            _url(running_app, env, "transaction/adjustment/pos-store13-20261123-000001"), headers=running_app.headers
        )
    )
    assert line["status"] == "Aggregated"
    assert line["statusTimes"]["IVPosted"] and line["statusTimes"]["Aggregated"]
    assert line["aggregatedLineId"]

    items = _ok(
        httpx.post(
            _url(running_app, env, "onhand/indexquery"),
            headers=_headers(running_app),
            content=b'{"filters": {"organizationId": ["usmf"], "productId": ["D0001"]}, '
            b'"groupByValues": ["locationId"]}',
        )
    )
    assert {i["dimensions"]["locationId"]: Decimal(str(i["quantities"]["@iv"]["adjustment"])) for i in items} == {
        "13": Decimal(3)
    }  # 5 sold at the till, 2 returned online

    # "Journals to the ERP": send, then answer with samples/journal_result.json (its ids replaced by the real ones)
    running_app.run_timer("send_journals")
    sent = _ok(
        httpx.get(
            _url(running_app, env, "transaction/aggregated"), params={"status": "SCMSent"}, headers=running_app.headers
        )
    )["items"]
    by_journal: dict[str, list[str]] = {}
    for item in sent:
        by_journal.setdefault(item["journalId"], []).append(item["id"])
    journal_id, line_ids = next((j, ids) for j, ids in by_journal.items() if len(ids) == 2)
    result = json.loads(_sample("journal_result.json"))
    assert len(result["lines"]) == 2
    result["journalId"] = journal_id
    for result_line, line_id in zip(result["lines"], sorted(line_ids), strict=True):
        result_line["lineId"] = line_id
    BlobServiceClient.from_connection_string(storage_connection).get_blob_client(
        "journal-inbox", f"{env}/result-1.json"
    ).upload_blob(json.dumps(result))
    posted_lines = _wait(
        lambda: (
            (
                items := _ok(
                    httpx.get(
                        _url(running_app, env, "transaction/aggregated"),
                        params={"status": "FnOPosted"},
                        headers=running_app.headers,
                    )
                )["items"]
            )
            and len(items) == 2
            and items
        )
    )
    assert {i["erpJournalNumber"] for i in posted_lines} == {result["erpJournalNumber"]}


def _available(app, env: str) -> dict:
    items = _ok(
        httpx.post(
            _url(app, env, "onhand/indexquery"),
            headers=_headers(app),
            content=b'{"filters": {"organizationId": ["usmf"], "productId": ["A0001"]}}',
        )
    )
    assert len(items) == 1, items
    return {f"{ds}/{m}": Decimal(str(q)) for ds, ms in items[0]["quantities"].items() for m, q in ms.items()}


def test_onhand_and_offset_walkthrough(running_app):
    env = "offsets-demo-" + uuid.uuid4().hex[:8]
    _ok(
        httpx.put(
            _url(running_app, env, "configuration"),
            content=_sample("configuration.json"),
            headers=_headers(running_app),
        )
    )
    events = _ok(
        httpx.post(
            _url(running_app, env, "onhand/bulk"), content=_sample("onhand_events.json"), headers=_headers(running_app)
        )
    )
    assert events["summary"]["created"] == 2
    before = _available(running_app, env)
    assert before["iv/available"] == 90 and before["fno/availphysical"] == 100 and before["pos/sold"] == 10

    transactions = _ok(
        httpx.post(
            _url(running_app, env, "erptransactions/bulk"),
            content=_sample("erp_transactions.json"),
            headers=_headers(running_app),
        )
    )
    assert transactions["summary"]["created"] == 1
    after = _available(running_app, env)
    assert after["iv/available"] == 90, "the sale is counted once: by the ERP now, no longer by the POS"
    assert after["fno/availphysical"] == 90 and after["pos/sold"] == 0


def test_drop_samples_then_lookup_then_approve_one_line(running_app, storage_connection, monkeypatch, capsys):
    monkeypatch.setenv("OMNISYNC_STORAGE", storage_connection)
    run = "sample-" + uuid.uuid4().hex[:10]
    env = "recon-" + uuid.uuid4().hex[:8]
    # what `make drop-samples ENVIRONMENT=<env>` runs (DIR defaults to samples/)
    assert drop_samples.main(["--run-id", run, "--environment", env]) == 0
    printed = capsys.readouterr().out
    assert f"snapshots/{env}/{run}/erp.csv" in printed and f"snapshots/{env}/{run}/wms.csv" in printed

    lookup = _url(running_app, env, f"reconciliation/{run}")
    report = _wait(lambda: (r := httpx.get(lookup, headers=running_app.headers)).status_code == 200 and r.json())
    assert report["status"] == "ok" and report["runId"] == run
    assert f"reports/{env}/{run}/report.html" in {f["path"] for f in report["reports"]}
    # every command drop-samples printed answers (the report files it names are the run's own)
    urls = re.findall(r"(http://127\.0\.0\.1:7071/api/\S+?)'?(?:\s|$)", printed)
    assert len(urls) >= 7 and any(u.endswith("/link") for u in urls), printed
    for url in urls:
        path = url.split("/api/", 1)[1]
        assert httpx.get(f"{running_app.base_url}/{path}", headers=running_app.headers).status_code == 200, url
    listed = _ok(httpx.get(_url(running_app, env, "reconciliation"), headers=running_app.headers))
    assert [i["runId"] for i in listed["items"]] == [run]
    journal = _ok(httpx.get(f"{lookup}/report/proposed_journal.json", headers=running_app.headers))
    proposed = [line for j in journal["journals"] for line in j["lines"]]
    assert proposed, "the sample snapshots differ materially somewhere"
    chosen = proposed[0]
    approved = _ok(
        httpx.post(
            _url(running_app, env, f"reconciliation/{run}/approve"),
            headers=_headers(running_app),
            json={"organizationId": "usmf", "lineIds": [chosen["line_id"]]},
        )
    )
    assert approved["posted"] == 1
    line = _ok(
        httpx.get(
            _url(running_app, env, f"transaction/adjustment/recon-{chosen['line_id']}"), headers=running_app.headers
        )
    )
    assert line["externalReferenceId"] == run and line["productId"] == chosen["item"]


def test_drop_samples_refuses_a_folder_without_the_snapshot_pair(tmp_path, capsys):
    assert drop_samples.main(["--samples", str(tmp_path)]) == 1
    assert "erp_onhand.csv" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name",
    ["adjustments.json", "onhand_events.json", "erp_transactions.json", "configuration.json", "journal_result.json"],
)
def test_every_sample_is_strict_json(name):
    from shared.domain import strict_json

    assert strict_json.loads(_sample(name))
