"""The local runner hosts a real FunctionApp: HTTP with keys, timers on demand, blob events (Azurite)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from devtools.azurite import free_port
from devtools.localrunner.runner import LocalRunner
from tests.integration.localrunner import sample_app

KEY = "runner-test-key"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def runner(storage_connection, monkeypatch):
    monkeypatch.setenv("LOCAL_FUNCTION_KEY", KEY)
    monkeypatch.setenv("RUNNER_TEST_SCHEDULE", "0 0 0 1 1 *")
    monkeypatch.setenv("RUNNER_TEST_STORAGE", storage_connection)
    monkeypatch.setenv("RUNNER_TEST_QUEUE", f"runner-{uuid.uuid4().hex[:12]}")
    sample_app.calls.clear()
    instance = LocalRunner(sample_app.app, port=free_port(), blob_poll_s=0)
    instance.start()
    yield instance
    instance.stop()


def test_route_parameters_and_query_reach_the_function(runner):
    response = httpx.get(f"{runner.base_url}/shelves/A-17/items", params={"q": "red"}, headers={"x-functions-key": KEY})
    assert response.status_code == 200
    assert response.json() == {"shelf": "A-17", "q": "red"}


def test_key_in_code_query_parameter_is_accepted_and_async_functions_run(runner):
    response = httpx.post(f"{runner.base_url}/shelves/B/items", params={"code": KEY}, json={"sku": "X1"})
    assert response.status_code == 201
    assert response.json() == {"added": {"sku": "X1"}, "shelf": "B"}


@pytest.mark.parametrize("headers", [{}, {"x-functions-key": "wrong"}, {"x-functions-key": ""}])
def test_missing_or_wrong_key_is_rejected_before_the_function_runs(runner, headers):
    response = httpx.get(f"{runner.base_url}/shelves/A/items", headers=headers)
    assert response.status_code == 401


def test_anonymous_routes_need_no_key_and_unknown_routes_are_404(runner):
    assert httpx.get(f"{runner.base_url}/open").text == "open"
    assert httpx.get(f"{runner.base_url}/nowhere", headers={"x-functions-key": KEY}).status_code == 404


def test_wrong_method_is_not_routed(runner):
    response = httpx.delete(f"{runner.base_url}/shelves/A/items", headers={"x-functions-key": KEY})
    assert response.status_code == 405


def test_timer_runs_on_demand_through_the_admin_endpoint(runner):
    url = f"http://127.0.0.1:{runner.port}/admin/functions/tick"
    assert httpx.post(url).status_code == 401
    assert httpx.post(url, headers={"x-functions-key": KEY}).status_code == 202
    assert sample_app.calls == [("tick", False)]
    missing = httpx.post(f"http://127.0.0.1:{runner.port}/admin/functions/nope", headers={"x-functions-key": KEY})
    assert missing.status_code == 404


def _container(storage_connection: str, name: str):
    """The test container `name`, created on first use (the runner's Azurite is shared by the module)."""
    container = BlobServiceClient.from_connection_string(storage_connection).get_container_client(name)
    if not container.exists():
        container.create_container()
    return container


def test_blob_created_event_is_delivered_once_per_version(runner, storage_connection):
    container = _container(storage_connection, "runner-drop")
    name = f"{uuid.uuid4().hex}.csv"
    container.upload_blob(name, b"a;b\n1;2\n")
    (poller,) = runner.pollers
    poller.poll_once()
    assert ("blob", (f"runner-drop/{name}", b"a;b\n1;2\n")) in sample_app.calls
    before = len(sample_app.calls)
    poller.poll_once()
    assert len(sample_app.calls) == before, "an unchanged blob must not fire again"
    container.upload_blob(name, b"changed", overwrite=True)
    poller.poll_once()
    assert ("blob", (f"runner-drop/{name}", b"changed")) in sample_app.calls


def test_a_function_bound_to_a_blob_client_gets_a_client_not_the_blob(runner, storage_connection):
    from azure.storage.blob import BlobClient

    container = _container(storage_connection, "runner-big")
    name = f"{uuid.uuid4().hex}.csv"
    container.upload_blob(name, b"x" * 1024)
    (poller,) = runner.pollers
    poller.poll_once()
    (seen,) = [c[1] for c in sample_app.calls if c[0] == "blob-client" and c[1][2] == name]
    assert issubclass(seen[0], BlobClient) and seen[1:] == ("runner-big", name)
    assert not [c for c in sample_app.calls if c[0] == "blob" and name in c[1][0]], "nothing else got the blob"


def test_the_snapshot_trigger_is_bound_to_a_blob_client_so_no_host_loads_a_snapshot():
    import function_app
    from devtools.localrunner.catalog import build_catalog
    from devtools.localrunner.triggers import wants_blob_client

    blobs = {f.name: f for f in build_catalog(function_app.app).blobs}
    assert wants_blob_client(blobs["reconcile_snapshot"])
    samples = {f.name: f for f in build_catalog(sample_app.app).blobs}
    assert wants_blob_client(samples["on_big_drop"]) and not wants_blob_client(samples["on_drop"])


def test_run_timer_command_line_runs_one_timer_and_exits(storage_connection, tmp_path):
    marker = tmp_path / "ran"
    env = {
        **os.environ,
        "RUNNER_TEST_SCHEDULE": "0 0 0 1 1 *",
        "RUNNER_TEST_STORAGE": storage_connection,
        "RUNNER_TEST_MARKER": str(marker),
    }
    app = "tests.integration.localrunner.sample_app:app"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools.localrunner",
            "--app",
            app,
            "--settings",
            str(tmp_path / "none.json"),
            "--run-timer",
            "tick",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "ticked"
    unknown = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools.localrunner",
            "--app",
            app,
            "--settings",
            str(tmp_path / "none.json"),
            "--run-timer",
            "nope",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 2
    assert "tick" in unknown.stderr


def test_an_oversized_body_is_refused_with_413_before_the_function_runs(runner, monkeypatch):
    monkeypatch.setenv("INGEST_MAX_BODY_BYTES", "100000")
    url = f"{runner.base_url}/shelves/B/items"

    def chunks():
        for _ in range(50):
            yield b"x" * 65_536

    streamed = httpx.post(url, params={"code": KEY}, content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "PayloadTooLarge", "not 201: not run"
    declared = httpx.post(url, params={"code": KEY}, content=b"x" * 200_000)
    assert declared.status_code == 413
    small = httpx.post(url, params={"code": KEY}, json={"sku": "X1"})
    assert small.status_code == 201


def test_a_restarted_runner_replays_no_blob_and_fires_a_new_version_once(runner, storage_connection):
    """Blob receipts live in storage: a result file or snapshot is not applied again after a restart."""
    container = _container(storage_connection, "runner-drop")
    name = f"{uuid.uuid4().hex}.csv"
    container.upload_blob(name, b"v1")
    (poller,) = runner.pollers
    poller.poll_once()
    runner.stop()

    def deliveries() -> list:
        return [c for c in sample_app.calls if c[0] == "blob" and c[1][0] == f"runner-drop/{name}"]

    assert len(deliveries()) == 1
    restarted = LocalRunner(sample_app.app, port=free_port(), blob_poll_s=0, timers=False)
    restarted.start()
    try:
        (again,) = restarted.pollers
        again.poll_once()
        assert len(deliveries()) == 1, "a restart replays nothing"
        container.upload_blob(name, b"v2", overwrite=True)
        again.poll_once()
        again.poll_once()
        assert [c[1][1] for c in deliveries()] == [b"v1", b"v2"], "a new version fires once"
    finally:
        restarted.stop()


def _queue_poller(storage_connection, max_dequeue_count=2):
    from azure.storage.queue import QueueServiceClient

    from devtools.localrunner.catalog import build_catalog
    from devtools.localrunner.queues import QueuePoller, QueueSettings

    (function,) = build_catalog(sample_app.app).queues
    settings = QueueSettings(batch_size=8, max_dequeue_count=max_dequeue_count, visibility_timeout_s=0)
    poller = QueuePoller([function], QueueServiceClient.from_connection_string(storage_connection), settings)
    return poller, function, poller.queue(function)


def test_the_poller_makes_each_queue_client_once(runner, storage_connection, monkeypatch):
    """Polls and poison moves reuse one client per queue: a new one re-links the service's shared
    policies while other threads' calls are in flight (shared/adapters/storage_clients.py)."""
    runner.stop()
    monkeypatch.setenv("RUNNER_TEST_QUEUE", f"once-{uuid.uuid4().hex[:12]}")
    poller, function, queue = _queue_poller(storage_connection)
    made = []
    original = poller._service.get_queue_client
    monkeypatch.setattr(poller._service, "get_queue_client", lambda name: made.append(name) or original(name))
    for _ in range(3):
        poller.drain_once(function)
    assert poller.queue(function) is queue
    assert made == [], "no client made after the first"


def test_queue_messages_reach_their_function_decoded_as_the_host_does(runner):
    import base64
    import time

    from azure.storage.queue import QueueClient

    queue = QueueClient.from_connection_string(os.environ["RUNNER_TEST_STORAGE"], os.environ["RUNNER_TEST_QUEUE"])
    queue.send_message(base64.b64encode(b'{"partition": "e|o|p"}').decode())
    deadline = time.monotonic() + 30
    while not any(kind == "queue" for kind, _ in sample_app.calls) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ("queue", (b'{"partition": "e|o|p"}', 1)) in sample_app.calls


def test_a_message_that_keeps_failing_goes_to_poison_and_blocks_nothing_else(runner, storage_connection, monkeypatch):
    runner.stop()  # deliveries below are driven one batch at a time
    sample_app.calls.clear()
    monkeypatch.setenv("RUNNER_TEST_QUEUE", f"poison-{uuid.uuid4().hex[:12]}")
    poller, function, queue = _queue_poller(storage_connection, max_dequeue_count=2)
    import base64

    failing = base64.b64encode(b"fail").decode()
    queue.send_message(failing)
    queue.send_message(base64.b64encode(b"ok").decode())
    for _ in range(4):
        poller.drain_once(function)
    assert sample_app.calls.count(("queue", (b"ok", 1))) == 1, "the good message ran once, not blocked"
    assert [c for c in sample_app.calls if c[1][0] == b"fail"] == [("queue", (b"fail", 1)), ("queue", (b"fail", 2))]
    poison = poller._service.get_queue_client(queue.queue_name + "-poison")
    assert [m.content for m in poison.peek_messages()] == [failing], "moved as it was, ready to replay"
    assert list(queue.peek_messages()) == [], "nothing is left on the work queue"
