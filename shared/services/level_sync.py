"""Level sync: the ERP's levels in the cache → delta journals for each target system.

Flow (queue-driven; the `level_sweep` timer catches lost messages):

1. On-hand events of a target's ERP data source mark the product's ledger partition (`level`
   marker, written first) and put one `level` message for it.
2. `visit_levels` (per product, every target that takes it): read the committed state `S`, then
   the cache rows, compute the target's levels, and commit the new `S` together with a batch of
   delta lines, guarded by `S`'s ETag. A lost race re-reads both: a commit's levels always come
   from a read made after the previous commit, so a target never gets an older level after a
   newer one. The partition gets a `levelsend` marker and its target a `levelsend` message.
3. `send_target` (one holder per target, under a lease): batches already in a file (`sending`)
   are resent first under the same file id; then open batches are grouped into a new file, the
   file id is written into them, the file goes out, and they move to history with `T` (sent
   levels) in one transaction per product. A failure is recorded on the batches and retried with
   a growing delay; nothing newer of the target is sent meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.adapters.ledger_keys import split_partition
from shared.adapters.ledger_tables import ConcurrencyConflict
from shared.adapters.level_connectors import LevelConnector, LevelSendFailed
from shared.adapters.level_tables import (
    LEVEL_SEND_WORK,
    LEVEL_WORK,
    LevelStore,
    levels_partition,
    split_levels_partition,
    target_range,
)
from shared.adapters.pending_index import Marker
from shared.adapters.table_batches import in_parallel
from shared.domain.inventory_config import InventoryConfig
from shared.domain.level_deltas import DeltaLine, LevelFile, delta_lines, merged_levels, target_levels
from shared.domain.level_targets import LevelTarget
from shared.services.ports import PendingWork, WorkSink

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
ConfigOf = Callable[[str], InventoryConfig]
MAX_CONFLICTS = 20
LEASE_SECONDS = 540
RETRY_DELAY_S = 5
MAX_BACKOFF_S = 3600
SWEEP_CHUNK = 100
"""Products a sweep visits before it writes their send markers and clears their level markers."""
FINISH_CHUNK = 49
"""Batches moved to history in one transaction (two operations each, plus the sent state)."""


def _now() -> datetime:
    return datetime.now(UTC)


# ---- 1. levels in: which partitions to visit -----------------------------------------------------------
def level_partitions(
    environment_id: str, config: InventoryConfig, changes: Iterable[tuple[str, str, Iterable[str]]]
) -> list[str]:
    """Ledger partitions whose change touches a target's ERP data source (organization, product, data sources)."""
    sources = {t.dataSource.lower() for t in config.targets}
    found = set()
    for organization_id, product_id, data_sources in changes:
        if any(ds.lower() in sources for ds in data_sources) and any(
            t.takes_product(product_id) for t in config.targets
        ):
            found.add(f"{environment_id}|{organization_id}|{product_id}")
    return sorted(found)


def queue_level_work(store: PendingWork, queues: WorkSink | None, partitions: list[str], at: datetime) -> None:
    """Markers first, then one `level` message per partition: a lost message is only a delay."""
    if not partitions:
        return
    markers = store.mark_pending(partitions, at, kind=LEVEL_WORK)
    if queues is None:
        return
    try:
        queues.put("level", [m.as_message() for m in markers])
    except Exception:
        log.warning(
            "could not queue level work for %d partitions; the sweep picks them up", len(markers), exc_info=True
        )


# ---- 2. the visit: compare and commit -----------------------------------------------------------------------
@dataclass
class VisitReport:
    lines: int = 0
    to_send: set[str] = field(default_factory=set)
    """Targets with open batches for this product after the visit."""
    to_mark: list[str] = field(default_factory=list)
    """Their levels partitions (`levelsend` markers, written by the visit unless the caller batches them)."""


def _stamp(value: datetime | None, fallback: datetime) -> str:
    return (value or fallback).astimezone(UTC).isoformat().replace("+00:00", "Z")


