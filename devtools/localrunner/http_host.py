"""The HTTP side of the runner: the app's routes under `/api`, function keys, and the admin endpoint.

Built on Starlette (routing, request parsing) and served by Uvicorn, so requests are parsed by a
real HTTP server rather than by hand.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from collections.abc import Callable

import azure.functions as func
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devtools.localrunner.catalog import Catalog, CatalogError, HttpFunction
from devtools.localrunner.invoke import call
from devtools.localrunner.triggers import run_timer

log = logging.getLogger("localrunner")

ROUTE_PREFIX = "/api"
_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?(\?)?\}")
_CONSTRAINTS = {None: "", "int": ":int", "alpha": "", "guid": "", "length": ""}


def starlette_path(route: str) -> str:
    """Translate an ASP.NET-style route template into a Starlette path (plain, `:int` and `{*rest}`)."""

    def convert(match: re.Match[str]) -> str:
        catch_all, name, constraint, optional = match.groups()
        if optional:
            raise CatalogError(f"optional route parameter {{{name}?}} is not supported by the local runner")
        if catch_all:
            return f"{{{name}:path}}"
        if constraint not in _CONSTRAINTS:
            raise CatalogError(f"route constraint :{constraint} is not supported by the local runner")
        return f"{{{name}{_CONSTRAINTS[constraint]}}}"

    return f"{ROUTE_PREFIX}/{_PARAM.sub(convert, route)}"


def _literal_weight(route: str) -> tuple[int, int]:
    """Routes with more literal segments go first, as ASP.NET routing prefers them over parameters."""
    segments = route.split("/")
    return (-sum(1 for s in segments if not s.startswith("{")), -len(segments))


def key_is_valid(request: Request, expected: str) -> bool:
    supplied = request.headers.get("x-functions-key") or request.query_params.get("code") or ""
    return bool(expected) and hmac.compare_digest(supplied.encode(), expected.encode())


def _unauthorized() -> Response:
    return Response(status_code=401)


MAX_BODY_SETTING = "INGEST_MAX_BODY_BYTES"
DEFAULT_MAX_BODY = 8 * 1024 * 1024


class BodyTooLarge(Exception):
    pass


def max_body_bytes() -> int:
    """The app's largest accepted body (its own setting): nothing larger is read into memory."""
    try:
        return max(0, int(os.environ.get(MAX_BODY_SETTING) or DEFAULT_MAX_BODY))
    except ValueError:
        return DEFAULT_MAX_BODY


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read chunk by chunk and abandoned as soon as it passes `limit` (a declared length first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> Response:
    return JSONResponse({"error": {"code": "PayloadTooLarge", "message": f"the body is larger than {limit} bytes"}},
                        status_code=413, headers={"Connection": "close"})


async def _to_func_request(request: Request, body: bytes) -> func.HttpRequest:
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=dict(request.headers),
        params=dict(request.query_params),
        route_params={k: str(v) for k, v in request.path_params.items()},
        body=body,
    )


def _from_func_response(result: object) -> Response:
    if result is None:
        return Response(status_code=204)
    if not isinstance(result, func.HttpResponse):
        return Response(str(result), media_type="text/plain")
    headers = {k: v for k, v in result.headers.items() if k.lower() != "content-length"}
    media_type = result.mimetype
    if result.charset and media_type and "charset" not in media_type:
        media_type = f"{media_type}; charset={result.charset}"
    return Response(result.get_body(), status_code=result.status_code, headers=headers, media_type=media_type)


def _endpoint(function: HttpFunction, key: Callable[[], str]) -> Callable[[Request], object]:
    async def endpoint(request: Request) -> Response:
        if function.auth_level != "anonymous" and not key_is_valid(request, key()):
            return _unauthorized()
        limit = max_body_bytes()
        try:
            body = await read_body(request, limit)
        except BodyTooLarge:
            return _too_large(limit)
        req = await _to_func_request(request, body)
        try:
            result = await run_in_threadpool(call, function.user_function, function.arg_name, req)
        except Exception:
            log.exception("Function '%s' failed", function.name)
            return Response(status_code=500)
        return _from_func_response(result)

    return endpoint


def build_http_app(catalog: Catalog, key: Callable[[], str]) -> Starlette:
    """Routes of every HTTP function plus `POST /admin/functions/{name}` (like Core Tools) for timers."""
    routes = [
        Route(starlette_path(f.route), _endpoint(f, key), methods=list(f.methods), name=f.name)
        for f in sorted(catalog.http, key=lambda f: _literal_weight(f.route))
    ]

    async def admin_invoke(request: Request) -> Response:
        if not key_is_valid(request, key()):
            return _unauthorized()
        name = request.path_params["name"]
        timer = catalog.timers.get(name)
        if timer is None:
            return JSONResponse({"error": f"no timer function named {name!r}"}, status_code=404)
        try:
            await run_in_threadpool(run_timer, timer)
        except Exception as exc:
            log.exception("Timer '%s' failed", name)
            return JSONResponse({"error": f"{name} failed: {type(exc).__name__}"}, status_code=500)
        return Response(status_code=202)

    async def list_functions(request: Request) -> Response:
        if not key_is_valid(request, key()):
            return _unauthorized()
        return JSONResponse({"functions": catalog.names()})

    routes.append(Route("/admin/functions/{name}", admin_invoke, methods=["POST"]))
    routes.append(Route("/admin/functions", list_functions, methods=["GET"]))
    return Starlette(routes=routes)


def describe(catalog: Catalog) -> str:
    lines = []
    for f in catalog.http:
        lines.append(f"  {f.name}: [{','.join(f.methods)}] {ROUTE_PREFIX}/{f.route} ({f.auth_level})")
    return "\n".join(lines)
