"""The API reference served by the running app: the document and the Swagger UI page, anonymous, no CDN."""

from __future__ import annotations

import re

import httpx
from openapi_spec_validator import validate


def test_openapi_json_is_served_without_a_key_and_is_valid(running_app):
    response = httpx.get(f"{running_app.base_url}/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    validate(document)
    assert "/api/environment/{environmentId}/transaction/adjustment/bulk" in document["paths"]


def test_the_docs_page_loads_swagger_ui_from_the_app_itself(running_app):
    page = httpx.get(f"{running_app.base_url}/docs", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in page.text
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text), "the page must not load anything from elsewhere"
    assets = re.findall(r"(?:src|href)=\"([^\"]+)\"", page.text)
    assert {"docs/swagger-ui.css", "docs/swagger-ui-bundle.js", "docs/start.js"} <= set(assets)
    for asset in assets:
        # relative to /api/docs, as a browser resolves them
        response = httpx.get(f"{running_app.base_url}/{asset}", timeout=30)
        assert response.status_code == 200, asset
        assert len(response.content) > 0
    script = httpx.get(f"{running_app.base_url}/docs/start.js", timeout=30)
    assert 'url: "openapi.json"' in script.text and script.headers["content-type"].startswith("text/javascript")
    css = httpx.get(f"{running_app.base_url}/docs/swagger-ui.css", timeout=30)
    assert css.headers["content-type"].startswith("text/css")


def test_only_the_page_s_own_files_are_served(running_app):
    for name in ("index.html", "..%2F..%2Fhost.json", "swagger-ui.js.map", "nothing.js"):
        response = httpx.get(f"{running_app.base_url}/docs/{name}", timeout=30)
        assert response.status_code == 404, name
        assert response.json()["error"]["code"] == "NotFound"
