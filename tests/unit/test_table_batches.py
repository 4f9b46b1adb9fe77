"""A dropped connection is tried again (writes are repeatable); anything else is not."""

import pytest
from azure.core.exceptions import HttpResponseError, ServiceResponseError

from shared.adapters.table_batches import chunks, resilient


class Flaky:
    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self, value: int) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return value * 2


def test_a_dropped_connection_is_tried_again_and_the_answer_returned():
    flaky = Flaky(2, ServiceResponseError("Connection aborted."))
    assert resilient(flaky, 21) == 42 and flaky.calls == 3


def test_a_connection_that_keeps_dropping_raises_after_the_last_attempt():
    flaky = Flaky(5, ServiceResponseError("Connection aborted."))
    with pytest.raises(ServiceResponseError):
        resilient(flaky, 1, attempts=3)
    assert flaky.calls == 3


def test_an_answer_from_storage_is_never_repeated():
    flaky = Flaky(1, HttpResponseError("412 precondition failed"))
    with pytest.raises(HttpResponseError):
        resilient(flaky, 1)
    assert flaky.calls == 1


def test_chunks_keep_every_item_in_order_within_the_batch_limit():
    parts = list(chunks(list(range(250))))
    assert [len(p) for p in parts] == [100, 100, 50] and [i for p in parts for i in p] == list(range(250))