def visit_levels(
    store: LevelStore, config: InventoryConfig, partition: str, clock: Clock = _now, *, mark: bool = True
) -> VisitReport:
    """Commit each target's delta lines for one product exactly once; mark what has batches to send."""
    environment_id, organization_id, product_id = split_partition(partition)
    report = VisitReport()
    to_mark = report.to_mark
    for target in config.targets:
        if not target.takes_product(product_id):
            continue
        key = levels_partition(environment_id, target.name, organization_id, product_id)
        for _ in range(MAX_CONFLICTS):
            state, sent = store.read_state(key)
            rows, stamps = store.cache_rows(partition)  # after the state: see the module docstring
            current = target_levels(target, rows, stamps)
            previous = json.loads(state["Levels"]) if state else None
            sequence = (state["Seq"] if state else 0) + 1
            lines = delta_lines(
                organization_id, product_id, previous, current, sequence, _stamp(current.erp_timestamp, clock())
            )
            if lines:
                try:
                    store.commit_batch(
                        key,
                        state["_etag"] if state else None,
                        merged_levels(previous, current.levels),
                        sequence,
                        lines,
                        clock(),
                    )
                except ConcurrencyConflict:
                    continue
                report.lines += len(lines)
            committed = sequence if lines else (state["Seq"] if state else 0)
            if committed > (sent["Seq"] if sent else 0):
                to_mark.append(key)
                report.to_send.add(target.name)
            break
        else:
            raise ConcurrencyConflict(f"{key}: gave up after {MAX_CONFLICTS} conflicts")
    if to_mark and mark:
        store.mark_pending(to_mark, clock(), kind=LEVEL_SEND_WORK)
    return report


def visit_many(store: LevelStore, config_of: ConfigOf, partitions: list[str], clock: Clock = _now) -> VisitReport:
    """Visit products in parallel, then write their `levelsend` markers in one go (the sweep's way).

    The callers clear the products' `level` markers only after this returns: a crash before the
    markers are written leaves the visit to be repeated, which commits nothing twice and marks again.
    """
    configs = {env: config_of(env) for env in {split_partition(p)[0] for p in partitions}}
    total = VisitReport()
    for one in in_parallel(
        lambda partition: visit_levels(store, configs[split_partition(partition)[0]], partition, clock, mark=False),
        [(p,) for p in partitions],
    ):
        total.lines += one.lines
        total.to_mark += one.to_mark
        total.to_send |= one.to_send
    if total.to_mark:
        store.mark_pending(total.to_mark, clock(), kind=LEVEL_SEND_WORK)
    return total


def schedule_level_send(store: PendingWork, queues: WorkSink, environment_id: str, target: str, delay_s: int) -> None:
    """One `levelsend` message per target waiting at a time (the send removes the schedule first)."""
    if store.schedule_once(f"levelsend|{environment_id}|{target}", _now()):
        queues.put("levelsend", [{"environment": environment_id, "target": target}], delay_s=delay_s)


def on_level_message(
    store: LevelStore,
    queues: WorkSink,
    body: dict[str, Any],
    config_of: ConfigOf,
    *,
    send_delay_s: int = 0,
    clock: Clock = _now,
) -> VisitReport:
    partition = body.get("partition")
    if not isinstance(partition, str) or partition.count("|") < 2:
        raise ValueError(f"a level message names no ledger partition: {str(body)[:200]}")
    marker = Marker.from_message(body)
    environment_id = split_partition(partition)[0]
    report = visit_levels(store, config_of(environment_id), partition, clock)
    for target in sorted(report.to_send):
        schedule_level_send(store, queues, environment_id, target, send_delay_s)
    if marker is not None:
        store.clear_pending(marker)  # kept when a newer change marked it again: its message follows
    return report


# ---- 3. the send -------------------------------------------------------------------------------------------------
@dataclass
class SendReport:
    files: int = 0
    lines: int = 0
    failed: str | None = None
    waiting: bool = False
    """Another holder had the lease, or a failed file waits for its retry time (`retry_at`)."""
    retry_at: datetime | None = None


def file_id_for(target: str, batches: list[tuple[str, str]]) -> str:
    """Derived from the batches it carries (partition, row key): the same batches, the same id."""
    digest = hashlib.sha256(json.dumps([target, sorted(batches)]).encode()).hexdigest()
    return "LV-" + digest[:24].upper()


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_S, 60 * 2 ** max(0, attempts - 1)))


@contextmanager
def _lease(store: LevelStore, name: str, clock: Clock) -> Iterator[bool]:
    etag = store.acquire_lease(name, uuid.uuid4().hex, clock(), LEASE_SECONDS)
    try:
        yield etag is not None
    finally:
        if etag is not None:
            store.release_lease(name, etag)


