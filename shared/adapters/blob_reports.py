"""Report sets in Blob Storage: container ``reports``, one folder per run: ``{environmentId}/{runId}/``.

The functions below take that folder as ``run_id`` (a *run path*, built by
``shared.domain.reconciliation.naming.run_path``), so one environment never reads another's files.

Why it looks like this:

* **Never half-visible.** ``write`` only stages the file locally (a temp file,
  hashed as it streams); nothing reaches the container before ``commit``. A
  crash or an exception while the set is being built therefore leaves the
  previous set of the run untouched. ``commit`` uploads each file to its fixed
  name (each upload is atomic per blob) and writes ``manifest.json`` **last**;
  readers trust only the files the manifest lists, with their sha256, so even a
  crash inside ``commit`` is detectable (the old manifest no longer matches).
* **No duplicates.** Names are fixed (``{runId}/summary.json`` ...), so a
  re-fired or concurrent trigger overwrites rather than adds; the manifest holds
  no timestamps, so the same snapshots give a byte-identical manifest. Files of
  the previous set that the new one lacks (an error run replacing an ok run) are
  deleted after the manifest switched.
* **Why not a staging prefix + server-side copy.** In Azure the app reaches
  storage with a managed identity (shared-key access is off); a same-account
  copy by URL then needs a user-delegation SAS for the source. Local staging
  gives the same visibility guarantee without that.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, cast

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobProperties,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
)

from shared.adapters.storage_names import REPORTS_CONTAINER
from shared.domain.reconciliation.history import OutOfBalanceEntries
from shared.domain.reconciliation.naming import HISTORY_FILE, SUMMARY_FILE, is_valid_run_id
from shared.domain.reconciliation.summary_text import parse_summary

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "omnisync.reconciliation.manifest/1"
CONTENT_HASH = "content_hash"
"""Manifest metadata: sha256 over the run's snapshots and config, to find a re-upload of the same files."""
FIRST_COMMIT = "first_commit"
"""Manifest metadata: first commit time (microseconds), the tie-break between runs of one run time."""
RUN_TIME = "run_time"
"""Manifest metadata: first commit time (microseconds); Last-Modified has only second resolution."""
_CHUNK = 4 * 1024 * 1024
LISTING_PREFIX = "list_"
"""Manifest metadata ``list_{field}``: what a run list shows of the run, so listing reads no summary.json."""
_LISTING_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$").fullmatch
_METADATA_UNSAFE = re.compile(r"[^A-Za-z0-9._:+-]")


def _metadata_text(value: str) -> str:
    """Blob metadata values travel as HTTP header values: ASCII, no control characters; ours are figures."""
    return _METADATA_UNSAFE.sub("", value)[:200]


def listing_of_blob(metadata: Mapping[str, str] | None) -> dict[str, str] | None:
    """The ``list_`` metadata of a manifest, or None for a run committed before it was written."""
    found = {k[len(LISTING_PREFIX) :]: v for k, v in (metadata or {}).items() if k.startswith(LISTING_PREFIX)}
    return found or None


def _valid_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".") and name != MANIFEST


