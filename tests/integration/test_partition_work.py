"""Queue-driven partition work against a real Azurite: messages delivered twice, late, at once, or lost."""

from __future__ import annotations

import contextlib
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from shared.adapters.ledger_keys import LEDGER_WORK, ledger_partition
from shared.adapters.ledger_tables import ConcurrencyConflict, LedgerStore
from shared.adapters.work_queues import WorkQueues, decode, encode
from shared.domain.aggregation import JournalMapping, JournalTarget
from shared.services.aggregate import aggregate_pending
from shared.services.ingest import ingest
from shared.services.partition_work import on_aggregate_message, on_sync_message, sweep_ledger
from shared.services.sync import sync_pending
from tests.faults import Crash, CrashAt
from tests.integration.ledger_helpers import cache_totals, expected_totals, make_lines, statuses

MAPPING = JournalMapping(targets={"pos/sold": JournalTarget()})


def _nonzero(totals):
    return {k: v for k, v in totals.items() if v != 0}


def _take(work: str) -> list[dict[str, Any]]:
    """Every message now on a work queue, removed (the test delivers them itself)."""
    client = WorkQueues().client(work)
    bodies = []
    while batch := list(client.receive_messages(messages_per_page=32, max_messages=32)):
        for message in batch:
            bodies.append(decode(message.content))
            client.delete_message(message)
    return bodies


class Sends:
    def __init__(self) -> None:
        self.environments: list[str] = []

    def __call__(self, environment_id: str) -> None:
        self.environments.append(environment_id)


def _deliver_all(
    store: LedgerStore, queues: WorkQueues, sync_bodies: list[dict[str, Any]], redelivered: bool = False
) -> Sends:
    sends = Sends()
    for body in sync_bodies:
        on_sync_message(store, queues, body, redelivered=redelivered)
    for body in _take("aggregate"):
        on_aggregate_message(store, queues, body, MAPPING, sends)
    return sends


def _everything_once(environment_id: str, lines) -> None:
    """The messages alone put every line in the cache once and aggregated it; markers a message left
    (a duplicate keeps its marker, see `_sync_one`) are cleared by the sweep, as the minute timer does."""
    store = LedgerStore()
    assert _nonzero(cache_totals(store, environment_id)) == _nonzero(expected_totals(lines))
    assert set(statuses(store, environment_id).values()) == {"Aggregated"}
    swept = sweep_ledger(store, MAPPING, Sends(), budget_s=60)
    assert swept.lines == 0 and swept.aggregated == 0, "the sweep found work the messages had left undone"
    assert store.pending_markers(LEDGER_WORK, environment_id=environment_id) == []


def test_ingest_puts_one_sync_message_naming_every_touched_partition_and_the_message_finishes_the_work(
    app_env, environment_id
):
    lines = make_lines("q", 40, products=4)
    queues = WorkQueues()
    ingest(LedgerStore(), environment_id, lines + lines[:5], queues=queues)
    bodies = _take("sync")
    assert len(bodies) == 1, "one message per request, not one per partition"
    assert sorted(b["partition"] for b in bodies[0]["partitions"]) == sorted(
        ledger_partition(environment_id, "usmf", f"P{i}") for i in range(4)
    ), "every touched partition named once"
    sends = _deliver_all(LedgerStore(), queues, bodies)
    _everything_once(environment_id, lines)
    assert sends.environments == [environment_id], "a batch schedules its environment's send once"


def test_a_duplicated_message_changes_nothing_twice(app_env, environment_id):
    lines = make_lines("dup", 30, products=2)
    queues = WorkQueues()
    ingest(LedgerStore(), environment_id, lines, queues=queues)
    bodies = _take("sync")
    _deliver_all(LedgerStore(), queues, bodies + bodies)
    for body in bodies:  # a third, late delivery of every message, after everything is done
        on_sync_message(LedgerStore(), queues, body)
        on_aggregate_message(LedgerStore(), queues, body, MAPPING, Sends())
    _everything_once(environment_id, lines)
    items, _ = LedgerStore().query_aggregated(environment_id, {}, 1000, None)
    keys = {(line.productId, line.dimensions["locationId"]) for line in lines}
    assert len(items) == len(keys), "one aggregated line per product and warehouse, not one per delivery"


def test_messages_delivered_out_of_order_leave_no_line_behind_and_no_marker(app_env, environment_id):
    first, second = make_lines("o1", 10, products=1), make_lines("o2", 10, products=1)
    queues = WorkQueues()
    ingest(LedgerStore(), environment_id, first, queues=queues)
    ingest(LedgerStore(), environment_id, second, queues=queues)
    older, newer = _take("sync")  # one message per request
    _deliver_all(LedgerStore(), queues, [newer, older])
    _everything_once(environment_id, first + second)


