"""GET /api/console/{*path}: the web console's static files (anonymous; the pages call the keyed API).

The files are public on purpose: they hold no data and no secret. Every request the console makes to the API
carries the function key the person typed in (or, in Azure, the App Service sign-in cookie as well).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import azure.functions as func

from functions.console_files import find_console_file
from functions.http_responses import error_response

bp = func.Blueprint()

# The console needs nothing from another origin; reports are shown in a sandboxed frame without scripts.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "frame-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    ),
}


@bp.route(route="console/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def console(req: func.HttpRequest) -> func.HttpResponse:
    requested = req.route_params.get("path") or ""
    url_path = urlsplit(req.url).path
    if not requested and not url_path.endswith("/"):
        # `/api/console` → `/api/console/`, so the page's relative links (`js/main.js`) resolve under it.
        return func.HttpResponse(status_code=302, headers={"Location": url_path + "/"})
    found = find_console_file(requested)
    if found is None:
        return error_response(404, "NotFound", "no such console page or file")
    return func.HttpResponse(
        found.path.read_bytes(), status_code=200, headers={"Content-Type": found.content_type, **SECURITY_HEADERS}
    )
