"""Timer use case: group `Created` aggregated lines into journals and send them through a connector.

At most once into the ERP: a journal's id is derived from its lines and recorded (in flight)
before it is sent; a run that finds a journal still in flight resends the same id, and every
connector looks a journal up by that id before creating it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from shared.adapters.ledger_keys import OFFSET_WORK, SEND_WORK
from shared.adapters.table_batches import in_parallel
from shared.domain.aggregation import RESENDABLE_STATUSES, RETRYABLE_STATUSES, STATUS_FOR_STATE
from shared.domain.journals import ErpConnector, Journal, JournalLine, JournalOutcome
from shared.domain.ledger_records import AggregatedLine, AggregatedUpdate
from shared.domain.offsets import TRIGGER_STATUSES
from shared.services.ports import AnswerPort, JournalLog, SendPort, WorkSink
from shared.telemetry import stage

log = logging.getLogger(__name__)
LEASE_SECONDS = 540
"""Longer than a send can take (the function timeout is 600 s); an expired lease is taken over."""
Clock = Callable[[], datetime]
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)


@dataclass
class SendReport:
    journals: int = 0
    lines: int = 0
    errors: int = 0


def backoff(attempts: int) -> timedelta:
    delay: timedelta = BACKOFF_BASE * (2 ** max(0, attempts - 1))
    return min(BACKOFF_MAX, delay)


def journal_line(line: AggregatedLine) -> JournalLine:
    key = json.loads(line.erp_key)
    dims = key["dimensions"]
    return JournalLine(
        line_id=line.aggregated_id,
        item_number=line.product_id,
        quantity=Decimal(line.quantity),
        site_id=dims.get("siteId"),
        warehouse_id=dims.get("locationId"),
        color_id=dims.get("colorId"),
        size_id=dims.get("sizeId"),
        style_id=dims.get("styleId"),
        config_id=dims.get("configId"),
        batch_id=dims.get("batchId"),
        serial_id=dims.get("serialId"),
        status_id=dims.get("statusId"),
        location_id=dims.get("wmsLocationId"),
        license_plate_id=dims.get("licensePlateId"),
        transaction_date=date.fromisoformat(key["transDate"]) if key.get("transDate") else None,
        unit_cost=Decimal(key["costPrice"]) if key.get("costPrice") else None,
    )


def journal_id_for(lines: list[AggregatedLine]) -> str:
    members = "\n".join(sorted(f"{line.aggregated_id}:{line.attempts}:{line.retries}" for line in lines))
    return "OS-" + hashlib.sha256(members.encode()).hexdigest()[:24]


def build_journal(journal_id: str, environment_id: str, lines: list[AggregatedLine]) -> Journal:
    first = lines[0]
    ordered = sorted(lines, key=lambda line: (line.journal_line_number or 0, line.partition, line.aggregated_id))
    return Journal(
        journal_id=journal_id,
        environment_id=environment_id,
        organization_id=first.organization_id,
        journal_type=first.journal_type,
        journal_name_id=first.journal_name_id,
        target_status=first.target_status,
        lines=tuple(journal_line(line) for line in ordered),
    )


def _due(line: AggregatedLine, now: datetime, max_attempts: int) -> bool:
    if line.status == "Created":
        return True
    next_at = line.next_attempt_at
    return line.attempts < max_attempts and (next_at is None or next_at <= now)


def send_pending(
    store: SendPort,
    records: JournalLog,
    connector: ErpConnector,
    *,
    max_lines: int,
    max_attempts: int,
    clock: Clock = lambda: datetime.now(UTC),
) -> SendReport:
    """Every environment with lines to send or journals in flight (the timer; the queue sends one)."""
    report = SendReport()
    for name in store.stale_schedules(clock() - timedelta(seconds=2 * LEASE_SECONDS), prefix="send|"):
        store.unschedule(name)  # its message was lost: let the next aggregation schedule a send again
    inflight: dict[str, list[str]] = defaultdict(list)
    for environment_id, journal_id in records.inflight():  # read once, not once per environment
        inflight[environment_id].append(journal_id)
    environments = {m.partition.split("|", 1)[0] for m in store.pending_markers(SEND_WORK)} | set(inflight)
    for environment_id in sorted(environments):
        with _lease(store, environment_id, clock) as held:
            if held:  # otherwise a queue-triggered send of this environment is running
                send_environment(
                    store,
                    records,
                    connector,
                    environment_id,
                    max_lines=max_lines,
                    max_attempts=max_attempts,
                    clock=clock,
                    report=report,
                    inflight=inflight.get(environment_id, []),
                )
    return report


@contextmanager
def _lease(store: SendPort, environment_id: str, clock: Clock) -> Iterator[bool]:
    """Hold the environment's send lease for the block; yields False when another holder has it."""
    name = send_lease_name(environment_id)
    lease = store.acquire_lease(name, uuid.uuid4().hex, clock(), LEASE_SECONDS)
    try:
        yield lease is not None
    finally:
        if lease is not None:
            store.release_lease(name, lease)


