"""The web console's files: served anonymously with their content types, and nothing outside the allow-list."""

from __future__ import annotations

import posixpath
import re
import warnings

import azure.functions as func
import pytest

with warnings.catch_warnings():  # Starlette nags about its httpx-based client; it is the one installed here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from devtools.localrunner.catalog import build_catalog
from devtools.localrunner.http_host import build_http_app
from functions.console import console
from functions.console_files import CONSOLE_DIR, allowed_files, find_console_file

TRAVERSALS = [
    "../function_app.py",
    "../../function_app.py",
    "js/../../function_app.py",
    "..%2ffunction_app.py",
    "%2e%2e/function_app.py",
    "..\\function_app.py",
    "js\\..\\..\\local.settings.sample.json",
    "/etc/passwd",
    "//etc/passwd",
    "C:/Windows/win.ini",
    "../local.settings.json",
    "../.git/config",
    "../samples/erp_onhand.csv",
    "samples/../../function_app.py",
    "index.html/",
    "index.html%00.js",
    "js/",
    ".",
    "a" * 500,
]


@pytest.fixture(scope="module")
def client():
    from function_app import app

    with TestClient(build_http_app(build_catalog(app), lambda: "unit-key"), raise_server_exceptions=False) as c:
        yield c


def _call(path: str, url: str = "http://localhost/api/console/x") -> func.HttpResponse:
    request = func.HttpRequest(method="GET", url=url, headers={}, params={}, route_params={"path": path}, body=b"")
    return console(request)


def test_the_start_page_is_served_without_a_key_with_security_headers(client):
    response = client.get("/api/console/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="js/main.js">' in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "http" not in csp  # no CDN allowed


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/console"])
def test_api_and_console_lead_to_the_console(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code in (302, 307)
    assert response.headers["location"].endswith("/api/console/")


def test_the_function_itself_redirects_the_bare_console_path_as_azure_routes_it():
    response = _call("", url="https://app.azurewebsites.net/api/console")
    assert response.status_code == 302 and response.headers["Location"] == "/api/console/"
    assert _call("", url="https://app.azurewebsites.net/api/console/").status_code == 200


@pytest.mark.parametrize(
    "path,content_type",
    [
        ("js/main.js", "text/javascript; charset=utf-8"),
        ("js/pages/adjustments.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
        ("samples/adjustments.json", "application/json; charset=utf-8"),
    ],
)
def test_each_kind_of_file_has_its_content_type(client, path, content_type):
    response = client.get(f"/api/console/{path}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == content_type


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_path_reaches_a_file_outside_the_allow_list(path):
    assert find_console_file(path) is None
    response = _call(path)
    assert response.status_code == 404
    assert response.get_body() == b'{"error": {"code": "NotFound", "message": "no such console page or file"}}'


@pytest.mark.parametrize("path", ["../function_app.py", "%2e%2e/function_app.py", "..%2f..%2ffunction_app.py"])
def test_traversal_over_http_answers_404_in_the_error_shape(client, path):
    response = client.get(f"/api/console/{path}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NotFound"
    assert "import azure" not in response.text


def test_only_get_is_answered(client):
    response = client.post("/api/console/index.html")
    assert response.status_code == 405 and "GET" in response.headers["allow"]
    assert response.json()["error"]["code"] == "MethodNotAllowed"


def test_only_shipped_console_files_and_the_json_samples_are_listed():
    names = set(allowed_files())
    assert "index.html" in names
    outside = {n for n in names if not (CONSOLE_DIR / n).is_file() and not n.startswith("samples/")}
    assert outside == set()
    assert {n for n in names if n.startswith("samples/")} <= {
        "samples/adjustments.json",
        "samples/onhand_events.json",
        "samples/erp_transactions.json",
        "samples/configuration.json",
    }


def test_every_module_and_asset_the_pages_load_is_served():
    """A renamed module would otherwise only show as a blank page in the browser."""
    files = allowed_files()
    wanted: set[str] = set()
    html = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    wanted |= set(re.findall(r'(?:src|href)="([^"#:]+)"', html))
    for name in [n for n in files if n.endswith(".js")]:
        text = (CONSOLE_DIR / name).read_text(encoding="utf-8")
        for target in re.findall(r'(?:from|import\()\s*"(\.[^"]+)"', text):
            wanted.add(posixpath.normpath(posixpath.join(posixpath.dirname(name), target)))
        for sample in re.findall(r'\["[^"]+", "([a-z_]+\.json)"\]', text):  # jsonEditor({samples: [[label, file]]})
            wanted.add(f"samples/{sample}")
    missing = sorted(w for w in wanted if w not in files)
    assert missing == []
    assert len(wanted) > 10
