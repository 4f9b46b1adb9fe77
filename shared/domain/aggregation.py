"""Aggregating detailed lines into ERP journal lines, and the aggregated line's status machine.

Lines with the same ERP key become one aggregated line. External references and external
dimensions stay in omnisync: they are not part of the key and never reach the ERP.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.journals import JournalState

ERP_DIMENSIONS = (
    "siteId",
    "locationId",
    "colorId",
    "sizeId",
    "styleId",
    "configId",
    "batchId",
    "serialId",
    "statusId",
    "wmsLocationId",
    "licensePlateId",
)
"""Dimensions the ERP knows; `locationId` is the ERP warehouse, `wmsLocationId` the WMS location."""

AggregatedStatus = Literal[
    "Created", "DoNotSync", "SCMSent", "FnOCreated", "FnOCreateError", "FnOPosted", "FnOPostError"
]
STATUS_FOR_STATE: dict[JournalState, AggregatedStatus] = {
    "sent": "SCMSent",
    "created": "FnOCreated",
    "posted": "FnOPosted",
    "create_error": "FnOCreateError",
    "post_error": "FnOPostError",
}
RETRYABLE_STATUSES = ("FnOCreateError", "FnOPostError")
"""Failed statuses: the line keeps the ERP's message and counts its attempts."""
RESENDABLE_STATUSES = ("FnOCreateError",)
"""Failed lines a send may take again by itself: the ERP did not create them. A line whose posting
failed (`FnOPostError`) is in an ERP journal already; sending it again would book it twice, so it
waits for a person to post that journal in the ERP."""


class JournalTarget(BaseModel):
    """Where lines of one data source + physical measure go in the ERP."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    journal_type: Literal["adjustment", "movement"] = "adjustment"
    target_status: Literal["Created", "Posted"] = "Posted"
    journal_name_id: str | None = Field(None, max_length=20)


class JournalMapping(BaseModel):
    """`{"dataSource/measure": target}`; lines with no entry are not sent and stay `IVPosted`."""

    model_config = ConfigDict(frozen=True)

    targets: dict[str, JournalTarget]
    default_journal_name: str = Field("IAdj", max_length=20)

    def target_for(self, data_source: str, measure: str) -> JournalTarget | None:
        return self.targets.get(f"{data_source}/{measure}")


@dataclass(frozen=True)
class DetailedLine:
    row_key: str
    etag: str
    data_source: str
    measure: str
    dimensions: Mapping[str, str]
    quantity: Decimal
    journal_name_id: str | None
    trans_date: str | None
    cost_price: str | None
    stored: Any = field(default=None, compare=False, repr=False)
    """What the repository read of the line (opaque here): it moves the record without reading it again."""

    @property
    def line_id(self) -> str:
        """The line's own id (the row key less its kind prefix)."""
        return self.row_key.split("|", 1)[1]


@dataclass(frozen=True)
class ErpKey:
    data_source: str
    measure: str
    dimensions: tuple[tuple[str, str], ...]
    journal_type: str
    target_status: str
    journal_name_id: str
    trans_date: str | None
    cost_price: str | None

    def as_json(self) -> str:
        return json.dumps(
            {
                "dataSource": self.data_source,
                "measure": self.measure,
                "dimensions": dict(self.dimensions),
                "journalType": self.journal_type,
                "targetStatus": self.target_status,
                "journalNameId": self.journal_name_id,
                "transDate": self.trans_date,
                "costPrice": self.cost_price,
            },
            sort_keys=True,
        )


@dataclass
class AggregateGroup:
    key: ErpKey
    lines: list[DetailedLine] = field(default_factory=list)

    @property
    def quantity(self) -> Decimal:
        return sum((line.quantity for line in self.lines), Decimal(0))

    @property
    def aggregated_id(self) -> str:
        """Deterministic from the members: a crashed-and-rerun aggregation produces the same id."""
        members = "\n".join(sorted(line.row_key for line in self.lines))
        return hashlib.sha256(members.encode()).hexdigest()[:24]

    @property
    def status(self) -> AggregatedStatus:
        return "DoNotSync" if self.quantity == 0 else "Created"


def erp_key(line: DetailedLine, target: JournalTarget, mapping: JournalMapping) -> ErpKey:
    dims = tuple((name, line.dimensions[name]) for name in ERP_DIMENSIONS if line.dimensions.get(name))
    return ErpKey(
        line.data_source,
        line.measure,
        dims,
        target.journal_type,
        target.target_status,
        line.journal_name_id or target.journal_name_id or mapping.default_journal_name,
        line.trans_date,
        line.cost_price,
    )


def plan_aggregation(
    lines: list[DetailedLine], mapping: JournalMapping, max_operations: int = 100
) -> tuple[list[AggregateGroup], list[DetailedLine]]:
    """Group a prefix of `lines` into aggregated lines within one transaction's operation limit.

    Returns the groups and the lines without a mapping.
    """
    groups: dict[ErpKey, AggregateGroup] = {}
    unmapped: list[DetailedLine] = []
    used = 0
    for line in lines:
        target = mapping.target_for(line.data_source, line.measure)
        if target is None:
            unmapped.append(line)
            continue
        key = erp_key(line, target, mapping)
        cost = 1 + (key not in groups)
        if used + cost > max_operations:
            break
        groups.setdefault(key, AggregateGroup(key)).lines.append(line)
        used += cost
    return list(groups.values()), unmapped
