"""How work messages are cut into batches: every partition once, each message within the queue's size."""

from __future__ import annotations

import base64
import json

from shared.adapters.work_queues import encode
from shared.services.partition_work import BATCH_PARTITIONS, describe, work_batches

QUEUE_MESSAGE_BYTES = 64 * 1024


def _body(i: int, name_length: int = 12) -> dict:
    product = f"P{i:0{name_length}d}"
    return {"kind": "ledger", "partition": f"env|usmf|{product}", "shard": i % 16, "etag": f"W/\"datetime'{i}'\""}


def test_every_partition_is_in_exactly_one_batch_in_order():
    bodies = [_body(i) for i in range(250)]
    batches = work_batches(bodies)
    assert [len(b["partitions"]) for b in batches] == [BATCH_PARTITIONS, BATCH_PARTITIONS, 250 - 2 * BATCH_PARTITIONS]
    assert [p for b in batches for p in b["partitions"]] == bodies


def test_long_partition_names_cut_batches_by_size_so_each_message_fits_a_queue_message():
    bodies = [_body(i, name_length=900) for i in range(100)]
    batches = work_batches(bodies)
    assert len(batches) > 1, "100 entries of ~1 KB each do not fit one message"
    assert [p for b in batches for p in b["partitions"]] == bodies
    for batch in batches:
        assert len(encode(batch)) < QUEUE_MESSAGE_BYTES
        assert json.loads(base64.b64decode(encode(batch))) == batch


def test_nothing_to_queue_is_no_message():
    assert work_batches([]) == []


def test_one_partition_is_still_a_batch_of_one():
    assert work_batches([_body(1)]) == [{"partitions": [_body(1)]}]


def test_logs_name_a_batch_by_its_size_and_first_partition():
    assert describe({"partitions": [_body(1), _body(2)]}) == "2 partitions from env|usmf|P000000000001"
    assert describe({"partition": "env|usmf|X"}) == "env|usmf|X"
    assert describe({"environment": "contoso"}) == "contoso"
