"""The ERP journal port: what omnisync hands to an ERP connector and what it gets back.

Pure data, no I/O. Aggregation builds ``Journal`` values; a connector (blob outbox,
Dynamics 365 OData, ...) turns one into a ``JournalOutcome``. Keeping the port this small
lets the send-journals service stay identical whichever ERP sits behind it.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal, Protocol

JournalType = Literal["adjustment", "movement", "counting"]
"""``counting``: each line's quantity is the counted quantity to set, not a delta (reconciliation approval)."""
TargetStatus = Literal["Created", "Posted"]

# D365 stores our id in the journal header's Description (EDT Description, 60 chars); an id
# that does not fit could not be found again, which would break at-most-once creation.
MAX_JOURNAL_ID_LENGTH = 60


@dataclass(frozen=True)
class JournalLine:
    """One aggregated line as the ERP will see it (ERP dimensions only)."""

    line_id: str  # omnisync aggregated line id (stable)
    item_number: str
    quantity: Decimal
    site_id: str | None = None
    warehouse_id: str | None = None
    color_id: str | None = None
    size_id: str | None = None
    style_id: str | None = None
    config_id: str | None = None
    batch_id: str | None = None
    serial_id: str | None = None
    status_id: str | None = None
    location_id: str | None = None
    license_plate_id: str | None = None
    transaction_date: date | None = None
    unit_cost: Decimal | None = None


@dataclass(frozen=True)
class Journal:
    """A journal to create in the ERP. Line order is significant: it fixes ERP line numbers."""

    journal_id: str  # omnisync's own deterministic id, e.g. "OS-<env>-<hash>"; at most 60 chars
    environment_id: str
    organization_id: str  # dataAreaId
    journal_type: JournalType
    journal_name_id: str
    target_status: TargetStatus
    lines: tuple[JournalLine, ...]


JournalState = Literal["sent", "created", "posted", "create_error", "post_error"]


@dataclass(frozen=True)
class LineResult:
    """What became of one line: its ERP line number, or the ERP's reason for refusing it."""

    line_id: str
    erp_line_number: str | None = None
    error: str | None = None
    erp_onhand: str | None = None
    """The ERP's own on-hand change from posting this line (`{dataSource: {measure: qty}}` as JSON),
    applied to the cache together with the line's offset, so the two are never seen apart."""


@dataclass(frozen=True)
class JournalOutcome:
    """What became of one journal. Connectors return this; they do not raise for ERP-side failures."""

    journal_id: str
    state: JournalState
    erp_journal_number: str | None = None
    message: str | None = None  # the ERP's own error text, kept verbatim (trimmed to 2,000 chars)
    lines: tuple[LineResult, ...] = ()
    retryable: bool = False  # True for throttling/5xx/timeouts that ran out of retries


class ErpConnector(Protocol):
    """Sends one journal to an ERP. Must be safe to call again with the same journal."""

    def send(self, journal: Journal) -> JournalOutcome: ...
