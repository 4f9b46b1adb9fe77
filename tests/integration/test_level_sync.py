"""Level sync against a real Azurite: ERP levels in the cache → delta files for a target, exactly once."""

from __future__ import annotations

import contextlib
import json
import threading
from decimal import Decimal

from shared.adapters.level_connectors import LevelOutbox, LevelSendFailed
from shared.adapters.level_tables import LEVEL_SEND_WORK, LEVEL_WORK, LevelStore
from shared.adapters.storage_clients import blob_service
from shared.domain.level_deltas import LevelFile
from shared.services.level_sync import send_target, sweep_levels, visit_levels
from tests.faults import Crash, CrashAt
from tests.integration.level_helpers import CONFIG, TARGET, config_of, files, lines, run_levels, set_levels, target_view

D = Decimal


def _outbox(environment_id, target):
    return LevelOutbox(blob_service())


def test_level_first_sync_sends_full_levels_then_only_real_changes(app_env, environment_id):
    set_levels(
        environment_id, {("A1", "11"): {"onhand": 100, "onorder": 5, "ordered": 20}, ("A1", "12"): {"onhand": 7}}
    )
    run_levels(environment_id)
    first = lines(environment_id)
    assert {(x["targetWarehouse"], x["measure"], x["delta"], x["newLevel"], x["kind"]) for x in first} == {
        ("FS-11", "onhand", "100", "100", "full"),
        ("FS-11", "onorder", "5", "5", "full"),
        ("FS-11", "ordered", "20", "20", "full"),
        ("12", "onhand", "7", "7", "full"),
    }, "first sync: every level in full, FS-11 mapped, 12 unmapped keeps its id"
    assert all(x["erpTimestamp"].endswith("Z") for x in first)

    set_levels(environment_id, {("A1", "11"): {"onhand": 98, "onorder": 5, "ordered": 20}})  # master 98: delta -2
    run_levels(environment_id)
    second = lines(environment_id)[len(first) :]
    assert [(x["targetWarehouse"], x["measure"], x["delta"], x["newLevel"], x["kind"]) for x in second] == [
        ("FS-11", "onhand", "-2", "98", "delta")
    ], "only the measure that changed, as a delta with its new level"
    assert target_view(environment_id)[("A1", "FS-11", "onhand")] == D(98)


def test_level_no_op_changes_and_cancelling_deltas_send_nothing(app_env, environment_id):
    set_levels(environment_id, {("A2", "11"): {"onhand": 10}})
    run_levels(environment_id)
    assert len(files(environment_id)) == 1
    set_levels(environment_id, {("A2", "11"): {"onhand": 10}})  # the same level again
    set_levels(environment_id, {("A2", "11"): {"onhand": 5}}, mode="add")
    set_levels(environment_id, {("A2", "11"): {"onhand": -5}}, mode="add")  # cancels the one before
    run_levels(environment_id)
    assert len(files(environment_id)) == 1, "nothing changed for the target: no file, no line"
    store = LevelStore()
    assert store.pending_markers(LEVEL_WORK, environment_id=environment_id) == []
    assert store.pending_markers(LEVEL_SEND_WORK, environment_id=environment_id) == []


def test_level_filters_leave_out_other_products_warehouses_and_data_sources(app_env, environment_id):
    marked = set_levels(
        environment_id,
        {
            ("A3", "11"): {"onhand": 1},
            ("B0001", "12"): {"onhand": 2},
            ("B0002", "11"): {"onhand": 3},  # not in the product filter
            ("A3", "99"): {"onhand": 4},  # not in the warehouse filter
        },
    )
    assert all("B0002" not in p for p in marked), "a product no target takes is not even visited"
    run_levels(environment_id)
    assert {(x["productId"], x["targetWarehouse"]) for x in lines(environment_id)} == {("A3", "FS-11"), ("B0001", "12")}


def test_level_mapping_many_to_one_marks_target_mastered_warehouses_that_receive_nothing(app_env, environment_id):
    set_levels(environment_id, {("A4", "13"): {"onhand": 50}, ("A4", "11"): {"onhand": 1}})
    run_levels(environment_id)
    assert {x["targetWarehouse"] for x in lines(environment_id)} == {"FS-11"}, "VAN-1/VAN-2 master warehouse 13"
    assert CONFIG.targets[0].target_mastered() == {"13": ("VAN-1", "VAN-2")}


