"""The real app: snapshots dropped into `snapshots/{env}/{run}/` produce a report set the API lists and serves."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
import uuid
from decimal import Decimal

import httpx
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

ERP = (
    b"ItemNumber,InventorySiteId,InventoryWarehouseId,ItemBatchNumber,OnHandQuantity,UnitCost\n"
    b"A0002,1,13,,35,0.15\n"
    b"A0003,1,13,,12,899.00\n"
    b"00417,1,13,,7,2.00\n"
)
WMS = b"item_id;warehouse;lot;on_hand\nA0002;13;;31\nA0003;13;;11\n00417;13;;7\nA0009;13;;3\n"


def _wait_for(service: BlobServiceClient, blob: str, timeout_s: float = 30) -> bytes:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return service.get_blob_client("reports", blob).download_blob().readall()
        except ResourceNotFoundError:
            if time.monotonic() > deadline:
                raise AssertionError(f"reports/{blob} did not appear within {timeout_s}s") from None
            time.sleep(0.25)


def test_dropped_snapshots_produce_reports_and_the_lookup_returns_them(running_app, storage_connection):
    service = BlobServiceClient.from_connection_string(storage_connection)
    with contextlib.suppress(ResourceExistsError):
        service.create_container("snapshots")
    run = "e2e-" + uuid.uuid4().hex[:10]
    env = "contoso-" + uuid.uuid4().hex[:6]
    service.get_blob_client("snapshots", f"{env}/{run}/erp.csv").upload_blob(ERP)
    time.sleep(1.5)  # let the poller deliver erp.csv alone first: the second file must start the run
    assert not service.get_blob_client("reports", f"{env}/{run}/manifest.json").exists()
    service.get_blob_client("snapshots", f"{env}/{run}/wms.csv").upload_blob(WMS)

    manifest = json.loads(_wait_for(service, f"{env}/{run}/manifest.json"))
    assert {"discrepancies.csv", "summary.json", "report.html", "proposed_journal.json"} <= set(manifest["files"])

    rows = {
        r["item"]: r for r in csv.DictReader(io.StringIO(_wait_for(service, f"{env}/{run}/discrepancies.csv").decode()))
    }
    assert rows["A0003"]["material"] == "yes"
    assert rows["A0002"]["material"] == "no"
    assert rows["A0009"]["category"] == "only_in_wms"
    assert "00417" not in rows
    html = _wait_for(service, f"{env}/{run}/report.html").decode()
    assert html.lstrip().lower().startswith("<!doctype html") and "A0003" in html

    url = f"{running_app.base_url}/environment/{env}/reconciliation/{run}"
    assert httpx.get(url, timeout=10).status_code == 401  # function auth
    body = httpx.get(url, headers=running_app.headers, timeout=10).json()
    assert body["runId"] == run and body["status"] == "ok"
    assert body["summary"]["counts"]["match"] == 1
    # figures are JSON numbers in the answer (summary.json itself keeps its strings), exactly what the file says
    stored = json.loads(_wait_for(service, f"{env}/{run}/summary.json"))
    exact = json.loads(httpx.get(url, headers=running_app.headers, timeout=10).text, parse_float=Decimal)["summary"]
    for name in ("erp_quantity", "wms_quantity", "quantity_difference", "value_difference"):
        assert isinstance(exact["totals"][name], (int, Decimal)), name
        assert Decimal(stored["totals"][name]) == exact["totals"][name], name
    assert exact["by_warehouse"]["13"]["erp_quantity"] == Decimal(stored["by_warehouse"]["13"]["erp_quantity"])
    assert f"reports/{env}/{run}/report.html" in {f["path"] for f in body["reports"]}

    lookup = f"{running_app.base_url}/environment/{env}/reconciliation"
    assert httpx.get(f"{lookup}/bad$id", headers=running_app.headers).status_code == 400
    assert httpx.get(f"{lookup}/never-ran-{run}", headers=running_app.headers).status_code == 404
    other = f"{running_app.base_url}/environment/other-{env}/reconciliation"
    assert httpx.get(f"{other}/{run}", headers=running_app.headers).status_code == 404  # not that environment's
    assert httpx.get(f"{other}/{run}/report/report.html", headers=running_app.headers).status_code == 404

    listed = httpx.get(lookup, headers=running_app.headers, timeout=10).json()
    assert [i["runId"] for i in listed["items"]] == [run] and listed["items"][0]["status"] == "ok"
    assert httpx.get(f"{other}", headers=running_app.headers, timeout=10).json()["items"] == []

    page = httpx.get(f"{lookup}/{run}/report/report.html", headers=running_app.headers, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.content == html.encode()
    csv_file = httpx.get(f"{lookup}/{run}/report/discrepancies.csv", headers=running_app.headers, timeout=10)
    assert (
        csv_file.headers["content-type"].startswith("text/csv")
        and "attachment" in csv_file.headers["content-disposition"]
    )
    summary = httpx.get(f"{lookup}/{run}/report/summary.json", headers=running_app.headers, timeout=10).json()
    assert summary["environment_id"] == env and summary["run_id"] == run
    workbook = httpx.get(f"{lookup}/{run}/report/report.xlsx", headers=running_app.headers, timeout=10)
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"  # an XLSX is a zip
    assert workbook.headers["content-type"].startswith("application/vnd.openxmlformats")
    for name in ("manifest.json", "..%2Fsecret", "report.xlsm"):
        assert httpx.get(f"{lookup}/{run}/report/{name}", headers=running_app.headers).status_code == 404
    link = httpx.get(f"{lookup}/{run}/report/report.xlsx/link", headers=running_app.headers, timeout=10)
    assert link.status_code == 200, link.text
    assert httpx.get(link.json()["url"], timeout=10).content == workbook.content  # from storage, no API key
    assert httpx.get(f"{lookup}/{run}/report/report.xlsx/link").status_code == 401  # the link route is keyed
    assert httpx.get(f"{other}/{run}/report/report.xlsx/link", headers=running_app.headers).status_code == 404


def test_approval_posts_material_lines_once_through_ingest(running_app, storage_connection):
    service = BlobServiceClient.from_connection_string(storage_connection)
    with contextlib.suppress(ResourceExistsError):
        service.create_container("snapshots")
    run = "appr-" + uuid.uuid4().hex[:10]
    env = "appr-" + uuid.uuid4().hex[:8]
    service.get_blob_client("snapshots", f"{env}/{run}/erp.csv").upload_blob(ERP)
    service.get_blob_client("snapshots", f"{env}/{run}/wms.csv").upload_blob(WMS)
    _wait_for(service, f"{env}/{run}/manifest.json")
    journal = json.loads(_wait_for(service, f"{env}/{run}/proposed_journal.json"))
    proposed = {ln["item"]: ln for j in journal["journals"] for ln in j["lines"]}
    assert proposed["A0003"]["review"] and not proposed["A0002"]["review"], "every difference, material ones marked"

    url = f"{running_app.base_url}/environment/{env}/reconciliation/{run}/approve"
    headers = running_app.headers
    assert httpx.post(url, json={"lineIds": []}, headers=headers).status_code == 400  # organizationId missing
    unknown = httpx.post(url, json={"organizationId": "usmf", "lineIds": ["nope"]}, headers=headers)
    assert unknown.status_code == 400
    missing_run = httpx.post(url.replace(run, run + "x"), json={"organizationId": "usmf"}, headers=headers)
    assert missing_run.status_code == 404

    first = httpx.post(url, json={"organizationId": "usmf"}, headers=headers, timeout=30)
    assert first.status_code == 200, first.text
    assert first.json()["posted"] == len(proposed)
    again = httpx.post(url, json={"organizationId": "usmf"}, headers=headers, timeout=30).json()
    assert again["posted"] == 0 and {line["outcome"] for line in again["lines"]} == {"duplicate"}

    listed = httpx.get(
        f"{running_app.base_url}/environment/{env}/transaction/adjustment",
        params={"externalReferenceId": run},
        headers=headers,
    ).json()["items"]
    by_product = {item["productId"]: item for item in listed}
    assert set(by_product) == set(proposed)
    assert by_product["A0003"]["quantity"] == -1  # WMS is master: the ERP side gets -1 of 12
    assert by_product["A0003"]["externalReferenceCategory"] == "Reconciliation"