def test_two_consumers_on_one_partition_at_once_count_every_line_once(app_env, environment_id):
    lines = make_lines("par", 120, products=1)
    queues = WorkQueues()
    ingest(LedgerStore(), environment_id, lines, queues=queues)
    (body,) = _take("sync")
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            on_sync_message(LedgerStore(), queues, body)
        except Exception as exc:  # pragma: no cover - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    aggregate_bodies = _take("aggregate")
    threads = [
        threading.Thread(target=on_aggregate_message, args=(LedgerStore(), queues, b, MAPPING, Sends()))
        for b in aggregate_bodies
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _everything_once(environment_id, lines)
    items, _ = LedgerStore().query_aggregated(environment_id, {}, 1000, None)
    assert sum(int(i["LineCount"]) for i in items) == 120


def test_a_crash_at_every_step_of_the_message_path_then_redelivery_counts_every_line_once(app_env):
    lines = make_lines("cq", 130, products=2)
    step = 1
    while True:
        environment_id = f"cq-{uuid.uuid4().hex[:8]}"
        queues = WorkQueues()
        ingest(LedgerStore(), environment_id, lines, queues=queues)
        bodies = _take("sync")
        fault = CrashAt(step)
        crashing = LedgerStore(fault=fault)
        with contextlib.suppress(Crash):
            _deliver_all(crashing, WorkQueues(fault=fault), bodies)
        _take("aggregate")  # whatever the crashed run queued is delivered again below, with the rest
        _deliver_all(LedgerStore(), queues, bodies, redelivered=True)  # the host redelivers what did not complete
        _everything_once(environment_id, lines)
        if not fault.fired:
            break
        step += 1
    assert step > 6, "the crash must have hit several distinct steps"


def test_a_lost_message_is_a_delay_the_sweep_finishes_oldest_first_within_its_budget(app_env, environment_id):
    lines = make_lines("lost", 20, products=3)
    ingest(LedgerStore(), environment_id, lines)  # no queue: every message is lost
    store = LedgerStore()
    young = sweep_ledger(store, MAPPING, Sends(), budget_s=60, min_age_s=3600)
    assert young.partitions == 0, "markers younger than min_age are left to their messages"
    spent = sweep_ledger(store, MAPPING, Sends(), budget_s=-1)
    assert (spent.partitions, spent.left) == (0, 3), "an exhausted budget visits nothing and says what is left"
    sends = Sends()
    report = sweep_ledger(store, MAPPING, sends, budget_s=60)
    assert (report.partitions, report.lines, report.left) == (3, 20, 0)
    _everything_once(environment_id, lines)
    assert set(sends.environments) == {environment_id}


def test_pending_markers_come_oldest_first_across_shards(app_env, environment_id):
    from datetime import UTC, datetime, timedelta

    store = LedgerStore()
    now = datetime.now(UTC)
    for age, product in ((5, "B"), (50, "A"), (1, "C")):
        store.mark_pending(
            [ledger_partition(environment_id, "usmf", product)],
            now - timedelta(minutes=age),
            LEDGER_WORK,
            shard=age % 16,
        )
    order = [m.partition.rsplit("|", 1)[1] for m in store.pending_markers(LEDGER_WORK, environment_id=environment_id)]
    assert order == ["A", "B", "C"]


def test_a_visit_reads_the_open_lines_not_the_history(app_env, environment_id):
    store = LedgerStore()
    ingest(store, environment_id, make_lines("old", 300, products=1))
    sync_pending(store, environment_id=environment_id)
    aggregate_pending(store, MAPPING, environment_id=environment_id)
    ingest(store, environment_id, make_lines("new", 1, products=1))
    entries = store.open_entries(ledger_partition(environment_id, "usmf", "P0"))
    assert [line.row_key for line in entries.created] == ["D|new-0"]
    assert entries.posted == 0, "300 aggregated lines are history: the visit does not see them"


def test_aggregation_that_gives_up_on_a_partition_keeps_its_marker(app_env, environment_id):
    lines = make_lines("busy", 12, products=1)
    ingest(LedgerStore(), environment_id, lines)
    sync_pending(LedgerStore())

    def always_conflicts(step: str) -> None:
        if step == "commit_aggregation":
            raise ConcurrencyConflict("UpdateConditionNotSatisfied")

    aggregate_pending(LedgerStore(fault=always_conflicts), MAPPING)
    assert set(statuses(LedgerStore(), environment_id).values()) == {"IVPosted"}
    aggregate_pending(LedgerStore(), MAPPING)
    assert set(statuses(LedgerStore(), environment_id).values()) == {"Aggregated"}, (
        "the partition given up on must be visited again by the next run"
    )


def test_an_operator_lists_and_replays_poison_messages_and_the_replayed_work_is_done(app_env, environment_id, capsys):
    import json

    from shared.adapters.storage_clients import queue_service
    from shared.cli import main
    from shared.config import get_settings

    lines = make_lines("poi", 6, products=1)
    queues = WorkQueues()
    ingest(LedgerStore(), environment_id, lines, queues=queues)
    (body,) = _take("sync")
    poison = queue_service().get_queue_client(get_settings().queue_name("sync") + "-poison")
    poison.create_queue()
    poison.send_message(encode(body))  # as the host moves a message that failed maxDequeueCount times
    assert main(["poison", "list", "sync"]) == 0
    (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["partition"] for p in listed["body"]["partitions"]] == [ledger_partition(environment_id, "usmf", "P0")], (
        "the operator sees which partitions failed"
    )
    assert main(["poison", "replay", "sync"]) == 0
    assert "1 message(s) moved back" in capsys.readouterr().out
    assert list(poison.peek_messages()) == []
    _deliver_all(LedgerStore(), queues, _take("sync"))
    _everything_once(environment_id, lines)


class Steps:
    """Records every storage step a store takes (the fault hook, never failing)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, step: str) -> None:
        self.names.append(step)


def test_a_batch_entry_whose_lines_an_earlier_visit_synced_costs_point_reads_not_a_query(app_env, environment_id):
    first, second = make_lines("dd1", 10, products=1), make_lines("dd2", 10, products=1)
    queues = WorkQueues()
    ingest(LedgerStore(), environment_id, first, queues=queues)
    ingest(LedgerStore(), environment_id, second, queues=queues)
    older, newer = _take("sync")
    assert [p["lines"] for p in older["partitions"]] == [[line.id for line in first]], "the message names its lines"
    on_sync_message(LedgerStore(), queues, newer)  # a full visit: syncs both requests' lines
    steps = Steps()
    report = on_sync_message(LedgerStore(fault=steps), queues, older)
    assert report.lines == 0
    assert "read_open" not in steps.names and steps.names.count("read_open_stage") >= 1, steps.names
    assert steps.names.count("read_open_stage") <= len(first)
    _deliver_all(LedgerStore(), queues, [])
    _everything_once(environment_id, first + second)


def _request_synced(environment_id: str, lines, queues: WorkQueues) -> None:
    """One request ingested and its `sync` message delivered (its `aggregate` message left queued)."""
    ingest(LedgerStore(), environment_id, lines, queues=queues)
    (body,) = _take("sync")
    on_sync_message(LedgerStore(), queues, body)


def test_an_aggregate_entry_whose_lines_an_earlier_visit_aggregated_costs_point_reads_not_a_query(
    app_env, environment_id
):
    first, second = make_lines("ag1", 6, products=1), make_lines("ag2", 6, products=1)
    queues = WorkQueues()
    _request_synced(environment_id, first, queues)  # posts the first request's lines
    _request_synced(environment_id, second, queues)  # posts the second's
    older, newer = _take("aggregate")
    assert [p["lines"] for p in older["partitions"]] == [[line.id for line in first]]
    on_aggregate_message(LedgerStore(), queues, newer, MAPPING, Sends())  # aggregates both requests' lines
    steps = Steps()
    report = on_aggregate_message(LedgerStore(fault=steps), queues, older, MAPPING, Sends())
    assert report.lines == 0
    assert "read_posted" not in steps.names, steps.names
    assert 1 <= steps.names.count("read_open_stage") <= len(first)
    _everything_once(environment_id, first + second)


def test_an_aggregate_entry_with_a_line_still_open_makes_the_full_visit(app_env, environment_id):
    lines = make_lines("ag3", 4, products=1)
    queues = WorkQueues()
    _request_synced(environment_id, lines, queues)
    (aggregate_body,) = _take("aggregate")
    steps = Steps()
    report = on_aggregate_message(LedgerStore(fault=steps), queues, aggregate_body, MAPPING, Sends())
    assert "read_posted" in steps.names
    assert report.lines == len(lines)
    _everything_once(environment_id, lines)


def test_the_sweep_of_a_marker_with_nothing_open_costs_one_query(app_env, environment_id):
    lines = make_lines("sw", 4, products=1)
    queues = WorkQueues()
    _request_synced(environment_id, lines, queues)
    for body in _take("aggregate"):
        on_aggregate_message(LedgerStore(), queues, body, MAPPING, Sends())
    partition = ledger_partition(environment_id, "usmf", "P0")
    LedgerStore().mark_pending([partition], datetime.now(UTC), LEDGER_WORK)  # one a duplicate would leave
    steps = Steps()
    swept = sweep_ledger(LedgerStore(fault=steps), MAPPING, Sends(), budget_s=60)
    assert swept.partitions == 1 and swept.lines == 0
    assert steps.names.count("read_open") == 1 and "read_posted" not in steps.names, steps.names
    assert LedgerStore().pending_markers(LEDGER_WORK, environment_id=environment_id) == []


def test_the_sweep_visits_a_product_marked_in_several_shards_once_and_clears_every_marker(app_env, environment_id):
    lines = make_lines("shards", 6, products=1)
    ingest(LedgerStore(), environment_id, lines)  # no queue: the messages are lost, the marker waits
    (first,) = LedgerStore().pending_markers(LEDGER_WORK, environment_id=environment_id)
    for shard in [s for s in range(4) if s != first.shard][:2]:  # two later requests' markers
        LedgerStore().mark_pending([first.partition], datetime.now(UTC), LEDGER_WORK, shard=shard)
    steps = Steps()
    swept = sweep_ledger(LedgerStore(fault=steps), MAPPING, Sends(), budget_s=60)
    assert swept.partitions == 1 and swept.lines == len(lines)
    assert steps.names.count("read_open") == 1, steps.names
    assert LedgerStore().pending_markers(LEDGER_WORK, environment_id=environment_id) == []
    _everything_once(environment_id, lines)


def test_a_redelivered_batch_never_skips_the_full_visit(app_env, environment_id):
    lines = make_lines("rd", 8, products=1)
    queues = WorkQueues()
    ingest(LedgerStore(), environment_id, lines, queues=queues)
    (body,) = _take("sync")
    on_sync_message(LedgerStore(), queues, body)
    steps = Steps()
    on_sync_message(LedgerStore(fault=steps), queues, body, redelivered=True)
    assert "read_open" in steps.names, "after a crash the visit reads the partition, whatever the lines say"


def test_a_batch_entry_naming_its_lines_wrongly_is_refused(app_env, environment_id):
    import pytest

    partition = ledger_partition(environment_id, "usmf", "P0")
    for lines in ([], "x", [7], ["x" * 300]):
        with pytest.raises(ValueError):
            on_sync_message(LedgerStore(), WorkQueues(), {"partitions": [{"partition": partition, "lines": lines}]})


class FailsOn(LedgerStore):
    """A store whose reads of one partition fail (a bug or bad data in that partition only)."""

    def __init__(self, partition: str) -> None:
        super().__init__()
        self.partition = partition

    def open_entries(self, partition):
        if partition == self.partition:
            raise RuntimeError("this partition cannot be read")
        return super().open_entries(partition)


def test_a_partition_failing_in_a_batch_is_split_off_alone_and_the_others_are_done(app_env, environment_id):
    lines = make_lines("split", 30, products=3)
    queues = WorkQueues()
    ingest(LedgerStore(), environment_id, lines, queues=queues)
    (batch,) = _take("sync")
    bad = ledger_partition(environment_id, "usmf", "P1")
    on_sync_message(FailsOn(bad), queues, batch)
    (alone,) = _take("sync")
    assert alone["partition"] == bad and "partitions" not in alone, "the failed partition comes back on its own"
    with contextlib.suppress(RuntimeError):  # on its own it fails the message: the host retries, then poisons it
        on_sync_message(FailsOn(bad), queues, alone)
        raise AssertionError("a single message that fails must raise, so the host can count its deliveries")
    now = statuses(LedgerStore(), environment_id)
    assert {line.productId for line in lines if now[line.id] == "IVPosted"} == {"P0", "P2"}, "the others are synced"
    assert {now[line.id] for line in lines if line.productId == "P1"} == {"Created"}
    _deliver_all(LedgerStore(), queues, [alone])  # the cause fixed: the lone message finishes the work
    _everything_once(environment_id, lines)


def test_a_batch_that_names_no_partitions_or_too_many_is_refused_and_changes_nothing(app_env, environment_id):
    import pytest

    queues = WorkQueues()
    for body in (
        {"partitions": []},
        {"partitions": "x"},
        {"partitions": [{"partition": "no-bars"}]},
        {"partitions": [{"partition": f"{environment_id}|usmf|P{i}"} for i in range(101)]},
        {"partitions": [7]},
    ):
        with pytest.raises(ValueError):
            on_sync_message(LedgerStore(), queues, body)
    assert _take("sync") == [] and _take("aggregate") == []


def test_a_bad_queue_name_is_refused_by_the_cli(app_env, capsys):
    import pytest

    from shared.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["poison", "list", "nope"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


class FakeConnector:
    def __init__(self) -> None:
        self.journals: list[Any] = []

    def send(self, journal):  # type: ignore[no-untyped-def]
        from shared.domain.journals import JournalOutcome

        self.journals.append(journal)
        return JournalOutcome(journal.journal_id, "sent")


class Puts:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any], int]] = []

    def put(self, work: str, bodies, delay_s: int = 0) -> int:  # type: ignore[no-untyped-def]
        self.items += [(work, body, delay_s) for body in bodies]
        return len(self.items)


def _aggregated(environment_id: str, prefix: str, count: int = 6) -> None:
    store = LedgerStore()
    ingest(store, environment_id, make_lines(prefix, count, products=2))
    sync_pending(store, environment_id=environment_id)
    aggregate_pending(store, MAPPING, environment_id=environment_id)


def test_an_environment_is_sent_by_one_holder_of_its_lease_at_a_time(app_env, environment_id):
    from datetime import UTC, datetime

    from shared.adapters.journal_records import JournalRecords
    from shared.services.send_journals import send_lease_name, send_leased

    _aggregated(environment_id, "lease")
    store, connector, puts = LedgerStore(), FakeConnector(), Puts()
    held = store.acquire_lease(send_lease_name(environment_id), "other-instance", datetime.now(UTC), 60)
    assert held
    assert (
        send_leased(
            store, JournalRecords(), connector, puts, environment_id, max_lines=1000, max_attempts=5, retry_delay_s=7
        )
        is None
    )
    assert connector.journals == [] and puts.items == [("send", {"environment": environment_id}, 7)], (
        "while another instance sends, the message comes back later instead of sending the lines twice"
    )
    store.release_lease(send_lease_name(environment_id), held)
    report = send_leased(
        store, JournalRecords(), connector, puts, environment_id, max_lines=1000, max_attempts=5, retry_delay_s=7
    )
    assert report is not None and report.journals == len(connector.journals) == 1


def test_a_lost_send_message_does_not_stop_later_sends_being_scheduled(app_env, environment_id):
    from datetime import UTC, datetime, timedelta

    from shared.adapters.journal_records import JournalRecords
    from shared.services.send_journals import schedule_send, send_lease_name, send_pending

    store, puts = LedgerStore(), Puts()
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    schedule_send(store, puts, environment_id, 30, clock=lambda: long_ago)  # its message is then lost
    schedule_send(store, puts, environment_id, 30)
    assert len(puts.items) == 1, "one send message per environment at a time"
    send_pending(store, JournalRecords(), FakeConnector(), max_lines=1000, max_attempts=5)
    schedule_send(store, puts, environment_id, 30)
    assert len(puts.items) == 2, "the sweep forgot the stale schedule, so aggregation schedules sends again"
    assert store.schedule_once(send_lease_name(environment_id), datetime.now(UTC)) is False


def test_an_aggregation_whose_message_was_lost_is_scheduled_again_after_the_sweep(app_env, environment_id):
    from datetime import UTC, datetime, timedelta

    from shared.adapters.ledger_keys import aggregate_schedule

    store = LedgerStore()
    name = aggregate_schedule(ledger_partition(environment_id, "usmf", "P0"))
    assert store.schedule_once(name, datetime.now(UTC) - timedelta(hours=1))  # then its message is lost
    fresh = aggregate_schedule(ledger_partition(environment_id, "usmf", "P1"))
    assert store.schedule_once(fresh, datetime.now(UTC))
    sweep_ledger(store, MAPPING, Sends(), budget_s=60)
    assert store.schedule_once(name, datetime.now(UTC)), "the stale schedule is gone"
    assert not store.schedule_once(fresh, datetime.now(UTC)), "a waiting one is left to its message"


def test_markers_cleared_together_keep_the_one_that_new_work_touched_meanwhile(app_env, environment_id):
    store = LedgerStore()
    partitions = [ledger_partition(environment_id, "usmf", f"M{i}") for i in range(3)]
    markers = store.mark_pending(partitions, datetime.now(UTC), LEDGER_WORK, shard=5)
    store.mark_pending(partitions[1:2], datetime.now(UTC), LEDGER_WORK, shard=5)  # new work: its ETag changed
    store.clear_pending_many(markers)
    left = [m.partition for m in store.pending_markers(LEDGER_WORK, environment_id=environment_id)]
    assert left == partitions[1:2], "the one-transaction clear was refused, then each unchanged marker went alone"
    store.clear_pending_many([])  # nothing to clear is no call