def test_level_ordering_a_target_never_gets_an_older_level_after_a_newer_one(app_env, environment_id):
    """Changes keep arriving while several visits and sends run at once; per product × warehouse the
    new levels the target receives follow the ERP's order, and the last one is the ERP's level."""
    history = [10, 12, 9, 30, 31, 5, 6, 40]
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        store = LevelStore()
        while not stop.is_set():
            try:
                for marker in store.pending_markers(LEVEL_WORK, environment_id=environment_id):
                    visit_levels(store, CONFIG, marker.partition)
                    store.clear_pending(marker)
                send_target(store, LevelOutbox(blob_service()), environment_id, TARGET)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for level in history:
        set_levels(environment_id, {("A5", "11"): {"onhand": level}})
    stop.set()
    for thread in threads:
        thread.join()
    run_levels(environment_id)
    assert errors == []
    received = [x for x in lines(environment_id) if x["measure"] == "onhand"]
    sequences = [x["sequence"] for x in received]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences), "in order, each change once"
    levels = [int(x["newLevel"]) for x in received]
    positions = [history.index(level) for level in levels]
    assert positions == sorted(positions), f"an older level after a newer one: {levels}"
    assert levels[-1] == history[-1]
    assert target_view(environment_id)[("A5", "FS-11", "onhand")] == D(history[-1])


def test_level_concurrent_visits_and_sends_commit_and_send_each_change_once(app_env, environment_id):
    products = {(f"A{i}", wh): {"onhand": i, "onorder": 1} for i in range(6) for wh in ("11", "12")}
    set_levels(environment_id, products)
    markers = LevelStore().pending_markers(LEVEL_WORK, environment_id=environment_id)
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            store = LevelStore()
            for marker in markers:
                visit_levels(store, CONFIG, marker.partition)
            send_target(store, LevelOutbox(blob_service()), environment_id, TARGET)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_levels(environment_id)  # whatever a lease holder left for later
    assert errors == []
    sent = lines(environment_id)
    keys = [(x["productId"], x["targetWarehouse"], x["measure"]) for x in sent]
    assert len(keys) == len(set(keys)) == 24, "each level once, though four consumers visited every product"
    assert all(x["sequence"] == 1 for x in sent)


def test_level_crash_at_every_storage_call_then_redelivery_sends_each_change_once(app_env, environment_id):
    step = 0
    while True:
        step += 1
        env = f"{environment_id}-{step}"
        set_levels(env, {("A6", "11"): {"onhand": 10}, ("A7", "12"): {"ordered": 3}})
        run_levels(env)  # first sync, clean
        set_levels(env, {("A6", "11"): {"onhand": 4}, ("A7", "12"): {"ordered": 8}, ("A8", "12"): {"onorder": 2}})
        fault = CrashAt(step)
        with contextlib.suppress(Crash):
            run_levels(env, LevelStore(fault))
        # redelivery: the queue gives the messages back, and the sweep runs
        sweep_levels(LevelStore(), config_of, _outbox, budget_s=60)
        run_levels(env)
        assert target_view(env) == {
            ("A6", "FS-11", "onhand"): D(4),
            ("A7", "12", "ordered"): D(8),
            ("A8", "12", "onorder"): D(2),
        }, f"crash at call {step}"
        later = [x for x in lines(env) if x["kind"] == "delta"]
        assert sorted((x["productId"], x["delta"]) for x in later) == [("A6", "-6"), ("A7", "5")], f"step {step}"
        store = LevelStore()
        assert store.pending_markers(LEVEL_SEND_WORK, environment_id=env) == []
        if not fault.fired:
            break
    assert step > 8, "the run makes a number of storage calls, each was crashed once"


