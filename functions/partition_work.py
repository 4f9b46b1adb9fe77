"""Queue-triggered partition work (`sync`, `aggregate`, `send`) and the `sync_to_cache` safety sweep.

Each function parses its message and calls one service. A failure raises, so the host retries
the message and moves it to the `-poison` queue after `maxDequeueCount` (host.json); the log names
the partition. A message that is not ours is refused (logged) rather than retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import azure.functions as func

from shared.config import STORAGE_CONNECTION, get_settings

bp = func.Blueprint()
log = logging.getLogger(__name__)

MAX_DELIVERIES = 5
"""host.json `extensions.queues.maxDequeueCount`: the delivery after which the host gives a message up."""


def _body(msg: func.QueueMessage) -> dict[str, Any] | None:
    from shared.adapters.work_queues import decode

    try:
        return decode(msg.get_body())
    except ValueError:
        log.error("work message %s refused: not a JSON object", msg.id)
        return None


def _run(name: str, msg: func.QueueMessage, work: Callable[[dict[str, Any]], object]) -> None:
    from shared.services.partition_work import describe

    body = _body(msg)
    if body is None:
        return
    try:
        work(body)
    except ValueError as exc:
        log.error("%s message %s refused: %s", name, msg.id, exc)
    except Exception:
        log.exception(
            "%s of %s failed (delivery %s); the host retries it, then moves it to %s-poison",
            name,
            describe(body),
            msg.dequeue_count,
            get_settings().queue_name(name),
        )
        raise


def _schedule_send(store: Any, queues: Any) -> Callable[[str], None]:
    from shared.services.send_journals import schedule_send

    return lambda environment_id: schedule_send(store, queues, environment_id, get_settings().send_delay_s)


@bp.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE_PREFIX%-sync", connection=STORAGE_CONNECTION)
def ledger_sync(msg: func.QueueMessage) -> None:
    from shared.adapters.ledger_tables import LedgerStore
    from shared.adapters.work_queues import WorkQueues
    from shared.services.partition_work import on_sync_message

    _run(
        "sync",
        msg,
        lambda body: on_sync_message(
            LedgerStore(),
            WorkQueues(),
            body,
            redelivered=(msg.dequeue_count or 1) > 1,
            aggregate_delay_s=get_settings().aggregate_delay_s,
        ),
    )


@bp.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE_PREFIX%-aggregate", connection=STORAGE_CONNECTION)
def ledger_aggregate(msg: func.QueueMessage) -> None:
    from shared.adapters.ledger_tables import LedgerStore
    from shared.adapters.work_queues import WorkQueues
    from shared.services.partition_work import on_aggregate_message

    def work(body: dict[str, Any]) -> None:
        store, queues = LedgerStore(), WorkQueues()
        on_aggregate_message(store, queues, body, get_settings().mapping(), _schedule_send(store, queues))

    _run("aggregate", msg, work)


@bp.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE_PREFIX%-send", connection=STORAGE_CONNECTION)
def journal_send(msg: func.QueueMessage) -> None:
    from functions.environment_config import config_of
    from shared.adapters.erp_connectors import connector_from_settings
    from shared.adapters.journal_records import JournalRecords
    from shared.adapters.ledger_tables import LedgerStore
    from shared.adapters.work_queues import WorkQueues
    from shared.domain.identifiers import check_environment_id
    from shared.services.offsets import offset_pending
    from shared.services.send_journals import send_leased

    def work(body: dict[str, Any]) -> None:
        environment_id = check_environment_id(str(body.get("environment")))
        settings, store = get_settings(), LedgerStore()
        send_leased(
            store,
            JournalRecords(),
            connector_from_settings(settings),
            WorkQueues(),
            environment_id,
            max_lines=settings.journal_max_lines,
            max_attempts=settings.send_max_attempts,
            retry_delay_s=settings.send_delay_s or 5,
        )
        offset_pending(store, config_of)

    _run("send", msg, work)


@bp.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE_PREFIX%-approve", connection=STORAGE_CONNECTION)
def reconciliation_approve(msg: func.QueueMessage) -> None:
    """One step of a background approval (shared/services/approve_background.py)."""
    import time

    from functions.reconcile import approval_destination
    from shared.adapters.approval_jobs import BlobApprovalJobs
    from shared.adapters.journal_ranges import proposal_reader
    from shared.adapters.storage_clients import blob_service
    from shared.adapters.storage_names import REPORTS_CONTAINER
    from shared.adapters.work_queues import WorkQueues
    from shared.domain.identifiers import check_environment_id
    from shared.domain.reconciliation.naming import is_valid_run_id, run_path
    from shared.services.approve_background import approval_step, give_up

    def work(body: dict[str, Any]) -> None:
        environment_id = check_environment_id(str(body.get("environmentId")))
        run_id = str(body.get("runId"))
        if not is_valid_run_id(run_id):
            raise ValueError("runId is not a run id")
        service = blob_service()
        jobs = BlobApprovalJobs(service)
        try:
            reports = service.get_container_client(REPORTS_CONTAINER)

            def open_journal(journal_ids: Sequence[str] | None) -> Any:  # named journals: by byte range
                return proposal_reader(reports, run_path(environment_id, run_id), journal_ids)

            destination = approval_destination(service, environment_id)
            budget = get_settings().sweep_budget_s
            approval_step(jobs, WorkQueues(), destination, open_journal, body, budget_s=budget, clock=time.monotonic)
        except Exception as exc:
            if (msg.dequeue_count or 1) >= MAX_DELIVERIES:  # the host moves it to -poison next
                give_up(jobs, body, exc)
            raise

    _run("approve", msg, work)


@bp.timer_trigger(schedule="%SYNC_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def sync_to_cache(timer: func.TimerRequest) -> None:
    """Safety sweep: partitions whose message was lost (marker older than SWEEP_MIN_AGE_SECONDS)."""
    from functions.environment_config import config_of
    from shared.adapters.ledger_tables import LedgerStore
    from shared.adapters.work_queues import WorkQueues
    from shared.services.offsets import offset_pending
    from shared.services.partition_work import sweep_ledger

    settings, store = get_settings(), LedgerStore()
    sweep_ledger(
        store,
        settings.mapping(),
        _schedule_send(store, WorkQueues()),
        budget_s=settings.sweep_budget_s,
        min_age_s=settings.sweep_min_age_s,
    )
    offset_pending(store, config_of)
