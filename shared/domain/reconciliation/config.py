"""Reconciliation settings as typed, validated models.

Finance people tune these (thresholds, master side, level) in a JSON or TOML
file, so every field has a default that makes the sample story work out of the
box and a validator that rejects nonsense early instead of mid-run.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_WORKBOOK_ROWS = 10_000
"""Most rows a run may ask for per workbook list sheet. Each row shown is kept in memory until the
workbook is written (the journal sheet's lines as dicts), and a workbook cell costs tens of
microseconds: the whole bad day (300,000 keys) belongs in differences.csv, not in the workbook."""


class KeyField(StrEnum):
    """Dimensions that can form the comparison key, in canonical order."""

    ITEM = "item"
    SITE = "site"
    WAREHOUSE = "warehouse"
    BATCH = "batch"
    STATUS = "status"
    LOCATION = "location"
    SERIAL = "serial"


KEY_ORDER: tuple[KeyField, ...] = tuple(KeyField)


class Side(StrEnum):
    ERP = "erp"
    WMS = "wms"


class JournalMode(StrEnum):
    """Counting sets the target to the counted quantity; movement posts the delta."""

    COUNTING = "counting"
    MOVEMENT = "movement"


class ProposeScope(StrEnum):
    """Which differences the proposed journal carries.

    ``all`` (default): the master side is the source of truth, so every difference is balanced;
    materiality decides which lines need review and which items are flagged, not what is balanced
    (the source documents' example: external 100 vs ERP 98 at unit cost 10 -> a receipt of 2).
    ``material``: only material differences are proposed.
    """

    ALL = "all"
    MATERIAL = "material"


class AuditBasis(StrEnum):
    """Which runs count towards the consecutive out-of-balance streak."""

    MATERIAL = "material"
    ANY = "any"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceMapping(_Strict):
    """Column names of one snapshot file.

    A field left as None is detected from the header using the candidate lists
    in ``columns.py`` (D365 export names and common WMS names), so a plain D365
    on-hand export needs no configuration at all.
    """

    item: str | None = None
    site: str | None = None
    warehouse: str | None = None
    batch: str | None = None
    status: str | None = None
    location: str | None = None
    serial: str | None = None
    quantity: str | None = None
    unit_cost: str | None = None
    item_class: str | None = None
    as_of: str | None = None
    encoding: Literal["auto", "utf-8", "utf-16", "cp1252", "latin-1"] = Field(
        default="auto",
        description="auto: UTF-8 (with or without BOM), UTF-16 by its BOM, else Windows-1252 (Excel's 'CSV').",
    )
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: Literal[".", ",", " ", "'"] | None = None

    @model_validator(mode="after")
    def _separators_differ(self) -> SourceMapping:
        if self.thousands_separator == self.decimal_separator:
            raise ValueError("thousands_separator and decimal_separator must differ")
        return self


class Thresholds(_Strict):
    """Thresholds for one direction of difference. None = this test is not used.

    A difference is material when it is strictly greater than ANY set threshold.
    """

    quantity: Decimal | None = Field(default=None, ge=0)
    percent: Decimal | None = Field(default=None, ge=0)
    value: Decimal | None = Field(default=None, ge=0)


class Materiality(_Strict):
    """Thresholds split by sign: positive = WMS holds more than the ERP.

    Shorthand: ``{"value": 50}`` applies the same thresholds to both directions.
    """

    positive: Thresholds = Thresholds()
    negative: Thresholds = Thresholds()

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and not ({"positive", "negative"} & data.keys()):
            both = Thresholds.model_validate(data)
            return {"positive": both, "negative": both}
        return data


MAX_SCOPE_VALUES = 10_000
MAX_VALUE_LENGTH = 100


def _check_values(values: list[str], what: str) -> list[str]:
    if len(values) > MAX_SCOPE_VALUES:
        raise ValueError(f"{what}: at most {MAX_SCOPE_VALUES} values")
    for v in values:
        if not v.strip() or len(v) > MAX_VALUE_LENGTH:
            raise ValueError(f"{what}: values must be 1-{MAX_VALUE_LENGTH} characters, not blank")
    return [v.strip() for v in values]


class ScopeFilter(_Strict):
    """Values of one key field in scope: ``include`` (None = all) minus ``exclude``; exact values."""

    include: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)

    @field_validator("include", "exclude")
    @classmethod
    def _values(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _check_values(v, "scope")

    @property
    def active(self) -> bool:
        return self.include is not None or bool(self.exclude)


class Scope(_Strict):
    """Products and warehouses in scope, applied to both sides after value mapping."""

    items: ScopeFilter = ScopeFilter()
    warehouses: ScopeFilter = ScopeFilter()


ValueMap = dict[KeyField, dict[str, str]]
"""Per key field, source value -> compared value (many -> one), e.g. WMS vans VAN1, VAN2 -> FO1."""


DEFAULT_MATERIALITY = Materiality(positive=Thresholds(value=Decimal("50")), negative=Thresholds(value=Decimal("50")))


MEASURE_NAME = r"^[a-z][a-z0-9_]{0,39}$"


class Measure(_Strict):
    """One more quantity column compared per key besides on-hand (on order, ordered, available ...).

    ``erp`` / ``wms``: the column on each side; None = detected from the measure's name (see
    ``columns.MEASURE_CANDIDATES``). ``materiality``: thresholds for this measure; None = the run's.
    Only on-hand is balanced by the proposed journal; the other measures are compared and reported.
    """

    erp: str | None = None
    wms: str | None = None
    materiality: Materiality | None = None


class ReconcileConfig(_Strict):
    """Everything one reconciliation run needs besides the two snapshots."""

    erp: SourceMapping = SourceMapping()
    wms: SourceMapping = SourceMapping()
    level: list[KeyField] | None = Field(
        default=None,
        description="Comparison key; None = every key field both sides have.",
    )
    master: Side = Side.WMS
    journal_mode: JournalMode = JournalMode.MOVEMENT
    propose: ProposeScope = ProposeScope.ALL
    materiality: Materiality = DEFAULT_MATERIALITY
    item_overrides: dict[str, Materiality] = Field(default_factory=dict)
    class_overrides: dict[str, Materiality] = Field(default_factory=dict)
    unknown_cost_is_material: bool = Field(
        default=True,
        description="A difference whose value cannot be computed is material: it cannot be shown not to be.",
    )
    as_of_tolerance: timedelta = timedelta(minutes=30)
    warn_differing_percent: Decimal | None = Field(
        default=Decimal(10),
        gt=0,
        le=100,
        description="A run of at least 1,000 keys where more than this percent of them differ carries a warning "
        "in every report (usually a wrong or partial export, not stock); null: never.",
    )
    audit_after_runs: int = Field(default=3, ge=1)
    audit_basis: AuditBasis = AuditBasis.MATERIAL
    journal_max_lines: int = Field(default=1000, ge=1, le=1000)
    report_top_n: int = Field(default=50, ge=1)
    scope: Scope = Scope()
    value_maps: dict[Side, ValueMap] = Field(
        default_factory=dict,
        description="Per side and key field: value -> compared value, e.g. {'wms': {'warehouse': {'VAN1': 'FO1'}}}.",
    )
    expect_empty: list[Side] = Field(
        default_factory=list,
        description="Sides whose snapshot may have no data rows; otherwise an empty side is an error run.",
    )
    measures: dict[str, Measure] = Field(
        default_factory=dict,
        description="More quantity columns compared per key, e.g. {'on_order': {}, 'ordered': {'wms': 'qty_ord'}}.",
    )
    case_sensitive_ids: bool = Field(
        default=False,
        description="False: ids that differ only in case match (Dynamics 365 compares ids case-insensitively); "
        "reports then show ids in capitals.",
    )
    negative_is_material: bool = Field(
        default=True,
        description="A key with negative stock on either side is material (needs review) whatever its value.",
    )
    workbook_max_rows: int | None = Field(
        default=None,
        ge=1,
        le=MAX_WORKBOOK_ROWS,
        description="Rows per list sheet of report.xlsx (default 1,000); each sheet says where the rest is.",
    )
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of the unit costs (e.g. EUR): shown in every report next to values.",
    )

    @field_validator("measures")
    @classmethod
    def _measure_names(cls, v: dict[str, Measure]) -> dict[str, Measure]:
        import re

        bad = [name for name in v if not re.fullmatch(MEASURE_NAME, name) or name in ("on_hand", "quantity")]
        if bad:
            raise ValueError(f"measure names must be 1-40 lower-case letters, digits or _ (not on_hand): {bad}")
        if len(v) > 8:
            raise ValueError("at most 8 measures besides on-hand")
        return v

    @field_validator("value_maps")
    @classmethod
    def _maps(cls, v: dict[Side, ValueMap]) -> dict[Side, ValueMap]:
        total = 0
        for side_maps in v.values():
            for field_map in side_maps.values():
                total += len(field_map)
                _check_values([*field_map, *field_map.values()], "value_maps")
        if total > MAX_SCOPE_VALUES:
            raise ValueError(f"value_maps: at most {MAX_SCOPE_VALUES} entries")
        return {
            side: {f: {k.strip(): val.strip() for k, val in m.items()} for f, m in maps.items()}
            for side, maps in v.items()
        }

    @field_validator("level")
    @classmethod
    def _level_has_item(cls, v: list[KeyField] | None) -> list[KeyField] | None:
        if v is None:
            return v
        if KeyField.ITEM not in v:
            raise ValueError("level must include 'item'")
        if len(set(v)) != len(v):
            raise ValueError("level has duplicate fields")
        return [k for k in KEY_ORDER if k in v]

    def thresholds_for(self, item: str, item_class: str | None) -> Materiality:
        """Item override beats class override beats the default (most specific wins)."""
        if item in self.item_overrides:
            return self.item_overrides[item]
        if item_class is not None and item_class in self.class_overrides:
            return self.class_overrides[item_class]
        return self.materiality


def parse_config(data: bytes, filename: str = "config.json") -> ReconcileConfig:
    """Config from the bytes of a JSON or TOML file (a blob, a setting or a local file).

    Pure: the caller does the reading, so the Function and the CLI share it.
    """
    import json
    import tomllib

    text = data.decode("utf-8-sig")
    raw = tomllib.loads(text) if filename.lower().endswith(".toml") else json.loads(text or "{}")
    return ReconcileConfig.model_validate(raw)