def test_level_crash_between_file_and_finish_resends_the_same_file(app_env, environment_id):
    set_levels(environment_id, {("A9", "11"): {"onhand": 1}, ("A10", "12"): {"onhand": 2}})
    store = LevelStore()
    for marker in store.pending_markers(LEVEL_WORK, environment_id=environment_id):
        visit_levels(store, CONFIG, marker.partition)

    class DiesAfterSending:
        def send(self, file: LevelFile) -> None:
            LevelOutbox(blob_service()).send(file)
            raise Crash("after send")

    with contextlib.suppress(Crash):
        send_target(store, DiesAfterSending(), environment_id, TARGET)
    send_target(LevelStore(), LevelOutbox(blob_service()), environment_id, TARGET)
    assert len(files(environment_id)) == 1, "the resend used the same file id"
    assert len(lines(environment_id)) == 2


def test_level_failures_are_recorded_retried_later_and_block_newer_files(app_env, environment_id):
    set_levels(environment_id, {("A11", "11"): {"onhand": 1}})
    store = LevelStore()
    for marker in store.pending_markers(LEVEL_WORK, environment_id=environment_id):
        visit_levels(store, CONFIG, marker.partition)

    class Refuses:
        def send(self, file: LevelFile) -> None:
            raise LevelSendFailed("the target answered 500 (3 attempts)")

    report = send_target(store, Refuses(), environment_id, TARGET)
    assert report.failed
    failed, _ = store.query_target(environment_id, TARGET, "open", 10, None, "failed")
    assert [(e["Attempts"], e["LastError"]) for e in failed] == [(1, "the target answered 500 (3 attempts)")]
    set_levels(environment_id, {("A11", "11"): {"onhand": 2}})
    run_levels(environment_id)
    assert files(environment_id) == [], "the failed file waits for its retry time; nothing newer overtakes it"


def test_level_snapshot_file_lands_once_and_becomes_levels_for_the_target(app_env, environment_id):
    from shared.adapters.ledger_tables import LedgerStore
    from shared.services.level_snapshots import SnapshotRefused, apply_level_snapshot

    name = f"level-snapshots/{environment_id}/erp-levels.csv"
    content = b"organizationId,productId,warehouse,onhand,onorder,ordered\r\nusmf,A12,11,40,2,\r\nusmf,A12,13,9,,\r\n"
    first = apply_level_snapshot(LedgerStore(), None, name, content, config_of)
    again = apply_level_snapshot(LedgerStore(), None, name, content, config_of)
    assert (first.rows, first.applied, again.applied) == (2, 2, 0), "the same file delivered twice applies once"
    run_levels(environment_id)
    assert target_view(environment_id) == {("A12", "FS-11", "onhand"): D(40), ("A12", "FS-11", "onorder"): D(2)}

    bad = b"organizationId,productId,warehouse,onhand\r\nusmf,A13,11,1e-99999\r\nusmf,=A14,11,1\r\n"
    with contextlib.suppress(SnapshotRefused):
        apply_level_snapshot(LedgerStore(), None, f"level-snapshots/{environment_id}/bad.csv", bad, config_of)
        raise AssertionError("a bad snapshot must be refused")
    assert LedgerStore().cache_rows(f"{environment_id}|usmf|A13") == {}, "nothing of the refused file applied"
    assert LevelStore().pending_markers(LEVEL_WORK, environment_id=environment_id) == []


def test_level_ordering_many_changes_waiting_for_one_send_go_out_in_sequence(app_env, environment_id):
    """More open batches than one transaction can move (two operations each) still finish, in order."""
    store = LevelStore()
    for level in range(1, 56):
        set_levels(environment_id, {("A15", "11"): {"onhand": level}})
        for marker in store.pending_markers(LEVEL_WORK, environment_id=environment_id):
            visit_levels(store, CONFIG, marker.partition)
            store.clear_pending(marker)
    pending, _ = store.query_target(environment_id, TARGET, "open", 1000, None)
    assert len(pending) == 55
    send_target(store, LevelOutbox(blob_service()), environment_id, TARGET, max_lines=10)
    received = [int(x["newLevel"]) for x in lines(environment_id)]
    assert received == list(range(1, 56)), (
        "every change once, oldest first: a product's 55 lines stay in one file (never split)"
    )
    assert store.query_target(environment_id, TARGET, "open", 1000, None)[0] == []
    (sent,) = store.query_target(environment_id, TARGET, "sent", 10, None)[0]
    assert json.loads(sent["Levels"]) == {"FS-11": {"onhand": "55"}} and sent["Seq"] == 55