def send_environment(
    store: SendPort,
    records: JournalLog,
    connector: ErpConnector,
    environment_id: str,
    *,
    max_lines: int,
    max_attempts: int,
    clock: Clock = lambda: datetime.now(UTC),
    report: SendReport | None = None,
    inflight: list[str] | None = None,
) -> SendReport:
    """Cut the environment's due lines into journals per organization and journal key, and send them.

    Must not run twice at once for one environment (callers hold its lease, or are the singleton timer).
    """
    report = report or SendReport()
    if inflight is None:
        inflight = [journal_id for env, journal_id in records.inflight() if env == environment_id]
    for journal_id in inflight:
        entities = store.lines_of_journal(environment_id, journal_id)
        if entities:
            log.warning("resending journal %s left in flight", journal_id)
            _send(
                store,
                records,
                connector,
                build_journal(journal_id, environment_id, entities),
                entities,
                clock,
                max_attempts,
                report,
                resend=True,
            )
        else:
            records.finish(environment_id, journal_id, "abandoned", None, "no lines were assigned", clock())
    now = clock()
    markers = store.pending_markers(SEND_WORK, environment_id=environment_id)
    waiting = ("Created", *RESENDABLE_STATUSES)
    groups: dict[tuple[str, str, str | None, str], list[AggregatedLine]] = defaultdict(list)
    partitions = sorted({m.partition for m in markers})  # a partition may be marked in several shards
    for lines in in_parallel(lambda p: store.waiting_lines(p, waiting), [(p,) for p in partitions]):
        for line in lines:
            if _due(line, now, max_attempts):
                groups[(line.organization_id, line.journal_type, line.journal_name_id, line.target_status)].append(line)
    for _, entities in sorted(groups.items()):
        entities.sort(key=lambda line: (line.partition, line.aggregated_id))
        for start in range(0, len(entities), max_lines):
            chunk = entities[start : start + max_lines]
            journal = build_journal(journal_id_for(chunk), environment_id, chunk)
            _send(store, records, connector, journal, chunk, clock, max_attempts, report, resend=False)
    for partition in partitions:
        left = [
            line
            for line in store.waiting_lines(partition, waiting)
            if line.status == "Created" or line.attempts < max_attempts
        ]
        if not left:
            for marker in (m for m in markers if m.partition == partition):
                store.clear_pending(marker)
    return report


def _send(
    store: SendPort,
    records: JournalLog,
    connector: ErpConnector,
    journal: Journal,
    entities: list[AggregatedLine],
    clock: Clock,
    max_attempts: int,
    report: SendReport,
    *,
    resend: bool,
) -> None:
    with stage("send", environment=journal.environment_id, journal=journal.journal_id, lines=len(entities)) as span:
        now = clock()
        if not resend:
            records.start(
                journal.environment_id,
                journal.journal_id,
                {
                    "OrganizationId": journal.organization_id,
                    "JournalType": journal.journal_type,
                    "JournalNameId": journal.journal_name_id,
                    "LineCount": len(journal.lines),
                },
                now,
            )
            number = {line.line_id: n for n, line in enumerate(journal.lines, start=1)}
            store.apply_updates(
                [
                    AggregatedUpdate(
                        line.partition,
                        line.aggregated_id,
                        status="SCMSent",
                        journal_id=journal.journal_id,
                        journal_line_number=number[line.aggregated_id],
                        sent_at=now,
                        attempts=line.attempts + 1,
                    )
                    for line in entities
                ]
            )
        try:
            outcome = connector.send(journal)
        except Exception as exc:
            log.exception("sending journal %s failed", journal.journal_id)
            outcome = JournalOutcome(
                journal.journal_id, "create_error", message=f"{type(exc).__name__}: {exc}"[:2000], retryable=True
            )
        span.set_attribute("omnisync.outcome", outcome.state)
        apply_outcome(store, records, journal.environment_id, outcome, entities, clock(), max_attempts)
        report.journals += 1
        report.lines += len(entities)
        report.errors += outcome.state in ("create_error", "post_error")


