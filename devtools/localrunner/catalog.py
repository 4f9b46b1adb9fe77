"""What the function app registered, read from the `FunctionApp` itself.

Reading the decorators' own records means there is no second list of functions to keep in sync
with `function_app.py`. `FunctionApp.get_functions()` may be called only once per app, so the
catalog is built once and shared by the HTTP host, the timers and the blob poller.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

SUPPORTED_HTTP_OUTPUT = {"http"}


class CatalogError(ValueError):
    """The app registered something this runner cannot host; the message names the function."""


def _auth_level(trigger: Any, user_function: Callable[..., Any]) -> str:
    """`app` when the app checks the caller itself (functions/auth_guard.py); else the host's level."""
    if getattr(user_function, "_authorized", False):
        return "app"
    return _value(trigger.auth_level or "function").lower()


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: tuple[str, ...]
    auth_level: str
    arg_name: str
    user_function: Callable[..., Any]


@dataclass(frozen=True)
class TimerFunction:
    name: str
    schedule: str
    run_on_startup: bool
    arg_name: str
    user_function: Callable[..., Any]


@dataclass(frozen=True)
class BlobFunction:
    name: str
    container: str
    pattern: str
    connection: str
    arg_name: str
    user_function: Callable[..., Any]

    def matches(self, blob_name: str) -> bool:
        return re.fullmatch(_path_regex(self.pattern), blob_name) is not None


@dataclass(frozen=True)
class QueueFunction:
    name: str
    queue_name: str
    """As registered: may hold `%SETTING%` references, resolved when the runner starts."""
    connection: str
    arg_name: str
    user_function: Callable[..., Any]


@dataclass
class Catalog:
    http: list[HttpFunction] = field(default_factory=list)
    timers: dict[str, TimerFunction] = field(default_factory=dict)
    blobs: list[BlobFunction] = field(default_factory=list)
    queues: list[QueueFunction] = field(default_factory=list)

    def names(self) -> list[str]:
        return (
            [f.name for f in self.http]
            + list(self.timers)
            + [b.name for b in self.blobs]
            + [q.name for q in self.queues]
        )


def _path_regex(pattern: str) -> str:
    """Blob path pattern (`{runId}/{name}`) as a regex; `{name}` may span folders as in the host."""
    parts = re.split(r"(\{[^}]+\})", pattern)
    out = []
    for i, part in enumerate(parts):
        if part.startswith("{") and part.endswith("}"):
            out.append(".+" if i == len(parts) - 2 else "[^/]+")
        else:
            out.append(re.escape(part))
    return "".join(out)


def _value(enum_or_str: Any) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str))


_catalogs: weakref.WeakKeyDictionary[func.FunctionApp, Catalog] = weakref.WeakKeyDictionary()


def build_catalog(app: func.FunctionApp) -> Catalog:
    """The app's catalog, built on first use: `get_functions()` fails when called a second time."""
    if app not in _catalogs:
        _catalogs[app] = _read(app)
    return _catalogs[app]


def _read(app: func.FunctionApp) -> Catalog:
    catalog = Catalog()
    for function in app.get_functions():
        name = function.get_function_name() or ""
        # Declared as the base `Trigger`; the attributes read below belong to the kind's subclass.
        trigger: Any = function.get_trigger()
        others = [b for b in function.get_bindings() if b is not trigger]
        user_function = function.get_user_function()
        kind = trigger.get_binding_name()
        if kind == "httpTrigger":
            unsupported = [b.type for b in others if b.type not in SUPPORTED_HTTP_OUTPUT]
            if unsupported:
                raise CatalogError(f"{name}: bindings {unsupported} are not supported by the local runner")
            methods = tuple(_value(m).upper() for m in (trigger.methods or ["GET", "POST"]))
            route = trigger.route or name
            catalog.http.append(
                HttpFunction(
                    name,
                    route.strip("/"),
                    methods,
                    _auth_level(trigger, user_function),
                    trigger.name,
                    user_function,
                )
            )
        elif kind == "timerTrigger":
            if others:
                raise CatalogError(f"{name}: a timer with extra bindings is not supported by the local runner")
            catalog.timers[name] = TimerFunction(
                name, trigger.schedule, bool(trigger.run_on_startup), trigger.name, user_function
            )
        elif kind == "blobTrigger":
            if others:
                raise CatalogError(f"{name}: a blob trigger with extra bindings is not supported by the local runner")
            container, _, pattern = trigger.path.partition("/")
            catalog.blobs.append(
                BlobFunction(
                    name,
                    container,
                    pattern or "{name}",
                    trigger.connection or "AzureWebJobsStorage",
                    trigger.name,
                    user_function,
                )
            )
        elif kind == "queueTrigger":
            if others:
                raise CatalogError(f"{name}: a queue trigger with extra bindings is not supported by the local runner")
            catalog.queues.append(
                QueueFunction(
                    name, trigger.queue_name, trigger.connection or "AzureWebJobsStorage", trigger.name, user_function
                )
            )
        else:
            raise CatalogError(f"{name}: trigger type {kind!r} is not supported by the local runner")
    return catalog
