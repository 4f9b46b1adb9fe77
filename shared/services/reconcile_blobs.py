"""Use case: a snapshot blob arrived in ``snapshots`` — reconcile its run if both sides are there.

The trigger fires once per blob, in any order: whichever of ``erp.*`` and
``wms.*`` lands second starts the comparison; the first only logs that it waits.
Both files are streamed to temp files through the SDK (the host's blob binding
holds whole blobs in memory, which a 10M-row snapshot does not fit). Problems
with the inputs (unreadable file, two ERP files, invalid run config) become an
error report for the run, never an exception: an exception makes the host retry
the event, and retrying cannot fix the file. Storage outages still raise, since
a retry can fix those.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobProperties, BlobServiceClient, ContainerClient
from pydantic import ValidationError

from shared.adapters.blob_reports import BlobReportSink, list_runs, load_history, load_streaks, read_report
from shared.adapters.snapshot_engine import EngineSettings
from shared.adapters.storage_names import REPORTS_CONTAINER, SNAPSHOTS_CONTAINER
from shared.domain.identifiers import ENVIRONMENT_ID
from shared.domain.reconciliation.config import ReconcileConfig, Side
from shared.domain.reconciliation.history import without_unused_streaks
from shared.domain.reconciliation.naming import EDGE_MAX_RUN_ID, is_valid_run_id, parse_snapshot_name, run_path
from shared.domain.reconciliation.summary_text import parse_summary
from shared.services.reconcile import (
    FINAL_STATUSES,
    SUMMARY,
    SnapshotSource,
    duplicate_result,
    error_result,
    publish,
    run_reconciliation,
)

log = logging.getLogger(__name__)

HISTORY_RUNS = 12
"""Earlier runs read for the trend chart and audit streaks (streaks need only the latest one)."""

CONFIG_NAMES = ("config.json", "config.toml")


def valid_run_id(run_id: str) -> bool:
    """Run ids accepted at the edge: the naming rule, at most ``EDGE_MAX_RUN_ID`` (64) characters."""
    return is_valid_run_id(run_id, max_length=EDGE_MAX_RUN_ID)


@dataclass(frozen=True)
class Outcome:
    """What one blob event did; the trigger logs it, tests assert on it."""

    status: str  # "ignored" | "waiting" | "ok" | "error"
    run_id: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Containers:
    """Container names; tests use their own so the running e2e app does not react to their blobs."""

    snapshots: str = SNAPSHOTS_CONTAINER
    reports: str = REPORTS_CONTAINER


def handle_snapshot_blob(
    blob_name: str,
    service: BlobServiceClient,
    defaults: dict[str, Any],
    engine: EngineSettings | None = None,
    containers: Containers = Containers(),
) -> Outcome:
    """React to one blob in ``snapshots``; ``defaults`` is the app-wide raw config (settings).

    Blobs are ``{environmentId}/{runId}/{file}``. A run whose ok report set exists is final:
    re-firing or re-uploading leaves its reports (and so every streak built on them) as they are.
    """
    name = blob_name.strip("/").removeprefix(f"{containers.snapshots}/")
    parts = name.split("/")
    env, run_id = (parts[0], parts[1]) if len(parts) == 3 else ("", "")
    if not ENVIRONMENT_ID.fullmatch(env) or not valid_run_id(run_id):
        # Nothing is stored for a bad path: it would become a report path.
        log.warning(
            "ignoring snapshot blob %r: expected {environmentId}/{runId}/erp|wms.csv with a valid environment "
            "(1-64 letters, digits, -) and run id (1-64 letters, digits or -_.)",
            blob_name,
        )
        return Outcome("ignored", None, "invalid environment or run id")
    parsed = parse_snapshot_name(name)
    if parsed is None:
        log.info("ignoring blob %r: not an erp/wms snapshot (config files do not start a run)", blob_name)
        return Outcome("ignored", run_id, "not a snapshot")

    folder = run_path(env, run_id)
    finished = _finished_status(service, containers.reports, folder)
    if finished is not None:
        log.info("run %s: already finished (%s); its reports do not change, use a new run id", folder, finished)
        return Outcome("finished", run_id, f"run already finished ({finished}); upload under a new run id")
    snapshots = service.get_container_client(containers.snapshots)
    sides: dict[Side, list[BlobProperties]] = {Side.ERP: [], Side.WMS: []}
    configs: list[BlobProperties] = []
    for blob in snapshots.list_blobs(name_starts_with=f"{folder}/"):
        snap = parse_snapshot_name(blob.name)
        if snap is not None:
            sides[snap.side].append(blob)
        elif blob.name.rsplit("/", 1)[1].lower() in CONFIG_NAMES:
            configs.append(blob)
    missing = [s for s, blobs in sides.items() if not blobs]
    if missing:
        log.info("run %s: %s arrived, waiting for %s", folder, parsed.side.value, missing[0].value)
        return Outcome("waiting", run_id, f"waiting for {missing[0].value}")
    with tempfile.TemporaryDirectory(prefix=f"reconcile-{run_id}-") as tmp:
        return _run(service, env, run_id, sides, configs, defaults, Path(tmp), engine, containers)


def _finished_status(service: BlobServiceClient, container: str, folder: str) -> str | None:
    """``ok`` or ``duplicate`` when the run already has that final report set; None otherwise.

    Error runs are not final: fixing the file and uploading it again must re-run them.
    """
    client = service.get_container_client(container)
    raw = read_report(client, folder, SUMMARY)
    if raw is None:
        return None
    try:  # its streak and flag lists stay text: a third bad day's summary is 27 MB, ~600,000 entries
        status = parse_summary(raw.decode("utf-8"), for_history=True).get("status")
    except (ValueError, AttributeError):
        return None
    return status if status in FINAL_STATUSES else None


def _run(
    service: BlobServiceClient,
    env: str,
    run_id: str,
    sides: dict[Side, list[BlobProperties]],
    configs: list[BlobProperties],
    defaults: dict[str, Any],
    tmp: Path,
    engine: EngineSettings | None,
    containers: Containers,
) -> Outcome:
    snapshots = service.get_container_client(containers.snapshots)
    folder = run_path(env, run_id)
    sources = {side: _placeholder(blobs, tmp) for side, blobs in sides.items()}
    problems = [
        f"{len(blobs)} {side.value} snapshots for run {run_id} ({', '.join(b.name for b in blobs)}); keep one"
        for side, blobs in sides.items()
        if len(blobs) > 1
    ]
    config: ReconcileConfig | None = None
    config_bytes = b""
    if not problems:
        config, problem, config_bytes = _config(snapshots, configs, defaults)
        problems += [problem] if problem else []
    digest = hashlib.sha256(config_bytes)
    if not problems:
        for side, blobs in sides.items():
            try:
                sources[side] = _download(snapshots, blobs[0], tmp / f"{side.value}.snapshot")
            except ResourceNotFoundError:
                problems.append(f"{blobs[0].name} was deleted before it could be read")
                continue
            digest.update(side.value.encode() + b"\0" + _file_sha256(sources[side].path).encode())
    if problems or config is None:
        result = error_result(run_id, problems, sources[Side.ERP], sources[Side.WMS])
        try:
            publish(result, BlobReportSink(service, folder, containers.reports))
        finally:
            result.close()
        log.warning("run %s: error report written: %s", folder, "; ".join(problems))
        return Outcome("error", run_id, "; ".join(problems))
    content_hash = digest.hexdigest()
    run_time = _run_time(sources[Side.ERP], sources[Side.WMS], [b for blobs in sides.values() for b in blobs])
    facts = {"environment_id": env, "run_time": run_time.isoformat(), "content_hash": content_hash}
    sink = BlobReportSink(service, folder, containers.reports, run_time=run_time, content_hash=content_hash)
    same = next(  # the oldest run with these files: the original, not an earlier duplicate of it
        (
            r
            for r in reversed(list_runs(service, env, containers.reports))
            if r.content_hash == content_hash and r.run_id != run_id
        ),
        None,
    )
    if same is not None:
        result = duplicate_result(run_id, same.run_id, sources[Side.ERP], sources[Side.WMS], facts)
        try:
            publish(result, sink)
        finally:
            result.close()
        log.info("run %s: same snapshots and config as run %s; not counted again", folder, same.run_id)
        return Outcome("duplicate", run_id, f"same snapshots as run {same.run_id}")
    history = load_history(service, env, exclude_run_id=run_id, limit=HISTORY_RUNS, container=containers.reports)
    # Only runs of the same or an earlier run time are this run's past (a late upload of an older
    # day must not count a newer day as its history); load_history already orders them.
    history = [h for h in history if (t := _stated_time(h)) is None or t <= run_time]
    history.sort(key=lambda h: _stated_time(h) or _EPOCH)  # stable: ties keep their arrival order
    # before the engine starts: only the streak lists that count are downloaded (or kept)
    history = without_unused_streaks(
        history, run_id, lambda s: load_streaks(service, env, str(s.get("run_id", "")), containers.reports)
    )
    settings = engine or EngineSettings(temp_directory=str(tmp))
    result = run_reconciliation(
        sources[Side.ERP], sources[Side.WMS], config, history, sink, run_id=run_id, engine=settings, facts=facts
    )
    log.info("run %s: reconciled, status %s, reports in %s/%s/", folder, result.status, containers.reports, folder)
    return Outcome(result.status, run_id, "; ".join(result.errors))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _stated_time(summary: dict[str, Any]) -> datetime | None:
    """The run time a summary states, made comparable (aware); None for older summaries without one."""
    value = summary.get("run_time")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _run_time(erp: SnapshotSource, wms: SnapshotSource, blobs: list[BlobProperties]) -> datetime:
    """When the compared stock was counted: the later as-of time, else the later snapshot upload.

    Fixed by the inputs, never by when the trigger happens to fire, so history keyed by it
    stays put when a run is re-fired or lands late.
    """
    stated = [_aware(t) for t in (erp.as_of, wms.as_of) if t is not None]
    if stated:
        return max(stated)
    uploaded = [_aware(b.last_modified) for b in blobs if b.last_modified is not None]
    return max(uploaded) if uploaded else datetime.now(UTC)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _placeholder(blobs: list[BlobProperties], tmp: Path) -> SnapshotSource:
    """A label-only source for error reports written before anything was downloaded."""
    return SnapshotSource(tmp / "missing", name=blobs[0].name if blobs else "")


def _download(container: ContainerClient, blob: BlobProperties, target: Path) -> SnapshotSource:
    """Stream one blob to a temp file; the snapshot's as-of time may come from metadata ``as_of``."""
    client = container.get_blob_client(blob.name)
    with open(target, "wb") as fh:
        downloader = client.download_blob(max_concurrency=2)
        downloader.readinto(fh)
    props = downloader.properties
    parsed = parse_snapshot_name(blob.name)
    return SnapshotSource(
        target,
        format=parsed.format if parsed else None,
        as_of=_as_of((props.metadata or {}).get("as_of")),
        name=f"{container.container_name}/{blob.name}",
    )


