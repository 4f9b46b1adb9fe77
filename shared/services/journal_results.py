"""Result files from the ERP (file outbox connector): move aggregated lines to created/posted/error.

A result file lands in `journal-inbox/{environmentId}/...json`:
`{"journalId", "state": "created|posted|create_error|post_error", "erpJournalNumber", "message",
  "lines": [{"lineId", "erpLineNumber", "error"}]}`. Applying the same file twice changes nothing more, and a
late file (an older send of a line, or a state behind the line's) is recorded on the lines but not applied.
A file that is not strict JSON (duplicate keys, NaN, too deep) or has an out-of-range number is refused whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain import strict_json
from shared.domain.identifiers import InvalidIdentifier, check_environment_id
from shared.domain.inventory_config import InventoryConfig
from shared.domain.journals import JournalOutcome, LineResult
from shared.domain.ledger_records import AggregatedLine
from shared.domain.onhand_events import Problems, physical_quantities
from shared.domain.quantities import canonical
from shared.services.ports import AnswerPort, JournalLog
from shared.services.send_journals import apply_outcome

MAX_RESULT_BYTES = 16 * 1024 * 1024
AGGREGATED_ID = re.compile(r"[0-9a-f]{24}")
MAX_LOOKUPS = 1000
"""Most lines of one file looked up outside the journal (lines resent since in another journal)."""


class ResultLine(BaseModel):
    model_config = ConfigDict(extra="ignore")
    lineId: str = Field(max_length=64)
    erpLineNumber: str | None = Field(None, max_length=40)
    error: str | None = Field(None, max_length=2000)
    quantities: dict[str, Any] | None = None
    """The ERP's on-hand change from posting this line, e.g. `{"fno": {"availphysical": -10}}`."""


class ResultFile(BaseModel):
    model_config = ConfigDict(extra="ignore")
    journalId: str = Field(max_length=60, pattern=r"^[A-Za-z0-9_.:-]+$")
    state: Literal["created", "posted", "create_error", "post_error"]
    erpJournalNumber: str | None = Field(None, max_length=40)
    message: str | None = Field(None, max_length=2000)
    lines: list[ResultLine] = Field(default_factory=list, max_length=100_000)


class ResultRejected(ValueError):
    pass


def apply_result_file(
    store: AnswerPort,
    records: JournalLog,
    blob_name: str,
    data: bytes,
    max_attempts: int,
    configs: Callable[[str], InventoryConfig] | None = None,
) -> int:
    """Apply one result file; returns how many aggregated lines changed. Bad files are refused whole."""
    parts = blob_name.split("/")
    if len(parts) < 3:
        raise ResultRejected("result files go under journal-inbox/{environmentId}/")
    try:
        environment_id = check_environment_id(parts[1])
    except InvalidIdentifier as exc:
        raise ResultRejected(str(exc)) from None
    if len(data) > MAX_RESULT_BYTES:
        raise ResultRejected("result file too large")
    try:
        result = ResultFile.model_validate(strict_json.loads(data))
    except strict_json.InvalidJson as exc:
        raise ResultRejected(f"not a valid result file: {exc.message}"[:500]) from None
    except ValidationError as exc:
        raise ResultRejected(
            "not a valid result file: "
            + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)[:10])[:500]
        ) from None
    if records.get(environment_id, result.journalId) is None:
        raise ResultRejected(f"unknown journal {result.journalId} in environment {environment_id}")
    onhand = _erp_onhand(result, configs(environment_id) if configs else None)
    entities = store.lines_of_journal(environment_id, result.journalId)
    entities += _resent_lines(store, environment_id, result, {line.aggregated_id for line in entities})
    outcome = JournalOutcome(
        result.journalId,
        result.state,
        result.erpJournalNumber,
        result.message,
        tuple(LineResult(r.lineId, r.erpLineNumber, r.error, onhand.get(r.lineId)) for r in result.lines),
    )
    apply_outcome(store, records, environment_id, outcome, entities, datetime.now(UTC), max_attempts)
    return len(entities)


def _resent_lines(
    store: AnswerPort, environment_id: str, result: ResultFile, current: set[str]
) -> list[AggregatedLine]:
    """Lines the file names that have since moved to another journal: the answer is recorded on them, not applied."""
    missing = [r.lineId for r in result.lines if r.lineId not in current and AGGREGATED_ID.fullmatch(r.lineId)]
    found = [store.find_aggregated_line(environment_id, line_id) for line_id in dict.fromkeys(missing[:MAX_LOOKUPS])]
    return [line for line in found if line is not None and line.journal_id]


def _erp_onhand(result: ResultFile, config: InventoryConfig | None) -> dict[str, str]:
    """Per line, the ERP's on-hand change as canonical JSON; checked against the configuration first."""
    out: dict[str, str] = {}
    for index, line in enumerate(result.lines):
        if not line.quantities:
            continue
        if config is None or result.state != "posted":
            raise ResultRejected(f"line {index}: quantities are accepted with state posted only")
        problems = Problems(index)
        quantities = physical_quantities(line.quantities, config, problems)
        if problems.items:
            raise ResultRejected("; ".join(f"line {p.index} {p.field}: {p.message}" for p in problems.items)[:500])
        out[line.lineId] = json.dumps(
            {ds: {m: canonical(q) for m, q in ms.items()} for ds, ms in quantities.items()}, sort_keys=True
        )
    return out
