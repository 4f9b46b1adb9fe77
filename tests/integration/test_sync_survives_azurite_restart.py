"""Azurite (the storage) goes away in the middle of a sync and comes back on the same data."""

import threading

import pytest

from devtools.azurite import Azurite
from shared.adapters.ledger_tables import LedgerStore
from shared.adapters.storage_clients import reset_clients
from shared.config import reset_settings
from shared.services.ingest import ingest
from shared.services.sync import sync_pending
from tests.integration.ledger_helpers import cache_totals, expected_totals, make_lines, statuses


@pytest.fixture
def own_azurite(tmp_path, monkeypatch):
    instance = Azurite(tmp_path / "azurite").start()
    monkeypatch.setenv("OMNISYNC_STORAGE", instance.connection_string)
    monkeypatch.setenv("OMNISYNC_STORAGE_NAME_PREFIX", "restart")
    reset_settings()
    reset_clients()
    yield instance
    instance.stop()
    reset_settings()
    reset_clients()


def test_sync_interrupted_by_a_storage_restart_counts_every_line_once(own_azurite):
    lines = make_lines("az", 1500, products=3)
    ingest(LedgerStore(), "restart-env", lines)
    commits = []
    restarts: list[threading.Timer] = []

    def storage_goes_away(step: str) -> None:
        if step == "commit_changes":
            commits.append(step)
            if len(commits) == 5:
                own_azurite.stop()
                restarts.append(threading.Timer(2.0, own_azurite.start))
                restarts[-1].start()

    try:
        first = sync_pending(LedgerStore(fault=storage_goes_away))
        interrupted_lines = first.lines
    except Exception:
        interrupted_lines = 0
    for restart in restarts:  # storage is back (start() returns once its ports answer)
        restart.join()
    reset_clients()
    sync_pending(LedgerStore())
    store = LedgerStore()
    assert len(commits) >= 5, "the restart must happen in the middle of the sync"
    assert interrupted_lines < len(lines) or len(commits) > 5
    assert set(statuses(store, "restart-env").values()) == {"IVPosted"}
    expected = {k: v for k, v in expected_totals(lines).items() if v}
    assert {k: v for k, v in cache_totals(store, "restart-env").items() if v} == expected
