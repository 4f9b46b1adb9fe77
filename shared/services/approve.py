"""Approve a reconciliation's proposed journal: the approved lines move the NON-master side.

Nothing posts without this call. Where the lines go depends on the run's master and mode:

* **External system (WMS) is master, movement mode** (Oracle balance flow): each line becomes an
  adjustment line via ingest — validated, stored once and synced to the ERP like any other line.
  Each proposed line has a stable id used as the adjustment line id, so approving twice (or all
  after some) posts each line once: ingest reports the repeat as ``duplicate``.
* **External system is master, counting mode**: one counting journal that *sets* each line's counted
  quantity goes straight to the ERP connector (D365 counting journal entities, or a counting file in
  the journal outbox). Its id is derived from the run and the selection, and connectors are safe to
  call again, so a repeat creates no second journal; setting a count is idempotent by nature.
* **ERP is master** (Field Service flow): the ERP is never touched. The lines — deltas, or counted
  quantities in counting mode — are written as JSON + CSV files into the external system's outbox
  container, where its import picks them up; lines already written by an earlier approval of the
  run are left out, so each is booked once.

One call moves at most ``ApprovalRequest.max_lines`` lines (``INGEST_MAX_LINES``): a bad day proposes
300,000, far more than one HTTP call can post, so a bigger selection is refused whole and the run is
approved a few journals at a time (``journal_ids``). The journal is read a journal at a time, never whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from shared.domain.adjustments import LineProblem, parse_lines
from shared.domain.identifiers import VALUE_TEXT, VALUE_TEXT_RULE
from shared.domain.journals import ErpConnector, Journal, JournalLine, JournalOutcome
from shared.domain.reconciliation.journal import select_proposed
from shared.domain.reconciliation.outbox_files import approval_id, external_csv, external_json
from shared.services.ingest import ingest
from shared.services.outcomes import LineOutcome
from shared.services.ports import LedgerPort

EXTERNAL_CATEGORY = "Reconciliation"
DEFAULT_COUNTING_JOURNAL_NAME = "ICnt"
"""D365's usual counting journal name (demo company USMF); the request's journalNameId overrides it."""


@dataclass(frozen=True)
class ApprovalRequest:
    organization_id: str
    data_source: str = "@iv"
    physical_measure: str = "adjustment"
    journal_name_id: str | None = None
    line_ids: tuple[str, ...] | None = None
    journal_ids: tuple[str, ...] | None = None
    max_lines: int = 10_000
    """Most lines one approval moves (``INGEST_MAX_LINES``: what one bulk request may carry)."""


class NothingToApprove(LookupError):
    pass


class ApprovalRefused(ValueError):
    def __init__(self, problems: list[LineProblem]) -> None:
        super().__init__(f"{len(problems)} proposed line(s) cannot become adjustment lines")
        self.problems = problems


class ProposedJournal(Protocol):
    """A run's proposed journal, read journal by journal (``shared.adapters.proposed_journal_file``)."""

    def header(self) -> dict[str, Any]: ...

    def journals(self) -> Iterator[dict[str, Any]]: ...


class ExternalOutbox(Protocol):
    """Where lines for the external system go (``shared.adapters.external_outbox``)."""

    def written_line_ids(self, environment_id: str, run_id: str) -> set[str]: ...

    def approval_lock(self, environment_id: str, run_id: str) -> AbstractContextManager[None]:
        """Held while one approval reads the written lines and writes its files."""
        ...

    def write(
        self, environment_id: str, run_id: str, approval: str, json_bytes: bytes, csv_bytes: bytes
    ) -> list[str]: ...


