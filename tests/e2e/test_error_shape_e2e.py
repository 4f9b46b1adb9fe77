"""One error shape on every route of the running app: 401, 404, 405 and JSON syntax errors (line and column)."""

from __future__ import annotations

import re

import httpx
import pytest

from devtools.localrunner.catalog import build_catalog


def _http_routes() -> list[tuple[str, str, str]]:
    import function_app

    routes = []
    for f in build_catalog(function_app.app).http:
        for method in f.methods:
            routes.append((f.name, method, f.route, f.auth_level))
    return routes


ROUTES = _http_routes()
PARAMS = {"environmentId": "errs-env", "id": "x1", "runId": "run-1", "dataSource": "pos"}


def _path(route: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS.get(m.group(1), "x1"), route)


def _assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) <= {"code", "message", "details"}, body
    assert body["error"]["code"] == code and body["error"]["message"], body
    return body["error"]


def test_every_route_is_covered():
    assert len(ROUTES) >= 20 and ("health", "GET", "health", "anonymous") in ROUTES
    assert all(auth in ("app", "anonymous") for *_, auth in ROUTES)


@pytest.mark.parametrize(("name", "method", "route"), [(n, m, r) for n, m, r, auth in ROUTES if auth == "app"])
def test_a_keyed_route_without_the_key_answers_401_json(running_app, name, method, route):
    response = httpx.request(
        method,
        f"{running_app.base_url}/{_path(route)}",
        timeout=30,
        headers={"content-type": "application/json"},
        content=b"{}",
    )
    error = _assert_error(response, 401, "Unauthorized")
    assert "x-functions-key" in error["message"]


BROKEN = b'[\n  {"id": "a",\n   "quantity": }\n]'  # the value is missing at line 3, column 16
READS_JSON = [(n, m, r) for n, m, r, _ in ROUTES if m in ("POST", "PUT") and not r.endswith("/retry")]


@pytest.mark.parametrize(("name", "method", "route"), READS_JSON)
def test_a_body_that_is_not_json_names_line_and_column_on_every_write_route(running_app, name, method, route):
    response = httpx.request(
        method,
        f"{running_app.base_url}/{_path(route)}",
        content=BROKEN,
        timeout=30,
        headers={**running_app.headers, "content-type": "application/json"},
    )
    error = _assert_error(response, 400, "InvalidJson")
    assert error["details"] == [{"line": 3, "column": 16, "message": error["details"][0]["message"]}]
    assert "line 3, column 16" in error["message"] and "JSONDecodeError" not in error["message"]


def test_get_on_adjustment_bulk_is_405_not_a_missing_line(running_app):
    response = httpx.get(
        f"{running_app.base_url}/environment/errs-env/transaction/adjustment/bulk", headers=running_app.headers
    )
    error = _assert_error(response, 405, "MethodNotAllowed")
    assert response.headers["allow"] == "POST" and "bulk" not in error["message"].split("only")[-1]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "environment/errs-env/configuration", {"GET", "PUT", "DELETE"}),
        ("GET", "environment/errs-env/onhand/bulk", {"POST"}),
        ("DELETE", "environment/errs-env/transaction/adjustment/x1", {"GET"}),
        ("PUT", "health", {"GET"}),
    ],
)
def test_a_wrong_method_answers_405_json_with_allow(running_app, method, path, allowed):
    response = httpx.request(method, f"{running_app.base_url}/{path}", headers=running_app.headers)
    _assert_error(response, 405, "MethodNotAllowed")
    assert allowed <= {m.strip() for m in response.headers["allow"].split(",")}


# `/api` is not unknown: it leads to the web console (tests/unit/test_console_files.py).
@pytest.mark.parametrize("path", ["/api/nowhere", "/api/environment/errs-env/nothing", "/", "/docs"])
def test_an_unknown_route_answers_404_json(running_app, path):
    base = running_app.base_url.removesuffix("/api")
    _assert_error(httpx.get(base + path, headers=running_app.headers), 404, "NotFound")


def test_reconciliation_codes_are_in_the_common_style(running_app):
    base = f"{running_app.base_url}/environment/errs-env/reconciliation"
    _assert_error(httpx.get(f"{base}/bad$id", headers=running_app.headers), 400, "InvalidRunId")
    _assert_error(httpx.get(f"{base}/never-ran", headers=running_app.headers), 404, "NotFound")
    _assert_error(
        httpx.post(f"{base}/never-ran/approve", json={"lineIds": []}, headers=running_app.headers), 400, "InvalidBody"
    )
    _assert_error(
        httpx.post(f"{base}/never-ran/approve", json={"organizationId": "usmf"}, headers=running_app.headers),
        404,
        "NotFound",
    )


def test_admin_errors_have_the_same_shape(running_app):
    _assert_error(
        httpx.post(f"{running_app.admin_url}/functions/no_such_timer", headers=running_app.headers), 404, "NotFound"
    )
    _assert_error(httpx.post(f"{running_app.admin_url}/functions/sync_to_cache"), 401, "Unauthorized")