def _as_of(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        log.warning("ignoring unparseable as_of metadata %r", value)
        return None


def _config(
    container: ContainerClient, configs: list[BlobProperties], defaults: dict[str, Any]
) -> tuple[ReconcileConfig | None, str | None, bytes]:
    """App-wide defaults, with the run's own config file's top-level keys replacing theirs.

    Also returns the effective config as canonical JSON bytes, part of the run's content hash.
    """
    config, problem = _config_model(container, configs, defaults)
    data = config.model_dump_json().encode() if config is not None else b""
    return config, problem, data


def _config_model(
    container: ContainerClient, configs: list[BlobProperties], defaults: dict[str, Any]
) -> tuple[ReconcileConfig | None, str | None]:
    raw = dict(defaults)
    if len(configs) > 1:
        return None, f"both {' and '.join(b.name for b in configs)} exist; keep one"
    if configs:
        blob = configs[0]
        try:
            text = container.download_blob(blob.name).readall().decode("utf-8-sig")
            own = tomllib.loads(text) if blob.name.lower().endswith(".toml") else json.loads(text or "{}")
        except ResourceNotFoundError:
            own = {}
        except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
            return None, f"{container.container_name}/{blob.name} is not valid: {exc}"
        except RecursionError:
            return None, f"{container.container_name}/{blob.name} is not valid: nested too deeply"
        if not isinstance(own, dict):
            return None, f"{container.container_name}/{blob.name} must hold an object"
        raw.update(own)
    try:
        return ReconcileConfig.model_validate(raw), None
    except ValidationError as exc:
        source = f"{container.container_name}/{configs[0].name}" if configs else "RECONCILE_* settings"
        return None, f"invalid reconciliation config ({source}): {exc}"
