"""What the runner answers itself (401, 404, 405, 500, admin) has the app's error shape; one log line per call."""

import logging
import warnings

import azure.functions as func
import pytest

with warnings.catch_warnings():  # Starlette nags about its httpx-based client; it is the one installed here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from devtools.localrunner.catalog import build_catalog
from devtools.localrunner.http_host import build_http_app

KEY = "unit-key"
app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="shelves/{shelfId}", methods=["GET"])
def get_shelf(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("{}", mimetype="application/json")


@app.route(route="shelves/{shelfId}", methods=["PUT"])
def put_shelf(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=204)


@app.route(route="broken", methods=["GET"])
def broken(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret detail that must not reach the client")


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer")
def failing_timer(timer: func.TimerRequest) -> None:
    raise RuntimeError("secret detail that must not reach the client")


@pytest.fixture(scope="module")
def client():
    with TestClient(build_http_app(build_catalog(app), lambda: KEY), raise_server_exceptions=False) as c:
        yield c


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    "method,path,headers",
    [
        ("GET", "/api/shelves/A", {}),
        ("GET", "/api/shelves/A", {"x-functions-key": "wrong"}),
        ("GET", "/api/shelves/A?code=wrong", {}),
        ("POST", "/admin/functions/failing_timer", {}),
        ("GET", "/admin/functions", {}),
    ],
)
def test_401_is_a_json_error_naming_how_to_send_the_key(client, method, path, headers):
    error = _error(client.request(method, path, headers=headers), 401, "Unauthorized")
    assert "x-functions-key" in error["message"]


@pytest.mark.parametrize("path", ["/api/nowhere", "/", "/api", "/docs", "/api/shelves/A/extra"])
def test_unknown_routes_answer_404_json(client, path):
    error = _error(client.get(path, headers={"x-functions-key": KEY}), 404, "NotFound")
    assert path.split("?")[0] in error["message"]


def test_a_wrong_method_answers_405_json_with_allow(client):
    response = client.delete("/api/shelves/A", headers={"x-functions-key": KEY})
    error = _error(response, 405, "MethodNotAllowed")
    allowed = set(response.headers["allow"].replace(" ", "").split(","))
    assert {"GET", "PUT"} <= allowed and "DELETE" not in allowed
    assert "DELETE" in error["message"]
    assert client.put("/api/shelves/A", headers={"x-functions-key": KEY}).status_code == 204  # control


def test_a_failing_function_answers_500_json_without_its_exception(client):
    error = _error(client.get("/api/broken", headers={"x-functions-key": KEY}), 500, "InternalError")
    assert "secret" not in error["message"] and "RuntimeError" not in error["message"]


def test_admin_errors_have_the_same_shape(client):
    headers = {"x-functions-key": KEY}
    missing = _error(client.post("/admin/functions/nope", headers=headers), 404, "NotFound")
    assert "failing_timer" in missing["message"], "names the timers there are"
    failed = _error(client.post("/admin/functions/failing_timer", headers=headers), 500, "InternalError")
    assert "secret" not in failed["message"]


def test_every_call_is_logged_with_method_path_status_and_ms_but_never_the_key(client, caplog):
    with caplog.at_level(logging.INFO, logger="localrunner.http"):
        client.get(f"/api/shelves/A?code={KEY}")
        client.get("/api/nowhere", headers={"x-functions-key": KEY})
        client.delete("/api/shelves/A", headers={"x-functions-key": KEY})
        client.get("/api/shelves/A")
    lines = [r.getMessage() for r in caplog.records if r.name == "localrunner.http"]
    assert [line.rsplit(" ", 2)[0] for line in lines] == [
        "GET /api/shelves/A 200",
        "GET /api/nowhere 404",
        "DELETE /api/shelves/A 405",
        "GET /api/shelves/A 401",
    ]
    assert all(line.endswith(" ms") and line.rsplit(" ", 2)[1].isdigit() for line in lines)
    assert not any(KEY in line for line in lines)
