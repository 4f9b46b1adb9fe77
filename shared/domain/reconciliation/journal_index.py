"""Where each journal sits in a run's ``proposed_journal.json``: byte ranges, line counts, digests.

Why: a bad day proposes ~300 journals in 132 MB. Showing one page of lines or approving one journal
should read that journal's bytes, not download and walk the whole file (1.7 s for the first page,
4.5 s for the last). The run writes ``journal_index.json`` beside the journal; a reader asks storage
for one journal's byte range and checks it against the digest here, and the index itself is checked
against the manifest like any report file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JOURNAL_INDEX_FILE = "journal_index.json"
INDEX_SCHEMA = "omnisync.reconciliation.journal_index/1"
JOURNAL_START = b'{"journal_id":'
"""How every journal object opens in the file; JSON escapes a quote inside a string, so these bytes
never occur inside an id or any other value."""
LINE_START = b'{"line_id":'
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BadIndex(ValueError):
    """The index is not one a run writes: readers walk the journal file instead."""


@dataclass(frozen=True, slots=True)
class JournalSpan:
    """One journal: its id, its bytes ``[offset, offset + length)``, its lines and their digest."""

    journal_id: str
    offset: int
    length: int
    lines: int
    first_line: int
    sha256: str


@dataclass(frozen=True, slots=True)
class JournalIndex:
    header: dict[str, Any]
    file_bytes: int
    line_count: int
    spans: tuple[JournalSpan, ...]

    def covering(self, offset: int, count: int) -> list[JournalSpan]:
        """The journals holding lines ``offset`` … ``offset + count - 1`` (journal order)."""
        end = offset + count
        return [s for s in self.spans if s.first_line < end and s.first_line + s.lines > offset]

    def named(self, journal_ids: set[str]) -> list[JournalSpan]:
        """The journals of ``journal_ids`` that the proposal has, in file order."""
        return [s for s in self.spans if s.journal_id in journal_ids]


def index_document(header: Mapping[str, Any], file_bytes: int, spans: list[JournalSpan]) -> dict[str, Any]:
    """The JSON document of an index (what ``parse_index`` reads back)."""
    return {
        "schema": INDEX_SCHEMA,
        "bytes": file_bytes,
        "line_count": sum(s.lines for s in spans),
        "header": dict(header),
        "journals": [
            {"journal_id": s.journal_id, "offset": s.offset, "length": s.length, "lines": s.lines, "sha256": s.sha256}
            for s in spans
        ],
    }


def parse_index(doc: Any) -> JournalIndex:
    """A checked ``JournalIndex``; ``BadIndex`` for anything a run would not have written.

    The checks are what a reader relies on: ranges in order, inside the file and not overlapping,
    line counts that add up, one digest per range."""
    if not isinstance(doc, dict) or doc.get("schema") != INDEX_SCHEMA:
        raise BadIndex("not a journal index")
    header, journals = doc.get("header"), doc.get("journals")
    if not (isinstance(header, dict) and isinstance(journals, list)):
        raise BadIndex("journal index without header or journals")
    file_bytes, line_count = _count(doc, "bytes"), _count(doc, "line_count")
    spans: list[JournalSpan] = []
    end = first_line = 0
    for j in journals:
        if not isinstance(j, dict):
            raise BadIndex("journal entry is not an object")
        jid, sha = j.get("journal_id"), j.get("sha256")
        offset, length, lines = _count(j, "offset"), _count(j, "length"), _count(j, "lines")
        if not isinstance(jid, str) or not (isinstance(sha, str) and _SHA256.fullmatch(sha)):
            raise BadIndex("journal entry without journal_id or sha256")
        if offset < end or offset + length > file_bytes:
            raise BadIndex(f"journal {jid}: range out of place")
        spans.append(JournalSpan(jid, offset, length, lines, first_line, sha))
        end, first_line = offset + length, first_line + lines
    if first_line != line_count:
        raise BadIndex("journal line counts do not add up to line_count")
    return JournalIndex(header, file_bytes, line_count, tuple(spans))


def _count(entry: dict[str, Any], name: str) -> int:
    value = entry.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadIndex(f"{name} is not a count")
    return value
