"""Aggregation yields to sync: while sync messages wait, an aggregate message is put back, a bounded number of times."""

from __future__ import annotations

import pytest

from shared.services.partition_work import MAX_DEFERRALS, YieldToSync, deferred_for_sync, on_aggregate_message

from .fakes import RecordingQueues

BATCH = {"partitions": [{"partition": "env|usmf|P1", "kind": "ledger", "shard": 3, "etag": "e"}]}


def _never_asked() -> int:
    raise AssertionError("the sync backlog was read although the policy could not defer")


def _policy(backlog: int | None, limit: int = 8, max_deferrals: int = 3) -> YieldToSync:
    return YieldToSync((lambda: backlog) if backlog is not None else _never_asked, limit, 20, max_deferrals)


def test_a_message_waits_while_more_sync_messages_wait_than_the_limit():
    queues = RecordingQueues()
    assert deferred_for_sync(queues, BATCH, _policy(backlog=9))
    assert queues.messages == [("aggregate", {**BATCH, "deferred": 1}, 20)]


def test_each_deferral_counts_until_the_most_allowed_then_the_message_runs_whatever_the_backlog():
    queues = RecordingQueues()
    assert deferred_for_sync(queues, {**BATCH, "deferred": 2}, _policy(backlog=1_000, max_deferrals=3))
    assert queues.messages[-1][1]["deferred"] == 3
    before = list(queues.messages)
    assert not deferred_for_sync(queues, {**BATCH, "deferred": 3}, _policy(backlog=None, max_deferrals=3))
    assert queues.messages == before, "a message deferred the most times is worked, not put back"


@pytest.mark.parametrize("backlog", [0, 7, 8])
def test_a_message_runs_at_once_when_sync_is_not_behind(backlog):
    queues = RecordingQueues()
    assert not deferred_for_sync(queues, BATCH, _policy(backlog=backlog))
    assert queues.messages == []


def test_a_limit_of_zero_turns_yielding_off_and_reads_no_backlog():
    queues = RecordingQueues()
    assert not deferred_for_sync(queues, BATCH, _policy(backlog=None, limit=0))
    assert not deferred_for_sync(queues, BATCH, None)
    assert queues.messages == []


@pytest.mark.parametrize("bad", ["1", -1, True, 1.5, MAX_DEFERRALS + 1, None])
def test_a_deferral_count_that_is_not_a_small_whole_number_is_refused_and_nothing_is_put(bad):
    queues = RecordingQueues()
    with pytest.raises(ValueError, match="deferral count"):
        deferred_for_sync(queues, {**BATCH, "deferred": bad}, _policy(backlog=None))
    assert queues.messages == []


def test_a_message_that_is_not_ours_is_refused_before_any_deferral():
    queues = RecordingQueues()
    with pytest.raises(ValueError):
        on_aggregate_message(
            None, queues, {"partitions": []}, None, lambda e: None, yield_to_sync=_policy(backlog=None)
        )
    assert queues.messages == []


def test_a_deferred_message_does_no_aggregation_work():
    """The store is never touched: a message put back costs one queue put, not a visit."""
    queues = RecordingQueues()
    report = on_aggregate_message(None, queues, BATCH, None, lambda e: None, yield_to_sync=_policy(backlog=50))
    assert report.partitions == 0 and report.aggregated == 0
    assert [m[1]["deferred"] for m in queues.messages] == [1]
