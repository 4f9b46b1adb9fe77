"""Names of every table and blob container the app uses.

One list, so the Bicep (which creates them in Azure) can be checked against the code, and local
runs can create what is missing.
"""

from __future__ import annotations

TABLES: tuple[str, ...] = ("ledger", "lineids", "pending", "journals", "config", "levels")
CONTAINERS: tuple[str, ...] = (
    "snapshots",
    "reports",
    "journal-outbox",
    "journal-inbox",
    "level-outbox",
    "level-snapshots",
)
QUEUES: tuple[str, ...] = ("sync", "aggregate", "send", "level", "levelsend")
"""Work queues, named `{WORK_QUEUE_PREFIX}-{name}`; each has a `-poison` twin made by the host."""
