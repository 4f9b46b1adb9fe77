"""On-hand events, counting results and offsets against a real Azurite: once per id, never counted twice.

The offset scenarios follow the Inventory Visibility adjustment offset document: a POS sale offset
at invoice, an e-commerce order offset at create, a batch known only to the ERP, and a warehouse
chosen later in the ERP. After every step the calculated available quantity is checked against the
figure a person would expect, worked out by hand in the test.
"""

import contextlib
import json
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.adapters.aggregated_lines import aggregated_line as as_aggregated_line
from shared.adapters.config_store import ConfigStore
from shared.adapters.journal_records import JournalRecords
from shared.adapters.ledger_tables import LedgerStore, ledger_partition
from shared.domain.adjustments import parse_lines
from shared.domain.aggregation import JournalMapping
from shared.domain.journals import JournalOutcome, LineResult
from shared.domain.offsets import parse_transactions
from shared.domain.onhand_events import parse_events
from shared.services.aggregate import aggregate_pending
from shared.services.ingest import ingest
from shared.services.inventory_config import load_config, replace_config
from shared.services.offsets import offset_pending, post_transactions
from shared.services.onhand_events import post_events
from shared.services.queries import IndexQuery, index_query
from shared.services.send_journals import apply_outcome
from tests.faults import Crash, CrashAt

STORAGE = ["siteId", "locationId", "statusId", "wmsLocationId", "licensePlateId", "batchId", "serialId"]


def configure(env: str, *, offsets: list[dict]) -> None:
    replace_config(
        ConfigStore(),
        env,
        {
            "dataSources": [
                {"name": "fno", "physicalMeasures": ["availphysical"]},
                {"name": "pos", "physicalMeasures": ["sold", "adjustment"]},
                {"name": "ecom", "physicalMeasures": ["ordered"]},
            ],
            "calculatedMeasures": [
                {
                    "dataSource": "iv",
                    "name": "available",
                    "modifiers": [
                        {"dataSource": "fno", "physicalMeasure": "availphysical", "calculationType": "Addition"},
                        {"dataSource": "pos", "physicalMeasure": "adjustment", "calculationType": "Addition"},
                        {"dataSource": "pos", "physicalMeasure": "sold", "calculationType": "Subtraction"},
                        {"dataSource": "ecom", "physicalMeasure": "ordered", "calculationType": "Subtraction"},
                    ],
                }
            ],
            "offsets": offsets,
        },
    )


def config_of(env: str):
    return load_config(ConfigStore(), env, ("pos",), ("sold",))[0]


def events(env: str, raw: list[dict], mode: str = "add", set_source: str | None = None):
    parsed, problems = parse_events(raw, config_of(env), mode, set_source)  # type: ignore[arg-type]
    assert problems == []
    return post_events(LedgerStore(), env, parsed)


def erp(env: str, raw: list[dict]):
    parsed, problems = parse_transactions(raw, config_of(env))
    assert problems == []
    return post_transactions(LedgerStore(), env, parsed)


def onhand(env: str, product: str = "A0001", **filters: list[str]) -> dict[str, dict[str, Decimal]]:
    query = IndexQuery.model_validate({"filters": {"organizationId": ["usmf"], "productId": [product], **filters}})
    items = index_query(LedgerStore(), env, query, config_of(env))
    if not items:
        return {}
    (item,) = items
    return {ds: {m: Decimal(q) for m, q in ms.items()} for ds, ms in item["quantities"].items()}


def available(env: str, product: str = "A0001", **filters: list[str]) -> Decimal:
    return onhand(env, product, **filters).get("iv", {}).get("available", Decimal(0))


def erp_onhand(event_id: str, delta: str, dims: dict[str, str], product: str = "A0001") -> dict:
    return {
        "id": event_id,
        "organizationId": "usmf",
        "productId": product,
        "dimensions": dims,
        "quantities": {"fno": {"availphysical": delta}},
    }