@dataclass
class ApprovalResult:
    """What an approval did; ``as_dict`` is the HTTP answer."""

    run_id: str
    target: str
    mode: str
    lines: list[LineOutcome] = field(default_factory=list)
    journal: JournalOutcome | None = None
    files: list[str] = field(default_factory=list)
    already_written: list[str] = field(default_factory=list)
    written: int = 0

    @property
    def posted(self) -> int:
        if self.journal is not None:
            return 0 if self.journal.state.endswith("error") else len(self.journal.lines)
        if self.files:
            return self.written
        return sum(1 for o in self.lines if o.outcome == "created")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"runId": self.run_id, "target": self.target, "mode": self.mode, "posted": self.posted}
        if self.target == "erp" and self.journal is None:
            out["lines"] = [o.as_dict() for o in self.lines]
        if self.journal is not None:
            out["journal"] = {
                "journalId": self.journal.journal_id,
                "state": self.journal.state,
                "erpJournalNumber": self.journal.erp_journal_number,
                "message": self.journal.message,
                "lines": [
                    {"id": r.line_id, "erpLineNumber": r.erp_line_number, "error": r.error} for r in self.journal.lines
                ],
            }
        if self.target != "erp":
            out["files"] = self.files
            out["alreadyWritten"] = self.already_written
        return out


def adjustment_from_proposal(line: dict[str, Any], request: ApprovalRequest, run_id: str = "") -> dict[str, Any]:
    dims = {
        "siteId": line.get("site"),
        "locationId": line.get("warehouse"),
        "batchId": line.get("batch"),
        "statusId": line.get("status"),
        "wmsLocationId": line.get("location"),
        "serialId": line.get("serial"),
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
        "externalReferenceId": line.get("run_id") or run_id,
        "fnoJournalNameId": request.journal_name_id,
    }


@dataclass(frozen=True)
class Destination:
    """Where an environment's approved lines go, and the configuration they are checked against."""

    store: LedgerPort
    environment_id: str
    allowed_sources: tuple[str, ...]
    allowed_measures: tuple[str, ...]
    erp_connector: Callable[[], ErpConnector] | None = None
    external_outbox: ExternalOutbox | None = None


def approve(to: Destination, proposed: ProposedJournal | None, request: ApprovalRequest) -> ApprovalResult:
    """Move the non-master side by the selected (or all) proposed lines; refuse the whole approval
    if any line is unusable."""
    if proposed is None:
        raise NothingToApprove("the run has no proposed journal")
    result = result_for(proposed.header())
    selected = select_proposed(
        proposed.journals(), line_ids=request.line_ids, journal_ids=request.journal_ids, max_lines=request.max_lines
    )
    return move_selected(to, result, selected, request)


def result_for(header: dict[str, Any]) -> ApprovalResult:
    """An empty result for the proposal's run, target and mode (its header)."""
    run_id = str(header.get("run_id") or "")
    return ApprovalResult(run_id, str(header.get("target") or "erp"), str(header.get("mode") or "movement"))


def move_selected(
    to: Destination, result: ApprovalResult, selected: list[dict[str, Any]], request: ApprovalRequest
) -> ApprovalResult:
    """Move the non-master side by ``selected`` lines (into ``result``), or refuse them all."""
    run_id, target, mode = result.run_id, result.target, result.mode
    environment_id, erp_connector, external_outbox = to.environment_id, to.erp_connector, to.external_outbox
    if not selected:
        return result
    if target != "erp":
        if external_outbox is None:
            raise RuntimeError("an ERP-master run needs the external outbox")
        return _to_external(result, environment_id, selected, external_outbox)
    if mode == "counting":
        if erp_connector is None:
            raise RuntimeError("a counting approval needs the ERP connector")
        journal = _counting_journal(environment_id, run_id, selected, request)
        connector = erp_connector()
        try:
            result.journal = connector.send(journal)
        finally:
            close = getattr(connector, "close", None)  # the OData connector holds an HTTP client
            if callable(close):
                close()
        return result
    lines = checked_adjustments(selected, request, run_id, to.allowed_sources, to.allowed_measures)
    result.lines = ingest(to.store, environment_id, lines)
    return result


