"""Work messages on Azure Storage queues: batches of touched ledger partitions (or an environment for sends).

Messages are JSON, base64-encoded as the Functions host's queue trigger expects by default. The
queue is only the fast path: every message stands for a marker in the pending index, which the
timers sweep when a message was lost, so a failed put never loses work.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from shared.adapters.storage_clients import queue_client, queue_service
from shared.adapters.table_batches import in_parallel, resilient
from shared.config import get_settings

log = logging.getLogger(__name__)
POISON_SUFFIX = "-poison"


def encode(body: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(body, sort_keys=True).encode()).decode()


def decode(text: str | bytes) -> dict[str, Any]:
    """A message body as the host hands it (already decoded) or as stored (base64)."""
    raw = text.encode() if isinstance(text, str) else text
    with contextlib.suppress(ValueError):
        raw = base64.b64decode(raw, validate=True)
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("a work message is a JSON object")
    return value


@dataclass(frozen=True)
class PoisonMessage:
    queue: str
    message_id: str
    inserted_on: str | None
    body: dict[str, Any] | str


_created: set[tuple[str, str]] = set()


class WorkQueues:
    """Puts and reads work messages; `fault` is a test hook called before every put."""

    def __init__(self, fault: Any = None) -> None:
        self._service = queue_service()
        self._fault = fault or (lambda step: None)

    def client(self, work: str) -> QueueClient:
        name = get_settings().queue_name(work)
        client = queue_client(name)
        key = (self._service.url, name)
        if key not in _created:  # Bicep creates queues in Azure; Azurite starts empty
            with contextlib.suppress(ResourceExistsError):
                client.create_queue()
            _created.add(key)
        return client

    def put(self, work: str, bodies: Iterable[dict[str, Any]], delay_s: int = 0) -> int:
        """Put each body as its own message (in parallel: each put is one round trip)."""
        client = self.client(work)
        items = [(encode(body),) for body in bodies]

        def send(text: str) -> None:
            self._fault(f"enqueue_{work}")
            resilient(client.send_message, text, visibility_timeout=delay_s or None)

        list(in_parallel(send, items))
        return len(items)

    def poison(self, work: str, limit: int = 32) -> list[PoisonMessage]:
        """Messages the host gave up on (after `maxDequeueCount` failures), oldest first, not removed."""
        client = queue_client(get_settings().queue_name(work) + POISON_SUFFIX)
        with contextlib.suppress(Exception):
            return [
                PoisonMessage(
                    client.queue_name, m.id, m.inserted_on.isoformat() if m.inserted_on else None, _body(m.content)
                )
                for m in client.peek_messages(max_messages=min(limit, 32))
            ]
        return []

    def replay_poison(self, work: str, limit: int = 1000) -> int:
        """Move poison messages back to their work queue (after the cause was fixed)."""
        poison = queue_client(get_settings().queue_name(work) + POISON_SUFFIX)
        target = self.client(work)
        moved = 0
        for message in _drain(poison, limit):
            target.send_message(message.content)
            poison.delete_message(message)
            moved += 1
        return moved


def _drain(client: QueueClient, limit: int) -> Iterator[Any]:
    taken = 0
    while taken < limit:
        try:
            batch = list(client.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=60))
        except Exception:  # the poison queue does not exist: nothing to replay
            return
        if not batch:
            return
        for message in batch:
            taken += 1
            yield message


def _body(content: str) -> dict[str, Any] | str:
    try:
        return decode(content)
    except ValueError:
        return content
