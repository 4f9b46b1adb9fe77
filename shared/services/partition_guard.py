"""One visit of a product's partition at a time in this process, per kind of work.

A popular product is named by many requests, so the messages a host runs side by side (a batch's
entries, and the host's concurrent messages) often name it more than once. Two visits at once
both pay the visit's read (a range query), and one of them loses the ETag race, reads again and
retries. Made to wait for the visit in flight instead, the second finds its lines done by the
cheap duplicate check (point reads) and costs no query. Other instances are not coordinated:
their visits stay harmless through the ETag guards, as before; this only saves work.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_registry = threading.Lock()
_visits: dict[tuple[str, str], tuple[threading.Lock, int]] = {}


@contextmanager
def one_visit_at_a_time(kind: str, partition: str) -> Iterator[None]:
    """Hold `partition` for a `kind` of visit; a second visit of it in this process waits here.

    A thread holds one partition at a time (a visit never starts another), so waiting cannot
    deadlock. Entries are dropped when their last visitor leaves: the registry holds only the
    partitions being visited."""
    key = (kind, partition)
    with _registry:
        lock, users = _visits.get(key, (None, 0))
        if lock is None:
            lock = threading.Lock()
        _visits[key] = (lock, users + 1)
    try:
        with lock:
            yield
    finally:
        with _registry:
            _, users = _visits[key]
            if users == 1:
                del _visits[key]
            else:
                _visits[key] = (lock, users - 1)


def visits_in_flight() -> int:
    """Partitions held or waited for right now (tests check nothing is left behind)."""
    with _registry:
        return len(_visits)