def pos_sale(
    env: str, line_id: str, qty: str, dims: dict[str, str], source: str = "pos", measure: str = "sold"
) -> None:
    lines, problems = parse_lines(
        [
            {
                "id": line_id,
                "organizationId": "usmf",
                "productId": "A0001",
                "quantityDataSource": source,
                "physicalMeasure": measure,
                "dimensions": dims,
                "quantity": qty,
                "createWithIVSync": True,
            }
        ],
        allowed_sources=(source,),
        allowed_measures=(measure,),
    )
    assert problems == []
    assert [o.status for o in ingest(LedgerStore(), env, lines)] == ["IVPosted"]


@pytest.fixture
def env(app_env) -> str:
    return "off-" + uuid.uuid4().hex[:10]


# ---- on-hand events ----------------------------------------------------------------------------------
def test_an_event_changes_the_cache_once_however_often_it_is_sent(env):
    configure(env, offsets=[])
    first = events(env, [erp_onhand("e1", "100", {"siteId": "1"}), erp_onhand("e2", "-3", {"siteId": "1"})])
    assert [o.outcome for o in first] == ["created", "created"]
    again = events(env, [erp_onhand("e1", "100", {"siteId": "1"}), erp_onhand("e2", "-3", {"siteId": "1"})])
    assert [o.outcome for o in again] == ["duplicate", "duplicate"]
    assert onhand(env)["fno"]["availphysical"] == Decimal(97)

    changed = events(env, [erp_onhand("e1", "5", {"siteId": "1"}), erp_onhand("e2", "-3", {"siteId": "1"}, "B9")])
    assert [o.outcome for o in changed] == ["conflict", "conflict"], "same id, other content or product"
    assert onhand(env)["fno"]["availphysical"] == Decimal(97)
    assert onhand(env, "B9") == {}, "a conflicting event is not applied anywhere"


def test_a_crash_before_the_cache_commit_is_repaired_by_the_retry_once(env):
    configure(env, offsets=[])
    batch = [erp_onhand(f"c{i}", "1", {"siteId": "1", "locationId": str(i % 3)}) for i in range(30)]
    parsed, _ = parse_events(batch, config_of(env), "add")
    step = 1
    while True:
        run_env = f"{env}-{step}"
        configure(run_env, offsets=[])
        fault = CrashAt(step)
        with contextlib.suppress(Crash):
            post_events(LedgerStore(fault=fault), run_env, parsed)
        outcomes = post_events(LedgerStore(), run_env, parsed)
        assert {o.outcome for o in outcomes} <= {"created", "duplicate"}
        assert onhand(run_env)["fno"]["availphysical"] == Decimal(30), f"crash at storage call {step}"
        if not fault.fired:
            break
        step += 1
    assert step > 2


