"""The source documents' examples end to end on Azurite: blob trigger -> reports -> approval.

* Oracle balance sync (external system master): external 100 vs ERP 98 at unit cost 10 -> a
  miscellaneous receipt of 2 is proposed (value 20 is under the threshold: no review needed) and,
  once approved, reaches the ledger as an adjustment of +2 for the ERP.
* Field Service (ERP master): the WMS vans VAN1 60 + VAN2 40 are the ERP's warehouse FO1 100, a
  match once mapped; an ERP at -5 against a WMS at 0 moves the WMS by -5 (an outbox file), never the ERP.
* History (item 7): identical snapshots are one run, unrelated runs do not break a streak, the trend
  has a direction.
"""

from __future__ import annotations

import contextlib
import json
import uuid

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

from functions.adjustments import list_adjustments
from functions.reconcile import approve_reconciliation, list_reconciliation_outbox
from shared.adapters.storage_clients import blob_service
from shared.config import get_settings
from shared.services.reconcile_blobs import Containers, Outcome, handle_snapshot_blob
from tests.http_requests import app_request

SNAP = "it-doc-snapshots"  # not `snapshots`: the e2e app (same Azurite) must not react to these blobs
CONTAINERS = Containers(SNAP, "reports")  # the real reports container: the API reads it


@pytest.fixture
def service(app_env: str) -> BlobServiceClient:
    svc = blob_service()
    with contextlib.suppress(ResourceExistsError):
        svc.create_container(SNAP)
    return svc


def _drop(service: BlobServiceClient, env: str, run: str, files: dict[str, bytes]) -> Outcome:
    outcome = Outcome("none")
    for name, data in files.items():
        service.get_blob_client(SNAP, f"{env}/{run}/{name}").upload_blob(data, overwrite=True)
        outcome = handle_snapshot_blob(
            f"{SNAP}/{env}/{run}/{name}", service, get_settings().reconcile_defaults(), containers=CONTAINERS
        )
    return outcome


def _report(service: BlobServiceClient, env: str, run: str, name: str) -> bytes:
    return service.get_blob_client("reports", f"{env}/{run}/{name}").download_blob().readall()


def _post(env: str, run: str, body: dict) -> func.HttpResponse:
    return approve_reconciliation(
        app_request(
            "POST",
            "http://localhost/api/x",
            body=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            route_params={"environmentId": env, "runId": run},
        )
    )


def _adjustments(env: str) -> list[dict]:
    response = list_adjustments(
        app_request("GET", "http://localhost/api/x", body=b"", route_params={"environmentId": env})
    )
    return json.loads(response.get_body())["items"]


def test_oracle_example_100_vs_98_proposes_a_receipt_of_2_and_approval_posts_it(service, environment_id) -> None:
    run = "oracle-" + uuid.uuid4().hex[:8]
    outcome = _drop(
        service,
        environment_id,
        run,
        {
            "erp.csv": b"ItemNumber,InventorySiteId,InventoryWarehouseId,OnHandQuantity,UnitCost\nP100,1,13,98,10\n",
            "wms.csv": b"item_id;warehouse;on_hand\nP100;13;100\n",
        },
    )
    assert outcome.status == "ok", outcome.detail
    journal = json.loads(_report(service, environment_id, run, "proposed_journal.json"))
    [line] = [ln for j in journal["journals"] for ln in j["lines"]]
    assert (line["item"], line["quantity_delta"], line["movement"], line["review"]) == ("P100", "2", "receipt", False)
    summary = json.loads(_report(service, environment_id, run, "summary.json"))
    assert summary["counts"]["material"] == 0  # materiality flags; it does not decide what is balanced

    approved = _post(environment_id, run, {"organizationId": "usmf"})
    assert approved.status_code == 200, approved.get_body()
    assert json.loads(approved.get_body())["posted"] == 1
    [stored] = _adjustments(environment_id)
    assert stored["productId"] == "P100" and stored["quantity"] == 2  # answers carry quantities as JSON numbers


