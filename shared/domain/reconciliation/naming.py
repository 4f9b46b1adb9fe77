"""Blob naming convention for a reconciliation run (pure, shared by trigger and tests).

    snapshots/{runId}/erp.{csv|txt|tsv|parquet}
    snapshots/{runId}/wms.{csv|txt|tsv|parquet}
    snapshots/{runId}/config.{json|toml}      (optional, overrides the app-wide config)
    reports/{runId}/discrepancies.csv | summary.json | report.html | proposed_journal.json | manifest.json

The trigger fires for whichever snapshot lands first; it starts the comparison
only when both sides are present. Run ids are restricted to a safe alphabet so
they can appear in blob paths, journal ids and line ids unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .config import Side

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_RUN_ID = 100
"""Longest run id in a blob name."""
EDGE_MAX_RUN_ID = 64
"""Longest run id taken at the edge (trigger, API): ids stay short in journal line ids and URLs."""
SNAPSHOT_EXTENSIONS = {"csv": "csv", "txt": "csv", "tsv": "csv", "parquet": "parquet", "pq": "parquet"}


@dataclass(frozen=True)
class SnapshotName:
    run_id: str
    side: Side
    format: str  # "csv" | "parquet"


def parse_snapshot_name(blob_name: str) -> SnapshotName | None:
    """``{runId}/erp.csv`` -> SnapshotName; anything else (config, other files) -> None.

    A leading container name (``snapshots/``) is accepted and ignored.
    """
    parts = blob_name.strip("/").split("/")
    if len(parts) == 3 and parts[0] == "snapshots":
        parts = parts[1:]
    if len(parts) != 2:
        return None
    run_id, file = parts
    if not is_valid_run_id(run_id) or "." not in file:
        return None
    stem, ext = file.rsplit(".", 1)
    try:
        side = Side(stem.lower())
    except ValueError:
        return None
    fmt = SNAPSHOT_EXTENSIONS.get(ext.lower())
    return SnapshotName(run_id, side, fmt) if fmt else None


def is_valid_run_id(run_id: str, max_length: int = MAX_RUN_ID) -> bool:
    """The one run-id rule: letters, digits and ``._-``, alphanumeric first, 1..``max_length`` long.

    Matched in full (a trailing newline is not accepted, as ``$`` would).
    """
    return 0 < len(run_id) <= max_length and RUN_ID.fullmatch(run_id) is not None
