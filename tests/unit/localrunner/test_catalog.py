import azure.functions as func
import pytest

from devtools.localrunner.catalog import CatalogError, build_catalog
from devtools.localrunner.http_host import starlette_path
from devtools.localrunner.ncrontab import ScheduleError, next_fire
from devtools.localrunner.settings import resolve


def _app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="things/{thingId}", methods=["GET", "DELETE"])
    def get_thing(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("x")

    @app.timer_trigger(schedule="%TEST_SCHEDULE%", arg_name="timer")
    def tick(timer: func.TimerRequest) -> None:
        return None

    @app.blob_trigger(
        arg_name="blob", path="snapshots/{runId}/{name}", connection="STORE", source=func.BlobSource.EVENT_GRID
    )
    def on_blob(blob: func.InputStream) -> None:
        return None

    return app


def test_catalog_reads_routes_timers_and_blob_paths_from_the_app():
    catalog = build_catalog(_app())
    (http,) = catalog.http
    assert (http.route, http.methods, http.auth_level) == ("things/{thingId}", ("GET", "DELETE"), "function")
    assert catalog.timers["tick"].schedule == "%TEST_SCHEDULE%"
    (blob,) = catalog.blobs
    assert (blob.container, blob.pattern, blob.connection) == ("snapshots", "{runId}/{name}", "STORE")
    assert blob.matches("run-1/erp.csv")
    assert blob.matches("run-1/sub/erp.csv")
    assert not blob.matches("erp.csv")


def test_unsupported_bindings_are_named():
    app = func.FunctionApp()

    @app.event_hub_message_trigger(arg_name="event", event_hub_name="hub", connection="HUB")
    def from_hub(event: func.EventHubEvent) -> None:
        return None

    with pytest.raises(CatalogError, match="from_hub"):
        build_catalog(app)


def test_queue_triggers_are_read_with_their_queue_and_connection():
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="%PREFIX%-work", connection="STORE")
    def from_queue(msg: func.QueueMessage) -> None:
        return None

    (queue,) = build_catalog(app).queues
    assert (queue.name, queue.queue_name, queue.connection, queue.arg_name) == (
        "from_queue",
        "%PREFIX%-work",
        "STORE",
        "msg",
    )


def test_route_templates_translate_to_starlette_paths():
    assert starlette_path("environment/{environmentId}/items/{id}") == "/api/environment/{environmentId}/items/{id}"
    assert starlette_path("n/{count:int}") == "/api/n/{count:int}"
    assert starlette_path("files/{*rest}") == "/api/files/{rest:path}"
    with pytest.raises(CatalogError):
        starlette_path("x/{maybe?}")


def test_setting_references_resolve_and_missing_ones_fail(monkeypatch):
    monkeypatch.setenv("TEST_SCHEDULE", "0 */5 * * * *")
    assert resolve("%TEST_SCHEDULE%") == "0 */5 * * * *"
    monkeypatch.delenv("TEST_SCHEDULE")
    with pytest.raises(KeyError, match="TEST_SCHEDULE"):
        resolve("%TEST_SCHEDULE%")


def test_ncrontab_has_six_fields_with_seconds_first():
    from datetime import UTC, datetime

    start = datetime(2026, 1, 1, 10, 0, 10, tzinfo=UTC)
    assert next_fire("30 * * * * *", start) == datetime(2026, 1, 1, 10, 0, 30, tzinfo=UTC)
    assert next_fire("0 0 */2 * * *", start) == datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    with pytest.raises(ScheduleError):
        next_fire("*/5 * * * *", start)
    with pytest.raises(ScheduleError):
        next_fire("99 * * * * *", start)
