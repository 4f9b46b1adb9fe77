"""The index of a written ``proposed_journal.json``: from the writer's spans, or by scanning its bytes.

A run knows where it put each journal (``JournalText.spans``) and only hashes the ranges: ~0.15 s
for a bad day's 132 MB. ``index_of`` finds the same index in any file of the compact layout (a
benchmark's, one written before indexes) by scanning it: ~0.4 s, since it also finds every journal
opening and counts every line. A test holds the two to the same answer.
"""

from __future__ import annotations

import hashlib
import json
from typing import IO, Any

from shared.adapters.hashing import range_digests
from shared.domain.reconciliation.journal_index import (
    JOURNAL_START,
    LINE_START,
    JournalSpan,
    index_document,
)

_CHUNK = 8 * 1024 * 1024
_HEAD_END = b',"journals":['
_ID_END = b',"lines":['


def index_of(file: IO[bytes]) -> dict[str, Any] | None:
    """The index document of the seekable ``file`` (rewound after), or None when its layout is not
    the compact one the run writes (readers then walk the file, as for runs before indexes)."""
    try:
        starts, size = _journal_starts(file)
        return _index(file, starts, size)
    finally:
        file.seek(0)


def index_from_spans(file: IO[bytes], header: dict[str, Any], spans: list[tuple[str, int, int, int]]) -> dict[str, Any]:
    """The index document from the writer's own account of where each journal went (``JournalText.spans``):
    only the digests are left to compute, one read of each range (the scan costs ~3x that)."""
    file.seek(0, 2)
    size = file.tell()
    done: list[JournalSpan] = []
    first_line = 0
    try:
        digests = range_digests(file, [(offset, length) for _, offset, length, _ in spans])
    finally:
        file.seek(0)
    for (journal_id, offset, length, lines), digest in zip(spans, digests, strict=True):
        done.append(JournalSpan(journal_id, offset, length, lines, first_line, digest))
        first_line += lines
    return index_document(header, size, done)


def _journal_starts(file: IO[bytes]) -> tuple[list[int], int]:
    """Offsets where a journal object opens, and the file's size."""
    starts: list[int] = []
    keep = len(JOURNAL_START) - 1  # a marker cut by a chunk boundary is found in the next pass
    file.seek(0)
    carry, position = b"", 0
    while chunk := file.read(_CHUNK):
        buf, base = carry + chunk, position - len(carry)
        at = buf.find(JOURNAL_START)
        while at != -1:
            starts.append(base + at)
            at = buf.find(JOURNAL_START, at + 1)
        carry, position = buf[-keep:], position + len(chunk)
    return starts, position


def _index(file: IO[bytes], starts: list[int], size: int) -> dict[str, Any] | None:
    header = _header(file, starts[0] if starts else size, bool(starts))
    if header is None:
        return None
    tail_from = max(0, size - 64)
    file.seek(tail_from)
    tail = file.read().rstrip()
    if starts and not tail.endswith(b"]}]}"):
        return None
    last_end = tail_from + len(tail) - 2  # before the document's closing "]}"
    spans: list[JournalSpan] = []
    first_line = 0
    for i, start in enumerate(starts):
        end = starts[i + 1] - 1 if i + 1 < len(starts) else last_end  # the comma between journals
        file.seek(start)
        data = file.read(end - start)
        if not data.endswith(b"]}") or (i + 1 < len(starts) and _byte_at(file, end) != b","):
            return None
        journal_id = _journal_id(data)
        if journal_id is None:
            return None
        lines = data.count(LINE_START)
        spans.append(JournalSpan(journal_id, start, end - start, lines, first_line, hashlib.sha256(data).hexdigest()))
        first_line += lines
    if header.get("line_count") != first_line:
        return None
    return index_document(header, size, spans)


def _header(file: IO[bytes], length: int, has_journals: bool) -> dict[str, Any] | None:
    """The document's fields before ``journals`` (the whole document when it has no journal)."""
    file.seek(0)
    head = file.read(length)
    if has_journals:
        if not head.endswith(_HEAD_END):
            return None
        head = head[: -len(_HEAD_END)] + b"}"
    try:
        header = json.loads(head)
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    header.pop("journals", None)
    return header


def _journal_id(data: bytes) -> str | None:
    id_end = data.find(_ID_END)
    if id_end <= 0:
        return None
    try:
        journal_id = json.loads(data[len(JOURNAL_START) : id_end])
    except ValueError:
        return None
    return journal_id if isinstance(journal_id, str) else None


def _byte_at(file: IO[bytes], position: int) -> bytes:
    file.seek(position)
    return file.read(1)
