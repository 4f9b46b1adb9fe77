"""A run's proposed journals read one byte range at a time, through its ``journal_index.json``.

Why: a page of proposed lines or the approval of one journal needs a few hundred kilobytes of a
bad day's 132 MB file. Each range is checked against the digest in the index, and the index
against the manifest, so a ranged read trusts exactly what a whole-file read (sha256 against the
manifest) trusts. Runs written before indexes have none: callers then walk the whole file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobClient, ContainerClient

from shared.adapters.blob_reports import open_report, read_manifest, read_report
from shared.adapters.proposed_journal_file import HEADER_FIELDS, ProposedJournalFile, UnreadableJournal
from shared.domain.reconciliation.journal_index import (
    JOURNAL_INDEX_FILE,
    BadIndex,
    JournalIndex,
    JournalSpan,
    parse_index,
)
from shared.domain.reconciliation.line_index import LINE_INDEX_FILE, LineIndex, parse_line_index
from shared.domain.reconciliation.naming import JOURNAL_FILE

log = logging.getLogger(__name__)


def load_index(container: ContainerClient, folder: str, files: Mapping[str, Any]) -> JournalIndex | None:
    """The run's checked index, or None (no index, or one that does not fit the listed journal file).

    ``files`` is the manifest's file list, already read by the caller."""
    journal_meta, index_meta = files.get(JOURNAL_FILE), files.get(JOURNAL_INDEX_FILE)
    if not (isinstance(journal_meta, Mapping) and isinstance(index_meta, Mapping)):
        return None
    raw = read_report(container, folder, JOURNAL_INDEX_FILE, index_meta)
    if raw is None:
        return None
    try:
        index = parse_index(json.loads(raw))
    except (ValueError, BadIndex) as exc:
        log.warning("%s/%s is not usable (%s); reading the whole journal", folder, JOURNAL_INDEX_FILE, exc)
        return None
    if index.file_bytes != journal_meta.get("bytes"):
        log.warning("%s/%s describes another file; reading the whole journal", folder, JOURNAL_INDEX_FILE)
        return None
    return index


def load_line_index(
    container: ContainerClient, folder: str, files: Mapping[str, Any], index: JournalIndex
) -> LineIndex | None:
    """The run's checked line index for ``index``, or None (no line index, or one that does not fit)."""
    meta = files.get(LINE_INDEX_FILE)
    if not isinstance(meta, Mapping):
        return None
    raw = read_report(container, folder, LINE_INDEX_FILE, meta)
    if raw is None:
        return None
    try:
        return parse_line_index(json.loads(raw), index)
    except (ValueError, BadIndex) as exc:
        log.warning("%s/%s is not usable (%s); reading the whole journal", folder, LINE_INDEX_FILE, exc)
        return None


class IndexedJournal:
    """``approve.ProposedJournal`` over byte ranges: the header from the index, then the journals of
    ``spans``, each downloaded and checked when it is reached."""

    def __init__(self, blob: BlobClient, index: JournalIndex, spans: list[JournalSpan]) -> None:
        self._blob = blob
        self._index = index
        self._spans = spans

    def header(self) -> dict[str, Any]:
        return {k: self._index.header[k] for k in HEADER_FIELDS if k in self._index.header}

    def journals(self) -> Iterator[dict[str, Any]]:
        for span in self._spans:
            yield read_span(self._blob, span)


def read_span(blob: BlobClient, span: JournalSpan) -> dict[str, Any]:
    """One journal object from its byte range; ``UnreadableJournal`` when the bytes are not the indexed ones."""
    try:
        data = blob.download_blob(offset=span.offset, length=span.length).readall()
    except ResourceNotFoundError:
        raise UnreadableJournal(f"journal {span.journal_id}: the proposed journal file is gone") from None
    except HttpResponseError as exc:
        if exc.status_code != 416:  # a range past the end: the file was replaced by a shorter one
            raise
        data = b""
    if hashlib.sha256(data).hexdigest() != span.sha256:
        raise UnreadableJournal(f"journal {span.journal_id}: its bytes do not match the run's journal index")
    try:
        journal = json.loads(data)
    except ValueError as exc:
        raise UnreadableJournal(f"journal {span.journal_id} is not readable JSON: {exc}") from None
    if not isinstance(journal, dict) or journal.get("journal_id") != span.journal_id:
        raise UnreadableJournal(f"journal {span.journal_id}: not the journal its index describes")
    lines = journal.get("lines")
    if not isinstance(lines, list) or len(lines) != span.lines:
        raise UnreadableJournal(f"journal {span.journal_id}: not the journal its index describes")
    return journal


def lines_in(blob: BlobClient, index: JournalIndex, offset: int, count: int) -> tuple[list[dict[str, Any]], bool]:
    """``count`` lines from line ``offset`` on (journal order) and whether more follow, reading only the
    journals that hold them (``reconcile_reports.lines_at`` walks the file for the same answer)."""
    items: list[dict[str, Any]] = []
    for span in index.covering(offset, count):
        lines = read_span(blob, span)["lines"]
        start = max(0, offset - span.first_line)
        items.extend(lines[start : start + count - len(items)])
    return items, offset + len(items) < index.line_count


@contextmanager
def proposal_reader(
    container: ContainerClient,
    folder: str,
    journal_ids: Sequence[str] | None = None,
    line_ids: Sequence[str] | None = None,
) -> Iterator[IndexedJournal | ProposedJournalFile | None]:
    """The run's proposal for an approval: the named journals by range when the run has an index (for
    ``line_ids`` alone, the journals its line index says may hold them), else the whole checked file
    walked journal by journal; None when the run has no proposal."""
    files = read_manifest(container, folder).get("files", {})
    if not isinstance(files, dict) or not files.get(JOURNAL_FILE):
        yield None
        return
    narrowed = journal_ids is not None or line_ids is not None
    index = load_index(container, folder, files) if narrowed else None
    if index is not None and journal_ids is None and line_ids is not None:
        lines = load_line_index(container, folder, files, index)
        if lines is not None:
            holding = index.named(lines.journals_holding(line_ids))
            # lines spread over most of the proposal: one download beats hundreds of range requests
            if 2 * sum(span.length for span in holding) <= index.file_bytes:
                journal_ids = [span.journal_id for span in holding]
    if index is not None and journal_ids is not None:
        blob = container.get_blob_client(f"{folder}/{JOURNAL_FILE}")
        yield IndexedJournal(blob, index, index.named(set(journal_ids)))
        return
    file = open_report(container, folder, JOURNAL_FILE, files[JOURNAL_FILE])
    if file is None:
        yield None
        return
    with file:
        yield ProposedJournalFile(file)
