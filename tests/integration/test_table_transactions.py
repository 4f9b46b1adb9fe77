"""Our transaction writer against the SDK's `submit_transaction`, side by side on Azurite.

Every case runs the same operations through both on twin tables and compares what matters to
callers: what is stored, the metadata returned, and on failure the exception type, `status_code`
and `error_code` (ConcurrencyConflict and the retry paths are decided on those).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from shared.adapters.storage_clients import table_service
from shared.adapters.table_transactions import MalformedBatchResponse, _parts, submit_transaction


def _twins() -> tuple[TableClient, TableClient]:
    service = table_service()
    suffix = uuid.uuid4().hex[:8]
    return service.create_table(f"sdk{suffix}"), service.create_table(f"our{suffix}")


def _stored(table: TableClient) -> list[dict[str, Any]]:
    return sorted(
        ({k: v for k, v in dict(e).items()} for e in table.list_entities()),
        key=lambda e: (e["PartitionKey"], e["RowKey"]),
    )


def _both(sdk: TableClient, ours: TableClient, operations: list[Any]) -> tuple[Any, Any]:
    """Each writer's result or exception for the same operations."""
    outcomes = []
    for submit in (sdk.submit_transaction, lambda ops: submit_transaction(ours, ops)):
        try:
            outcomes.append(submit(operations))
        except HttpResponseError as exc:
            outcomes.append(exc)
    return outcomes[0], outcomes[1]


SEED = [
    {"PartitionKey": "p'1", "RowKey": "a", "Text": "Crème brûlée €", "Count": 1, "Price": 2.5, "Flag": True},
    {"PartitionKey": "p'1", "RowKey": "b c", "Text": "", "Count": 2},
]


def test_every_kind_of_operation_stores_the_same_and_returns_etags(app_env):
    sdk, ours = _twins()
    for table in (sdk, ours):
        for entity in SEED:
            table.create_entity(entity)
    operations = [
        ("create", {"PartitionKey": "p'1", "RowKey": "new é", "Quantity": "-1.5"}),
        ("upsert", {"PartitionKey": "p'1", "RowKey": "a", "Text": "replaced"}, {"mode": UpdateMode.REPLACE}),
        ("upsert", {"PartitionKey": "p'1", "RowKey": "merged", "Text": "x"}, {"mode": UpdateMode.MERGE}),
        ("update", {"PartitionKey": "p'1", "RowKey": "b c", "Extra": "y"}, {"mode": UpdateMode.MERGE}),
    ]
    sdk_result, our_result = _both(sdk, ours, operations)
    assert [sorted(m) for m in our_result] == [sorted(m) for m in sdk_result] == [["etag"]] * 4
    assert all(m["etag"].startswith('W/"datetime') for m in our_result)
    assert [_strip(e) for e in _stored(ours)] == [_strip(e) for e in _stored(sdk)]
    assert {e["RowKey"] for e in _stored(ours)} == {"a", "b c", "merged", "new é"}


def _strip(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k != "Timestamp"}


def test_the_returned_etag_guards_the_next_update_like_the_sdks(app_env):
    _, ours = _twins()
    [created] = submit_transaction(ours, [("create", {"PartitionKey": "p", "RowKey": "r", "V": 1})])
    guarded = {"mode": UpdateMode.MERGE, "etag": created["etag"], "match_condition": MatchConditions.IfNotModified}
    [updated] = submit_transaction(ours, [("update", {"PartitionKey": "p", "RowKey": "r", "V": 2}, guarded)])
    assert updated["etag"] != created["etag"]
    with pytest.raises(TableTransactionError) as stale:
        submit_transaction(ours, [("update", {"PartitionKey": "p", "RowKey": "r", "V": 3}, guarded)])
    assert stale.value.status_code == 412
    assert ours.get_entity("p", "r")["V"] == 2  # the stale update applied nothing