def _lines(batches: list[dict[str, Any]]) -> list[DeltaLine]:
    return [DeltaLine.from_dict(item) for batch in batches for item in json.loads(batch["Lines"])]


def send_target(
    store: LevelStore,
    connector: LevelConnector,
    environment_id: str,
    target: str,
    *,
    max_lines: int = 1000,
    clock: Clock = _now,
    budget_s: float = 420,
    monotonic: Callable[[], float] = time.monotonic,
) -> SendReport:
    """Send the target's open batches, oldest product change first, in files of about `max_lines`."""
    report = SendReport()
    store.unschedule(f"levelsend|{environment_id}|{target}")  # changes from now on schedule the next send
    with _lease(store, f"levels|{environment_id}|{target}", clock) as held:
        if not held:
            report.waiting = True
            return report
        deadline = monotonic() + budget_s
        lo, hi = target_range(environment_id, target)
        markers = [
            m for m in store.pending_markers(LEVEL_SEND_WORK, environment_id=environment_id) if lo <= m.partition < hi
        ]
        read = dict(
            in_parallel(lambda partition: (partition, store.open_batches(partition)), [(m.partition,) for m in markers])
        )
        open_by_partition = {partition: batches for partition, (batches, _) in read.items()}
        sent_by_partition = {partition: sent for partition, (_, sent) in read.items()}
        in_flight: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for partition, batches in open_by_partition.items():
            for batch in batches:
                if batch.get("FileId"):
                    in_flight[batch["FileId"]].append((partition, batch))
        now = clock()
        for file_id, flying in sorted(in_flight.items(), key=lambda kv: min(b["CreatedAt"] for _, b in kv[1])):
            due = max((b["NextAttemptAt"] for _, b in flying if b.get("NextAttemptAt")), default=None)
            if due is not None and due > now:
                report.waiting, report.retry_at = True, due
                return report
            history = store.sent_with_file(environment_id, target, file_id)
            if not _send_file(store, connector, file_id, flying, sent_by_partition, report, history, clock):
                return report
        fresh = [
            (partition, [b for b in batches if not b.get("FileId")]) for partition, batches in open_by_partition.items()
        ]
        fresh = [(p, bs) for p, bs in fresh if bs]
        while fresh and monotonic() < deadline:
            members: list[tuple[str, dict[str, Any]]] = []
            count = 0
            while fresh and (count == 0 or count + sum(b["LineCount"] for b in fresh[0][1]) <= max_lines):
                partition, batches = fresh.pop(0)
                members += [(partition, b) for b in batches]
                count += sum(b["LineCount"] for b in batches)
            file_id = file_id_for(target, [(p, b["RowKey"]) for p, b in members])
            for batch in (b for _, b in members):
                batch["FileId"] = file_id  # history keeps it: a resend after a crash finds these lines
            list(
                in_parallel(
                    store.mark_batches,
                    [(p, [b["RowKey"] for b in bs], {"FileId": file_id}) for p, bs in _by_partition(members).items()],
                )
            )
            if not _send_file(store, connector, file_id, members, sent_by_partition, report, clock=clock):
                return report
        # Every batch read at the start is sent (but those the budget left). A change committed since
        # marked its partition again, which changed the marker's ETag: clearing it is then refused.
        remaining = {partition for partition, _ in fresh}
        list(in_parallel(store.clear_pending, [(m,) for m in markers if m.partition not in remaining]))
    return report


