"""Approval checks the lines against the environment's own configuration, as ingest does."""

import json
import uuid

import azure.functions as func
import pytest

from functions.adjustments import list_adjustments
from functions.inventory_config import put_configuration
from functions.reconcile import approve_reconciliation
from shared.adapters.blob_reports import BlobReportSink
from shared.adapters.storage_clients import blob_service

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
    return func.HttpRequest(
        "POST",
        "http://localhost/api/x",
        body=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        route_params={"environmentId": env, **route},
    )


@pytest.fixture
def run_id(app_env) -> str:
    run = "appr-" + uuid.uuid4().hex[:10]
    sink = BlobReportSink(blob_service(), run)
    sink.write("proposed_journal.json", json.dumps({**PROPOSED, "run_id": run}).encode(), "application/json")
    sink.commit()
    return run


def _stored(env: str) -> list:
    response = list_adjustments(
        func.HttpRequest("GET", "http://localhost/api/x", body=b"", route_params={"environmentId": env})
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