def checked_adjustments(
    selected: list[dict[str, Any]],
    request: ApprovalRequest,
    run_id: str,
    allowed_sources: Iterable[str],
    allowed_measures: Iterable[str],
) -> list[Any]:
    """The adjustment lines ``selected`` proposed lines become, checked as ingest checks them; or refused."""
    raw = [adjustment_from_proposal(line, request, run_id) for line in selected]
    lines, problems = parse_lines(raw, allowed_sources=tuple(allowed_sources), allowed_measures=tuple(allowed_measures))
    if problems:
        raise ApprovalRefused(problems)
    return lines


def check_selected(
    to: Destination, result: ApprovalResult, selected: list[dict[str, Any]], request: ApprovalRequest
) -> None:
    """Raise ``ApprovalRefused`` for any line ``move_selected`` would refuse, moving nothing."""
    if result.target != "erp" or result.mode == "counting":
        _check_values(selected)
        if result.target == "erp":
            _check_counted(selected)
        return
    checked_adjustments(selected, request, result.run_id, to.allowed_sources, to.allowed_measures)


def _to_external(
    result: ApprovalResult, environment_id: str, selected: list[dict[str, Any]], outbox: ExternalOutbox
) -> ApprovalResult:
    _check_values(selected)
    with outbox.approval_lock(environment_id, result.run_id):  # two approvals at once: each line once
        done = outbox.written_line_ids(environment_id, result.run_id)
        fresh = [line for line in selected if line["line_id"] not in done]
        result.already_written = [line["line_id"] for line in selected if line["line_id"] in done]
        if not fresh:
            return result
        name = approval_id(line["line_id"] for line in fresh)
        result.files = outbox.write(
            environment_id,
            result.run_id,
            name,
            external_json(environment_id, result.run_id, result.target, result.mode, fresh),
            external_csv(result.mode, fresh),
        )
    result.written = len(fresh)
    return result


_DIMENSIONS = ("item", "site", "warehouse", "batch", "status", "location", "serial")


def _check_values(selected: list[dict[str, Any]]) -> None:
    """Values that reach a journal file follow the same allow-list as every other journal value."""
    problems = [
        LineProblem(index=i, field=name, message=f"{name} must be {VALUE_TEXT_RULE}")
        for i, line in enumerate(selected)
        for name in _DIMENSIONS
        if line.get(name) not in (None, "") and not VALUE_TEXT.fullmatch(str(line[name]))
    ]
    if problems:
        raise ApprovalRefused(problems)


def _check_counted(selected: list[dict[str, Any]]) -> None:
    missing = [
        LineProblem(index=i, field="counted_quantity", message="a counting line needs the counted quantity")
        for i, line in enumerate(selected)
        if line.get("counted_quantity") is None
    ]
    if missing:
        raise ApprovalRefused(missing)


def _counting_journal(
    environment_id: str, run_id: str, selected: list[dict[str, Any]], request: ApprovalRequest
) -> Journal:
    _check_values(selected)
    _check_counted(selected)
    digest = hashlib.sha256(
        "\n".join([environment_id, run_id, request.organization_id, *sorted(ln["line_id"] for ln in selected)]).encode()
    ).hexdigest()
    return Journal(
        journal_id=f"OS-CNT-{digest[:32]}",
        environment_id=environment_id,
        organization_id=request.organization_id,
        journal_type="counting",
        journal_name_id=request.journal_name_id or DEFAULT_COUNTING_JOURNAL_NAME,
        target_status="Created",  # a person reviews and posts a counting journal in the ERP
        lines=tuple(
            JournalLine(
                line_id=line["line_id"],
                item_number=line["item"],
                quantity=Decimal(str(line["counted_quantity"])),
                site_id=line.get("site") or None,
                warehouse_id=line.get("warehouse") or None,
                batch_id=line.get("batch") or None,
                serial_id=line.get("serial") or None,
                status_id=line.get("status") or None,
                location_id=line.get("location") or None,
            )
            for line in selected
        ),
    )
