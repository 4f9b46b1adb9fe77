"""The HTTP side of the runner: the app's routes under `/api`, function keys, and the admin endpoint.

Built on Starlette (routing, request parsing) and served by Uvicorn, so requests are parsed by a
real HTTP server rather than by hand.
"""

from __future__ import annotations

import errno
import hmac
import logging
import os
import re
import socket
import time
from collections.abc import Callable
from typing import Any

import azure.functions as func
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match, Route

from devtools.localrunner.catalog import Catalog, CatalogError, HttpFunction
from devtools.localrunner.invoke import call
from devtools.localrunner.triggers import run_timer

log = logging.getLogger("localrunner")
access_log = logging.getLogger("localrunner.http")

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


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The app's error shape (functions/http_responses.py), for what the runner answers itself."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _unauthorized() -> Response:
    return error(
        401, "Unauthorized", "this route needs the function key: header x-functions-key or query parameter code"
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    return error(404, "NotFound", f"no route {request.url.path}; the API is under {ROUTE_PREFIX}/")


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    # Starlette's own Allow names the first route of the path only; a path often has one route per method.
    methods: set[str] = set()
    for route in getattr(request.app, "routes", []):
        if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods or set()
    if not methods and isinstance(exc, HTTPException):
        methods = {m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()}
    allow = ", ".join(sorted(methods))
    return error(
        405,
        "MethodNotAllowed",
        f"{request.method} is not allowed on {request.url.path}" + (f"; allowed: {allow}" if allow else ""),
        headers={"Allow": allow} if allow else None,
    )


class RequestLog:
    """One line per HTTP call: method, path (never the query string, which may hold `code=`), status, ms."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def send_and_note(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            access_log.info(
                "%s %s %d %.0f ms", scope["method"], scope["path"], status[0], (time.perf_counter() - started) * 1000
            )


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
    return error(413, "PayloadTooLarge", f"the body is larger than {limit} bytes", headers={"Connection": "close"})


def _failed(name: str) -> Response:
    return error(500, "InternalError", f"{name} failed; the runner's log has the details")


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
        if function.auth_level in ("function", "admin") and not key_is_valid(request, key()):
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
            return _failed(function.name)
        return _from_func_response(result)

    return endpoint


def build_http_app(catalog: Catalog, key: Callable[[], str]) -> Any:
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
            return error(404, "NotFound", f"no timer function named {name!r}; timers: {sorted(catalog.timers)}")
        try:
            await run_in_threadpool(run_timer, timer)
        except Exception:
            log.exception("Timer '%s' failed", name)
            return _failed(name)
        return Response(status_code=202)

    async def list_functions(request: Request) -> Response:
        if not key_is_valid(request, key()):
            return _unauthorized()
        return JSONResponse({"functions": catalog.names()})

    if any(f.route.startswith("console/") for f in catalog.http):
        # `/api` opens the web console. Azure cannot route a function at the bare prefix (an empty route is
        # not allowed), so there the console is `/api/console/`; locally `/api` leads there as well.
        async def to_console(request: Request) -> Response:
            return RedirectResponse(f"{ROUTE_PREFIX}/console/", status_code=302)

        routes += [Route(path, to_console, methods=["GET"]) for path in (ROUTE_PREFIX, f"{ROUTE_PREFIX}/")]
    routes.append(Route("/admin/functions/{name}", admin_invoke, methods=["POST"]))
    routes.append(Route("/admin/functions", list_functions, methods=["GET"]))
    handlers = {404: _not_found, 405: _method_not_allowed}
    return RequestLog(Starlette(routes=routes, exception_handlers=handlers))


def port_problem(host: str, port: int) -> str | None:
    """One line saying why `host:port` cannot be served (in use, not allowed), or None when it is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no problem
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is already in use (another `make run`?); stop that, "
                    f"or pick another port: make run PORT={port + 1}"
                )
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def describe(catalog: Catalog) -> str:
    lines = []
    for f in catalog.http:
        lines.append(f"  {f.name}: [{','.join(f.methods)}] {ROUTE_PREFIX}/{f.route} ({f.auth_level})")
    return "\n".join(lines)
