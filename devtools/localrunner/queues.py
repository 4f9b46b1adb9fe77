"""Delivering queue messages to queue-triggered functions, as the Functions host does.

Per function: poll its queue (backing off up to `maxPollingInterval` while it is empty), take up
to `batchSize` messages invisible for the run, call the function on a pool of workers, delete a
message when the function returned, and otherwise make it visible again after
`visibilityTimeout`; a message that failed on its `maxDequeueCount`-th delivery moves to
`{queue}-poison`. Settings come from host.json's `extensions.queues`, with the host's defaults.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient, QueueServiceClient

from devtools.localrunner.catalog import QueueFunction
from devtools.localrunner.invoke import call
from devtools.localrunner.settings import resolve

log = logging.getLogger("localrunner")
POISON_SUFFIX = "-poison"
LOCK_S = 600
"""How long a taken message stays invisible while its function runs (the host renews it likewise)."""


def _seconds(value: Any, default: float) -> float:
    """`hh:mm:ss` (host.json TimeSpan) or a number of seconds."""
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    match = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", str(value))
    if not match:
        raise ValueError(f"host.json: {value!r} is not a hh:mm:ss time span")
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueSettings:
    """host.json `extensions.queues`; defaults are the host's, but for polling (2 s locally)."""

    batch_size: int = 16
    max_dequeue_count: int = 5
    visibility_timeout_s: float = 0.0
    max_polling_interval_s: float = 2.0

    @classmethod
    def from_host_json(cls, path: Path) -> QueueSettings:
        if not path.exists():
            return cls()
        queues = json.loads(path.read_text(encoding="utf-8")).get("extensions", {}).get("queues", {})
        return cls(
            batch_size=int(queues.get("batchSize", 16)),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout_s=_seconds(queues.get("visibilityTimeout"), 0.0),
            max_polling_interval_s=_seconds(queues.get("maxPollingInterval"), 2.0),
        )


def _decoded(content: str) -> bytes:
    """The host's default `messageEncoding` is base64; a message that is not base64 is passed as is."""
    try:
        return base64.b64decode(content, validate=True)
    except ValueError:
        return content.encode()


class QueuePoller:
    """Delivers the messages of every queue function of one storage connection."""

    def __init__(
        self,
        functions: list[QueueFunction],
        service: QueueServiceClient,
        settings: QueueSettings,
        workers: int | None = None,
    ) -> None:
        self._functions = functions
        self._service = service
        self.settings = settings
        self._workers = workers or settings.batch_size
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._clients: dict[str, QueueClient] = {}
        self._clients_lock = threading.Lock()
        self.poisoned = 0

    def start(self) -> None:
        for function in self._functions:
            thread = threading.Thread(target=self._loop, args=(function,), name=f"queue-{function.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, wait_s: float = 10) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=wait_s)

    def queue(self, function: QueueFunction) -> QueueClient:
        return self._client(resolve(function.queue_name))

    def _client(self, name: str) -> QueueClient:
        """One client per queue, made (and its queue created) once: `get_queue_client` re-links the
        service's shared policies into a new pipeline, which breaks a call in flight on another
        thread (see shared/adapters/storage_clients.py), and every poll paid a create call."""
        with self._clients_lock:
            client = self._clients.get(name)
            if client is None:
                client = self._service.get_queue_client(name)
                with contextlib.suppress(ResourceExistsError):
                    client.create_queue()
                self._clients[name] = client
        return client

    def drain_once(self, function: QueueFunction, pool: ThreadPoolExecutor | None = None) -> int:
        """Take one batch and deliver it; returns how many messages were taken."""
        client = self.queue(function)
        batch = list(
            client.receive_messages(
                messages_per_page=self.settings.batch_size,
                max_messages=self.settings.batch_size,
                visibility_timeout=LOCK_S,
            )
        )
        if pool is None:
            for message in batch:
                self._deliver(function, client, message)
        else:
            list(pool.map(lambda m: self._deliver(function, client, m), batch))
        return len(batch)

    def _deliver(self, function: QueueFunction, client: QueueClient, message: Any) -> None:
        trigger = QueueMessage(
            id=message.id,
            body=_decoded(message.content),
            dequeue_count=message.dequeue_count,
            insertion_time=message.inserted_on,
            expiration_time=message.expires_on,
            pop_receipt=message.pop_receipt,
        )
        try:
            call(function.user_function, function.arg_name, trigger)
        except Exception:
            log.exception(
                "Function '%s' failed on message %s (delivery %d of %d)",
                function.name,
                message.id,
                message.dequeue_count,
                self.settings.max_dequeue_count,
            )
            self._failed(function, client, message)
            return
        client.delete_message(message)

    def _failed(self, function: QueueFunction, client: QueueClient, message: Any) -> None:
        if message.dequeue_count >= self.settings.max_dequeue_count:
            poison = self._client(client.queue_name + POISON_SUFFIX)
            poison.send_message(message.content)
            client.delete_message(message)
            self.poisoned += 1
            log.error(
                "Message %s of '%s' moved to %s after %d deliveries",
                message.id,
                function.name,
                poison.queue_name,
                message.dequeue_count,
            )
            return
        client.update_message(message, visibility_timeout=int(self.settings.visibility_timeout_s))

    def _loop(self, function: QueueFunction) -> None:
        idle = 0.05
        with ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix=f"q-{function.name}") as pool:
            while not self._stop.is_set():
                try:
                    taken = self.drain_once(function, pool)
                except Exception:
                    log.exception("Polling the queue of '%s' failed", function.name)
                    taken = 0
                if taken:
                    idle = 0.05
                    continue
                self._stop.wait(idle)
                idle = min(self.settings.max_polling_interval_s, idle * 2)
