"""Blob naming convention for a reconciliation run (pure, shared by trigger and tests).

    snapshots/{environmentId}/{runId}/erp.{csv|txt|tsv|parquet}
    snapshots/{environmentId}/{runId}/wms.{csv|txt|tsv|parquet}
    snapshots/{environmentId}/{runId}/config.{json|toml}   (optional, overrides the app-wide config)
    reports/{environmentId}/{runId}/discrepancies.csv | summary.json | report.html | proposed_journal.json
                                    | history.json | manifest.json

A run belongs to one environment, like every ledger row: its reports live under the environment's
folder, and the API of another environment can neither read nor approve it. The trigger fires for
whichever snapshot lands first; it starts the comparison only when both sides are present. Run ids
are restricted to a safe alphabet so they can appear in blob paths, journal ids and line ids unchanged.
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
ENVIRONMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
"""Same rule as ``shared.domain.identifiers.ENVIRONMENT_ID`` (the ledger's), repeated to keep this module pure."""
SUMMARY_FILE = "summary.json"
HISTORY_FILE = "history.json"
JOURNAL_FILE = "proposed_journal.json"
"""A run's summary without its streak list and audit flags: what later runs read for their history."""
SNAPSHOT_EXTENSIONS = {"csv": "csv", "txt": "csv", "tsv": "csv", "parquet": "parquet", "pq": "parquet"}


@dataclass(frozen=True)
class SnapshotName:
    environment_id: str
    run_id: str
    side: Side
    format: str  # "csv" | "parquet"

    @property
    def run_path(self) -> str:
        return run_path(self.environment_id, self.run_id)


def run_path(environment_id: str, run_id: str) -> str:
    """The folder of a run inside ``snapshots`` and ``reports``: ``{environmentId}/{runId}``."""
    return f"{environment_id}/{run_id}"


def split_run_folder(blob_name: str) -> tuple[str, str] | None:
    """``[snapshots/]{env}/{run}/anything`` -> (env, run) when both parts are valid, else None."""
    parts = blob_name.strip("/").split("/")
    if len(parts) == 4 and parts[0] == "snapshots":
        parts = parts[1:]
    if len(parts) != 3 or not ENVIRONMENT_ID.fullmatch(parts[0]) or not is_valid_run_id(parts[1]):
        return None
    return parts[0], parts[1]


def parse_snapshot_name(blob_name: str) -> SnapshotName | None:
    """``{env}/{runId}/erp.csv`` -> SnapshotName; anything else (config, other files) -> None.

    A leading container name (``snapshots/``) is accepted and ignored.
    """
    folder = split_run_folder(blob_name)
    if folder is None:
        return None
    file = blob_name.strip("/").rsplit("/", 1)[1]
    if "." not in file:
        return None
    stem, ext = file.rsplit(".", 1)
    try:
        side = Side(stem.lower())
    except ValueError:
        return None
    fmt = SNAPSHOT_EXTENSIONS.get(ext.lower())
    return SnapshotName(folder[0], folder[1], side, fmt) if fmt else None


def is_valid_run_id(run_id: str, max_length: int = MAX_RUN_ID) -> bool:
    """The one run-id rule: letters, digits and ``._-``, alphanumeric first, 1..``max_length`` long.

    Matched in full (a trailing newline is not accepted, as ``$`` would).
    """
    return 0 < len(run_id) <= max_length and RUN_ID.fullmatch(run_id) is not None
