"""Numbers at the edge: plain ASCII decimals within the documented digits, no duplicate keys."""

import json
import logging

import azure.functions as func
import pytest

from functions.adjustments import list_adjustments, post_adjustments
from functions.erp_transactions import post_erp_transactions
from functions.inventory_config import get_configuration, put_configuration
from functions.onhand import onhand_index_query, post_onhand_bulk
from shared.adapters.journal_records import JournalRecords
from shared.adapters.ledger_tables import LedgerStore
from tests.http_requests import app_request

HOSTILE = [
    "1E+1000000",
    '"1E+1000000"',
    "-1E+1000000",
    "1e-9999999",
    '"1e-9999999"',
    '"1_000"',
    '"١٠٠٠"',
    '"１０"',
    '"0x10"',
    "1.0000001",
    "1234567890123456",
    '"NaN"',
]
LINE = (
    '{"id": "n-1", "organizationId": "usmf", "productId": "P1", "quantityDataSource": "pos", '
    '"physicalMeasure": "sold", "quantity": %s}'
)
EVENT = '{"id": "e-1", "organizationId": "usmf", "productId": "P1", "quantities": {"pos": {"sold": %s}}}'
TRANSACTION = (
    '{"id": "t-1", "transactionType": "salesOrder", "status": "Create", "organizationId": "usmf", '
    '"productId": "P1", "quantity": %s, "offsetDataSource": "pos", "offsetPhysicalMeasure": "sold"}'
)
CONFIG = '{"dataSources": [{"name": "pos", "physicalMeasures": ["sold"]}], "calculatedMeasures": %s}'
ROUTES = {
    "adjustments": (post_adjustments, "[" + LINE + "]", "quantity"),
    "onhand": (post_onhand_bulk, "[" + EVENT + "]", "quantities.pos.sold"),
    "erptransactions": (post_erp_transactions, "[" + TRANSACTION + "]", "quantity"),
    "configuration": (put_configuration, CONFIG, "calculatedMeasures"),
}


def _request(env: str, body: str, method: str = "POST", **params) -> func.HttpRequest:
    return app_request(
        method,
        "http://localhost/api/x",
        body=body.encode(),
        headers={"content-type": "application/json"},
        route_params={"environmentId": env},
        params=params,
    )


def _nothing_stored(env: str) -> None:
    listed = json.loads(list_adjustments(_request(env, "", "GET")).get_body())
    assert listed["items"] == []
    query = json.dumps({"filters": {"organizationId": ["usmf"], "productId": ["P1"]}})
    assert json.loads(onhand_index_query(_request(env, query)).get_body()) == []
    assert json.loads(get_configuration(_request(env, "", "GET")).get_body())["isDefault"] is True
    assert LedgerStore().get_entity(f"{env}|usmf|P1", "T|t-1") is None


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_number_is_400_with_the_field_named_and_nothing_is_stored(app_env, environment_id, route, value):
    function, template, field = ROUTES[route]
    response = function(_request(environment_id, template % value))
    assert response.status_code == 400, response.get_body()
    details = json.loads(response.get_body())["error"]["details"]
    assert any(d["field"].startswith(field) for d in details), details
    _nothing_stored(environment_id)


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_key_given_twice_is_refused_naming_it(app_env, environment_id, route):
    function, template, _ = ROUTES[route]
    body = template % "1"
    body = (
        body.replace('"id": ', '"id": "x", "id": ', 1)
        if route != "configuration"
        else '{"dataSources": [], "dataSources": [{"name": "pos", "physicalMeasures": ["sold"]}]}'
    )
    response = function(_request(environment_id, body))
    assert response.status_code == 400
    error = json.loads(response.get_body())["error"]
    assert error["code"] == "InvalidJson" and "given twice" in error["message"]
    assert error["details"][0]["field"] in ("id", "dataSources")
    _nothing_stored(environment_id)


def test_the_issues_duplicate_quantity_does_not_store_1000(app_env, environment_id):
    body = "[" + (LINE % "1").replace('"quantity": 1', '"quantity": 1, "quantity": 1000') + "]"
    response = post_adjustments(_request(environment_id, body))
    assert response.status_code == 400 and json.loads(response.get_body())["error"]["details"] == [
        {"field": "quantity", "message": "key 'quantity' is given twice in one object"}
    ]
    _nothing_stored(environment_id)


def _result_file(env: str, text: str, caplog) -> None:
    from functions.journals import journal_results

    JournalRecords().start(
        env, "OS-n", {"LineCount": 1}, __import__("datetime").datetime.now(__import__("datetime").UTC)
    )
    blob = func.blob.InputStream(data=text.encode(), name=f"journal-inbox/{env}/r.json")
    with caplog.at_level(logging.ERROR, logger="functions.journals"):
        journal_results(blob)  # must not raise


@pytest.mark.parametrize(
    "text",
    [
        '{"journalId": "OS-n", "state": "posted", '
        '"lines": [{"lineId": "a", "quantities": {"fno": {"x": 1E+1000000}}}]}',
        '{"journalId": "OS-n", "state": "posted", "lines": [{"lineId": "a", "quantities": {"fno": {"x": "1_000"}}}]}',
        '{"journalId": "OS-n", "state": "posted", "state": "create_error"}',
        '{"journalId": "OS-n", "state": "posted", "lines": [{"lineId": "a", "quantities": {"fno": {"x": NaN}}}]}',
        '{"journalId": "OS-n", "state": "posted", "lines": ' + "[" * 5000 + "]" * 5000 + "}",
    ],
)
def test_a_bad_result_file_is_refused_and_logged_not_raised(app_env, environment_id, text, caplog):
    _result_file(environment_id, text, caplog)
    assert any("refused" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
