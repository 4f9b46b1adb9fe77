"""A tiny FunctionApp the runner tests host: one of each trigger kind, recording what it saw."""

import json
import os
from pathlib import Path

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
calls: list[tuple[str, object]] = []


@app.route(route="shelves/{shelfId}/items", methods=["GET"])
def list_items(req: func.HttpRequest) -> func.HttpResponse:
    body = {"shelf": req.route_params["shelfId"], "q": req.params.get("q")}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="shelves/{shelfId}/items", methods=["POST"])
async def add_item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"added": req.get_json(), "shelf": req.route_params["shelfId"]}),
        status_code=201,
        mimetype="application/json",
    )


@app.route(route="open", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def open_route(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("open")


@app.timer_trigger(schedule="%RUNNER_TEST_SCHEDULE%", arg_name="timer")
def tick(timer: func.TimerRequest) -> None:
    calls.append(("tick", timer.past_due))
    marker = os.environ.get("RUNNER_TEST_MARKER")
    if marker:
        Path(marker).write_text("ticked", encoding="utf-8")


@app.blob_trigger(
    arg_name="blob", path="runner-drop/{name}", connection="RUNNER_TEST_STORAGE", source=func.BlobSource.EVENT_GRID
)
def on_drop(blob: func.InputStream) -> None:
    calls.append(("blob", (blob.name, blob.read())))


@app.blob_trigger(
    arg_name="client", path="runner-big/{name}", connection="RUNNER_TEST_STORAGE", source=func.BlobSource.EVENT_GRID
)
def on_big_drop(client: blob.BlobClient) -> None:
    calls.append(("blob-client", (type(client), client.container_name, client.blob_name)))


@app.queue_trigger(arg_name="msg", queue_name="%RUNNER_TEST_QUEUE%", connection="RUNNER_TEST_STORAGE")
def on_work(msg: func.QueueMessage) -> None:
    body = msg.get_body()
    calls.append(("queue", (body, msg.dequeue_count)))
    if body == b"fail":
        raise RuntimeError("this message always fails")
