"""Running timer and blob functions: on schedule, on demand, or when a blob appears."""

from __future__ import annotations

import inspect
import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.functions.blob import InputStream
from azure.functions.timer import TimerRequest
from azure.storage.blob import BlobClient, BlobServiceClient
from azurefunctions.extensions.base import Datum
from azurefunctions.extensions.bindings.blob.blobClientConverter import BlobClientConverter

from devtools.localrunner import ncrontab
from devtools.localrunner.catalog import BlobFunction, Catalog, TimerFunction
from devtools.localrunner.invoke import call, singleton
from devtools.localrunner.settings import resolve

log = logging.getLogger("localrunner")


class UnknownFunction(LookupError):
    pass


def run_timer(timer: TimerFunction, past_due: bool = False) -> None:
    """Run a timer function once, waiting for a run already in progress to finish first."""
    with singleton(timer.name):
        log.info("Executing '%s' (timer)", timer.name)
        call(timer.user_function, timer.arg_name, TimerRequest(past_due=past_due))
        log.info("Executed '%s' (timer)", timer.name)


def _annotation(function: BlobFunction) -> object:
    return inspect.signature(function.user_function).parameters[function.arg_name].annotation


def wants_blob_client(function: BlobFunction) -> bool:
    """Whether the trigger parameter is an SDK type (`azurefunctions.extensions.bindings.blob.BlobClient`):
    the host then passes a client and never downloads the blob, and so does the runner."""
    annotation = _annotation(function)
    return isinstance(annotation, type) and issubclass(annotation, BlobClient)


@dataclass(frozen=True)
class ModelBindingData:
    """What the host sends the Python worker for an SDK-type binding (the worker's protobuf message of
    this name): no blob content, only where the blob is and the *name* of the connection setting."""

    content: str
    version: str = "1.0"
    source: str = "AzureStorageBlobs"
    content_type: str = "application/json"


def sdk_blob_client(function: BlobFunction, blob_name: str) -> object:
    """The client the Python worker hands an SDK-type blob trigger, made the way the worker makes it.

    The host does not build the client: it sends the binding's connection name, container and blob,
    and the extension (`azurefunctions-extensions-bindings-blob`, in the worker) builds the client from
    the app settings, knowing fewer forms of them than the host (`NAME`, `NAME__serviceUri`,
    `NAME__blobServiceUri`; `__accountName` only for `AzureWebJobsStorage`). Going through it here
    means a setting it cannot read fails locally too, not only in Azure."""
    content = {"Connection": function.connection, "ContainerName": function.container, "BlobName": blob_name}
    datum = Datum(value=ModelBindingData(json.dumps(content)), type="model_binding_data")
    return BlobClientConverter.decode(datum, trigger_metadata=None, pytype=_annotation(function))


def deliver_blob(function: BlobFunction, service: BlobServiceClient, blob_name: str) -> None:
    """Hand one blob to a blob-triggered function as the host does: a `BlobClient` when the function
    asks for one (SDK-type binding, made by the extension: `sdk_blob_client`), otherwise the whole
    blob as `func.InputStream`."""
    value: object
    if wants_blob_client(function):
        value = sdk_blob_client(function, blob_name)
    else:
        client = service.get_blob_client(function.container, blob_name)
        data = client.download_blob().readall()
        value = InputStream(data=data, name=f"{function.container}/{blob_name}", uri=client.url, length=len(data))
    with singleton(f"{function.name}:{blob_name}"):
        log.info("Executing '%s' (blob %s/%s)", function.name, function.container, blob_name)
        call(function.user_function, function.arg_name, value)


