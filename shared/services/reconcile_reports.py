"""Use case: what an environment's reconciliation runs produced, for the HTTP routes.

Only the committed manifest is trusted, so a run whose report set is still being
written (or crashed half way) reads as not found rather than as a mix of files.
Every read goes through the environment's own folder (``reports/{environmentId}/{runId}/``):
another environment's run id simply does not exist here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from shared.adapters.blob_reports import list_runs, open_report, read_manifest, read_report
from shared.adapters.journal_ranges import lines_in, load_index
from shared.adapters.proposed_journal_file import ProposedJournalFile
from shared.adapters.report_links import read_link
from shared.adapters.storage_names import REPORTS_CONTAINER
from shared.domain.reconciliation.history import first_entries
from shared.domain.reconciliation.naming import JOURNAL_FILE, run_path
from shared.domain.reconciliation.summary_text import parse_summary
from shared.services.reconcile import SUMMARY, listing_of

REPORT_FILES: dict[str, tuple[str, str]] = {
    "summary.json": ("application/json; charset=utf-8", "inline"),
    "report.html": ("text/html; charset=utf-8", "inline"),
    "differences.csv": ("text/csv; charset=utf-8", "attachment"),
    "discrepancies.csv": ("text/csv; charset=utf-8", "attachment"),
    "proposed_journal.json": ("application/json; charset=utf-8", "inline"),
    "report.xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "attachment"),
}
"""The fixed allow-list of report files the API hands out, with content type and disposition.

Only names listed here *and* in the run's manifest are served (report.xlsx when the run has one)."""


FLAGGED_IN_ANSWER = 100
"""Audit flags a run's answer lists (the longest runs first); summary.json has them all."""


class InvalidPageToken(ValueError):
    pass


@dataclass(frozen=True)
class ReportFile:
    name: str
    data: bytes
    content_type: str
    disposition: str


def run_report(service: BlobServiceClient, environment_id: str, run_id: str) -> dict[str, Any] | None:
    """The run's summary and the blob paths of its reports, or None without a complete set."""
    container = service.get_container_client(REPORTS_CONTAINER)
    folder = run_path(environment_id, run_id)
    manifest = read_manifest(container, folder)
    if not manifest.get("files"):
        return None
    raw = read_report(container, folder, SUMMARY)
    if raw is None:
        return None
    summary = parse_summary(raw.decode("utf-8"))  # its two long lists stay text (json.loads: 200 MB of dicts)
    if isinstance(summary, dict):
        # every item + warehouse out of balance with its streak, for the next run's history: 15 MB on a
        # bad day and nothing a reader of the run needs; report/summary.json keeps it
        if isinstance(summary.get("out_of_balance"), Sequence):
            summary["out_of_balance_count"] = len(summary.pop("out_of_balance"))
        audit = summary.get("audit")
        if isinstance(audit, dict) and isinstance(audit.get("flagged"), Sequence):
            # from the third bad day in a row every differing key is flagged: the longest runs, and how many
            flagged = audit["flagged"]
            audit["flagged_count"] = len(flagged)
            audit["flagged"] = first_entries(flagged, FLAGGED_IN_ANSWER)
    files = [
        {
            "name": name,
            "path": f"{REPORTS_CONTAINER}/{folder}/{name}",
            "url": f"environment/{environment_id}/reconciliation/{run_id}/report/{name}"
            if name in REPORT_FILES
            else None,
            "contentType": meta.get("content_type"),
            "bytes": meta.get("bytes"),
            "sha256": meta.get("sha256"),
        }
        for name, meta in sorted(manifest["files"].items())
    ]
    return {"runId": run_id, "status": summary.get("status"), "summary": summary, "reports": files}


