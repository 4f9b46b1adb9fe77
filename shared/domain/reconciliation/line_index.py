"""Which journals may hold a proposed line: the first bytes of every line id, journal by journal.

Why: an approval that names lines (``lineIds``) without their journals had to download and walk a
bad day's whole 132 MB proposal to find them, because a line id names no journal. The run writes
``line_index.json`` beside ``journal_index.json``: for each journal, the first ``PREFIX_BYTES`` bytes
of each of its line ids (1.2 MB for 303,000 lines, 1.6 MB as base64). An approval reads only the
journals whose prefixes match, by byte range. A match is only a candidate (two ids may share a
prefix); the line itself is found, or refused as unknown, in the journals read. A line id matches
no journal only if the proposal does not have it, so nothing is missed.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.domain.reconciliation.journal_index import LINE_START, BadIndex, JournalIndex

LINE_INDEX_FILE = "line_index.json"
LINE_INDEX_SCHEMA = "omnisync.reconciliation.line_index/1"
PREFIX_BYTES = 4
"""Bytes of each line id kept: 303,000 lines share one four-byte prefix with another line of their
journal ~10 times in all, so a request reads at most a journal or two more than it names."""
LINE_ID_TEXT_START = LINE_START.decode() + '"'
"""How every proposed line's text opens, its 24 hex digits of id right after."""
_LINE_ID = re.compile(r"[0-9a-f]{24}")


def prefixes_of(texts: Sequence[str]) -> bytes | None:
    """The id prefixes of proposed line texts, in order; None when a text is not a line as runs write them."""
    start, end = len(LINE_ID_TEXT_START), len(LINE_ID_TEXT_START) + 2 * PREFIX_BYTES
    # map over str.startswith stays in C: a generator expression here cost ~0.2 s of a bad day
    if not all(map(str.startswith, texts, itertools.repeat(LINE_ID_TEXT_START))):
        return None
    try:
        return bytes.fromhex("".join([t[start:end] for t in texts]))
    except ValueError:
        return None


def line_index_document(file_bytes: int, journals: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
    """The JSON document (``parse_line_index`` reads it back) from each journal's id and prefixes."""
    return {
        "schema": LINE_INDEX_SCHEMA,
        "bytes": file_bytes,
        "prefix_bytes": PREFIX_BYTES,
        "journals": [
            {"journal_id": jid, "prefixes": base64.b64encode(prefixes).decode("ascii")} for jid, prefixes in journals
        ],
    }


@dataclass(frozen=True, slots=True)
class LineIndex:
    """Per journal (file order), its line id prefixes, checked against the run's journal index."""

    journals: tuple[tuple[str, bytes], ...]

    def journals_holding(self, line_ids: Iterable[str]) -> set[str]:
        """The journals that may hold any of ``line_ids``; ids that are not line ids match none."""
        # each prefix as a native unsigned int, so the test per journal is one C-level pass (isdisjoint)
        wanted = {_as_int(bytes.fromhex(i[: 2 * PREFIX_BYTES])) for i in line_ids if _LINE_ID.fullmatch(i)}
        if not wanted:
            return set()
        return {jid for jid, prefixes in self.journals if not wanted.isdisjoint(memoryview(prefixes).cast("I"))}


def _as_int(prefix: bytes) -> int:
    return int(memoryview(prefix).cast("I")[0])


assert memoryview(bytes(PREFIX_BYTES)).cast("I").itemsize == PREFIX_BYTES, "a C unsigned int holds one prefix"


def parse_line_index(doc: Any, index: JournalIndex) -> LineIndex:
    """A ``LineIndex`` that fits ``index`` journal for journal; ``BadIndex`` for anything else."""
    if not isinstance(doc, dict) or doc.get("schema") != LINE_INDEX_SCHEMA:
        raise BadIndex("not a line index")
    if doc.get("prefix_bytes") != PREFIX_BYTES or doc.get("bytes") != index.file_bytes:
        raise BadIndex("line index of another file or layout")
    journals = doc.get("journals")
    if not isinstance(journals, list) or len(journals) != len(index.spans):
        raise BadIndex("line index journals do not match the journal index")
    out: list[tuple[str, bytes]] = []
    for entry, span in zip(journals, index.spans, strict=True):
        if not isinstance(entry, dict) or entry.get("journal_id") != span.journal_id:
            raise BadIndex("line index journals do not match the journal index")
        text = entry.get("prefixes")
        try:
            prefixes = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
        except binascii.Error:
            raise BadIndex(f"journal {span.journal_id}: prefixes are not base64") from None
        if len(prefixes) != PREFIX_BYTES * span.lines:
            raise BadIndex(f"journal {span.journal_id}: one prefix per line expected")
        out.append((span.journal_id, prefixes))
    return LineIndex(tuple(out))