class TimerScheduler:
    """A thread per timer that sleeps until the next NCRONTAB occurrence and runs the function."""

    def __init__(self, catalog: Catalog) -> None:
        self._timers = list(catalog.timers.values())
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.schedules = {t.name: ncrontab.validate(resolve(t.schedule)) for t in self._timers}

    def start(self) -> None:
        for timer in self._timers:
            thread = threading.Thread(target=self._loop, args=(timer,), name=f"timer-{timer.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()

    def _loop(self, timer: TimerFunction) -> None:
        if timer.run_on_startup:
            self._safe_run(timer)
        while not self._stop.is_set():
            due = ncrontab.next_fire(self.schedules[timer.name])
            if self._stop.wait(max(0.0, (due - datetime.now(UTC)).total_seconds())):
                return
            self._safe_run(timer)

    @staticmethod
    def _safe_run(timer: TimerFunction) -> None:
        try:
            run_timer(timer)
        except Exception:
            log.exception("Timer '%s' failed", timer.name)


RECEIPTS_CONTAINER = "localrunner-receipts"
"""Blob receipts, as the Functions host keeps them in `azure-webjobs-hosts/blobreceipts/`: one per function
and blob, holding the ETag of the version that fired. A restarted runner reads them and replays nothing."""


class BlobPoller:
    """Stands in for Event Grid, which Azurite lacks: lists watched containers and fires new blobs.

    A blob fires once per version (ETag) and function, as with the host's blob receipts, and the receipts
    live in storage (container `localrunner-receipts`), so restarting the runner fires nothing again.
    Blobs present when the poller starts are delivered unless a receipt (or `seen`) holds their ETag.
    A receipt is written once the function has run, whether it succeeded or failed (a failure is logged):
    a bad file is not retried for ever; a runner killed mid-delivery delivers that blob again.
    """

    def __init__(
        self, catalog: Catalog, service: BlobServiceClient, interval_s: float = 2.0, seen: dict[str, str] | None = None
    ) -> None:
        self._functions = catalog.blobs
        self._service = service
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.seen: dict[str, str] = dict(seen or {})
        self._receipts: dict[str, str] | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="blob-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @staticmethod
    def _receipt_name(function: BlobFunction, container: str, blob_name: str) -> str:
        return f"{function.name}/{container}/{blob_name}"

    def _load_receipts(self) -> dict[str, str]:
        if self._receipts is None:
            receipts = self._service.get_container_client(RECEIPTS_CONTAINER)
            try:
                self._receipts = {
                    b.name: (b.metadata or {}).get("etag", "") for b in receipts.list_blobs(include=["metadata"])
                }
            except ResourceNotFoundError:
                receipts.create_container()
                self._receipts = {}
        return self._receipts

    def _write_receipt(self, name: str, etag: str) -> None:
        self._service.get_blob_client(RECEIPTS_CONTAINER, name).upload_blob(
            b"", overwrite=True, metadata={"etag": etag.strip('"')}
        )
        self._load_receipts()[name] = etag.strip('"')

    def poll_once(self) -> int:
        """Deliver every new or changed blob once; returns how many deliveries ran."""
        delivered = 0
        receipts = self._load_receipts()
        for container in sorted({f.container for f in self._functions}):
            try:
                blobs = list(self._service.get_container_client(container).list_blobs())
            except ResourceNotFoundError:
                continue
            for blob in blobs:
                key = f"{container}/{blob.name}"
                if self.seen.get(key) == blob.etag:
                    continue
                self.seen[key] = blob.etag
                for function in self._functions:
                    if function.container != container or not function.matches(blob.name):
                        continue
                    receipt = self._receipt_name(function, container, blob.name)
                    if receipts.get(receipt) == blob.etag.strip('"'):
                        continue
                    try:
                        deliver_blob(function, self._service, blob.name)
                        delivered += 1
                    except Exception:
                        log.exception("Blob function '%s' failed for %s", function.name, key)
                    self._write_receipt(receipt, blob.etag)
        return delivered

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("Blob polling failed")
            self._stop.wait(self._interval)


def find_timer(catalog: Catalog, name: str) -> TimerFunction:
    try:
        return catalog.timers[name]
    except KeyError:
        raise UnknownFunction(f"no timer function named {name!r}; timers: {sorted(catalog.timers)}") from None
