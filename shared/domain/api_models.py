"""The shapes of the HTTP API's answers (and of request bodies the edge parses by hand), as pydantic models.

They are the single source of the OpenAPI document (functions/api_reference.py derives its schemas from them),
and every answer of the API is validated through its model before it is written, so the document cannot drift
from what the API sends. Quantities are `Quantity`: an exact Decimal that is written as a JSON *number* from its
canonical text, never through a float. Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from shared.domain.inventory_config import InventoryConfig
from shared.domain.quantities import REQUEST_JSON_SCHEMA, canonical


def _exact_number(value: Decimal) -> Decimal:
    """The canonical decimal (no exponent, no trailing zeros): `3`, `-2.5`, never `3.000` or `1E+3`."""
    return Decimal(canonical(value))


Quantity = Annotated[
    Decimal,
    PlainSerializer(_exact_number, return_type=Decimal, when_used="always"),
    WithJsonSchema({"type": "number", "description": "exact decimal, at most 15 integer and 6 decimal digits"}),
]
"""A quantity in an answer: a JSON number written from the exact decimal text."""

QuantityIn = Annotated[Decimal, WithJsonSchema(REQUEST_JSON_SCHEMA)]
"""A quantity in a request: a JSON number or a numeric string."""

Dimensions = dict[str, str]
Measures = dict[str, dict[str, Quantity]]
"""`{dataSource: {measure: quantity}}`."""


class _Answer(BaseModel):
    """Answers are closed: a field the model does not know is a bug to see in tests, not data to pass on."""

    model_config = ConfigDict(extra="forbid")


# --- errors -----------------------------------------------------------------------------------------------------


class ErrorDetail(_Answer):
    """What there is to point at: an item of a bulk body, a field, or a position in a body that is not JSON."""

    index: int | None = Field(None, description="the item of a bulk body (0-based)")
    field: str | None = Field(None, description="the field, dotted (`quantities.pos.sold`)")
    line: int | None = Field(None, description="1-based line of a JSON syntax error")
    column: int | None = Field(None, description="1-based column of a JSON syntax error")
    message: str


class Error(_Answer):
    code: str = Field(description="PascalCase and stable: branch on it", examples=["InvalidLines"])
    message: str = Field(description="for people")
    details: list[ErrorDetail] | None = None


class ErrorBody(_Answer):
    """The one error shape of every route."""

    error: Error


# --- health -----------------------------------------------------------------------------------------------------


class Health(_Answer):
    status: Literal["ok", "degraded", "unavailable"]
    version: str
    storage: dict[str, Literal["ok", "unavailable"]]


# --- bulk outcomes ----------------------------------------------------------------------------------------------


class ItemOutcome(_Answer):
    index: int
    id: str
    outcome: Literal["created", "duplicate", "conflict"]
    status: str | None
    message: str | None = None


class Summary(_Answer):
    created: int
    duplicate: int
    conflict: int


class LineOutcomes(_Answer):
    lines: list[ItemOutcome]
    summary: Summary


class EventOutcomes(_Answer):
    events: list[ItemOutcome]
    summary: Summary


class TransactionOutcomes(_Answer):
    transactions: list[ItemOutcome]
    summary: Summary


# --- detailed adjustment lines ----------------------------------------------------------------------------------


class StatusTimes(_Answer):
    Created: datetime | None = None
    IVPosted: datetime | None = None
    Aggregated: datetime | None = None


class DetailedLine(_Answer):
    """A stored adjustment line: what it was sent with, its status and the time of each status."""

    id: str
    organizationId: str
    productId: str
    quantityDataSource: str
    physicalMeasure: str
    dimensions: Dimensions
    quantity: Quantity
    externalReferenceCategory: str | None = None
    externalReferenceId: str | None = None
    fnoJournalNameId: str | None = None
    costPrice: Quantity | None = None
    transDate: str | None = None
    status: Literal["Created", "IVPosted", "Aggregated"]
    statusTimes: StatusTimes
    aggregatedLineId: str | None = None


NOTICE = Field(None, description="only when the environment never had any data: says so, instead of an empty list")


class DetailedLinePage(_Answer):
    items: list[DetailedLine]
    continuationToken: str | None = Field(description="pass back as `continuationToken` for the next page")
    notice: str | None = NOTICE


# --- on-hand ----------------------------------------------------------------------------------------------------


class OnHandEventIn(BaseModel):
    """One on-hand change event as posted (field names case-insensitive; the edge checks each field itself)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    organizationId: str
    productId: str
    dimensionDataSource: str | None = Field(None, description="dimensions named in this data source's own terms")
    dimensions: Dimensions | None = None
    quantities: dict[str, dict[str, QuantityIn]] = Field(description="`{dataSource: {physicalMeasure: quantity}}`")


class ExactFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organizationId: list[str]
    productId: list[str] | None = None
    dimensions: list[str] = Field(description="base dimension names, in the order of each `values` tuple")
    values: list[list[str]] = Field(description="the combinations to match exactly, one value per dimension")


class ExactQueryIn(BaseModel):
    """IV's exact query: organization and product as in the index query, and exact dimension combinations."""

    model_config = ConfigDict(extra="forbid")

    filters: ExactFilters
    groupByValues: list[str] = Field(default_factory=list)
    returnNegative: bool = True
    dimensionDataSource: str | None = None


class OnHandRow(_Answer):
    organizationId: str
    productId: str
    dimensions: Dimensions
    quantities: Measures


# --- configuration ----------------------------------------------------------------------------------------------


class ConfigurationView(_Answer):
    isDefault: bool = Field(description="true until the environment stores its own (the app settings' default)")
    configuration: InventoryConfig
    notice: str | None = Field(None, description="when isDefault: says the environment has no configuration yet")


# --- ERP transactions -------------------------------------------------------------------------------------------


class ErpTransactionIn(BaseModel):
    """One ERP transaction as posted (field names case-insensitive; the edge checks each field itself)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    transactionType: Literal["salesOrder", "adjustmentJournal"]
    status: str
    organizationId: str
    productId: str
    dimensionDataSource: str | None = None
    dimensions: Dimensions | None = None
    quantity: QuantityIn
    offsetDataSource: str
    offsetPhysicalMeasure: str
    quantities: dict[str, dict[str, QuantityIn]] | None = Field(None, description="the ERP's own on-hand change")


class ErpTransactionView(_Answer):
    id: str
    transactionType: str
    organizationId: str
    productId: str
    dimensions: Dimensions
    quantity: Quantity
    status: str
    appliedStatuses: list[str]
    offsetTarget: str | None
    offsetAppliedAt: datetime | None = None


# --- aggregated lines (journals) --------------------------------------------------------------------------------


class AggregatedLine(_Answer):
    id: str
    organizationId: str
    productId: str
    key: dict[str, Any] = Field(description="the ERP journal key the detailed lines were summed under")
    quantity: Quantity
    status: str
    journalId: str | None = None
    erpJournalNumber: str | None = None
    erpLineNumber: str | int | None = None
    message: str | None = None
    attempts: int
    offset: str | None = None
    offsetTarget: str | None = None
    waitingForPerson: bool
    detailedLineIds: list[str]
    lateAnswers: list[Any]


class AggregatedLinePage(_Answer):
    items: list[AggregatedLine]
    continuationToken: str | None
    notice: str | None = NOTICE


class RetryAccepted(_Answer):
    id: str
    status: Literal["Created"]


# --- reconciliation ---------------------------------------------------------------------------------------------


class ReportFile(_Answer):
    name: str
    path: str = Field(description="container/run/file in the reports storage")
    contentType: str | None
    bytes: int | None
    sha256: str | None
    url: str | None = Field(None, description="the API path that downloads the file (…/report/{name})")


class ReportLink(_Answer):
    """A read link to one report file in storage (a SAS for that blob only, read only, short-lived)."""

    environmentId: str
    runId: str
    name: str
    url: str = Field(description="GET it (no API key) before `expiresOn`; it downloads the file under its name")
    expiresOn: str = Field(description="when the link stops working, ISO 8601")
    contentType: str
    bytes: int | None
    sha256: str | None = Field(description="check the download against it (the manifest's sha256)")


class _SummaryPart(BaseModel):
    """A part of summary.json: the figures are typed (numbers in the answer), other keys pass through as written,
    so the reconciliation can add to its versioned file without breaking this route."""

    model_config = ConfigDict(extra="allow")


class DifferenceFigures(_SummaryPart):
    count: int | None = None
    material: int | None = None
    quantity_difference: Quantity
    abs_quantity_difference: Quantity
    value_difference: Quantity
    abs_value_difference: Quantity
    unknown_value: int


class WarehouseFigures(DifferenceFigures):
    differences: int
    keys: int
    matches: int
    erp_quantity: Quantity
    wms_quantity: Quantity


class TotalFigures(_SummaryPart):
    erp_quantity: Quantity
    wms_quantity: Quantity
    quantity_difference: Quantity
    abs_quantity_difference: Quantity
    value_difference: Quantity
    abs_value_difference: Quantity
    unknown_value: int


class RunSummary(_SummaryPart):
    """summary.json (`schema: omnisync.reconciliation.summary/1`); a run that failed has `errors` and no figures."""

    status: str
    errors: list[str] | None = None
    out_of_balance_count: int | None = Field(
        None,
        description="items + warehouses out of balance; their streak list (`out_of_balance`) is only in "
        "`report/summary.json`, where the next run reads it (300,000 entries, 15 MB on a bad day)",
    )
    totals: TotalFigures | None = None
    by_warehouse: dict[str, WarehouseFigures] | None = None
    by_category: dict[str, DifferenceFigures] | None = None


class ReconciliationRun(_Answer):
    environmentId: str
    runId: str
    status: str | None
    summary: RunSummary = Field(description="the run's summary.json; quantities and values as numbers")
    reports: list[ReportFile]


class ApprovalIn(BaseModel):
    """Which proposed lines of a run to move: all (neither `lineIds` nor `journalIds`), the named lines, every
    line of the named journals, or the named lines of the named journals (both: only those journals are read,
    so give them when you know them). One approval moves at most `INGEST_MAX_LINES` lines (default 10,000); a
    bigger selection is refused whole with `413 TooManyLines`, naming the journals to approve a part at a
    time."""

    model_config = ConfigDict(extra="forbid")

    organizationId: str = Field(description="the ERP company, e.g. usmf")
    lineIds: list[str] | None = Field(None, description="`line_id` values of proposed_journal.json")
    journalIds: list[str] | None = Field(
        None,
        description="`journal_id` values of proposed_journal.json (`{runId}-001` …); with `lineIds`: the journals "
        "those lines are in (a line elsewhere is `400 UnknownLineIds`)",
    )
    dataSource: str | None = Field(None, description="default `@iv`")
    physicalMeasure: str | None = Field(None, description="default `adjustment`")
    journalNameId: str | None = None
    background: bool = Field(
        False,
        description="true: approve all (or `journalIds`) of any size in the background: `202` with the job, moved "
        "by a queue worker a part of `INGEST_MAX_LINES` at a time; poll `statusUrl`. Not with `lineIds`",
    )


class ApprovalJournalLine(_Answer):
    id: str
    erpLineNumber: int | None = None
    error: str | None = None


class ApprovalJournal(_Answer):
    """A counting journal sent to the ERP (counting mode): the counted quantity is set, not a delta posted."""

    journalId: str
    state: str
    erpJournalNumber: str | None = None
    message: str | None = None
    lines: list[ApprovalJournalLine]


class ApprovalResult(_Answer):
    """What an approval moved: ERP adjustments (`lines`), an ERP counting journal (`journal`), or, when the ERP is
    master, files for the external system (`files`; lines an earlier approval wrote are in `alreadyWritten`)."""

    runId: str
    target: str = Field(description="`erp` (the external system is master) or the external system (ERP master)")
    mode: str = Field(description="`movement` (delta adjustments) or `counting` (set the counted quantity)")
    posted: int
    lines: list[ItemOutcome] | None = None
    journal: ApprovalJournal | None = None
    files: list[str] | None = None
    alreadyWritten: list[str] | None = None


class BackgroundRequest(_Answer):
    organizationId: str
    dataSource: str
    physicalMeasure: str
    journalNameId: str | None
    journalIds: list[str] | None = Field(description="the journals approved; null: every journal of the proposal")
    maxLinesPerPart: int = Field(description="most lines moved in one part (`INGEST_MAX_LINES`)")


class ApprovalProblem(_Answer):
    journalId: str = Field(description="the journal of the line (empty when refused while moving)")
    index: int | None = Field(description="the line's position in its journal")
    field: str
    message: str


class ApprovalJob(_Answer):
    """A background approval (`"background": true`): queued, checked whole, then moved a part at a time.

    `failed` moved nothing when it lists `problems` (every selected line is checked before any moves)."""

    approvalId: str = Field(description="the same run and request always give the same id (asking twice is one job)")
    environmentId: str
    runId: str
    state: Literal["queued", "running", "done", "failed"]
    request: BackgroundRequest
    createdOn: str
    updatedOn: str
    journalsTotal: int | None = Field(description="journals selected (known after the first step's check)")
    linesTotal: int | None
    journalsDone: list[str]
    linesDone: int
    posted: int = Field(description="lines moved by this approval")
    duplicates: int = Field(description="lines an earlier approval had moved (left as they were)")
    conflicts: int = Field(
        0, description="lines not moved: their ids were stored earlier with other values (another organization …)"
    )
    files: list[str] = Field(description="outbox files written (ERP master; the last 100)")
    target: str | None
    mode: str | None
    problems: list[ApprovalProblem]
    message: str | None
    statusUrl: str = Field(description="the API path of this answer, to poll")


class ApprovalJobs(_Answer):
    environmentId: str
    runId: str
    items: list[ApprovalJob] = Field(description="newest first")


class RunListItem(_Answer):
    runId: str
    runTime: str = Field(description="the run time (as-of time of the snapshots, else the later upload), ISO 8601")
    status: str | None
    differences: int | None
    material: int | None
    trend: str | None = Field(description="`rising`, `falling` or `flat` against the previous run, when known")


class RunList(_Answer):
    environmentId: str
    items: list[RunListItem]
    continuationToken: str | None


class RunListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pageSize: int = Field(50, ge=1, le=100)
    continuationToken: str | None = Field(None, max_length=2000)


class ProposedLine(BaseModel):
    """One line of proposed_journal.json, under the file's own names (older runs may lack some fields)."""

    model_config = ConfigDict(extra="allow")

    line_id: str
    run_id: str | None = None
    journal_id: str | None = None
    line_number: int | None = None
    target: str | None = Field(None, description="`erp` or `wms`: the side the line moves")
    mode: str | None = Field(None, description="`movement` or `counting`")
    item: str
    site: str | None = None
    warehouse: str | None = None
    batch: str | None = None
    status: str | None = None
    location: str | None = None
    serial: str | None = None
    quantity_delta: str | None = Field(None, description="the move on the target side (WMS − ERP when it is the ERP)")
    counted_quantity: str | None = Field(None, description="counting mode: the quantity the target is set to")
    book_quantity: str | None = None
    unit_cost: str | None = None
    value: str | None = None
    category: str | None = None
    reasons: list[str] = Field(default_factory=list)
    movement: str | None = Field(None, description="`receipt` or `issue` on the target side")
    review: bool | None = Field(None, description="material: over a threshold, needs a person's review")