class TooBigToAnswer(Exception):
    """The file is bigger than the API answers inline; its read link is the way to it."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the file is {size:,} bytes, more than the {limit:,} this API answers inline")
        self.size = size
        self.limit = limit


def _listed_file(service: BlobServiceClient, environment_id: str, run_id: str, name: str) -> dict[str, Any] | None:
    """What the committed manifest says of one allow-listed file, or None (not allowed, not committed)."""
    if name not in REPORT_FILES:
        return None
    container = service.get_container_client(REPORTS_CONTAINER)
    meta = read_manifest(container, run_path(environment_id, run_id)).get("files", {}).get(name)
    return meta if isinstance(meta, dict) else None


def report_file(
    service: BlobServiceClient, environment_id: str, run_id: str, name: str, max_bytes: int
) -> ReportFile | None:
    """One allow-listed report file of a committed run (checked against the manifest's sha256).

    Raises ``TooBigToAnswer`` rather than holding more than ``max_bytes`` in the worker."""
    meta = _listed_file(service, environment_id, run_id, name)
    if meta is None:
        return None
    container = service.get_container_client(REPORTS_CONTAINER)
    folder = run_path(environment_id, run_id)
    size = meta.get("bytes")
    if not isinstance(size, int):  # a manifest that does not say: the blob does
        try:
            size = container.get_blob_client(f"{folder}/{name}").get_blob_properties().size
        except ResourceNotFoundError:
            return None
    if size > max_bytes:
        raise TooBigToAnswer(size, max_bytes)
    data = read_report(container, folder, name, meta)  # the manifest entry read above, not read again
    if data is None:
        return None
    return ReportFile(name, data, *REPORT_FILES[name])


def report_link(
    service: BlobServiceClient, environment_id: str, run_id: str, name: str, lifetime: timedelta, now: datetime
) -> dict[str, Any] | None:
    """A short-lived read link to one committed report file, with what the client checks it against."""
    meta = _listed_file(service, environment_id, run_id, name)
    if meta is None:
        return None
    content_type = REPORT_FILES[name][0]
    link = read_link(
        service,
        REPORTS_CONTAINER,
        f"{run_path(environment_id, run_id)}/{name}",
        file_name=f"{run_id}-{name}",
        content_type=content_type,
        lifetime=lifetime,
        now=now,
    )
    return {
        "name": name,
        "url": link.url,
        "expiresOn": link.expires_on.isoformat(),
        "contentType": content_type,
        "bytes": meta.get("bytes"),
        "sha256": meta.get("sha256"),
    }


def _listed(listing: Mapping[str, str]) -> dict[str, Any]:
    """The list figures as the manifest's metadata holds them (``reconcile.listing_of``): text, "" for none."""

    def number(text: str | None) -> int | None:
        return int(text) if text and text.isdigit() else None

    return {
        "status": listing.get("status") or None,
        "differences": number(listing.get("differences")),
        "material": number(listing.get("material")),
        "trend": listing.get("trend") or None,
    }


def _status(raw: bytes | None) -> dict[str, Any]:
    """The list figures of a run committed before they went with its manifest: from its summary."""
    try:
        summary = parse_summary(raw.decode("utf-8")) if raw else {}  # long lists stay text
    except ValueError:
        summary = {}
    return _listed(listing_of(summary if isinstance(summary, dict) else {}))


def _token(offset_key: tuple[str, str]) -> str:
    return _encoded(list(offset_key))


def _untoken(token: str) -> tuple[str, str]:
    value = _decoded(token)
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise InvalidPageToken("continuationToken is not one this API issued")
    return value[0], value[1]


def _encoded(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _decoded(token: str) -> Any:
    """What ``_encoded`` made of a token's value; ``InvalidPageToken`` for anything else."""
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise InvalidPageToken("continuationToken is not one this API issued") from exc


def list_reconciliations(
    service: BlobServiceClient, environment_id: str, page_size: int = 50, continuation_token: str | None = None
) -> dict[str, Any]:
    """The environment's committed runs, newest run time first, one page at a time.

    The token names the last run of the page (run time, run id), so a run landing between two
    page requests neither repeats nor skips an entry.
    """
    after = _untoken(continuation_token) if continuation_token else None
    runs = [
        (r.run_time.astimezone(UTC).isoformat(timespec="microseconds"), r.run_id, r)
        for r in list_runs(service, environment_id)
    ]
    if after is not None:
        runs = [t for t in runs if (t[0], t[1]) < after]
    page = runs[:page_size]
    container = service.get_container_client(REPORTS_CONTAINER)
    items = [
        {
            "runId": run_id,
            "runTime": time,
            **(
                _listed(entry.listing)
                if entry.listing is not None
                else _status(read_report(container, run_path(environment_id, run_id), SUMMARY))  # older runs
            ),
        }
        for time, run_id, entry in page
    ]
    more = len(runs) > page_size
    return {"items": items, "continuationToken": _token((page[-1][0], page[-1][1])) if more and page else None}


def proposed_page(
    service: BlobServiceClient,
    environment_id: str,
    run_id: str,
    page_size: int,
    continuation_token: str | None,
    journal_id: str | None = None,
) -> dict[str, Any] | None:
    """A page of the run's proposed lines in journal order, or None when the run has no proposed journal.

    The token is the offset of the page's first line: the file of a committed run never changes, so
    an offset names the same line on every call. ``journal_id`` starts the page at that journal's first
    line (``UnknownJournal`` when the run has none of that id). With the run's journal index only the
    journals holding the page are downloaded (a range each), and the first page lists every journal; a
    run without one is walked journal by journal (never parsed whole), and the walk stops once the page
    and one line past it are read.
    """
    offset = _offset(continuation_token) if continuation_token else 0
    container = service.get_container_client(REPORTS_CONTAINER)
    folder = run_path(environment_id, run_id)
    files = read_manifest(container, folder).get("files")
    files = files if isinstance(files, dict) else {}
    index = load_index(container, folder, files)
    journals = None
    if index is not None:
        if journal_id is not None:
            offset = _first_line_of(journal_id, ((s.journal_id, s.first_line) for s in index.spans))
        blob = container.get_blob_client(f"{folder}/{JOURNAL_FILE}")
        items, more = lines_in(blob, index, offset, page_size)
        count: Any = index.line_count
        if continuation_token is None and len(index.spans) <= LISTED_JOURNALS_MAX:
            journals = [{"journalId": s.journal_id, "lines": s.lines, "firstLine": s.first_line} for s in index.spans]
    else:
        file = open_report(container, folder, JOURNAL_FILE, files.get(JOURNAL_FILE))
        if file is None:
            return None
        with file:
            reader = ProposedJournalFile(file)
            count = reader.header().get("line_count")
            if journal_id is not None:
                offset = _first_line_of(journal_id, _first_lines(reader))
            items, more = lines_at(reader, offset, page_size)
    return {
        "runId": run_id,
        "lineCount": count if isinstance(count, int) else None,
        "firstLine": offset,
        "items": items,
        "continuationToken": _offset_token(offset + len(items)) if more else None,
        "journals": journals,
    }


LISTED_JOURNALS_MAX = 1_000
"""Journals the first page lists (a million lines at the default 1,000 a journal); more are not listed."""


class UnknownJournal(LookupError):
    """A page asked to start at a journal the run's proposal does not have."""


def _first_line_of(journal_id: str, first_lines: Iterable[tuple[str, int]]) -> int:
    for jid, first_line in first_lines:
        if jid == journal_id:
            return first_line
    raise UnknownJournal(f"the proposal has no journal {journal_id}")


def _first_lines(reader: ProposedJournalFile) -> Iterator[tuple[str, int]]:
    """(journal id, its first line's number) walking the file: runs written before journal indexes."""
    seen = 0
    for journal in reader.journals():
        yield str(journal.get("journal_id") or ""), seen
        seen += len(journal.get("lines") or [])


def lines_at(reader: ProposedJournalFile, offset: int, count: int) -> tuple[list[dict[str, Any]], bool]:
    """``count`` lines from line ``offset`` on (journal order), and whether more follow; whole journals
    before the offset are skipped by their length, and the walk stops one line past the page."""
    items: list[dict[str, Any]] = []
    seen = 0
    for journal in reader.journals():
        lines = journal.get("lines") or []
        if seen + len(lines) <= offset:
            seen += len(lines)
            continue
        for line in lines:
            if seen >= offset:
                if len(items) == count:
                    return items, True
                items.append(line)
            seen += 1
    return items, False


def _offset_token(offset: int) -> str:
    return _encoded({"offset": offset})


def _offset(token: str) -> int:
    value = _decoded(token)
    offset = value.get("offset") if isinstance(value, dict) else None
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= 100_000_000:
        raise InvalidPageToken("continuationToken is not one this API issued")
    return offset
