"""Storage down: keyed routes answer 503 + Retry-After + a JSON error, quickly; health says unavailable (item 7)."""

import json
import time

import pytest

from devtools.azurite import connection_string, free_port
from tests.http_requests import app_request


@pytest.fixture
def storage_down(app_env, monkeypatch):
    closed = free_port()
    monkeypatch.setenv("OMNISYNC_STORAGE", connection_string(closed, closed, closed))
    from shared.adapters.storage_clients import reset_clients
    from shared.config import reset_settings

    reset_settings()
    reset_clients()
    import function_app  # noqa: F401  (registers the blueprints, which guards every HTTP function)

    return closed


LINE = {
    "id": "a-1",
    "organizationId": "usmf",
    "productId": "P1",
    "quantityDataSource": "pos",
    "physicalMeasure": "sold",
    "quantity": 1,
}


def _routes():
    from functions import adjustments, erp_transactions, inventory_config, journals, onhand, reconcile

    env = {"environmentId": "env-down"}
    return [
        (adjustments.post_adjustments, "POST", [LINE], env),
        (adjustments.list_adjustments, "GET", None, env),
        (adjustments.get_adjustment, "GET", None, {**env, "id": "a-1"}),
        (
            onhand.post_onhand_bulk,
            "POST",
            [{"id": "e", "organizationId": "usmf", "productId": "P1", "quantities": {"pos": {"sold": 1}}}],
            env,
        ),
        (onhand.onhand_index_query, "POST", {"filters": {"organizationId": ["usmf"]}}, env),
        (erp_transactions.get_erp_transaction, "GET", None, {**env, "id": "t-1"}),
        (inventory_config.get_configuration, "GET", None, env),
        (
            inventory_config.put_configuration,
            "POST",
            {"dataSources": [{"name": "pos", "physicalMeasures": ["sold"]}]},
            env,
        ),
        (journals.list_aggregated, "GET", None, env),
        (journals.get_aggregated, "GET", None, {**env, "id": "a" * 24}),
        (journals.retry_aggregated, "POST", None, {**env, "id": "a" * 24}),
        (reconcile.get_reconciliation, "GET", None, {**env, "runId": "run-1"}),
    ]


@pytest.mark.parametrize("index", range(12))
def test_a_keyed_route_answers_503_with_retry_after_and_a_json_error_quickly(storage_down, index):
    function, method, body, params = _routes()[index]
    request = app_request(
        method,
        "http://localhost/api/x",
        body=json.dumps(body).encode() if body else b"",
        headers={"content-type": "application/json"},
        route_params=params,
    )
    started = time.monotonic()
    response = function(request)
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.get_body()
    assert response.headers["Retry-After"].isdigit()
    error = json.loads(response.get_body())["error"]
    assert error["code"] == "StorageUnavailable"
    text = response.get_body().decode()
    assert str(storage_down) not in text and "127.0.0.1" not in text and "Error" not in text
    assert elapsed < 4, f"route {index} took {elapsed:.1f} s"


def test_health_says_unavailable_without_exception_names(storage_down):
    from functions.health import health

    response = health(app_request("GET", "http://localhost/api/health", body=b""))
    body = json.loads(response.get_body())
    assert response.status_code == 503 and response.headers["Retry-After"].isdigit()
    assert body["status"] == "unavailable" and body["storage"] == {"table": "unavailable", "blob": "unavailable"}