def apply_outcome(
    store: AnswerPort,
    records: JournalLog,
    environment_id: str,
    outcome: JournalOutcome,
    entities: list[AggregatedLine],
    now: datetime,
    max_attempts: int,
) -> None:
    """Move each aggregated line to the status the ERP's answer means; errors keep the ERP's message.

    Statuses only move forward (shared/domain/status_machine.py): an answer that would move a line back,
    or that belongs to an older send of the line, is recorded in the line's `LateAnswers`, not applied.
    Each line is judged on its stored state (a caller's copy may predate the send that just happened).
    """
    from shared.domain.status_machine import judge_answer, record_late_answer

    stale = [line for line in entities if line.journal_id != outcome.journal_id]
    fresh = {(line.partition, line.aggregated_id): line for line in entities}
    for found in in_parallel(store.aggregated_line, [(line.partition, line.aggregated_id) for line in stale]):
        if found is not None:
            fresh[(found.partition, found.aggregated_id)] = found
    per_line = {r.line_id: r for r in outcome.lines}
    updates: list[AggregatedUpdate] = []
    late: list[AggregatedUpdate] = []
    for line in fresh.values():
        result = per_line.get(line.aggregated_id)
        state = (
            "create_error"
            if result and result.error and outcome.state in ("created", "posted", "sent")
            else outcome.state
        )
        status = STATUS_FOR_STATE[state]
        verdict = judge_answer(line.status, line.journal_id, outcome.journal_id, status)
        if not verdict.apply:
            log.warning(
                "line %s: %s answer for journal %s not applied: %s",
                line.aggregated_id,
                state,
                outcome.journal_id,
                verdict.reason,
            )
            answer = {
                "journalId": outcome.journal_id,
                "state": state,
                "at": now.isoformat(),
                "reason": verdict.reason,
                "message": ((result.error if result else None) or outcome.message or "")[:200] or None,
            }
            late.append(
                AggregatedUpdate(
                    line.partition, line.aggregated_id, late_answers=record_late_answer(line.late_answers, answer)
                )
            )
            continue
        posted_onhand = result and result.erp_onhand and status == "FnOPosted" and not line.erp_onhand
        message = (result.error if result and result.error else None) or outcome.message
        retry = status in RETRYABLE_STATUSES
        attempts = max(line.attempts, 1)
        updates.append(
            AggregatedUpdate(
                line.partition,
                line.aggregated_id,
                status=status,
                status_at=now,
                erp_journal_number=outcome.erp_journal_number or None,
                erp_line_number=(result.erp_line_number if result else None) or None,
                erp_onhand=result.erp_onhand if result and posted_onhand else None,
                on_hand="open" if posted_onhand else None,
                message=message if retry else None,
                next_attempt_at=now + backoff(attempts) if retry else None,
                waiting_for_person=(attempts >= max_attempts or status not in RESENDABLE_STATUSES) if retry else None,
            )
        )
    triggered = {u.partition for u in updates if u.status in TRIGGER_STATUSES or u.on_hand}
    if triggered:
        # Before the status changes: a crash in between must still leave the offset to a later run.
        store.mark_pending(triggered, now, OFFSET_WORK)
    resend = {u.partition for u in updates if u.status in RESENDABLE_STATUSES and not u.waiting_for_person}
    if resend:
        # Whichever connector answered (the OData call, or a result file in the outbox's inbox), the
        # failed lines go back on the send index, so the send sweep resends them when their backoff ends.
        store.mark_pending(resend, now, SEND_WORK)
    store.apply_updates(updates + late)
    known = None if updates or not fresh else records.get(environment_id, outcome.journal_id)
    if known:  # nothing applied: the journal keeps the state it has (finishing still ends "in flight")
        records.finish(
            environment_id,
            outcome.journal_id,
            known.get("State") or outcome.state,
            known.get("ErpJournalNumber"),
            known.get("Message"),
            now,
        )
    else:
        records.finish(
            environment_id, outcome.journal_id, outcome.state, outcome.erp_journal_number, outcome.message, now
        )


def send_lease_name(environment_id: str) -> str:
    return f"send|{environment_id}"


def schedule_send(
    store: SendPort, queues: WorkSink, environment_id: str, delay_s: int, clock: Clock = lambda: datetime.now(UTC)
) -> None:
    """One `send` message per environment at a time: lines aggregated meanwhile wait for it (a journal
    collects them), and the environment's send never runs on two instances at once (its lease)."""
    if store.schedule_once(send_lease_name(environment_id), clock()):
        queues.put("send", [{"environment": environment_id}], delay_s=delay_s)


def send_leased(
    store: SendPort,
    records: JournalLog,
    connector: ErpConnector,
    queues: WorkSink,
    environment_id: str,
    *,
    max_lines: int,
    max_attempts: int,
    retry_delay_s: int,
    clock: Clock = lambda: datetime.now(UTC),
) -> SendReport | None:
    """Send one environment under its lease; None (and the message comes back later) while it is held."""
    with _lease(store, environment_id, clock) as held:
        if not held:
            queues.put("send", [{"environment": environment_id}], delay_s=retry_delay_s)
            return None
        store.unschedule(send_lease_name(environment_id))  # lines aggregated from now on schedule the next send
        return send_environment(
            store, records, connector, environment_id, max_lines=max_lines, max_attempts=max_attempts, clock=clock
        )
