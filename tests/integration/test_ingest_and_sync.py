"""Ingest idempotency and exactly-once sync against a real Azurite, crashes and races included."""

import contextlib
import threading
from decimal import Decimal

import pytest

from shared.adapters.ledger_tables import LedgerStore
from shared.services.ingest import ingest
from shared.services.sync import sync_pending
from tests.faults import Crash, CrashAt
from tests.integration.ledger_helpers import cache_totals, expected_totals, make_lines, statuses


def _nonzero(totals):
    return {k: v for k, v in totals.items() if v != 0}


def test_ingest_stores_each_line_once_and_reports_duplicates_and_conflicts(app_env, environment_id):
    store = LedgerStore()
    lines = make_lines("a", 10)
    first = ingest(store, environment_id, lines)
    assert [o.outcome for o in first] == ["created"] * 10
    again = ingest(store, environment_id, lines)
    assert [o.outcome for o in again] == ["duplicate"] * 10
    changed = make_lines("a", 2, qty_step="9")
    changed_product = lines[3].model_copy(update={"productId": "OTHER"})
    outcome = ingest(store, environment_id, [*changed, changed_product])
    assert [o.outcome for o in outcome][1:] == ["conflict", "conflict"]
    assert len(statuses(store, environment_id)) == 10, "a conflicting line must not be stored"


def test_same_id_twice_in_one_request(app_env, environment_id):
    store = LedgerStore()
    (line,) = make_lines("dup", 1)
    other = line.model_copy(update={"quantity": Decimal(99)})
    outcomes = ingest(store, environment_id, [line, line, other])
    assert [o.outcome for o in outcomes] == ["created", "duplicate", "conflict"]


def test_sync_moves_lines_into_the_cache_once(app_env, environment_id):
    store = LedgerStore()
    lines = make_lines("s", 250, products=2)
    ingest(store, environment_id, lines)
    report = sync_pending(store)
    assert report.lines >= 250
    assert _nonzero(cache_totals(store, environment_id)) == _nonzero(expected_totals(lines))
    assert set(statuses(store, environment_id).values()) == {"IVPosted"}
    sync_pending(store)
    assert _nonzero(cache_totals(store, environment_id)) == _nonzero(expected_totals(lines))


def test_instant_lines_reach_the_cache_within_the_request(app_env, environment_id):
    store = LedgerStore()
    outcomes = ingest(store, environment_id, make_lines("i", 5, sync=True))
    assert {o.status for o in outcomes} == {"IVPosted"}
    assert _nonzero(cache_totals(store, environment_id)) == _nonzero(expected_totals(make_lines("i", 5)))


def test_a_crash_at_every_step_of_a_sync_then_a_rerun_counts_every_line_once(app_env):
    import uuid

    lines = make_lines("c", 230, products=2)
    step = 1
    while True:
        environment = f"crash-{uuid.uuid4().hex[:8]}"
        ingest(LedgerStore(), environment, lines)
        fault = CrashAt(step)
        with contextlib.suppress(Crash):
            sync_pending(LedgerStore(fault=fault), environment_id=environment)
        sync_pending(LedgerStore(), environment_id=environment)
        store = LedgerStore()
        assert _nonzero(cache_totals(store, environment)) == _nonzero(expected_totals(lines)), f"crash at {step}"
        assert set(statuses(store, environment).values()) == {"IVPosted"}
        if not fault.fired:
            break
        step += 1
    assert step > 5, "the crash must have hit several distinct steps"


def test_a_crash_during_ingest_then_the_clients_retry_stores_and_syncs_everything(app_env, environment_id):
    lines = make_lines("r", 120, products=2)
    for at in (1, 2, 3, 4):
        env = f"{environment_id}-{at}"
        with contextlib.suppress(Crash):
            ingest(LedgerStore(fault=CrashAt(at)), env, lines)
        ingest(LedgerStore(), env, lines)
        sync_pending(LedgerStore())
        store = LedgerStore()
        assert _nonzero(cache_totals(store, env)) == _nonzero(expected_totals(lines)), f"crash at {at}"


def test_two_syncs_at_once_count_every_line_once(app_env, environment_id):
    store = LedgerStore()
    lines = make_lines("p", 400, products=2)
    ingest(store, environment_id, lines)
    errors = []

    def run():
        try:
            sync_pending(LedgerStore())
        except Exception as exc:  # pragma: no cover - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sync_pending(store)
    assert errors == []
    assert _nonzero(cache_totals(store, environment_id)) == _nonzero(expected_totals(lines))


def test_environments_cannot_see_each_others_lines_or_cache(app_env, environment_id):
    store = LedgerStore()
    lines = make_lines("iso", 6, sync=True)
    ingest(store, environment_id, lines)
    other = environment_id + "x"
    assert statuses(store, other) == {}
    assert cache_totals(store, other) == {}
    outcomes = ingest(store, other, lines)
    assert [o.outcome for o in outcomes] == ["created"] * 6, "the same ids are new in another environment"
    sync_pending(store)
    assert _nonzero(cache_totals(store, environment_id)) == _nonzero(expected_totals(lines))


@pytest.mark.parametrize("token_env", ["mine", "other"])
def test_continuation_tokens_stay_in_their_environment(app_env, environment_id, token_env):
    from shared.adapters.ledger_tables import InvalidContinuationToken, encode_token

    store = LedgerStore()
    ingest(store, environment_id, make_lines("t", 5))
    _, token = store.query_lines(environment_id, {}, 2, None)
    assert token
    if token_env == "mine":
        items, _ = store.query_lines(environment_id, {}, 2, token)
        assert len(items) == 2
    else:
        other = environment_id + "-other"
        with pytest.raises(InvalidContinuationToken):
            store.query_lines(other, {}, 2, token)
        forged = encode_token({"PartitionKey": environment_id + "|usmf|P0", "RowKey": "L|"}, other)
        items, _ = store.query_lines(other, {}, 2, forged)
        assert items == [], "a forged token must not reach another environment's partitions"
