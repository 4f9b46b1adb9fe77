"""Approved reconciliation lines as files for the external system (WMS) when the ERP is master.

When the ERP is the source of truth (the Field Service flow), approving a run must move the WMS,
never the ERP: omnisync cannot post into the WMS, so it writes what the WMS has to book as a JSON
and a CSV file into that system's outbox container, for its import job (or a person) to pick up.
Pure: bytes in, bytes out; the adapter decides where they go.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared.domain.spreadsheet import neutralise

SCHEMA = "omnisync.reconciliation.external_journal/1"
CSV_COLUMNS: tuple[str, ...] = (
    "LineId",
    "RunId",
    "Mode",
    "Movement",
    "Item",
    "Site",
    "Warehouse",
    "Batch",
    "Status",
    "Location",
    "Serial",
    "Quantity",
    "CountedQuantity",
    "BookQuantity",
    "UnitCost",
)
NUMERIC = frozenset({"Quantity", "CountedQuantity", "BookQuantity", "UnitCost"})
"""Exact decimal text written by omnisync itself: numbers, never neutralised."""


def approval_id(line_ids: Iterable[str]) -> str:
    """Same selection, same file name: approving the same lines again rewrites identical files."""
    return hashlib.sha256("\n".join(sorted(line_ids)).encode()).hexdigest()[:16]


def _row(line: Mapping[str, Any], mode: str) -> dict[str, Any]:
    delta = str(line["quantity_delta"])
    return {
        "LineId": line["line_id"],
        "RunId": line.get("run_id"),
        "Mode": mode,
        "Movement": "issue" if delta.startswith("-") else "receipt",
        "Item": line["item"],
        "Site": line.get("site"),
        "Warehouse": line.get("warehouse"),
        "Batch": line.get("batch"),
        "Status": line.get("status"),
        "Location": line.get("location"),
        "Serial": line.get("serial"),
        "Quantity": delta,
        "CountedQuantity": line.get("counted_quantity"),
        "BookQuantity": line.get("book_quantity"),
        "UnitCost": line.get("unit_cost"),
    }


def external_json(
    environment_id: str, run_id: str, system: str, mode: str, lines: Sequence[Mapping[str, Any]]
) -> bytes:
    """The approved lines for ``system``; ``counting`` lines set CountedQuantity, ``movement`` lines add Quantity."""
    document = {
        "schema": SCHEMA,
        "environmentId": environment_id,
        "runId": run_id,
        "system": system,
        "mode": mode,
        "signRule": "Quantity is what the system must book: positive = receipt, negative = issue",
        "lines": [_row(line, mode) for line in lines],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def external_csv(mode: str, lines: Sequence[Mapping[str, Any]]) -> bytes:
    """Same rows as the JSON; text cells a spreadsheet would run as a formula get a leading ``'``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for line in lines:
        row = _row(line, mode)
        writer.writerow(
            {k: ("" if v is None else str(v) if k in NUMERIC else neutralise(str(v))) for k, v in row.items()}
        )
    return buffer.getvalue().encode("utf-8-sig")  # BOM: Excel then reads accented names right
