"""TextSpool: report text in, the same text out as UTF-8, moved to its file in large pieces."""

from __future__ import annotations

import csv
from typing import Any

import pytest

from shared.services import text_spool
from shared.services.text_spool import TextSpool


def _on_file(spool: TextSpool) -> int:
    return spool.file.tell()


def test_text_comes_back_whole_as_utf8_in_the_order_written() -> None:
    spool = TextSpool()
    pieces = [f"Ärmel ✓ {i}\r\n" for i in range(5_000)]
    for i, piece in enumerate(pieces):
        spool.write(piece)
        if i % 100 == 0:
            spool.spill()
    assert spool.finish().read() == "".join(pieces).encode("utf-8")


def test_small_text_stays_in_memory_until_a_spill_is_worth_a_write() -> None:
    spool = TextSpool()
    spool.write("x" * (text_spool._BATCH_CHARS - 1))
    spool.spill()
    assert _on_file(spool) == 0
    spool.write("y")
    spool.spill()
    assert _on_file(spool) == text_spool._BATCH_CHARS


def test_a_csv_writer_writes_through_it() -> None:
    spool = TextSpool()
    csv.writer(spool, lineterminator="\r\n").writerow(["a,b", 'say "hi"', "=1"])
    assert spool.finish().read() == b'"a,b","say ""hi""",=1\r\n'


def test_wrap_puts_text_before_and_after_the_body() -> None:
    spool = TextSpool()
    spool.write("body")
    assert spool.wrap("[", "]").read() == b"[body]"


def _sinks(run_id: str = "R1") -> Any:
    from shared.domain.reconciliation.config import ReconcileConfig
    from shared.domain.reconciliation.history import JoinedStreaks
    from shared.services.reconcile_stream import new_sinks

    return new_sinks(ReconcileConfig(), JoinedStreaks({}), ["item"], run_id, 10)


def test_a_journal_head_written_ahead_gives_the_document_a_head_at_the_end_gives() -> None:
    """The engine way writes the journal's head before its lines when it knows the count: the same
    bytes as the head put in front at the end, without copying the body."""
    line = '{"line_id":"ab"}'
    ahead, after = _sinks(), _sinks()
    ahead.journal_head = ahead.journal.head_text(2)
    ahead.journal_body.write(ahead.journal_head)
    for sinks in (ahead, after):
        sinks.journal.add_texts("R1-001", [line, line])
    document = after.journal_file().read()
    assert ahead.journal_file().read() == document
    assert b'"line_count":2' in document


def test_a_journal_head_that_names_another_line_count_is_an_error_not_a_wrong_file() -> None:
    sinks = _sinks()
    sinks.journal_head = sinks.journal.head_text(3)
    sinks.journal_body.write(sinks.journal_head)
    sinks.journal.add_texts("R1-001", ['{"line_id":"ab"}'])
    with pytest.raises(RuntimeError, match="head written ahead"):
        sinks.journal_file()