def test_concurrent_senders_of_the_same_events_apply_them_once(env):
    configure(env, offsets=[])
    batch = [erp_onhand(f"r{i}", "2", {"siteId": "1", "locationId": str(i % 4)}) for i in range(40)]
    parsed, _ = parse_events(batch, config_of(env), "add")
    threads = [threading.Thread(target=post_events, args=(LedgerStore(), env, parsed)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert onhand(env)["fno"]["availphysical"] == Decimal(80)


def test_setonhand_overwrites_a_measure_and_a_repeated_set_changes_nothing(env):
    configure(env, offsets=[])
    events(env, [erp_onhand("d1", "10", {"siteId": "1", "locationId": "11"})])
    events(env, [erp_onhand("s1", "42", {"siteId": "1", "locationId": "11"})], "set", "fno")
    assert onhand(env)["fno"]["availphysical"] == Decimal(42)
    events(env, [erp_onhand("d2", "-2", {"siteId": "1", "locationId": "11"})])
    outcomes = events(env, [erp_onhand("s1", "42", {"siteId": "1", "locationId": "11"})], "set", "fno")
    assert outcomes[0].outcome == "duplicate"
    assert onhand(env)["fno"]["availphysical"] == Decimal(40), "the re-sent count must not undo a later change"


def test_environments_never_see_each_others_events(env):
    configure(env, offsets=[])
    other = env + "-b"
    configure(other, offsets=[])
    events(env, [erp_onhand("x1", "7", {"siteId": "1"})])
    assert onhand(other) == {}
    assert events(other, [erp_onhand("x1", "7", {"siteId": "1"})])[0].outcome == "created"


# ---- offsets of ERP transactions made elsewhere ---------------------------------------------------------
SALES_AT_INVOICE = {
    "transactionType": "salesOrder",
    "offsetDataSource": "pos",
    "offsetPhysicalMeasure": "sold",
    "trigger": "Invoice",
}


def sales_order(
    tx_id: str, status: str, qty: str, dims: dict[str, str], source: str = "pos", measure: str = "sold", **extra
) -> dict:
    return {
        "id": tx_id,
        "transactionType": "salesOrder",
        "status": status,
        "organizationId": "usmf",
        "productId": "A0001",
        "dimensions": dims,
        "quantity": qty,
        "OFFSETDATASOURCE": source,
        "OFFSETPHYSICALMEASURE": measure,
        **extra,
    }


def test_a_pos_sale_is_offset_at_invoice_once(env):
    configure(env, offsets=[SALES_AT_INVOICE])
    site = {"siteId": "1", "locationId": "11"}
    events(env, [erp_onhand("erp-0", "100", site)])
    assert available(env) == 100
    pos_sale(env, "pos-1", "10", {**site, "posTill": "T3"})
    assert available(env) == 90, "the sale counts at once"
    erp(env, [sales_order("SO-1", "Create", "10", site)])
    assert available(env) == 90, "a created sales order is not the trigger"
    # The ERP invoices: its own on-hand drops, reported with the transaction, so both land together.
    outcome = erp(env, [sales_order("SO-1", "Invoiced", "10", site, quantities={"fno": {"availphysical": "-10"}})])
    assert outcome[0].status == "offset"
    assert available(env) == 90
    assert onhand(env)["pos"]["sold"] == 0 and onhand(env)["fno"]["availphysical"] == 90
    for _ in range(2):  # the ERP repeats itself
        erp(
            env,
            [
                sales_order("SO-1", "Invoiced", "10", site, quantities={"fno": {"availphysical": "-10"}}),
                sales_order("SO-1", "Create", "10", site),
            ],
        )
        assert available(env) == 90
    conflict = erp(env, [sales_order("SO-1", "Invoiced", "12", site)])
    assert conflict[0].outcome == "conflict" and available(env) == 90


def test_an_ecommerce_order_is_offset_at_create(env):
    configure(
        env,
        offsets=[
            {
                "transactionType": "salesOrder",
                "offsetDataSource": "ecom",
                "offsetPhysicalMeasure": "ordered",
                "trigger": "Create",
            }
        ],
    )
    site = {"siteId": "1", "locationId": "11"}
    events(env, [erp_onhand("erp-0", "50", site)])
    pos_sale(env, "web-1", "4", site, source="ecom", measure="ordered")
    assert available(env) == 46
    # The order is created in the ERP: the ERP reserves it (its available drops) and the offset lands with it.
    erp(
        env,
        [
            sales_order(
                "SO-W1",
                "Create",
                "4",
                site,
                source="ecom",
                measure="ordered",
                quantities={"fno": {"availphysical": "-4"}},
            )
        ],
    )
    assert available(env) == 46
    erp(env, [sales_order("SO-W1", "Invoice", "4", site, source="ecom", measure="ordered")])
    erp(
        env,
        [
            sales_order(
                "SO-W1",
                "Create",
                "4",
                site,
                source="ecom",
                measure="ordered",
                quantities={"fno": {"availphysical": "-4"}},
            )
        ],
    )
    assert available(env) == 46
    assert onhand(env)["ecom"]["ordered"] == 0


def test_a_batch_known_only_to_the_erp_is_left_out_of_matching(env):
    unchecked_batch = [d for d in STORAGE if d != "batchId"]
    configure(env, offsets=[{**SALES_AT_INVOICE, "checkedDimensions": unchecked_batch}])
    site = {"siteId": "1", "locationId": "11"}
    events(env, [erp_onhand("erp-0", "100", {**site, "batchId": "B42"})])
    pos_sale(env, "pos-1", "10", site)
    assert available(env) == 90
    erp(
        env,
        [
            sales_order(
                "SO-1", "Invoice", "10", {**site, "batchId": "B42"}, quantities={"fno": {"availphysical": "-10"}}
            )
        ],
    )
    assert available(env) == 90
    # The offset met the sale on the row without a batch: no row is left with a stray -10 sold.
    assert available(env, siteId=["1"], locationId=["11"]) == 90
    rows = [json.loads(e["Quantities"]) for e in LedgerStore().cache_rows_of_environment(env, None)]
    assert all(Decimal(q.get("pos", {}).get("sold", "0")) == 0 for q in rows)


def test_a_warehouse_chosen_later_in_the_erp_is_left_out_of_matching(env):
    unchecked_warehouse = [d for d in STORAGE if d != "locationId"]
    configure(env, offsets=[{**SALES_AT_INVOICE, "checkedDimensions": unchecked_warehouse}])
    events(env, [erp_onhand("erp-0", "100", {"siteId": "1", "locationId": "11"})])
    pos_sale(env, "pos-1", "10", {"siteId": "1"})  # sold at the site; no warehouse yet
    assert available(env, siteId=["1"]) == 90
    erp(
        env,
        [
            sales_order(
                "SO-1",
                "Invoice",
                "10",
                {"siteId": "1", "locationId": "11"},
                quantities={"fno": {"availphysical": "-10"}},
            )
        ],
    )
    assert available(env, siteId=["1"]) == 90
    sold = onhand(env)["pos"]["sold"]
    assert sold == 0


def test_with_the_warehouse_checked_the_offset_lands_on_the_warehouse_row(env):
    """The contrast to the test above: what 'checked' means, shown by where the quantity goes."""
    configure(env, offsets=[SALES_AT_INVOICE])
    pos_sale(env, "pos-1", "10", {"siteId": "1"})
    erp(env, [sales_order("SO-1", "Invoice", "10", {"siteId": "1", "locationId": "11"})])
    rows = {
        json.loads(e["Dimensions"]).get("locationId"): json.loads(e["Quantities"])["pos"]["sold"]
        for e in LedgerStore().cache_rows_of_environment(env, None)
    }
    assert rows == {None: "10", "11": "-10"}


# ---- offsets of journal lines omnisync sent ---------------------------------------------------------------
JOURNAL_AT_POST = {
    "transactionType": "adjustmentJournal",
    "offsetDataSource": "pos",
    "offsetPhysicalMeasure": "adjustment",
    "trigger": "Post",
}
MAPPING = JournalMapping(targets={"pos/adjustment": {"journal_type": "adjustment", "target_status": "Posted"}})


def _sent_line(env: str) -> dict:
    store = LedgerStore()
    aggregate_pending(store, MAPPING)
    (entity,) = store.aggregated_lines(ledger_partition(env, "usmf", "A0001"), ("Created",))
    return entity


def _answer(env: str, entity: dict, state: str, onhand_json: str | None = None, store: LedgerStore | None = None):
    outcome = JournalOutcome(
        "OS-test", state, "USMF-1", None, (LineResult(entity["AggregatedId"], "1", None, onhand_json),)
    )
    current = LedgerStore().get_aggregated(entity["PartitionKey"], entity["AggregatedId"])
    if current.get("JournalId") != "OS-test":  # the ERP answers a journal it was sent: send it first
        LedgerStore().update_aggregated(
            [
                {
                    "PartitionKey": current["PartitionKey"],
                    "RowKey": current["RowKey"],
                    "Status": "SCMSent",
                    "JournalId": "OS-test",
                }
            ]
        )
        current = LedgerStore().get_aggregated(entity["PartitionKey"], entity["AggregatedId"])
    line = as_aggregated_line(current["PartitionKey"], current)
    apply_outcome(store or LedgerStore(), JournalRecords(), env, outcome, [line], datetime.now(UTC), 5)


def test_a_journal_line_is_offset_once_when_it_is_posted(env):
    configure(env, offsets=[JOURNAL_AT_POST])
    site = {"siteId": "1", "locationId": "11"}
    events(env, [erp_onhand("erp-0", "100", site)])
    pos_sale(env, "pos-1", "-10", site, measure="adjustment")
    entity = _sent_line(env)
    assert available(env) == 90
    _answer(env, entity, "created")
    offset_pending(LedgerStore(), config_of)
    assert available(env) == 90 and onhand(env)["pos"]["adjustment"] == -10, "Create is not the trigger"
    erp_change = json.dumps({"fno": {"availphysical": "-10"}})
    for _ in range(3):  # the ERP's answer arrives again and again
        _answer(env, entity, "posted", erp_change)
        offset_pending(LedgerStore(), config_of)
        assert available(env) == 90
    assert onhand(env)["pos"]["adjustment"] == 0 and onhand(env)["fno"]["availphysical"] == 90


def test_a_crash_between_the_status_and_the_offset_is_finished_by_the_next_run(env):
    configure(env, offsets=[{**JOURNAL_AT_POST, "trigger": "Create"}])
    pos_sale(env, "pos-1", "-6", {"siteId": "1"}, measure="adjustment")
    entity = _sent_line(env)
    step = 1
    while True:
        fault = CrashAt(step)
        with contextlib.suppress(Crash):
            offset_pending(LedgerStore(fault=fault), config_of)
        if step == 1:
            _answer(env, entity, "created")
            with contextlib.suppress(Crash):
                offset_pending(LedgerStore(fault=CrashAt(2)), config_of)  # dies before the offset commits
        offset_pending(LedgerStore(), config_of)
        assert onhand(env)["pos"]["adjustment"] == 0, f"crash at storage call {step}"
        if not fault.fired:
            break
        step += 1
    _answer(env, entity, "posted")
    offset_pending(LedgerStore(), config_of)
    assert onhand(env)["pos"]["adjustment"] == 0, "the Create trigger offsets once, not again at Post"


def test_lines_without_an_offset_rule_are_left_alone(env):
    configure(env, offsets=[])
    pos_sale(env, "pos-1", "-6", {"siteId": "1"}, measure="adjustment")
    entity = _sent_line(env)
    _answer(env, entity, "posted")
    offset_pending(LedgerStore(), config_of)
    assert onhand(env)["pos"]["adjustment"] == -6
    stored = LedgerStore().get_aggregated(entity["PartitionKey"], entity["AggregatedId"])
    assert stored["Offset"] == "none"


def test_erp_quantities_in_a_result_file_are_checked_before_anything_changes(env):
    from shared.services.journal_results import ResultRejected, apply_result_file

    configure(env, offsets=[JOURNAL_AT_POST])
    pos_sale(env, "pos-1", "-6", {"siteId": "1"}, measure="adjustment")
    entity = _sent_line(env)
    store = LedgerStore()
    JournalRecords().start(env, "OS-check", {"LineCount": 1}, datetime.now(UTC))
    store.update_aggregated(
        [
            {
                "PartitionKey": entity["PartitionKey"],
                "RowKey": entity["RowKey"],
                "Status": "SCMSent",
                "JournalId": "OS-check",
            }
        ]
    )

    def result(state: str, quantities: dict) -> bytes:
        return json.dumps(
            {
                "journalId": "OS-check",
                "state": state,
                "lines": [{"lineId": entity["AggregatedId"], "quantities": quantities}],
            }
        ).encode()

    for state, quantities, reason in (
        ("created", {"fno": {"availphysical": -6}}, "accepted with state posted only"),
        ("posted", {"fno": {"nosuch": -6}}, "not a physical measure of fno"),
    ):
        with pytest.raises(ResultRejected, match=reason):
            apply_result_file(
                store, JournalRecords(), f"journal-inbox/{env}/r.json", result(state, quantities), 5, config_of
            )
        stored = store.get_aggregated(entity["PartitionKey"], entity["AggregatedId"])
        assert stored["Status"] == "SCMSent" and "ErpOnHand" not in stored, "a refused file changes nothing"

    # A JSON number with a fraction is read as an exact decimal, never through a float.
    apply_result_file(
        store,
        JournalRecords(),
        f"journal-inbox/{env}/r.json",
        b'{"journalId": "OS-check", "state": "posted", "lines": [{"lineId": "'
        + entity["AggregatedId"].encode()
        + b'", "quantities": {"fno": {"availphysical": -5.999999}}}]}',
        5,
        config_of,
    )
    offset_pending(store, config_of)
    assert onhand(env)["fno"]["availphysical"] == Decimal("-5.999999")
    assert onhand(env)["pos"]["adjustment"] == 0


def _ledger_aggregated_keys(store: LedgerStore, env: str) -> list[str]:
    """Aggregated lines the ledger tables themselves still hold for the environment."""
    return [
        e["RowKey"]
        for table in store.ledgers
        for e in table.query_entities(
            "PartitionKey ge @lo and PartitionKey lt @hi and RowKey ge @a and RowKey lt @b",
            parameters={"lo": env + "|", "hi": env + "}", "a": "A|", "b": "A}"},
        )
    ]


def test_a_posted_and_offset_journal_line_leaves_the_ledger_and_is_still_found_everywhere(env):
    configure(env, offsets=[JOURNAL_AT_POST])
    pos_sale(env, "pos-1", "-4", {"siteId": "1"}, measure="adjustment")
    entity = _sent_line(env)
    _answer(env, entity, "created")
    offset_pending(LedgerStore(), config_of)
    store = LedgerStore()
    assert _ledger_aggregated_keys(store, env) == [entity["RowKey"]], "created, not posted: it stays open"

    _answer(env, entity, "posted")
    offset_pending(LedgerStore(), config_of)

    assert _ledger_aggregated_keys(store, env) == []
    in_ledger = store.ledger_of(entity["PartitionKey"]).query_entities(
        "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
        parameters={"pk": entity["PartitionKey"], "lo": "L|", "hi": "L}"},
    )
    assert [e["RowKey"] for e in in_ledger] == [], "its member line left with it"
    member = store.get_line(entity["PartitionKey"], "pos-1")
    assert member is not None and member["Status"] == "Aggregated", "and is read from finishedlines"
    assert member["AggregatedLineId"] == entity["AggregatedId"]
    moved = store.get_aggregated(entity["PartitionKey"], entity["AggregatedId"])
    assert moved["Status"] == "FnOPosted" and moved["Offset"] == "done"
    assert store.find_aggregated(env, entity["AggregatedId"])["RowKey"] == entity["RowKey"]
    listed, token = store.query_aggregated(env, {"journalId": "OS-test"}, 10, None)
    assert [e["RowKey"] for e in listed] == [entity["RowKey"]] and token is None
    assert onhand(env)["pos"]["adjustment"] == 0

    _answer(env, entity, "create_error")  # a stale answer after the move: recorded where the line now is
    again = store.get_aggregated(entity["PartitionKey"], entity["AggregatedId"])
    assert again["Status"] == "FnOPosted"
    assert "create_error" in again["LateAnswers"]
    assert onhand(env)["pos"]["adjustment"] == 0


def test_an_answer_recorded_while_the_line_is_moved_keeps_it_in_the_ledger_until_the_next_visit(env):
    configure(env, offsets=[])
    pos_sale(env, "pos-1", "-3", {"siteId": "1"}, measure="adjustment")
    entity = _sent_line(env)
    _answer(env, entity, "posted")
    partition = entity["PartitionKey"]

    def late_answer_before_the_delete(step: str) -> None:
        if step == "finish_aggregated_lines":
            LedgerStore().update_aggregated(
                [{"PartitionKey": partition, "RowKey": entity["RowKey"], "LateAnswers": '["late"]'}]
            )

    offset_pending(LedgerStore(fault=late_answer_before_the_delete), config_of)
    store = LedgerStore()
    assert _ledger_aggregated_keys(store, env) == [entity["RowKey"]], "the guarded delete lost the race"
    assert store.get_aggregated(partition, entity["AggregatedId"])["LateAnswers"] == '["late"]'
    listed, _ = store.query_aggregated(env, {}, 10, None)
    assert [e.get("LateAnswers") for e in listed] == ['["late"]'], "listed once, with the answer"

    assert store.finish_posted(partition) == 1
    assert _ledger_aggregated_keys(store, env) == []
    assert store.get_aggregated(partition, entity["AggregatedId"])["LateAnswers"] == '["late"]'
