"""The API reference: `GET /api/openapi.json` and a Swagger UI page at `GET /api/docs` (anonymous, no data).

Swagger UI's files come from the `swagger-ui-bundle-v2` package installed with the app and are served from here,
so the page works without any CDN (a closed network, a strict content policy).
"""

from __future__ import annotations

import mimetypes
from functools import cache
from pathlib import Path

import azure.functions as func

from functions.http_responses import error_response, json_response

bp = func.Blueprint()

ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png")
"""The only files served: a fixed list, so a path parameter can never reach the file system."""

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>omnisync API reference</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/favicon-32x32.png">
  <style>body { margin: 0; } .topbar { display: none; }</style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script src="docs/swagger-ui-standalone-preset.js"></script>
  <script src="docs/start.js"></script>
</body>
</html>
"""

START = """window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "BaseLayout"
});
"""


def _assets_folder() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(swagger_ui_path)


@cache
def _asset(name: str) -> bytes:
    return (_assets_folder() / name).read_bytes()


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    from functions.api_reference import openapi_document as document

    return json_response(document())


@bp.route(route="docs", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def api_docs_page(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(PAGE, mimetype="text/html", charset="utf-8")


@bp.route(route="docs/{file}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def api_docs_asset(req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params.get("file", "")
    if name == "start.js":
        return func.HttpResponse(START, mimetype="text/javascript", charset="utf-8")
    if name not in ASSETS:
        return error_response(404, "NotFound", "no such file of the API reference page")
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return func.HttpResponse(_asset(name), mimetype=mimetype, headers={"Cache-Control": "public, max-age=86400"})
