"""TextSpool: report text in, the same text out as UTF-8, moved to its file in large pieces."""

from __future__ import annotations

import csv

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
