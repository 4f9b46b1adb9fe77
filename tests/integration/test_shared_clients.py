"""Stores made on many threads share one client per table and queue.

The SDKs' `get_table_client`/`get_queue_client` re-link the service's shared policy objects into
each new pipeline; a request in flight through one of them while another thread built a client
failed with `AttributeError: '_SansIOHTTPPolicyRunner' object has no attribute 'next'` (4 stores
posting at once in bench/scale.py). One client per table and queue per process removes the re-linking.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from shared.adapters.journal_records import JournalRecords
from shared.adapters.ledger_tables import LedgerStore
from shared.adapters.level_tables import LevelStore
from shared.adapters.work_queues import WorkQueues


def test_every_store_of_a_process_uses_the_same_table_clients(app_env):
    first, second = LedgerStore(), LedgerStore()
    assert all(a is b for a, b in zip(first.ledgers, second.ledgers, strict=True))
    assert first.pending is second.pending is LevelStore().pending
    assert all(a is b for a, b in zip(first.ledgers, LevelStore().ledgers, strict=True))
    assert JournalRecords().table is JournalRecords().table


def test_every_work_queue_handle_uses_the_same_queue_client(app_env):
    assert WorkQueues().client("sync") is WorkQueues().client("sync")


def test_stores_made_while_other_threads_read_never_break_a_request(app_env):
    store = LedgerStore()
    store.ledger_of("p").upsert_entity({"PartitionKey": "p", "RowKey": "r"})

    def read_with_a_new_store(_: int) -> str:
        fresh = LedgerStore()  # what each HTTP request and queue message does
        return str(fresh.ledger_of("p").get_entity("p", "r")["RowKey"])

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(read_with_a_new_store, range(400))) == {"r"}
