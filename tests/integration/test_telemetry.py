"""Spans and metrics of one line's path: ingest → partition sync → aggregate → send (to the fake D365).

OpenTelemetry allows one global provider per process, so this module installs in-memory ones
once (shared/telemetry.py then leaves them alone) and clears them between tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared import telemetry
from shared.adapters.erp_odata import ODataErpConnector
from shared.adapters.journal_records import JournalRecords
from shared.adapters.ledger_tables import LedgerStore
from shared.domain.adjustments import parse_lines
from shared.domain.aggregation import JournalMapping
from shared.services.aggregate import aggregate_pending
from shared.services.ingest import ingest
from shared.services.send_journals import send_pending
from shared.services.sync import sync_pending
from tests.fakes.odata_server import running_fake_d365
from tests.integration.test_erp_odata import FakeTokens, Sleeps

MAPPING = JournalMapping(targets={"pos/sold": {"journal_type": "adjustment", "target_status": "Created"}})
_SPANS = InMemorySpanExporter()
_METRICS = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def _in_memory_providers() -> None:
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_SPANS))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[_METRICS]))
    telemetry.configure()  # must leave the in-memory providers in place
    assert isinstance(trace.get_tracer_provider(), TracerProvider)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    _SPANS.clear()
    _METRICS.get_metrics_data()  # drop what earlier tests recorded (cumulative points stay, see below)
    yield _SPANS


def _lines(count: int, *, instant: bool = False):
    raw = [
        {
            "id": f"t-{i}",
            "organizationId": "usmf",
            "productId": "A0001",
            "quantityDataSource": "pos",
            "physicalMeasure": "sold",
            "dimensions": {"siteId": "1", "locationId": "11"},
            "quantity": "2",
            "createWithIVSync": instant,
        }
        for i in range(count)
    ]
    lines, problems = parse_lines(raw, allowed_sources=("pos",), allowed_measures=("sold",))
    assert not problems
    return lines


def _named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def _metric_points(name: str) -> list:
    data = _METRICS.get_metrics_data()
    return [
        point
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def test_one_line_path_emits_a_span_per_stage_erp_dependencies_and_sync_metrics(app_env, environment_id, spans):
    store, records = LedgerStore(), JournalRecords()
    ingest(store, environment_id, _lines(3))
    sync_pending(store, environment_id=environment_id)
    aggregate_pending(store, MAPPING, environment_id=environment_id)
    with running_fake_d365() as fake:
        connector = ODataErpConnector(fake.base_url, FakeTokens(fake), timeout=5, max_retries=1, sleep=Sleeps())
        try:
            report = send_pending(store, records, connector, max_lines=100, max_attempts=3)
        finally:
            connector.close()
    assert report.journals == 1

    finished = spans.get_finished_spans()
    stages = [s.attributes["omnisync.stage"] for s in finished if s.name.startswith("omnisync.")]
    # Spans end in order: each stage finished before the next began.
    assert stages == ["ingest", "partition_sync", "aggregate", "send"]

    (ingest_span,) = _named(finished, "omnisync.ingest")
    assert ingest_span.attributes["omnisync.environment"] == environment_id
    assert ingest_span.attributes["omnisync.lines"] == 3
    (sync_span,) = _named(finished, "omnisync.partition_sync")
    assert sync_span.attributes["omnisync.lines"] == 3
    assert sync_span.attributes["omnisync.partition"].startswith(environment_id)
    (send_span,) = _named(finished, "omnisync.send")
    assert send_span.attributes["omnisync.outcome"] == "created"

    erp = [s for s in finished if s.attributes.get("omnisync.dependency") == "erp"]
    assert erp and all(s.kind is SpanKind.CLIENT for s in erp)
    assert all(s.parent is not None and s.parent.span_id == send_span.context.span_id for s in erp)
    assert {s.attributes["http.request.method"] for s in erp} == {"GET", "POST"}
    assert all(s.attributes["http.response.status_code"] < 400 for s in erp)
    assert all("?" not in s.attributes["url.path"] for s in erp), "no query strings (customer ids) in spans"

    synced = sum(p.value for p in _metric_points("omnisync.lines.synced"))
    assert synced >= 3
    lag = _metric_points("omnisync.sync.lag")
    assert lag and sum(p.count for p in lag) >= 3 and all(p.min >= 0 for p in lag)
    durations = {p.attributes["stage"] for p in _metric_points("omnisync.stage.duration")}
    assert {"ingest", "partition_sync", "aggregate", "send"} <= durations


def test_a_failing_stage_is_an_error_span_and_the_error_propagates(spans):
    with pytest.raises(RuntimeError), telemetry.stage("level_sync", environment="e1"):
        raise RuntimeError("boom")
    (span,) = _named(spans.get_finished_spans(), "omnisync.level_sync")
    assert not span.status.is_ok
    assert span.attributes["omnisync.environment"] == "e1"


def test_instant_sync_nests_the_partition_sync_span_in_the_ingest_span(app_env, environment_id, spans):
    ingest(LedgerStore(), environment_id, _lines(1, instant=True))
    finished = spans.get_finished_spans()
    (ingest_span,) = _named(finished, "omnisync.ingest")
    (sync_span,) = _named(finished, "omnisync.partition_sync")
    assert sync_span.parent is not None and sync_span.parent.span_id == ingest_span.context.span_id
