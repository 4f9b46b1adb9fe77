"""Traces and metrics per pipeline stage, with OpenTelemetry.

Operators follow a line through ingest → partition sync → aggregate → send (and reconcile, level
sync) in Application Insights: each stage is a span named ``omnisync.<stage>`` and a duration
metric; every ERP HTTP call is a client span (a *dependency* in Application Insights); lines synced
and sync lag are metrics.

Where it goes is decided once per process, lazily (on the first stage, never at import time):

- ``TELEMETRY_EXPORTER=auto`` (default) and ``APPLICATIONINSIGHTS_CONNECTION_STRING`` set → the
  Azure Monitor distro (``azure-monitor-opentelemetry``), authenticated with the managed identity
  named in ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` (the Bicep turns local auth off);
- ``TELEMETRY_EXPORTER=console`` → spans and metrics printed to stdout (local runs);
- otherwise (``none``, or ``auto`` without a connection string) nowhere: the OpenTelemetry API
  stays a no-op and costs next to nothing.

A provider installed before (by a test, or by the host) is left alone. Code only imports the
OpenTelemetry *API*; the SDK and the distro are imported when configuring.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from shared.config import SettingsError, get_settings

log = logging.getLogger(__name__)

Stage = Literal["ingest", "partition_sync", "aggregate", "send", "reconcile", "level_sync"]
"""The pipeline stages; each is a span ``omnisync.<stage>``."""
AttributeValue = str | int | float | bool
INSTRUMENTATION = "omnisync"

_lock = threading.Lock()
_configured: str | None = None


def configure() -> str:
    """Install the exporters once per process; returns where telemetry goes (for logs and tests)."""
    global _configured
    if _configured is not None:
        return _configured
    with _lock:
        if _configured is None:
            _configured = _install()
            log.info("telemetry: %s", _configured)
    return _configured


def _install() -> str:
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return "already configured"
    try:
        settings = get_settings()
    except SettingsError as exc:  # reported by the code that needs the setting; telemetry stays off
        log.warning("telemetry off: %s", exc)
        return "none"
    if settings.telemetry_exporter == "none":
        return "none"
    if settings.telemetry_exporter == "console":
        return _install_console()
    if settings.applicationinsights_connection_string.strip():
        return _install_azure_monitor(
            settings.applicationinsights_connection_string.strip(), settings.applicationinsights_authentication_string
        )
    return "none"


def _install_azure_monitor(connection_string: str, authentication: str) -> str:
    from azure.monitor.opentelemetry import configure_azure_monitor

    client_id = _entra_identity(authentication)
    if client_id is None:
        configure_azure_monitor(connection_string=connection_string)
    else:
        from azure.identity import ManagedIdentityCredential

        credential = ManagedIdentityCredential(client_id=client_id or None)
        configure_azure_monitor(connection_string=connection_string, credential=credential)
    return "azure-monitor"


def _entra_identity(authentication: str) -> str | None:
    """The managed identity of ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING``.

    ``ClientId=<id>;Authorization=AAD`` → ``<id>`` (the user-assigned identity the Bicep grants),
    ``Authorization=AAD`` → ``""`` (system-assigned), anything else → None (no Entra auth).
    """
    parts = dict(p.split("=", 1) for p in authentication.split(";") if "=" in p)
    if parts.get("Authorization", "").upper() != "AAD":
        return None
    return parts.get("ClientId", "")


def _install_console() -> str:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=60_000)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return "console"


def _tracer() -> trace.Tracer:
    return trace.get_tracer(INSTRUMENTATION)


@lru_cache(maxsize=1)
def _instruments() -> tuple[metrics.Histogram, metrics.Counter, metrics.Histogram]:
    """Created once; before a provider is installed the API hands out proxies that follow it."""
    meter = metrics.get_meter(INSTRUMENTATION)
    return (
        meter.create_histogram("omnisync.stage.duration", unit="s", description="Duration of one pipeline stage"),
        meter.create_counter("omnisync.lines.synced", unit="{line}", description="Lines synced to the cache"),
        meter.create_histogram(
            "omnisync.sync.lag", unit="s", description="Time from a line's ingest to its sync into the cache"
        ),
    )


@contextmanager
def stage(name: Stage, **attributes: AttributeValue) -> Iterator[Span]:
    """Run a pipeline stage inside span ``omnisync.<name>`` and record its duration.

    Attributes are prefixed ``omnisync.`` (e.g. ``partition``, ``environment``); the caller may add
    more to the yielded span (``span.set_attribute``). An exception marks the span as an error
    and propagates. This is the helper for every stage, level sync included.
    """
    configure()
    started = time.perf_counter()
    outcome = "ok"
    span_attributes: dict[str, AttributeValue] = {"omnisync.stage": name}
    span_attributes.update({f"omnisync.{key}": value for key, value in attributes.items()})
    with _tracer().start_as_current_span(f"omnisync.{name}", attributes=span_attributes) as span:
        try:
            yield span
        except BaseException:
            outcome = "error"
            raise
        finally:
            _instruments()[0].record(time.perf_counter() - started, {"stage": name, "outcome": outcome})


def record_lines_synced(count: int, lags_s: list[float]) -> None:
    """Lines that reached the on-hand cache, and for each how long after ingest (seconds)."""
    _, synced, lag = _instruments()
    if count:
        synced.add(count)
    for value in lags_s:
        lag.record(max(0.0, value))


def lag_seconds(since: datetime | None, now: datetime) -> float | None:
    """Seconds from ``since`` to ``now``, or None when the start is unknown (lines stored before)."""
    return None if since is None else (now - since).total_seconds()


@contextmanager
def erp_call(method: str, url: str) -> Iterator[Span]:
    """One HTTP call to the ERP as a client span (an Application Insights dependency).

    Only method, host and path are recorded: query strings carry customer ids, and headers carry
    tokens. The caller sets the status with :func:`set_http_status`.
    """
    configure()
    parts = urlsplit(url)
    attributes: dict[str, AttributeValue] = {
        "http.request.method": method,
        "server.address": parts.hostname or "",
        "url.path": parts.path,
        "omnisync.dependency": "erp",
    }
    with _tracer().start_as_current_span(
        f"ERP {method} {parts.path}", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield span


def set_http_status(span: Span, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    if status >= 400:
        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