def test_field_service_mapping_and_erp_master_moves_the_wms_not_the_erp(service, environment_id) -> None:
    run = "fs-" + uuid.uuid4().hex[:8]
    config = {"master": "erp", "value_maps": {"wms": {"warehouse": {"VAN1": "FO1", "VAN2": "FO1"}}}}
    outcome = _drop(
        service,
        environment_id,
        run,
        {
            "config.json": json.dumps(config).encode(),
            "erp.csv": b"ItemNumber,InventoryWarehouseId,OnHandQuantity,UnitCost\nP1,FO1,100,10\nP2,FO1,-5,3\n",
            "wms.csv": b"item_id;warehouse;on_hand\nP1;VAN1;60\nP1;VAN2;40\nP2;VAN1;0\n",
        },
    )
    assert outcome.status == "ok", outcome.detail
    summary = json.loads(_report(service, environment_id, run, "summary.json"))
    assert summary["counts"]["match"] == 1 and summary["counts"]["differences"] == 1  # P1 balances once mapped
    assert summary["negative_inventory"]["erp_keys"] == 1

    approved = _post(environment_id, run, {"organizationId": "usmf"})
    assert approved.status_code == 200, approved.get_body()
    body = json.loads(approved.get_body())
    assert body["target"] == "wms" and body["posted"] == 1
    assert _adjustments(environment_id) == []  # nothing posted into the ERP
    listed = list_reconciliation_outbox(
        app_request("GET", "http://x/api/x", body=b"", route_params={"environmentId": environment_id, "runId": run})
    )
    [json_file] = [f for f in json.loads(listed.get_body())["files"] if f["name"].endswith(".json")]
    outbox = service.get_container_client("wms-outbox")
    rows = json.loads(outbox.download_blob(json_file["path"].split("/", 1)[1]).readall())["lines"]
    assert [(r["Item"], r["Warehouse"], r["Quantity"], r["Movement"]) for r in rows] == [("P2", "FO1", "-5", "issue")]


ERP = b"ItemNumber,InventoryWarehouseId,OnHandQuantity,UnitCost\nH1,13,10,500\nH2,14,10,500\n"


def _day(n: int, h1_wms: int = 9) -> dict[str, bytes]:
    """One day's snapshots: H1 in warehouse 13 out of balance; a filler line makes each day's files differ."""
    return {
        "erp.csv": ERP + f"FILL,13,{n},1\n".encode(),
        "wms.csv": f"item_id;warehouse;on_hand\nH1;13;{h1_wms}\nH2;14;10\nFILL;13;{n}\n".encode(),
    }


def _streak(service: BlobServiceClient, env: str, run: str) -> dict[tuple[str, str], int]:
    summary = json.loads(_report(service, env, run, "summary.json"))
    return {(e["item"], e["warehouse"]): e["runs"] for e in summary["out_of_balance"]}


def test_dropping_the_same_files_again_is_the_same_run_and_flags_nothing(service, environment_id) -> None:
    first = "day-" + uuid.uuid4().hex[:6]
    assert _drop(service, environment_id, first, _day(1)).status == "ok"
    for _ in range(3):
        again = "day-" + uuid.uuid4().hex[:6]
        outcome = _drop(service, environment_id, again, _day(1))
        assert outcome.status == "duplicate" and first in outcome.detail
        assert json.loads(_report(service, environment_id, again, "summary.json"))["duplicate_of"] == first
    nxt = "day-" + uuid.uuid4().hex[:6]
    assert _drop(service, environment_id, nxt, _day(2)).status == "ok"
    assert _streak(service, environment_id, nxt)[("H1", "13")] == 2  # not 5: the duplicates are no history


def test_an_unrelated_run_between_two_runs_does_not_break_the_streak(service, environment_id) -> None:
    runs = ["s1-" + uuid.uuid4().hex[:6], "other-" + uuid.uuid4().hex[:6], "s2-" + uuid.uuid4().hex[:6]]
    assert _drop(service, environment_id, runs[0], _day(1)).status == "ok"
    # another team's run, scoped to warehouse 14 only: it says nothing about warehouse 13
    scoped = {"config.json": json.dumps({"scope": {"warehouses": {"include": ["14"]}}}).encode(), **_day(7)}
    assert _drop(service, environment_id, runs[1], scoped).status == "ok"
    assert _drop(service, environment_id, runs[2], _day(2)).status == "ok"
    assert _streak(service, environment_id, runs[2])[("H1", "13")] == 2


def test_trend_direction_says_rising_or_falling(service, environment_id) -> None:
    runs = [f"t{n}-" + uuid.uuid4().hex[:6] for n in range(3)]
    _drop(service, environment_id, runs[0], _day(1, h1_wms=9))  # 1 short x 500
    _drop(service, environment_id, runs[1], _day(2, h1_wms=7))  # 3 short: worse
    _drop(service, environment_id, runs[2], _day(3, h1_wms=10))  # balanced: better
    trends = [json.loads(_report(service, environment_id, r, "summary.json"))["trend"] for r in runs]
    assert [t["direction"] for t in trends] == [None, "rising", "falling"]
    assert trends[1]["previous_run_id"] == runs[0]


def _get(route: dict, params: dict | None = None) -> func.HttpResponse:
    from functions.reconcile import list_reconciliations

    return list_reconciliations(app_request("GET", "http://x/api/x", body=b"", route_params=route, params=params or {}))


