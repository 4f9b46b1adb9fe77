"""Aggregation yields to sync, on Azurite's queues: put back while sync messages wait, done once they are gone."""

from __future__ import annotations

import time

import shared.adapters.work_queues as work_queues
from shared.adapters.ledger_tables import LedgerStore
from shared.adapters.work_queues import WorkQueues
from shared.services.ingest import ingest
from shared.services.partition_work import YieldToSync, on_aggregate_message, on_sync_message
from tests.integration.ledger_helpers import make_lines, statuses
from tests.integration.test_partition_work import MAPPING, Sends, _everything_once, _take


def _fresh_backlog(queues: WorkQueues, work: str) -> int:
    work_queues._backlogs.clear()  # the per-process reading is kept for BACKLOG_TTL_S
    return queues.backlog(work)


def test_the_backlog_counts_waiting_and_delayed_messages(app_env):
    queues = WorkQueues()
    assert _fresh_backlog(queues, "sync") == 0
    queues.put("sync", [{"partition": "e|o|p1"}, {"partition": "e|o|p2"}])
    queues.put("sync", [{"partition": "e|o|p3"}], delay_s=60)
    assert _fresh_backlog(queues, "sync") == 3


def test_aggregation_waits_while_sync_is_behind_and_runs_once_sync_caught_up(app_env, environment_id):
    store, queues = LedgerStore(), WorkQueues()
    lines = make_lines("yield", 12, products=3)
    ingest(store, environment_id, lines, queues=queues)
    for body in _take("sync"):
        on_sync_message(store, queues, body)
    aggregate_bodies = _take("aggregate")
    assert aggregate_bodies, "the sync visit queued the aggregation"
    queues.put("sync", [{"partition": f"{environment_id}|usmf|other{i}"} for i in range(3)])  # other stores' work
    work_queues._backlogs.clear()
    policy = YieldToSync(lambda: queues.backlog("sync"), limit=2, delay_s=1, max_deferrals=3)

    for body in aggregate_bodies:
        report = on_aggregate_message(store, queues, body, MAPPING, Sends(), yield_to_sync=policy)
        assert report.aggregated == 0
    assert set(statuses(store, environment_id).values()) == {"IVPosted"}, "nothing aggregated while sync waits"

    _take("sync")  # sync caught up
    work_queues._backlogs.clear()
    time.sleep(1.5)  # the put-back messages become visible after their delay
    deferred = _take("aggregate")
    assert [b.get("deferred") for b in deferred] == [1] * len(aggregate_bodies)
    for body in deferred:
        on_aggregate_message(store, queues, body, MAPPING, Sends(), yield_to_sync=policy)
    _everything_once(environment_id, lines)
