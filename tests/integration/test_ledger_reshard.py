"""`omnisync ledger-reshard`: a ledger written before the shards moves into them, nothing lost or doubled."""

from __future__ import annotations

from shared.adapters.ledger_tables import LedgerStore
from shared.adapters.storage_clients import table_name, table_service
from shared.adapters.storage_names import UNSHARDED_LEDGER_TABLE
from shared.adapters.table_transactions import submit_transaction
from shared.cli import main


def _old_ledger(partitions: dict[str, int]):
    """The one-table ledger of an earlier release, `n` line records in each partition."""
    old = table_service().create_table(table_name(UNSHARDED_LEDGER_TABLE))
    for partition, n in partitions.items():
        entities = [{"PartitionKey": partition, "RowKey": f"L|{i:04d}", "Quantity": str(i)} for i in range(n)]
        for start in range(0, n, 100):
            submit_transaction(old, [("create", e) for e in entities[start : start + 100]])
    return old


def _in_shards(store: LedgerStore, partition: str) -> dict[str, str]:
    table = store.ledger_of(partition)
    return {e["RowKey"]: e["Quantity"] for e in table.query_entities("PartitionKey eq @p", parameters={"p": partition})}


def test_every_partition_moves_into_its_shard_and_leaves_the_old_table(app_env, capsys):
    partitions = {f"env|usmf|P{n}": 3 for n in range(20)} | {"env|usmf|BIG": 250, "env|usmf|HUGE": 900}
    old = _old_ledger(partitions)  # 1,210 entities: more than one page of a listing (1,000)

    assert main(["ledger-reshard"]) == 0

    store = LedgerStore()
    for partition, n in partitions.items():
        assert _in_shards(store, partition) == {f"L|{i:04d}": str(i) for i in range(n)}
    assert list(old.list_entities()) == []
    assert "22 partition(s), 1210 entities moved" in capsys.readouterr().out
    assert len({store.ledger_of(p).table_name for p in partitions}) > 1, "spread over several shards"


def test_a_run_stopped_half_way_is_finished_by_the_next_run(app_env):
    old = _old_ledger({"env|usmf|BIG": 250})
    store = LedgerStore()
    shard = store.ledger_of("env|usmf|BIG")
    first = [dict(e) for e in old.list_entities()][:100]
    submit_transaction(shard, [("create", e) for e in first])  # the copy's first transaction, then a crash

    assert main(["ledger-reshard"]) == 0

    assert _in_shards(store, "env|usmf|BIG") == {f"L|{i:04d}": str(i) for i in range(250)}
    assert list(old.list_entities()) == []


def test_a_partition_the_app_already_wrote_in_its_shard_is_left_for_an_operator(app_env, capsys):
    old = _old_ledger({"env|usmf|P1": 2, "env|usmf|P2": 2})
    store = LedgerStore()
    store.ledger_of("env|usmf|P1").create_entity({"PartitionKey": "env|usmf|P1", "RowKey": "L|0000", "Quantity": "9"})

    assert main(["ledger-reshard"]) == 1

    assert "env|usmf|P1" in capsys.readouterr().err
    assert _in_shards(store, "env|usmf|P1") == {"L|0000": "9"}, "what the app wrote is not overwritten"
    assert sorted(e["RowKey"] for e in old.list_entities()) == ["L|0000", "L|0001"], "nothing of it is lost"
    assert _in_shards(store, "env|usmf|P2") == {"L|0000": "0", "L|0001": "1"}


def test_a_deployment_that_never_had_the_old_table_has_nothing_to_move(app_env, capsys):
    assert main(["ledger-reshard"]) == 0
    assert "0 partition(s), 0 entities moved" in capsys.readouterr().out