@pytest.mark.parametrize(
    "failing",
    [
        pytest.param(("create", {"PartitionKey": "p'1", "RowKey": "a", "V": 1}), id="create-existing"),
        pytest.param(("delete", {"PartitionKey": "p'1", "RowKey": "missing"}), id="delete-missing"),
        pytest.param(("update", {"PartitionKey": "p'1", "RowKey": "missing", "V": 1}), id="update-missing"),
        pytest.param(
            (
                "update",
                {"PartitionKey": "p'1", "RowKey": "a", "V": 1},
                {
                    "mode": UpdateMode.MERGE,
                    "etag": "W/\"datetime'2001-01-01T00%3A00%3A00.0000000Z'\"",
                    "match_condition": MatchConditions.IfNotModified,
                },
            ),
            id="stale-etag",
        ),
    ],
)
def test_a_failing_operation_raises_what_the_sdk_raises_and_applies_nothing(app_env, failing):
    sdk, ours = _twins()
    for table in (sdk, ours):
        for entity in SEED:
            table.create_entity(entity)
    before = [_strip(e) for e in _stored(ours)]
    operations = [("upsert", {"PartitionKey": "p'1", "RowKey": "first", "V": 0}), failing]
    sdk_error, our_error = _both(sdk, ours, operations)
    assert isinstance(sdk_error, HttpResponseError)
    assert type(our_error) is type(sdk_error)
    assert (our_error.status_code, our_error.error_code) == (sdk_error.status_code, sdk_error.error_code)
    assert [_strip(e) for e in _stored(ours)] == before  # all or nothing: "first" was not written


def test_operations_across_partitions_are_refused_like_the_sdk(app_env):
    sdk, ours = _twins()
    operations = [("upsert", {"PartitionKey": "a", "RowKey": "1"}), ("upsert", {"PartitionKey": "b", "RowKey": "1"})]
    with pytest.raises(ValueError) as sdk_error:
        sdk.submit_transaction(operations)
    with pytest.raises(ValueError) as our_error:
        submit_transaction(ours, operations)
    assert type(our_error.value) is type(sdk_error.value)
    assert _stored(ours) == []


def test_too_many_operations_are_the_services_error_and_store_nothing(app_env):
    """Azurite's reply here has an extra line before the status line, on which the SDK's own parser
    fails (`BadStatusLine`); ours reads the service's error."""
    _, ours = _twins()
    operations = [("upsert", {"PartitionKey": "p", "RowKey": str(i)}) for i in range(101)]
    with pytest.raises(TableTransactionError) as error:
        submit_transaction(ours, operations)
    assert (error.value.status_code, error.value.error_code) == (400, "InvalidInput")
    assert "100 changes" in str(error.value)
    assert _stored(ours) == []


def test_a_missing_table_fails_like_the_sdk(app_env):
    service = table_service()
    missing = f"gone{uuid.uuid4().hex[:8]}"
    sdk, ours = service.get_table_client(missing), service.get_table_client(missing)
    sdk_error, our_error = _both(sdk, ours, [("upsert", {"PartitionKey": "p", "RowKey": "r"})])
    assert isinstance(sdk_error, HttpResponseError)
    assert type(our_error) is type(sdk_error)
    assert (our_error.status_code, our_error.error_code) == (sdk_error.status_code, sdk_error.error_code)


def test_no_operations_is_an_empty_result(app_env):
    _, ours = _twins()
    assert submit_transaction(ours, []) == []


def test_a_reply_that_is_not_multipart_is_a_clear_error():
    with pytest.raises(MalformedBatchResponse, match="boundary"):
        _parts("application/json", b"{}")
    with pytest.raises(MalformedBatchResponse, match="without headers"):
        _parts("multipart/mixed; boundary=b", b"--b\r\nno blank line--b--")


def test_without_the_sdks_internals_it_is_the_sdks_own_call(app_env, monkeypatch):
    """A future SDK that moves the builder or the error decoder leaves every transaction to the SDK."""
    import shared.adapters.table_transactions as transactions

    _, ours = _twins()
    monkeypatch.setattr(transactions, "SDK_PARTS", False)
    calls = []
    original = TableClient.submit_transaction
    monkeypatch.setattr(TableClient, "submit_transaction", lambda self, ops: calls.append(1) or original(self, ops))
    [metadata] = transactions.submit_transaction(ours, [("upsert", {"PartitionKey": "p", "RowKey": "r", "V": 1})])
    assert calls == [1]
    assert metadata["etag"] == ours.get_entity("p", "r").metadata["etag"]
