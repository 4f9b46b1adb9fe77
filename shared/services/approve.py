"""Approve a reconciliation's proposed journal: approved lines become adjustment lines via ingest.

Nothing posts without this call. Each proposed line has a stable id (same run, side and key), used
as the adjustment line id, so approving twice — or approving all after approving some — posts each
line once: ingest reports the repeat as `duplicate`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.adapters.ledger_tables import LedgerStore
from shared.domain.adjustments import LineProblem, parse_lines
from shared.domain.reconciliation.journal import select_lines
from shared.services.ingest import ingest
from shared.services.outcomes import LineOutcome

EXTERNAL_CATEGORY = "Reconciliation"


@dataclass(frozen=True)
class ApprovalRequest:
    organization_id: str
    data_source: str = "@iv"
    physical_measure: str = "adjustment"
    journal_name_id: str | None = None
    line_ids: tuple[str, ...] | None = None


class NothingToApprove(LookupError):
    pass


class ApprovalRefused(ValueError):
    def __init__(self, problems: list[LineProblem]) -> None:
        super().__init__(f"{len(problems)} proposed line(s) cannot become adjustment lines")
        self.problems = problems


def adjustment_from_proposal(line: dict[str, Any], request: ApprovalRequest) -> dict[str, Any]:
    dims = {
        "siteId": line.get("site"),
        "locationId": line.get("warehouse"),
        "batchId": line.get("batch"),
        "statusId": line.get("status"),
        "wmsLocationId": line.get("location"),
    }
    return {
        "id": f"recon-{line['line_id']}",
        "organizationId": request.organization_id,
        "productId": line["item"],
        "quantityDataSource": request.data_source,
        "physicalMeasure": request.physical_measure,
        "dimensions": {k: v for k, v in dims.items() if v},
        "quantity": line["quantity_delta"],
        "costPrice": line.get("unit_cost"),
        "externalReferenceCategory": EXTERNAL_CATEGORY,
        "externalReferenceId": line["run_id"],
        "fnoJournalNameId": request.journal_name_id,
    }


def approve(
    store: LedgerStore,
    environment_id: str,
    proposed_journal: bytes | None,
    request: ApprovalRequest,
    *,
    allowed_sources: Iterable[str],
    allowed_measures: Iterable[str],
) -> list[LineOutcome]:
    """Post the selected (or all) proposed lines; refuse the whole approval if any line is unusable."""
    if proposed_journal is None:
        raise NothingToApprove("the run has no proposed journal")
    document = json.loads(proposed_journal)
    selected = select_lines(document, request.line_ids)
    if not selected:
        return []
    raw = [adjustment_from_proposal(line, request) for line in selected]
    lines, problems = parse_lines(raw, allowed_sources=tuple(allowed_sources), allowed_measures=tuple(allowed_measures))
    if problems:
        raise ApprovalRefused(problems)
    return ingest(store, environment_id, lines)
