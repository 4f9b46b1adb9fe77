"""Names of every table, blob container and work queue the app uses: the one list.

Every module takes its names from here, so the Bicep (which creates them in Azure) can be checked
against the code (tests/unit/test_deployment_settings.py) and local runs can create what is
missing. Table names get `OMNISYNC_STORAGE_NAME_PREFIX` in front (storage_clients.table_name).
The key layout inside the ledger table (partition and row key prefixes) is in ledger_keys.py.
"""

from __future__ import annotations

# Tables
LEDGER_TABLES = ("ledger00", "ledger01", "ledger02", "ledger03", "ledger04", "ledger05", "ledger06", "ledger07")
"""Lines, open entries, aggregated lines and cache rows, one partition per environment/organization/product;
each partition in the table `ledger_keys.ledger_shard` names (as many tables as `LEDGER_SHARDS`)."""
UNSHARDED_LEDGER_TABLE = "ledger"
"""The ledger's one table before the shards: read only by `omnisync ledger-reshard`, never created."""
FINISHED_LINES_TABLE = "finishedlines"
"""Finished records out of the ledger: lines aggregated (or closed unmapped), aggregated lines posted and offset."""
LINE_IDS_TABLE = "lineids"
"""Line ids reserved by ingest (exactly-once per id)."""
PENDING_TABLE = "pending"
"""Markers of partitions with work to do, and schedules."""
JOURNALS_TABLE = "journals"
"""Journals sent to the ERP and those in flight."""
CONFIG_TABLE = "config"
"""Per-environment inventory configuration."""
LEVELS_TABLE = "levels"
"""Level sync: what each target was last sent per product × warehouse, pending delta batches, history."""

# Blob containers
SNAPSHOTS_CONTAINER = "snapshots"
"""Reconciliation input: `{environmentId}/{runId}/erp_onhand.*` and `…/wms_onhand.*` (blob trigger)."""
REPORTS_CONTAINER = "reports"
"""Reconciliation output: `{environmentId}/{runId}/...` reports and manifest."""
OUTBOX_CONTAINER = "journal-outbox"
"""Journals written by the outbox connector for the ERP to pick up."""
INBOX_CONTAINER = "journal-inbox"
"""Journal results dropped by the ERP (blob trigger)."""
WMS_OUTBOX_CONTAINER = "wms-outbox"
"""Approved reconciliation lines for the external system when the ERP is master: `{env}/{runId}/{approvalId}.*`."""
APPROVALS_CONTAINER = "approvals"
"""Background approvals of reconciliation proposals: `{env}/{runId}/{approvalId}.json`, their progress."""
LEVEL_OUTBOX_CONTAINER = "level-outbox"
"""Delta journal files (JSON and CSV) for level-sync targets with the blob connector."""
LEVEL_SNAPSHOTS_CONTAINER = "level-snapshots"
"""ERP level snapshot files (`{environmentId}/….csv`, blob trigger), applied once per version."""

TABLES: tuple[str, ...] = (
    *LEDGER_TABLES,
    FINISHED_LINES_TABLE,
    LINE_IDS_TABLE,
    PENDING_TABLE,
    JOURNALS_TABLE,
    CONFIG_TABLE,
    LEVELS_TABLE,
)
CONTAINERS: tuple[str, ...] = (
    SNAPSHOTS_CONTAINER,
    REPORTS_CONTAINER,
    OUTBOX_CONTAINER,
    INBOX_CONTAINER,
    WMS_OUTBOX_CONTAINER,
    APPROVALS_CONTAINER,
    LEVEL_OUTBOX_CONTAINER,
    LEVEL_SNAPSHOTS_CONTAINER,
)
QUEUES: tuple[str, ...] = ("sync", "aggregate", "send", "level", "levelsend", "approve")
"""Work queues, named `{WORK_QUEUE_PREFIX}-{name}`; each has a `-poison` twin made by the host."""