class ProposedJournalEntry(_Answer):
    journalId: str
    lines: int
    firstLine: int = Field(description="the number of its first line in the proposal, counted from 0")


class ProposedPage(_Answer):
    """A page of a run's proposed lines in journal order; a bad day has hundreds of thousands."""

    environmentId: str
    runId: str
    lineCount: int | None = Field(description="lines in the whole proposal")
    maxLinesPerApproval: int = Field(description="most lines one approval moves (`INGEST_MAX_LINES`)")
    firstLine: int = Field(description="the number of the page's first line in the proposal, counted from 0")
    items: list[ProposedLine]
    continuationToken: str | None
    journals: list[ProposedJournalEntry] | None = Field(
        None,
        description="every journal of the proposal, to jump to one with `journalId` (the first page of a run "
        "written with a journal index, up to 1,000 journals; null on later pages, for older runs and beyond that)",
    )


class ProposedPageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pageSize: int = Field(100, ge=1, le=1000)
    continuationToken: str | None = Field(None, max_length=200)
    journalId: str | None = Field(
        None,
        max_length=120,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="start at this journal's first line (not with `continuationToken`)",
    )


class OutboxFile(_Answer):
    name: str
    path: str
    bytes: int | None
    lastModified: Any
    url: str = Field(description="the API path that downloads the file")


