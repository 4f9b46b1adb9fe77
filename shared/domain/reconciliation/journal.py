"""Proposed journal: material differences that bring the non-master side to the master.

Nothing here posts anything; the approval endpoint turns selected lines into
adjustment lines. Line ids are derived from run id + target + key, so re-running
the same snapshots proposes the same ids and approving twice can post once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .config import KEY_ORDER, JournalMode, ReconcileConfig, Side
from .model import Discrepancy
from .rules import fmt

_KEY_NAMES = tuple(k.value for k in KEY_ORDER)


def line_id(run_id: str, target: Side, key: dict[str, str]) -> str:
    """Stable id: same run, side and key always give the same id."""
    parts = [run_id, target.value] + [f"{k}={key.get(k, '')}" for k in _KEY_NAMES]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class ProposedLine:
    line_id: str
    run_id: str
    journal_id: str
    line_number: int
    target: Side
    mode: JournalMode
    item: str
    site: str | None
    warehouse: str | None
    batch: str | None
    status: str | None
    location: str | None
    quantity_delta: Decimal
    counted_quantity: Decimal | None
    book_quantity: Decimal
    unit_cost: Decimal | None
    value: Decimal | None
    category: str
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict; decimals as exact strings (a float would break invariant 7)."""

        def d(x: Decimal | None) -> str | None:
            return None if x is None else fmt(x)

        return {
            "line_id": self.line_id,
            "run_id": self.run_id,
            "journal_id": self.journal_id,
            "line_number": self.line_number,
            "target": self.target,  # StrEnum: serialises as its value
            "mode": self.mode,
            "item": self.item,
            "site": self.site,
            "warehouse": self.warehouse,
            "batch": self.batch,
            "status": self.status,
            "location": self.location,
            "quantity_delta": d(self.quantity_delta),
            "counted_quantity": d(self.counted_quantity),
            "book_quantity": d(self.book_quantity),
            "unit_cost": d(self.unit_cost),
            "value": d(self.value),
            "category": self.category,
            "reasons": list(self.reasons),
        }


def propose(
    run_id: str, discrepancies: Iterable[Discrepancy], config: ReconcileConfig
) -> list[list[ProposedLine]]:
    """Material discrepancies -> journals of at most ``journal_max_lines`` lines each.

    Master WMS: the ERP gets delta = WMS - ERP (master 100, ERP 98 -> +2).
    Master ERP: the WMS gets delta = ERP - WMS. Input order is kept, so callers
    pass discrepancies sorted by key for stable journal numbering.
    """
    target = Side.ERP if config.master is Side.WMS else Side.WMS
    journals: list[list[ProposedLine]] = []
    current: list[ProposedLine] = []
    for disc in discrepancies:
        a = disc.assessment
        if not a.material or a.difference == 0:
            continue
        if len(current) == config.journal_max_lines:
            journals.append(current)
            current = []
        if target is Side.ERP:
            master_qty, book, delta = a.wms_qty, a.erp_qty, a.difference
        else:
            master_qty, book, delta = a.erp_qty, a.wms_qty, -a.difference
        journal_id = f"{run_id}-{len(journals) + 1:03d}"
        current.append(
            ProposedLine(
                line_id=line_id(run_id, target, disc.key),
                run_id=run_id,
                journal_id=journal_id,
                line_number=len(current) + 1,
                target=target,
                mode=config.journal_mode,
                item=disc.item,
                site=disc.key.get("site", disc.site),
                warehouse=disc.key.get("warehouse"),
                batch=disc.key.get("batch"),
                status=disc.key.get("status"),
                location=disc.key.get("location"),
                quantity_delta=delta,
                counted_quantity=master_qty if config.journal_mode is JournalMode.COUNTING else None,
                book_quantity=book,
                unit_cost=disc.unit_cost,
                value=(delta * disc.unit_cost) if disc.unit_cost is not None else None,
                category=a.category,
                reasons=a.reasons,
            )
        )
    if current:
        journals.append(current)
    return journals


def journal_document(
    run_id: str, journals: list[list[ProposedLine]], config: ReconcileConfig
) -> dict[str, Any]:
    """The proposed_journal.json body the approval endpoint reads."""
    target = Side.ERP if config.master is Side.WMS else Side.WMS
    return {
        "schema": "omnisync.reconciliation.proposed_journal/1",
        "run_id": run_id,
        "status": "proposed",
        "master": config.master.value,
        "target": target.value,
        "mode": config.journal_mode.value,
        "max_lines_per_journal": config.journal_max_lines,
        "line_count": sum(len(j) for j in journals),
        "journals": [{"journal_id": j[0].journal_id, "lines": [ln.to_json() for ln in j]} for j in journals],
    }


class UnknownLineError(KeyError):
    """Approval named line ids that the proposed journal does not contain."""


def select_lines(document: dict[str, Any], line_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Lines to post for an approval: all lines, or exactly the selected ids.

    Unknown ids fail the whole approval (a typo must not silently post less).
    Posting must be idempotent per ``line_id`` (use it as the ingest line id, with
    ``run_id`` as the external reference), so approving twice posts once.
    """
    lines = [ln for j in document.get("journals", []) for ln in j["lines"]]
    if line_ids is None:
        return lines
    wanted = list(dict.fromkeys(line_ids))
    by_id = {ln["line_id"]: ln for ln in lines}
    unknown = [i for i in wanted if i not in by_id]
    if unknown:
        raise UnknownLineError(f"unknown line id(s): {unknown}")
    return [by_id[i] for i in wanted]