class BlobReportSink:
    """``ReportSink`` writing ``reports/{runId}/...``; see the module docstring for the guarantees."""

    def __init__(
        self,
        service: BlobServiceClient,
        run_id: str,
        container: str = REPORTS_CONTAINER,
        run_time: datetime | None = None,
        content_hash: str | None = None,
    ) -> None:
        """``run_id``: the run's folder (``{env}/{run}``); ``run_time``: when the snapshots were taken.

        Without ``run_time`` the run's place in history is its first commit time.
        """
        self._container = service.get_container_client(container)
        self.run_id = run_id
        self.content_hash = content_hash
        self.run_time = run_time if run_time is None or run_time.tzinfo else run_time.replace(tzinfo=UTC)
        self._staged: dict[str, tuple[IO[bytes], dict[str, Any], bool]] = {}  # name -> (file, meta, owned)

    def write(self, name: str, data: bytes | IO[bytes], content_type: str) -> None:
        """Stage the report; upload it in ``commit``. Bytes are kept as they are, and a seekable file
        (the run's spooled reports) is neither copied nor read here: ``commit`` hashes it from where it
        stands as it reads it for the upload (one pass over a bad day's 200 MB, not two), so the caller
        keeps it open and unchanged until ``commit`` or ``abort`` (``publish`` does); other streams are
        copied to a temp file, hashed on the way."""
        if not _valid_name(name):
            raise ValueError(f"invalid report name {name!r}")
        digest, size = hashlib.sha256(), 0
        staged: IO[bytes]
        meta: dict[str, Any] = {"content_type": content_type}  # sha256 and bytes: now, or in ``commit``
        if isinstance(data, bytes):
            staged, owned = io.BytesIO(data), True  # shares the bytes until written to (it never is)
            digest.update(data)
            size = len(data)
        elif data.seekable():
            staged, owned = cast("IO[bytes]", _HashedOnRead(data)), False
        else:
            staged, owned = tempfile.SpooledTemporaryFile(max_size=_CHUNK), True  # noqa: SIM115 - closed in _release
            try:
                while chunk := data.read(_CHUNK):
                    staged.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            except BaseException:
                staged.close()
                raise
            staged.seek(0)
        if not isinstance(staged, _HashedOnRead):
            meta |= {"sha256": digest.hexdigest(), "bytes": size}
        if name in self._staged:
            self._release(self._staged[name])
        self._staged[name] = (staged, meta, owned)

    def commit(self, listing: Mapping[str, str] | None = None) -> None:
        """``listing``: figures a run list shows, stored as the manifest's metadata (``listing_of_blob``)."""
        try:
            self._ensure_container()
            previous, metadata = _manifest_with_metadata(self._container, self.run_id)
            old = set(previous.get("files", {}))
            # The run's place in history is its first commit: a re-fired old run must not become "latest".
            now = datetime.now(UTC).isoformat(timespec="microseconds")
            stated = self.run_time.isoformat(timespec="microseconds") if self.run_time else None
            run_time = stated or metadata.get(RUN_TIME) or now
            first_commit = metadata.get(FIRST_COMMIT) or metadata.get(RUN_TIME) or now
            upload_files(
                (
                    self._container.get_blob_client(f"{self.run_id}/{name}"),
                    staged,
                    ContentSettings(content_type=meta["content_type"]),
                )
                for name, (staged, meta, _) in sorted(self._staged.items())
            )
            for staged, meta, _ in self._staged.values():
                if isinstance(staged, _HashedOnRead):  # read whole by the upload: its digest is complete
                    meta["sha256"], meta["bytes"] = staged.digest.hexdigest(), staged.size
            manifest = {
                "schema": MANIFEST_SCHEMA,
                "run_id": self.run_id,
                "files": {name: meta for name, (_, meta, _) in sorted(self._staged.items())},
            }
            body = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
            meta = {
                RUN_TIME: run_time,
                FIRST_COMMIT: first_commit,
                **({CONTENT_HASH: self.content_hash} if self.content_hash else {}),
                **{LISTING_PREFIX + k: _metadata_text(v) for k, v in (listing or {}).items() if _LISTING_KEY(k)},
            }
            self._upload(MANIFEST, body, "application/json", meta)
            for name in sorted(old - set(self._staged)):
                if _valid_name(name):
                    with contextlib.suppress(ResourceNotFoundError):
                        self._container.delete_blob(f"{self.run_id}/{name}")
        finally:
            self._close()

    def abort(self) -> None:
        self._close()

    def _upload(self, name: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
        """The manifest, last and alone (the reports go up together first: ``_ConcurrentUploads``)."""
        settings = ContentSettings(content_type=content_type)
        self._container.upload_blob(
            f"{self.run_id}/{name}", data, overwrite=True, content_settings=settings, metadata=metadata
        )

    def _ensure_container(self) -> None:
        # Bicep creates it in Azure; Azurite starts empty.
        with contextlib.suppress(ResourceExistsError):
            self._container.create_container()

    def _close(self) -> None:
        for staged in self._staged.values():
            self._release(staged)
        self._staged.clear()

    @staticmethod
    def _release(staged: tuple[IO[bytes], dict[str, Any], bool]) -> None:
        """Close a copy this sink made; a caller's own file is the caller's to close."""
        spool, _, owned = staged
        if owned:
            spool.close()


class _HashedOnRead:
    """A caller's seekable report, hashed by the reads that upload it (``_ConcurrentUploads`` reads each
    file once, in order, from where the caller left it)."""

    def __init__(self, data: IO[bytes]) -> None:
        self._data = data
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self._data.read(n)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk


UPLOAD_CONCURRENCY = 4
"""Requests in flight while a report set goes up. One at a time, a bad day's 200 MB waited on each
4 MB block's round trip in turn; four keep the link busy and hold at most four blocks in memory."""


class _ConcurrentUploads:
    """Every file of a report set up at once: small files in one request, large ones as blocks staged
    in parallel, each blob's block list committed once all its blocks are in (so each blob still
    changes atomically, and nothing is visible before the manifest anyway). A block is read only
    when a request slot is free, so at most ``UPLOAD_CONCURRENCY`` blocks are in memory."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._slots = threading.BoundedSemaphore(UPLOAD_CONCURRENCY)
        self._sent: list[Future[Any]] = []
        self._pending: list[tuple[BlobClient, list[BlobBlock], ContentSettings]] = []
        self._failed: BaseException | None = None  # the first request that failed: stop reading and sending

    def add(self, blob: BlobClient, data: IO[bytes], settings: ContentSettings) -> None:
        chunk = self._read(data)
        if len(chunk) < _CHUNK:
            self._send(blob.upload_blob, chunk, overwrite=True, content_settings=settings)
            return
        blocks: list[BlobBlock] = []
        while chunk:
            block_id = base64.b64encode(f"{len(blocks):08d}".encode()).decode()
            self._send(blob.stage_block, block_id, chunk)
            blocks.append(BlobBlock(block_id=block_id))
            chunk = self._read(data)
        self._slots.release()  # the empty read at the end sends nothing
        self._pending.append((blob, blocks, settings))

    def finish(self) -> None:
        """Wait for every block, then commit every block list; the first failure is raised."""
        for future in self._sent:
            future.result()
        commits = [
            self._pool.submit(blob.commit_block_list, blocks, content_settings=settings)
            for blob, blocks, settings in self._pending
        ]
        for future in commits:
            future.result()

    def _read(self, data: IO[bytes]) -> bytes:
        self._slots.acquire()
        try:
            if self._failed is not None:  # the set fails anyway: do not send the other 190 MB first
                raise self._failed
            return data.read(_CHUNK)
        except BaseException:
            self._slots.release()
            raise

    def _send(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Send what ``_read`` took a slot for; the slot frees when the request is done."""
        try:
            future = self._pool.submit(call, *args, **kwargs)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(self._done)
        self._sent.append(future)

    def _done(self, future: Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None and self._failed is None:
            self._failed = future.exception()
        self._slots.release()


def upload_files(files: Iterable[tuple[BlobClient, IO[bytes], ContentSettings]]) -> None:
    """Upload files ``UPLOAD_CONCURRENCY`` requests at a time, at most that many 4 MB blocks in memory;
    each blob changes atomically (one request, or staged blocks and one commit) and replaces any old one.
    The first failure stops the rest and is raised."""
    with ThreadPoolExecutor(UPLOAD_CONCURRENCY, thread_name_prefix="blob-upload") as pool:
        try:
            uploads = _ConcurrentUploads(pool)
            for blob, data, settings in files:
                uploads.add(blob, data, settings)
            uploads.finish()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def read_manifest(container: ContainerClient, run_id: str) -> dict[str, Any]:
    """The committed manifest of a run, or ``{}`` when the run has no complete set."""
    return _manifest_with_metadata(container, run_id)[0]


def _manifest_with_metadata(container: ContainerClient, run_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        downloader = container.download_blob(f"{run_id}/{MANIFEST}")
        raw = downloader.readall()
    except ResourceNotFoundError:
        return {}, {}
    metadata = dict(downloader.properties.metadata or {})
    try:
        doc = json.loads(raw)
    except ValueError:
        log.warning("reports/%s/%s is not JSON; treating the run as having no report set", run_id, MANIFEST)
        return {}, metadata
    return (doc if isinstance(doc, dict) else {}), metadata


def _run_time(blob: BlobProperties) -> datetime:
    """When the run was first committed (manifest metadata, microseconds), else the blob's Last-Modified."""
    value = (blob.metadata or {}).get(RUN_TIME)
    if value:
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return blob.last_modified


def _order(blob: BlobProperties) -> tuple[datetime, str, str]:
    """History order: run time, then first commit (runs of one run time in the order they arrived)."""
    return _run_time(blob), (blob.metadata or {}).get(FIRST_COMMIT, ""), blob.name


def open_report(
    container: ContainerClient, run_id: str, name: str, meta: Mapping[str, Any] | None = None
) -> IO[bytes] | None:
    """``read_report`` for files too big to hold: streamed to a temp file (memory up to ``_OPEN_SPOOL``),
    hashed on the way, checked against the manifest, returned at offset 0; the caller closes it.

    A file of at least ``KEEP_MIN_BYTES`` (a bad day's proposed journal) is kept on local disk after its
    check, the last one only: the console pages through it and each page, each approval of a journal,
    downloaded all 132 MB again. It is reused while the manifest lists the same sha256 (a committed
    file never changes; another content is another key)."""
    if meta is None:  # a caller that read the manifest already passes its entry
        meta = read_manifest(container, run_id).get("files", {}).get(name)
    if not meta:
        return None
    sha = meta.get("sha256")
    size = meta.get("bytes")
    keep = isinstance(size, int) and size >= KEEP_MIN_BYTES and isinstance(sha, str)
    key = (container.url, run_id, name, str(sha))
    if keep:
        with _kept_lock:
            path = _kept.get(key)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                return open(path, "rb")
    out: IO[bytes] = (
        tempfile.NamedTemporaryFile(prefix="omnisync-report-", delete=False)  # noqa: SIM115 - kept below
        if keep
        else tempfile.SpooledTemporaryFile(max_size=_OPEN_SPOOL)  # noqa: SIM115 - the caller's
    )
    digest = hashlib.sha256()
    try:
        for chunk in container.download_blob(f"{run_id}/{name}").chunks():
            digest.update(chunk)
            out.write(chunk)
    except ResourceNotFoundError:
        _discard(out, keep)
        return None
    if digest.hexdigest() != sha:
        _discard(out, keep)
        return None
    out.seek(0)
    if keep:
        _keep(key, out.name)
    return out


KEEP_MIN_BYTES = 32 * 1024 * 1024
_kept_lock = threading.Lock()
_kept: dict[tuple[str, str, str, str], str] = {}


@atexit.register
def _forget_kept() -> None:
    with _kept_lock:
        for path in _kept.values():
            with contextlib.suppress(OSError):
                os.unlink(path)
        _kept.clear()


def _keep(key: tuple[str, str, str, str], path: str) -> None:
    """Remember ``path`` for ``key``; the file kept before goes (a reader that has it open keeps reading)."""
    with _kept_lock:
        for old in _kept.values():
            if old != path:
                with contextlib.suppress(OSError):
                    os.unlink(old)
        _kept.clear()
        _kept[key] = path


def _discard(out: IO[bytes], kept: bool) -> None:
    out.close()
    if kept:
        with contextlib.suppress(OSError):
            os.unlink(out.name)


_OPEN_SPOOL = 8 * 1024 * 1024


def read_report(
    container: ContainerClient, run_id: str, name: str, meta: Mapping[str, Any] | None = None
) -> bytes | None:
    """A report file, only if the manifest lists it and its content matches the listed sha256."""
    file = open_report(container, run_id, name, meta)
    if file is None:
        return None
    with file:
        return file.read()


def _manifests(client: ContainerClient, environment_id: str) -> list[BlobProperties]:
    """Committed runs of one environment (``{env}/{run}/manifest.json``), with metadata."""
    try:
        return [
            b
            for b in client.list_blobs(name_starts_with=f"{environment_id}/", include=["metadata"])
            if b.name.endswith(f"/{MANIFEST}") and b.name.count("/") == 2
        ]
    except ResourceNotFoundError:
        return []


def list_runs(service: BlobServiceClient, environment_id: str, container: str = REPORTS_CONTAINER) -> list[RunEntry]:
    """Every committed run of the environment, newest run time first (then run id, for a stable order)."""
    client = service.get_container_client(container)
    runs = [
        RunEntry(
            b.name.split("/")[1],
            _run_time(b),
            (b.metadata or {}).get(CONTENT_HASH),
            _order(b)[1],
            listing_of_blob(b.metadata),
        )
        for b in _manifests(client, environment_id)
    ]
    runs.sort(key=lambda r: (r.run_time, r.first_commit, r.run_id), reverse=True)
    return runs


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    run_time: datetime
    content_hash: str | None = None
    first_commit: str = ""
    listing: dict[str, str] | None = None


def load_history(
    service: BlobServiceClient,
    environment_id: str,
    exclude_run_id: str,
    limit: int,
    container: str = REPORTS_CONTAINER,
) -> list[dict[str, Any]]:
    """Summaries of the environment's ``limit`` most recent committed runs, oldest first.

    Ordered by the run time each summary states (the snapshots' as-of time, see
    ``shared.services.reconcile``), so a run uploaded late still sits where it belongs; runs
    without one fall back to their first commit time. Only runs with a manifest count (a
    half-written set is no history); the current run is excluded so re-firing a run does not
    extend its own streak.

    Each run is read from its brief (``history.json``: the summary without its streak list and audit
    flags) when it has one, else from its whole summary (runs written before briefs). A brief's streak
    list is read later, only if it counts (``load_streaks``).
    """
    client = service.get_container_client(container)
    manifests = [b for b in _manifests(client, environment_id) if b.name.split("/")[1] != exclude_run_id]
    manifests.sort(key=_order)
    history: list[dict[str, Any]] = []
    for blob in manifests[-limit:] if limit > 0 else []:
        folder = blob.name.rsplit("/", 1)[0]
        doc = _summary_for_history(client, folder, HISTORY_FILE) or _summary_for_history(client, folder, SUMMARY_FILE)
        if doc is not None:
            history.append(doc)
    return history


def load_streaks(
    service: BlobServiceClient, environment_id: str, run_id: str, container: str = REPORTS_CONTAINER
) -> OutOfBalanceEntries | None:
    """The streak list of one committed run (from its whole summary), or None when it cannot be read."""
    if not is_valid_run_id(run_id):  # read from a committed brief, but still a blob path: checked
        return None
    client = service.get_container_client(container)
    doc = _summary_for_history(client, f"{environment_id}/{run_id}", SUMMARY_FILE)
    entries = doc.get("out_of_balance") if doc is not None else None
    return entries if isinstance(entries, OutOfBalanceEntries) else None


def _summary_for_history(client: ContainerClient, folder: str, name: str) -> dict[str, Any] | None:
    raw = read_report(client, folder, name)
    if raw is None:
        return None
    try:  # streaks kept as text: a bad day's 300,000 entries as dicts would outweigh the comparison
        doc = parse_summary(raw.decode("utf-8"), for_history=True)
    except ValueError:  # not JSON, not UTF-8: no history
        return None
    return doc if isinstance(doc, dict) else None