def test_the_run_list_is_newest_first_paged_and_per_environment(service, environment_id) -> None:
    runs = [f"p{n}-" + uuid.uuid4().hex[:6] for n in range(3)]
    for n, run in enumerate(runs):
        assert _drop(service, environment_id, run, _day(n)).status == "ok"
    route = {"environmentId": environment_id}
    first = json.loads(_get(route, {"pageSize": "2"}).get_body())
    assert [i["runId"] for i in first["items"]] == [runs[2], runs[1]] and first["continuationToken"]
    assert first["items"][0]["status"] == "ok" and first["items"][0]["trend"] in ("rising", "falling", "flat")
    rest = json.loads(_get(route, {"pageSize": "2", "continuationToken": first["continuationToken"]}).get_body())
    assert [i["runId"] for i in rest["items"]] == [runs[0]] and rest["continuationToken"] is None
    other = json.loads(_get({"environmentId": "other-" + environment_id}).get_body())
    assert other["items"] == []

    for params in ({"pageSize": "0"}, {"pageSize": "101"}, {"pageSize": "x"}, {"continuationToken": "!!"}, {"a": "1"}):
        assert _get(route, params).status_code == 400, params
    assert _get({"environmentId": "bad_env"}).status_code == 400


def test_the_run_list_reads_the_figures_from_the_manifest_not_every_summary(service, environment_id, monkeypatch):
    """A bad day's summary.json is 13.6 MB (its streak list): a page of 50 such runs downloaded 680 MB to
    show four figures each. The figures now travel with the manifest; the list reads no summary."""
    import shared.services.reconcile_reports as reports

    runs = [f"m{n}-" + uuid.uuid4().hex[:6] for n in range(2)]
    for n, run in enumerate(runs):
        assert _drop(service, environment_id, run, _day(n)).status == "ok"
    expected = json.loads(_get({"environmentId": environment_id}).get_body())["items"]
    summaries = [json.loads(_report(service, environment_id, r, "summary.json")) for r in reversed(runs)]
    assert [(i["differences"], i["material"]) for i in expected] == [
        (s["counts"]["differences"], s["counts"]["material"]) for s in summaries
    ]
    assert [i["trend"] for i in expected] == [s["trend"]["direction"] for s in summaries]

    read: list[str] = []
    original = reports.read_report
    monkeypatch.setattr(reports, "read_report", lambda c, folder, name: read.append(name) or original(c, folder, name))
    again = json.loads(_get({"environmentId": environment_id}).get_body())["items"]
    assert again == expected and read == []


def test_a_run_committed_before_the_list_figures_is_listed_from_its_summary(service, environment_id):
    from shared.adapters.blob_reports import BlobReportSink

    run = "old-" + uuid.uuid4().hex[:6]
    summary = {
        "run_id": run,
        "status": "ok",
        "counts": {"differences": 7, "material": 2},
        "trend": {"direction": "flat"},
    }
    sink = BlobReportSink(service, f"{environment_id}/{run}")
    sink.write("summary.json", json.dumps(summary).encode(), "application/json")
    sink.commit()  # as a release before the list figures did: no listing metadata
    (item,) = json.loads(_get({"environmentId": environment_id}).get_body())["items"]
    assert (item["runId"], item["status"], item["differences"], item["material"], item["trend"]) == (
        run,
        "ok",
        7,
        2,
        "flat",
    )


def test_a_run_answers_its_summary_without_the_streak_list_that_only_the_next_run_needs(service, environment_id):
    """`out_of_balance` lists every item + warehouse out of balance with its streak: on a bad day 300,000
    entries, 15 of the 15.4 MB of summary.json. The run view needs none of it; the file keeps it."""
    from functions.reconcile import get_reconciliation

    for day in (1, 2, 3):  # the third day in a row flags H1 for audit
        run = f"sum{day}-" + uuid.uuid4().hex[:6]
        assert _drop(service, environment_id, run, _day(day, h1_wms=3)).status == "ok"
    stored = json.loads(_report(service, environment_id, run, "summary.json"))
    assert stored["audit"]["flagged"] == [{"item": "H1", "warehouse": "13", "runs": 3}]
    assert stored["out_of_balance"]  # the file keeps the list for the next run's history
    route = {"environmentId": environment_id, "runId": run}
    answer = json.loads(
        get_reconciliation(app_request("GET", "http://x/api/x", body=b"", route_params=route)).get_body()
    )
    assert "out_of_balance" not in answer["summary"]
    assert answer["summary"]["out_of_balance_count"] == len(stored["out_of_balance"])
    assert answer["summary"]["counts"]["differences"] == stored["counts"]["differences"]
    assert answer["summary"]["audit"]["flagged_count"] == len(stored["audit"]["flagged"])
    assert answer["summary"]["audit"]["flagged"] == stored["audit"]["flagged"][:100]
