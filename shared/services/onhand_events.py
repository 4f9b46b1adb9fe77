"""On-hand change events (`/onhand`, `/onhand/bulk`, `/setonhand/{dataSource}/bulk`), applied once per id.

Order of writes: the id record (environment-wide: the same id for another product is a conflict,
not a second change), then, per product partition, the cache rows together with an event marker
`E|id`. A crash in between leaves an id without a marker; the client's retry sees `duplicate`,
finds no marker and applies the event then — so a retried request always ends applied once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from shared.adapters.ledger_keys import event_key, ledger_partition
from shared.adapters.table_batches import in_parallel
from shared.domain.cache import CacheChange
from shared.domain.ledger_records import IdRecord
from shared.domain.onhand_events import OnHandEvent, event_edits
from shared.services.cache_changes import apply_changes
from shared.services.outcomes import LineOutcome, split_repeats
from shared.services.ports import ChangePort

ID_NAMESPACE = "ev|"
"""Event ids share the id table with adjustment lines; `|` never occurs in an id, so they cannot collide."""


def _partition(environment_id: str, event: OnHandEvent) -> str:
    return ledger_partition(environment_id, event.organization_id, event.product_id)


def _change(event: OnHandEvent, at: datetime) -> CacheChange:
    marker = {
        "Kind": "onhand",
        "EventId": event.id,
        "Mode": event.mode,
        "Fingerprint": event.fingerprint(),
        "Payload": json.dumps(event.content(), sort_keys=True),
        "AppliedAt": at,
    }
    return CacheChange(event_key(event.id), marker, None, event_edits(event))


def post_events(
    store: ChangePort,
    environment_id: str,
    events: list[OnHandEvent],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[LineOutcome]:
    """Apply each new event once; report `created`, `duplicate` (already applied) or `conflict` per event."""
    outcomes, fresh = split_repeats(events, lambda event: event.id, lambda event: event.fingerprint())
    existing = store.reserve_ids(
        environment_id, [IdRecord(ID_NAMESPACE + e.id, _partition(environment_id, e), fp) for _, e, fp in fresh]
    )
    to_apply: dict[str, list[tuple[int, OnHandEvent, bool]]] = defaultdict(list)
    for index, event, fingerprint in fresh:
        stored = existing.get(ID_NAMESPACE + event.id)
        if stored is not None and stored.fingerprint != fingerprint:
            outcomes[index] = LineOutcome(
                index, event.id, "conflict", None, "this id was applied earlier with other content; it was not applied"
            )
            continue
        to_apply[_partition(environment_id, event)].append((index, event, stored is not None))

    def apply(partition: str, items: list[tuple[int, OnHandEvent, bool]]) -> list[LineOutcome]:
        first_load = [True]

        def load() -> list[CacheChange]:
            # Only an event that may have been applied before (a retry, or after a lost race) costs a read.
            pending = []
            for _, event, was_known in items:
                if (was_known or not first_load[0]) and store.get_entity(partition, event_key(event.id)):
                    continue
                pending.append(_change(event, clock()))
            first_load[0] = False
            return pending

        applied = {c.marker_key for c in apply_changes(store, partition, load, clock)}
        return [
            LineOutcome(index, event.id, "created" if event_key(event.id) in applied else "duplicate", "applied")
            for index, event, _ in items
        ]

    for results in in_parallel(apply, sorted(to_apply.items())):
        outcomes.update({o.index: o for o in results})
    return [outcomes[i] for i in range(len(events))]
