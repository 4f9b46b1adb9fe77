"""Hosts a `FunctionApp` locally: HTTP on uvicorn, timers on their schedules, blob events by polling."""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import azure.functions as func
import uvicorn
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devtools.localrunner.catalog import Catalog, build_catalog
from devtools.localrunner.http_host import build_http_app, describe
from devtools.localrunner.queues import QueuePoller, QueueSettings
from devtools.localrunner.settings import resolve
from devtools.localrunner.triggers import BlobPoller, TimerScheduler

log = logging.getLogger("localrunner")

KEY_SETTING = "LOCAL_FUNCTION_KEY"


def load_app(target: str) -> func.FunctionApp:
    """Import `module:attribute` (default `function_app:app`) after the settings are in the environment."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute or "app")


def _resolved(expression: str) -> str:
    """A `%SETTING%` expression as the runner will use it, or as written while the setting is missing."""
    try:
        return resolve(expression)
    except KeyError:
        return expression


def function_key() -> str:
    return os.environ.get(KEY_SETTING, "")


def queue_service_for(connection: str) -> QueueServiceClient:
    value = os.environ.get(connection)
    if not value:
        raise RuntimeError(f"queue trigger connection {connection!r} needs a connection string for local runs")
    return QueueServiceClient.from_connection_string(value)


def blob_service_for(connection: str) -> BlobServiceClient:
    value = os.environ.get(connection)
    if not value:
        raise RuntimeError(f"blob trigger connection {connection!r} needs a connection string for local runs")
    return BlobServiceClient.from_connection_string(value)


@dataclass
class LocalRunner:
    app: func.FunctionApp
    host: str = "127.0.0.1"
    port: int = 7071
    timers: bool = True
    blob_poll_s: float = 2.0
    queues: bool = True
    queue_workers: int | None = None
    """Concurrent messages per queue function (default: host.json `batchSize`)."""
    host_json: Path = Path("host.json")
    catalog: Catalog = field(init=False)
    _server: uvicorn.Server | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _scheduler: TimerScheduler | None = field(default=None, init=False)
    _pollers: list[BlobPoller] = field(default_factory=list, init=False)
    queue_pollers: list[QueuePoller] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.catalog = build_catalog(self.app)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    def summary(self) -> str:
        timers = "\n".join(f"  {t.name}: timer {t.schedule}" for t in self.catalog.timers.values())
        blobs = "\n".join(f"  {b.name}: blob {b.container}/{b.pattern}" for b in self.catalog.blobs)
        queues = "\n".join(f"  {q.name}: queue {_resolved(q.queue_name)}" for q in self.catalog.queues)
        return "\n".join(part for part in (describe(self.catalog), timers, blobs, queues) if part)

    def start(self) -> None:
        """Start serving in background threads; returns once the HTTP port accepts requests."""
        config = uvicorn.Config(
            build_http_app(self.catalog, function_key),
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"HTTP server did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        if self.timers and self.catalog.timers:
            self._scheduler = TimerScheduler(self.catalog)
            self._scheduler.start()
        for connection in sorted({b.connection for b in self.catalog.blobs}):
            functions = Catalog(blobs=[b for b in self.catalog.blobs if b.connection == connection])
            poller = BlobPoller(functions, blob_service_for(connection), self.blob_poll_s)
            if self.blob_poll_s > 0:
                poller.start()
            self._pollers.append(poller)

        if self.queues:
            settings = QueueSettings.from_host_json(self.host_json)
            for connection in sorted({q.connection for q in self.catalog.queues}):
                queue_functions = [q for q in self.catalog.queues if q.connection == connection]
                queue_poller = QueuePoller(queue_functions, queue_service_for(connection), settings, self.queue_workers)
                queue_poller.start()
                self.queue_pollers.append(queue_poller)

    @property
    def pollers(self) -> list[BlobPoller]:
        return self._pollers

    def stop(self) -> None:
        if self._scheduler:
            self._scheduler.stop()
        for poller in self._pollers:
            poller.stop()
        for queue_poller in self.queue_pollers:
            queue_poller.stop()
        if self._server:
            self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
