"""Levels a target should have, and the delta lines that bring it there. Pure: no I/O.

A product's levels for one target are summed from its cache rows: the ERP data source's level
measures, per ERP warehouse (`locationId`), mapped onto the receiving target warehouse. The delta
against what the target was last sent (committed) gives the journal lines: only real changes; the
first sync sends every level in full; changes that cancel out between two visits send nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.domain.cache import CacheRow
from shared.domain.level_targets import LevelTarget
from shared.domain.quantities import canonical
from shared.domain.spreadsheet import neutralise

Levels = dict[str, dict[str, str]]
"""{target warehouse: {measure: canonical decimal}}, as committed for one product and target."""


@dataclass(frozen=True)
class DeltaLine:
    """One journal line for the target: the change of one measure in one target warehouse."""

    organization_id: str
    product_id: str
    erp_warehouse: str
    target_warehouse: str
    measure: str
    delta: Decimal
    new_level: Decimal
    erp_timestamp: str
    sequence: int
    full: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "organizationId": self.organization_id,
            "productId": self.product_id,
            "erpWarehouse": self.erp_warehouse,
            "targetWarehouse": self.target_warehouse,
            "measure": self.measure,
            "delta": canonical(self.delta),
            "newLevel": canonical(self.new_level),
            "erpTimestamp": self.erp_timestamp,
            "sequence": self.sequence,
            "kind": "full" if self.full else "delta",
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeltaLine:
        return cls(
            data["organizationId"],
            data["productId"],
            data["erpWarehouse"],
            data["targetWarehouse"],
            data["measure"],
            Decimal(data["delta"]),
            Decimal(data["newLevel"]),
            data["erpTimestamp"],
            int(data["sequence"]),
            data["kind"] == "full",
        )


@dataclass(frozen=True)
class TargetLevels:
    levels: Levels
    erp_warehouses: dict[str, str]
    """target warehouse → the ERP warehouse it takes its levels from."""
    erp_timestamp: datetime | None
    """When the newest contributing ERP level reached the cache."""


def target_levels(target: LevelTarget, rows: Iterable[CacheRow], updated_at: Mapping[str, datetime]) -> TargetLevels:
    """The levels this target should hold for one product, from the product's cache rows."""
    sums: dict[str, dict[str, Decimal]] = {}
    erp_of: dict[str, str] = {}
    newest: datetime | None = None
    source = target.dataSource.lower()
    for row in rows:
        erp_warehouse = row.dimensions.get("locationId")
        if not erp_warehouse:
            continue
        receiving = target.receiving_warehouse(erp_warehouse)
        measures = next((m for ds, m in row.quantities.items() if ds.lower() == source), None)
        if receiving is None or not measures:
            continue
        lowered = {name.lower(): value for name, value in measures.items()}
        hit = False
        for measure in target.measures:
            if measure in lowered:
                bucket = sums.setdefault(receiving, {})
                bucket[measure] = bucket.get(measure, Decimal(0)) + Decimal(lowered[measure])
                hit = True
        if hit:
            erp_of[receiving] = erp_warehouse
            stamp = updated_at.get(row.row_key)
            if stamp is not None and (newest is None or stamp > newest):
                newest = stamp
    levels = {wh: {m: canonical(q) for m, q in sorted(ms.items())} for wh, ms in sorted(sums.items())}
    return TargetLevels(levels, erp_of, newest)


def delta_lines(
    organization_id: str,
    product_id: str,
    previous: Levels | None,
    current: TargetLevels,
    sequence: int,
    erp_timestamp: str,
) -> list[DeltaLine]:
    """Lines that move the target from `previous` (None: never synced) to `current`, real changes only.

    A level the target never got (the first sync, or a warehouse or measure seen for the first time)
    is sent in full (`full`, zeros included), so the target starts from the ERP's state. A level that
    is no longer in `current` (its warehouse or measure was filtered out since) gets no line: the ERP
    stopped mastering it, so the target keeps what it has (`merged_levels` keeps it in the state).
    """
    before = previous or {}
    lines: list[DeltaLine] = []
    for warehouse, new in sorted(current.levels.items()):
        old = before.get(warehouse, {})
        for measure, level in sorted(new.items()):
            full = measure not in old
            was, now = Decimal(old.get(measure, "0")), Decimal(level)
            if now == was and not full:
                continue
            lines.append(
                DeltaLine(
                    organization_id,
                    product_id,
                    current.erp_warehouses.get(warehouse, warehouse),
                    warehouse,
                    measure,
                    now - was,
                    now,
                    erp_timestamp,
                    sequence,
                    full,
                )
            )
    return lines


def merged_levels(previous: Levels | None, current: Levels) -> Levels:
    """The state to commit: current levels over the previous ones (levels no longer sent are kept)."""
    merged = {warehouse: dict(measures) for warehouse, measures in (previous or {}).items()}
    for warehouse, measures in current.items():
        merged.setdefault(warehouse, {}).update(measures)
    return merged


# ---- the journal file ------------------------------------------------------------------------------
CSV_COLUMNS = (
    "FileId",
    "LineNumber",
    "OrganizationId",
    "ProductId",
    "TargetWarehouse",
    "ErpWarehouse",
    "Measure",
    "Delta",
    "NewLevel",
    "ErpTimestamp",
    "Sequence",
    "Kind",
)


@dataclass(frozen=True)
class LevelFile:
    """One delta journal for a target: lines of many products, each product's in sequence order."""

    file_id: str
    environment_id: str
    target: str
    lines: tuple[DeltaLine, ...]

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for number, line in enumerate(self.lines, start=1):
            data = line.as_dict()
            out.append(
                {
                    "FileId": self.file_id,
                    "LineNumber": number,
                    "OrganizationId": data["organizationId"],
                    "ProductId": data["productId"],
                    "TargetWarehouse": data["targetWarehouse"],
                    "ErpWarehouse": data["erpWarehouse"],
                    "Measure": data["measure"],
                    "Delta": data["delta"],
                    "NewLevel": data["newLevel"],
                    "ErpTimestamp": data["erpTimestamp"],
                    "Sequence": data["sequence"],
                    "Kind": data["kind"],
                }
            )
        return out

    def as_json(self) -> bytes:
        document = {
            "fileId": self.file_id,
            "environmentId": self.environment_id,
            "target": self.target,
            "lines": [line.as_dict() for line in self.lines],
        }
        return json.dumps(document, indent=2, ensure_ascii=False).encode()

    def as_csv(self) -> bytes:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        numeric = {"LineNumber", "Delta", "NewLevel", "Sequence"}
        for row in self.rows():
            writer.writerow({k: str(v) if k in numeric else neutralise(str(v)) for k, v in row.items()})
        return buffer.getvalue().encode("utf-8-sig")