def _by_partition(members: list[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for partition, batch in members:
        out[partition].append(batch)
    return out


def _send_file(
    store: LevelStore,
    connector: LevelConnector,
    file_id: str,
    members: list[tuple[str, dict[str, Any]]],
    sent_by_partition: dict[str, dict[str, Any] | None],
    report: SendReport,
    history: list[tuple[str, dict[str, Any]]] | None = None,
    clock: Clock = _now,
) -> bool:
    """Send one file and finish its open batches; `history` are its batches a crashed run already finished.

    `sent_by_partition` holds each product's sent state `T` as read (only the lease holder writes it)
    and is kept current, so a product finished in two files of one run builds on the first.
    """
    environment_id, target = split_levels_partition(members[0][0])[:2]
    grouped = _by_partition(members)
    everything = _by_partition([*members, *(history or [])])
    lines = [line for partition in sorted(everything) for line in _lines(sorted(everything[partition], key=_order))]
    try:
        connector.send(LevelFile(file_id, environment_id, target, tuple(lines)))
    except LevelSendFailed as exc:
        now = clock()
        for partition, batches in grouped.items():
            attempts = max(int(b.get("Attempts") or 0) for b in batches) + 1
            store.mark_batches(
                partition,
                [b["RowKey"] for b in batches],
                {"Attempts": attempts, "LastError": str(exc)[:1000], "NextAttemptAt": now + backoff(attempts)},
            )
        log.warning("level file %s for %s/%s failed: %s", file_id, environment_id, target, exc)
        report.failed = str(exc)
        return False
    at = clock()

    def finish(partition: str, batches: list[dict[str, Any]]) -> None:
        ordered = sorted(batches, key=_order)
        sent = sent_by_partition.get(partition)
        levels: dict[str, dict[str, str]] = json.loads(sent["Levels"]) if sent else {}
        _, _, organization_id, product_id = split_levels_partition(partition)
        # A transaction holds 100 operations: two per batch and one for `T`. A crash between chunks
        # leaves the rest in flight; the resend carries the finished ones from history.
        for start in range(0, len(ordered), FINISH_CHUNK):
            chunk = ordered[start : start + FINISH_CHUNK]
            for line in _lines(chunk):
                levels.setdefault(line.target_warehouse, {})[line.measure] = line.as_dict()["newLevel"]
            state = {
                "Status": "state",
                "OrganizationId": organization_id,
                "ProductId": product_id,
                "Levels": json.dumps(levels, sort_keys=True),
                "Seq": max(int(b["Seq"]) for b in chunk),
                "FileId": file_id,
                "SentAt": at,
            }
            store.finish_batches(partition, chunk, state, at)
            sent_by_partition[partition] = state

    list(in_parallel(finish, list(grouped.items())))
    report.files += 1
    report.lines += len(lines)
    return True


def _order(batch: dict[str, Any]) -> tuple[int, str]:
    """Sequence order (open `B|` and finished `Z|` batches of one file together)."""
    return int(batch["Seq"]), str(batch["RowKey"])[2:]


# ---- the sweep -----------------------------------------------------------------------------------------------------
@dataclass
class SweepReport:
    visited: int = 0
    lines: int = 0
    files: int = 0
    left: int = 0


def sweep_levels(
    store: LevelStore,
    config_of: ConfigOf,
    connector_for: Callable[[str, LevelTarget], LevelConnector],
    *,
    budget_s: float,
    min_age_s: float = 0,
    max_lines: int = 1000,
    clock: Clock = _now,
    monotonic: Callable[[], float] = time.monotonic,
) -> SweepReport:
    """Visit products whose `level` marker no message took care of, then send every target with open batches."""
    deadline = monotonic() + budget_s
    report = SweepReport()
    configs: dict[str, InventoryConfig] = {}
    markers = store.pending_markers(LEVEL_WORK, touched_before=clock() - timedelta(seconds=min_age_s))
    for start in range(0, len(markers), SWEEP_CHUNK):
        if monotonic() > deadline:
            report.left += len(markers) - start
            break
        chunk = markers[start : start + SWEEP_CHUNK]
        report.lines += visit_many(store, config_of, [m.partition for m in chunk], clock).lines
        list(in_parallel(store.clear_pending, [(m,) for m in chunk]))
        report.visited += len(chunk)
    targets = sorted({split_levels_partition(m.partition)[:2] for m in store.pending_markers(LEVEL_SEND_WORK)})
    for environment_id, name in targets:
        config = configs.get(environment_id) or configs.setdefault(environment_id, config_of(environment_id))
        target = config.target(name)
        if target is None or monotonic() > deadline:
            continue
        sent = send_target(
            store,
            connector_for(environment_id, target),
            environment_id,
            name,
            max_lines=max_lines,
            clock=clock,
            budget_s=max(1.0, deadline - monotonic()),
            monotonic=monotonic,
        )
        report.files += sent.files
    log.info(
        "level sweep: %d products visited, %d lines, %d files; %d left",
        report.visited,
        report.lines,
        report.files,
        report.left,
    )
    return report