class OutboxFiles(_Answer):
    """Files an ERP-master approval wrote for the external system to import (JSON and CSV of each approval)."""

    environmentId: str
    runId: str
    files: list[OutboxFile]


# --- level sync -------------------------------------------------------------------------------------------------


class LevelTarget(_Answer):
    name: str
    connector: str = Field(description="`blob` (outbox files) or `https`")
    dataSource: str
    measures: list[str]
    products: list[str]
    warehouses: list[str]
    warehouseMapping: dict[str, list[str]] = Field(description="ERP warehouse → target warehouses")
    targetMastered: dict[str, list[str]] = Field(description="ERP warehouse → target warehouses that keep the detail")


class LevelTargets(_Answer):
    items: list[LevelTarget]


class LevelSent(_Answer):
    organizationId: str | None
    productId: str | None
    levels: dict[str, Any] = Field(description="target warehouse → measure → the level last sent")
    sequence: int | None
    fileId: str | None
    sentAt: Any


class LevelSentPage(_Answer):
    items: list[LevelSent]
    continuationToken: str | None


class LevelBatch(_Answer):
    organizationId: str | None
    productId: str | None
    sequence: int | None
    status: Literal["pending", "sending"]
    fileId: str | None
    attempts: int
    lastError: str | None
    nextAttemptAt: Any
    createdAt: Any
    lines: list[Any] = Field(description="delta lines: product, target warehouse, measure, delta, new level, ERP time")


class LevelBatchPage(_Answer):
    items: list[LevelBatch]
    continuationToken: str | None
