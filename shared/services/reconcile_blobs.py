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

import json
import logging
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobProperties, BlobServiceClient, ContainerClient
from pydantic import ValidationError

from shared.adapters.blob_reports import BlobReportSink, load_history
from shared.adapters.snapshot_engine import EngineSettings
from shared.adapters.storage_names import REPORTS_CONTAINER, SNAPSHOTS_CONTAINER
from shared.domain.reconciliation.config import ReconcileConfig, Side
from shared.domain.reconciliation.naming import EDGE_MAX_RUN_ID, is_valid_run_id, parse_snapshot_name
from shared.services.reconcile import SnapshotSource, error_result, publish, run_reconciliation

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
    """React to one blob in ``snapshots``; ``defaults`` is the app-wide raw config (settings)."""
    name = blob_name.strip("/").removeprefix(f"{containers.snapshots}/")
    run_id = name.split("/", 1)[0] if "/" in name else ""
    if not valid_run_id(run_id):
        # Nothing is stored for a bad id: it would become a report path.
        log.warning("ignoring snapshot blob %r: run id must be 1-64 letters, digits or -_.", blob_name)
        return Outcome("ignored", None, "invalid run id")
    parsed = parse_snapshot_name(name)
    if parsed is None:
        log.info("ignoring blob %r: not an erp/wms snapshot (config files do not start a run)", blob_name)
        return Outcome("ignored", run_id, "not a snapshot")

    snapshots = service.get_container_client(containers.snapshots)
    sides: dict[Side, list[BlobProperties]] = {Side.ERP: [], Side.WMS: []}
    configs: list[BlobProperties] = []
    for blob in snapshots.list_blobs(name_starts_with=f"{run_id}/"):
        snap = parse_snapshot_name(blob.name)
        if snap is not None:
            sides[snap.side].append(blob)
        elif blob.name.split("/", 1)[1].lower() in CONFIG_NAMES:
            configs.append(blob)
    missing = [s for s, blobs in sides.items() if not blobs]
    if missing:
        log.info("run %s: %s arrived, waiting for %s", run_id, parsed.side.value, missing[0].value)
        return Outcome("waiting", run_id, f"waiting for {missing[0].value}")
    with tempfile.TemporaryDirectory(prefix=f"reconcile-{run_id}-") as tmp:
        return _run(service, run_id, sides, configs, defaults, Path(tmp), engine, containers)


def _run(
    service: BlobServiceClient,
    run_id: str,
    sides: dict[Side, list[BlobProperties]],
    configs: list[BlobProperties],
    defaults: dict[str, Any],
    tmp: Path,
    engine: EngineSettings | None,
    containers: Containers,
) -> Outcome:
    snapshots = service.get_container_client(containers.snapshots)
    sources = {side: _placeholder(blobs, tmp) for side, blobs in sides.items()}
    sink = BlobReportSink(service, run_id, containers.reports)
    problems = [
        f"{len(blobs)} {side.value} snapshots for run {run_id} ({', '.join(b.name for b in blobs)}); keep one"
        for side, blobs in sides.items()
        if len(blobs) > 1
    ]
    config: ReconcileConfig | None = None
    if not problems:
        config, problem = _config(snapshots, configs, defaults)
        problems += [problem] if problem else []
    if not problems:
        for side, blobs in sides.items():
            try:
                sources[side] = _download(snapshots, blobs[0], tmp / f"{side.value}.snapshot")
            except ResourceNotFoundError:
                problems.append(f"{blobs[0].name} was deleted before it could be read")
    if problems or config is None:
        result = error_result(run_id, problems, sources[Side.ERP], sources[Side.WMS])
        try:
            publish(result, sink)
        finally:
            result.close()
        log.warning("run %s: error report written: %s", run_id, "; ".join(problems))
        return Outcome("error", run_id, "; ".join(problems))
    history = load_history(service, exclude_run_id=run_id, limit=HISTORY_RUNS, container=containers.reports)
    settings = engine or EngineSettings(temp_directory=str(tmp))
    result = run_reconciliation(
        sources[Side.ERP], sources[Side.WMS], config, history, sink, run_id=run_id, engine=settings
    )
    log.info("run %s: reconciled, status %s, reports in %s/%s/", run_id, result.status, containers.reports, run_id)
    return Outcome(result.status, run_id, "; ".join(result.errors))


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
) -> tuple[ReconcileConfig | None, str | None]:
    """App-wide defaults, with the run's own config file's top-level keys replacing theirs."""
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
